"""Autoscale in the running service through the unmodified azure-batch SDK: evaluateautoscale on real
task and node counts, Batch's error shape, and the dev stack's formula growing its pool (also under
`batchctl local up`)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from azure.batch import BatchClient
from azure.batch import models as m
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.localbatch.testing import LocalBatch, wait_for

REPO = Path(__file__).parents[2]


def _dev_pool() -> dict[str, object]:
    (pool,) = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]["batchforge:pools"]
    return pool


DEV_FORMULA = str(_dev_pool()["scale"]["formula"])  # type: ignore[index]


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


def autoscale_pool(client: BatchClient, formula: str, **options: object) -> str:
    pool_id = f"as-{uuid.uuid4().hex[:8]}"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", enable_auto_scale=True, auto_scale_formula=formula, **options
        )
    )
    return pool_id


def evaluate(client: BatchClient, pool_id: str, formula: str) -> m.AutoScaleRun:
    return client.evaluate_pool_auto_scale(pool_id, m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula))


def test_evaluate_sees_the_pools_queued_tasks_and_reports_every_variable(client: BatchClient) -> None:
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = 0;", task_slots_per_node=3)
    job_id = f"asj-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="/bin/true") for i in range(5)])
    # The first sample was taken when the pool was first seen, before the tasks: wait for the next one.
    formula = (
        "$p = max($PendingTasks.GetSample(1)); $n = $ActiveTasks.Count();"
        "$TargetLowPriorityNodes = $p / $TaskSlotsPerNode;"
    )
    run = wait_for(
        lambda: (r := evaluate(client, pool_id, formula)).results and "$p=5" in r.results and r,
        timeout=45,
        interval=1,
        what="a sample with the queued tasks",
    )
    assert run.error is None
    values = dict(item.split("=", 1) for item in run.results.split(";"))
    assert values["$TargetLowPriorityNodes"] == "1" and values["$NodeDeallocationOption"] == "requeue"
    assert int(values["$n"]) >= 2  # samples: the one at creation and at least one since
    pool = client.get_pool(pool_id)
    assert pool.target_low_priority_nodes == 0, "evaluate must not apply the formula"


def test_errors_come_back_in_batch_shape(client: BatchClient) -> None:
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = 0;")
    run = evaluate(client, pool_id, "$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 10));")
    assert run.error is not None and run.error.code == "InsufficientSampleData"
    assert run.error.message == "Autoscale evaluation failed due to insufficient sample data"
    ((name, value),) = [(item.name, item.value) for item in run.error.error_values]
    assert name == "Message"
    assert re.fullmatch(
        r"Line 1, Col 43: Insufficient data from data set: \$PendingTasks wanted 70%, received \d%", value
    ), value
    guarded = evaluate(
        client,
        pool_id,
        "$p = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);"
        "$TargetDedicatedNodes = $p < 70 ? 1 : avg($PendingTasks.GetSample(TimeInterval_Minute * 10));",
    )
    assert guarded.error is None and guarded.results.startswith("$TargetDedicatedNodes=1;")
    unknown = evaluate(client, pool_id, "$TargetDedicatedNodes = $Nope;").error
    assert (unknown.code, unknown.error_values[0].value) == (
        "AutoScalingFormulaEvaluationError",
        "Line 1, Col 25: Undefined symbol: $Nope",
    )
    syntax = evaluate(client, pool_id, "$TargetDedicatedNodes = (1;").error
    assert syntax.code == "AutoScalingFormulaSyntaxError"


def test_a_failed_evaluation_is_the_pools_autoscale_run_error_and_changes_nothing(client: BatchClient) -> None:
    pool_id = autoscale_pool(client, "$TargetDedicatedNodes = $PendingTasks.GetSample(TimeInterval_Hour, 90);")
    pool = wait_for(lambda: (p := client.get_pool(pool_id)).auto_scale_run and p, what="the first autoscale run")
    assert pool.auto_scale_run.error.code == "InsufficientSampleData"
    assert pool.target_dedicated_nodes == 0 and pool.auto_scale_run.results is None


def test_dev_stack_formula_grows_the_pool_once_tasks_are_queued(client: BatchClient) -> None:
    pool_id = autoscale_pool(
        client, DEV_FORMULA, task_slots_per_node=2, auto_scale_evaluation_interval=timedelta(seconds=30)
    )
    first = wait_for(lambda: (p := client.get_pool(pool_id)).auto_scale_run and p, what="the first autoscale run")
    assert first.auto_scale_run.error is None, first.auto_scale_run.error
    assert (first.target_dedicated_nodes, first.target_low_priority_nodes) == (0, 0)
    job_id = f"dev-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="/bin/true") for i in range(3)])
    grown = wait_for(
        lambda: (p := client.get_pool(pool_id)).target_low_priority_nodes and p,
        timeout=75,
        interval=1,
        what="the pool to grow",
    )
    assert (grown.target_dedicated_nodes, grown.target_low_priority_nodes) == (0, 2)
    assert "$pending=3" in grown.auto_scale_run.results
    nodes = wait_for(lambda: len(list(client.list_nodes(pool_id))) == 2, timeout=30, what="two spot nodes")
    assert nodes
    assert all(not node.is_dedicated for node in client.list_nodes(pool_id))


_STACK = """\
config:
  batchforge:location: westeurope
  batchforge:namePrefix: tst
  batchforge:batchAccount: {publicNetworkAccess: Enabled}
  batchforge:pools:
    - id: POOL
      vmSize: Standard_D2s_v5
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale:
        formula: FORMULA
        evaluationInterval: PT5M
      taskSlotsPerNode: 2
  batchforge:workloads: [w.yaml]
"""
_WORKLOAD = """\
id: burst
pool: POOL
tasks:
  list:
    - {id: a, commandLine: /bin/sh -c 'echo a'}
    - {id: b, commandLine: /bin/sh -c 'echo b'}
    - {id: c, commandLine: /bin/sh -c 'echo c'}
"""


def test_local_up_runs_the_dev_formula_as_written(tmp_path: Path, local_batch: LocalBatch) -> None:
    pool = f"p{uuid.uuid4().hex[:8]}"
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "w.yaml").write_text(_WORKLOAD.replace("POOL", pool))
    stack = _STACK.replace("POOL", pool).replace("FORMULA", yaml.safe_dump(DEV_FORMULA, default_style='"').strip())
    (tmp_path / "Pulumi.t.yaml").write_text(stack)
    args = ["local", "up", "--stack", "t", "--repo-root", str(tmp_path), "--data-dir", str(local_batch.data_dir)]
    result = CliRunner().invoke(app, [*args, "--timeout", "150"])
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stdout and "fixed node" not in result.stdout
    assert "all tasks succeeded: 1 job(s), 3 task(s), 3 succeeded, 0 failed" in result.stdout
