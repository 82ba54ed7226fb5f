"""Local-run building blocks without services: pool provisioning, pool health, target resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models as batch_models
from azure.core.exceptions import ResourceExistsError

from batchforge.cli.targets import TargetOptions, resolve_target
from batchforge.config import validate_stack_data
from batchforge.config.naming import pool_ids
from batchforge.core import InvalidInput
from batchforge.localrun.health import blocking_problems, node_warnings
from batchforge.localrun.provision import LOCAL_EVALUATION_INTERVAL, provision_pools

_IMAGE = {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}


def _stack(tmp_path: Path, scale: dict[str, Any]) -> Any:
    (tmp_path / "setup").mkdir()
    (tmp_path / "setup" / "prep.sh").write_text("echo prepared\n")
    data = {
        "location": "westeurope",
        "namePrefix": "tst",
        "batchAccount": {"publicNetworkAccess": "Enabled"},
        "pools": [
            {
                "id": "cpu",
                "vmSize": "Standard_D2s_v5",
                "image": _IMAGE,
                "nodeAgentSkuId": "batch.node.ubuntu 24.04",
                "scale": scale,
                "startTask": {"commandLine": "sh setup/prep.sh", "resourceFiles": [{"source": "setup"}]},
            }
        ],
    }
    return validate_stack_data(data, "Pulumi.test.yaml", tmp_path)


class _Pools:
    def __init__(self, existing: set[str] = frozenset()) -> None:
        self.created: list[batch_models.BatchPoolCreateOptions] = []
        self.updated: list[tuple[str, batch_models.BatchPoolUpdateOptions]] = []
        self.existing = set(existing)
        self.evaluated: list[str] = []
        self.enabled: list[tuple[str, batch_models.BatchPoolEnableAutoScaleOptions]] = []
        self.formula_error: dict[str, Any] | None = None

    def create_pool(self, pool: batch_models.BatchPoolCreateOptions, **_: Any) -> None:
        if pool.id in self.existing:
            raise ResourceExistsError("PoolExists")
        self.created.append(pool)

    def update_pool(self, pool_id: str, pool: batch_models.BatchPoolUpdateOptions, **_: Any) -> None:
        self.updated.append((pool_id, pool))

    def evaluate_pool_auto_scale(
        self, pool_id: str, options: batch_models.BatchPoolEvaluateAutoScaleOptions, **_: Any
    ) -> batch_models.AutoScaleRun:
        self.evaluated.append(options.auto_scale_formula)
        outcome = {"error": self.formula_error} if self.formula_error else {"results": "$TargetDedicatedNodes=1"}
        return batch_models.AutoScaleRun({"timestamp": "2026-01-01T00:00:00Z", **outcome})

    def enable_pool_auto_scale(
        self, pool_id: str, options: batch_models.BatchPoolEnableAutoScaleOptions, **_: Any
    ) -> None:
        self.enabled.append((pool_id, options))


def test_pools_get_start_task_blobs_and_component_names(tmp_path):
    config = _stack(tmp_path, {"dedicated": 1})
    client, uploads = _Pools(), []
    done = provision_pools(client, config, tmp_path, "http://127.0.0.1:1/acct/resources", uploads.extend)
    assert [(p.config_id, p.pool_id, p.created, p.local_scale_note) for p in done] == [
        ("cpu", pool_ids(config)["cpu"], True, None)
    ]
    options = client.created[0]
    assert options.id.startswith("cpu-") and options.target_dedicated_nodes == 1
    (resource_file,) = options.start_task.resource_files
    assert resource_file.file_path == "setup/prep.sh"
    assert resource_file.http_url.startswith("http://127.0.0.1:1/acct/resources/start-tasks/cpu/")
    assert [upload.local_path for upload in uploads] == [tmp_path / "setup" / "prep.sh"]


def test_an_existing_pool_gets_the_current_start_task(tmp_path):
    config = _stack(tmp_path, {"dedicated": 1})
    client = _Pools(existing={pool_ids(config)["cpu"]})
    (done,) = provision_pools(client, config, tmp_path, "http://h/acct/resources", lambda _: None)
    assert not done.created
    assert client.updated[0][0] == done.pool_id
    assert client.updated[0][1].start_task.command_line == "sh setup/prep.sh"


def test_a_formula_the_service_reports_an_error_for_runs_at_a_fixed_local_size_and_says_why(tmp_path):
    config = _stack(tmp_path, {"formula": "$TargetLowPriorityNodes = min(4, $NoSuchMetric.GetSample(1));"})
    client = _Pools()
    client.formula_error = {
        "code": "AutoScalingFormulaEvaluationError",
        "message": "An error occurred when evaluating the autoscale formula.",
        "values": [{"name": "Message", "value": "Line 1, Col 35: Undefined symbol: $NoSuchMetric"}],
    }
    (done,) = provision_pools(client, config, tmp_path, "http://h/acct/resources", lambda _: None, local_nodes=3)
    assert done.local_scale_note == (
        "the local service cannot evaluate its autoscale formula (AutoScalingFormulaEvaluationError: "
        "Line 1, Col 35: Undefined symbol: $NoSuchMetric): running it locally at 3 fixed node(s)"
    )
    ((pool_id, enabled),) = client.enabled
    assert pool_id == done.pool_id
    assert enabled.auto_scale_formula == "$TargetDedicatedNodes = 3; $TargetLowPriorityNodes = 0;"


def test_a_sample_based_formula_is_kept_as_written_and_evaluated_every_30_seconds(tmp_path):
    formula = "$TargetLowPriorityNodes = min(4, $PendingTasks.GetSample(1));"
    config = _stack(tmp_path, {"formula": formula})
    client = _Pools()
    (done,) = provision_pools(client, config, tmp_path, "http://h/acct/resources", lambda _: None)
    assert done.local_scale_note is None and client.enabled == []
    assert client.evaluated == [formula]
    options = client.created[0]
    assert options.enable_auto_scale is True and options.auto_scale_formula == formula
    assert options.auto_scale_evaluation_interval == LOCAL_EVALUATION_INTERVAL


class _Health:
    def __init__(self, nodes: list[dict[str, Any]], pool: dict[str, Any] | None = None) -> None:
        self.nodes = [batch_models.BatchNode(node) for node in nodes]
        self.pool = batch_models.BatchPool({"id": "p1", **(pool or {})})

    def get_pool(self, pool_id: str, **_: Any) -> batch_models.BatchPool:
        return self.pool

    def list_nodes(self, pool_id: str, **_: Any) -> list[batch_models.BatchNode]:
        return self.nodes


def test_a_pool_whose_every_node_failed_its_start_task_is_blocked_with_the_stderr_path(tmp_path):
    failed = {"id": "n1", "state": "starttaskfailed", "startTaskInfo": {"state": "completed", "exitCode": 7}}
    problems = blocking_problems(_Health([failed]), ["p1"], lambda pool, node: tmp_path / pool / node)
    assert [str(p) for p in problems] == [
        f"pool p1: start task failed on node n1 (exit code 7); see {tmp_path / 'p1' / 'n1' / 'startup' / 'stderr.txt'}"
    ]


def test_unusable_nodes_and_autoscale_errors_block_but_one_healthy_node_does_not():
    unusable = {"id": "n2", "state": "unusable", "errors": [{"code": "DiskFull", "message": "no space"}]}
    assert [str(p) for p in blocking_problems(_Health([unusable]), ["p1"], lambda *_: None)] == [
        "pool p1: node n2 is unusable (DiskFull: no space)"
    ]
    mixed = _Health([unusable, {"id": "n3", "state": "idle"}])
    assert blocking_problems(mixed, ["p1"], lambda *_: None) == []
    assert [str(p) for p in node_warnings(mixed, ["p1"], lambda *_: None)] == [
        "pool p1: node n2 is unusable (DiskFull: no space)"
    ]
    broken_formula = {"autoScaleRun": {"timestamp": "2026-01-01T00:00:00Z", "error": {"code": "E", "message": "bad"}}}
    assert [str(p) for p in blocking_problems(_Health([], broken_formula), ["p1"], lambda *_: None)] == [
        "pool p1: autoscale formula error E: bad"
    ]
    assert blocking_problems(_Health([]), ["p1"], lambda *_: None) == []


def test_target_from_stack_outputs_accepts_camel_case_and_uses_entra_id(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "batchTarget": {
                    "accountEndpoint": "https://acct.westeurope.batch.azure.com",
                    "poolIds": {"cpu": "cpu-1234abcd", "gpu_pool": "gpu-1"},
                    "resourcesContainerUrl": "https://st.blob.core.windows.net/resources",
                    "outputsContainerUrl": "https://st.blob.core.windows.net/outputs",
                },
                "resourceGroupName": "rg",
            }
        )
    )
    target = resolve_target(TargetOptions(outputs_file=outputs))
    assert target.account_endpoint == "https://acct.westeurope.batch.azure.com"
    assert target.pool_ids == {"cpu": "cpu-1234abcd", "gpu_pool": "gpu-1"}
    assert target.auth.kind == "entra-id" and target.blob_auth.kind == "entra-id"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "{not json",
            "outputs.json: line 1, column 2: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        ('{"other": 1}', "outputs.json: batchTarget: is required: the stack output the Pulumi program exports"),
        ('{"batchTarget": {"poolIds": {}}}', "outputs.json: batchTarget.account_endpoint: is required"),
    ],
)
def test_bad_stack_outputs_are_one_clean_message(tmp_path, content, message):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(content)
    with pytest.raises(InvalidInput) as caught:
        resolve_target(TargetOptions(outputs_file=outputs))
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_flags_need_an_endpoint_and_well_formed_pools():
    with pytest.raises(InvalidInput) as caught:
        resolve_target(TargetOptions(pools=("cpu",), resources_url="https://r", outputs_url="https://o"))
    assert str(caught.value) == "--endpoint: is required without --stack-outputs or --local"
    with pytest.raises(InvalidInput) as bad_pool:
        resolve_target(TargetOptions(endpoint="https://a", pools=("cpu",), resources_url="r", outputs_url="o"))
    assert str(bad_pool.value) == "--pool: 'cpu' must be CONFIG_ID=POOL_ID"
    target = resolve_target(
        TargetOptions(endpoint="https://a", pools=("cpu=cpu-1",), resources_url="r", outputs_url="o")
    )
    assert target.pool_ids == {"cpu": "cpu-1"}


def test_target_from_the_programs_own_snake_case_output(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "batchTarget": {
                    "account_endpoint": "https://acct.westeurope.batch.azure.com",
                    "auth": {"kind": "entra-id"},
                    "pool_ids": {"cpu": "cpu-1234abcd"},
                    "resources_container_url": "https://st.blob.core.windows.net/resources",
                    "outputs_container_url": "https://st.blob.core.windows.net/outputs",
                    "identity_resource_id": "/subscriptions/s/resourceGroups/rg/providers/x/userAssignedIdentities/id",
                }
            }
        )
    )
    target = resolve_target(TargetOptions(outputs_file=outputs, endpoint="https://other.batch.azure.com"))
    assert target.account_endpoint == "https://other.batch.azure.com"
    assert target.pool_ids == {"cpu": "cpu-1234abcd"}
    assert target.identity_resource_id.endswith("/userAssignedIdentities/id")
