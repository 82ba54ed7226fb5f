"""Bad stack files fail with one message listing every problem as `<file>: <key path>: <message>`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchforge.config import from_pulumi_config, load_stack_file
from batchforge.core import InvalidInput

REPO_ROOT = Path(__file__).resolve().parents[2]
GALLERY_IMAGE = (
    "/subscriptions/0/resourceGroups/images/providers/Microsoft.Compute/galleries/g/images/batch/versions/1.0.0"
)


def _staging_section() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "Pulumi.staging.yaml").read_text())["config"]


def _problems(tmp_path: Path, mutate, stack: str = "prod") -> str:
    section = _staging_section()
    mutate(section)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": section}, sort_keys=False))
    with pytest.raises(InvalidInput) as caught:
        load_stack_file(path, repo_root=REPO_ROOT)
    return str(caught.value)


def _pool(section: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return section["batchforge:pools"][index]


def _add_second_pool(section: dict[str, Any], **overrides: Any) -> None:
    second = copy.deepcopy(_pool(section))
    second.update(overrides)
    section["batchforge:pools"].append(second)


CASES: list[tuple[str, Any, str]] = [
    (
        "wrong type",
        lambda s: _pool(s).update(taskSlotsPerNode="four"),
        "Pulumi.prod.yaml: pools[0].taskSlotsPerNode: must be an integer",
    ),
    (
        "unknown key with hint",
        lambda s: _pool(s).update(vmSzie="Standard_D2s_v5"),
        "Pulumi.prod.yaml: pools[0].vmSzie: unknown key; did you mean 'vmSize'?",
    ),
    (
        "unknown nested key with hint",
        lambda s: _pool(s)["startTask"].update(waitForSucess=True),
        "Pulumi.prod.yaml: pools[0].startTask.waitForSucess: unknown key; did you mean 'waitForSuccess'?",
    ),
    (
        "unknown top-level key with hint",
        lambda s: s.update({"batchforge:pool": []}),
        "Pulumi.prod.yaml: pool: unknown key; did you mean 'pools'?",
    ),
    (
        "negative count",
        lambda s: _add_second_pool(s, id="gpu", scale={"dedicated": -1}),
        "Pulumi.prod.yaml: pools[1].scale.dedicated: must be >= 0",
    ),
    (
        "duplicate pool id",
        lambda s: _add_second_pool(s),
        "Pulumi.prod.yaml: pools[1].id: duplicate pool id 'cpu' (also pools[0])",
    ),
    (
        "fixed and autoscale both set",
        lambda s: _pool(s)["scale"].update(formula="$TargetDedicatedNodes = 1;"),
        "Pulumi.prod.yaml: pools[0].scale: fixed scale (dedicated, spot, resizeTimeout) and autoscale (formula) "
        "are both set; choose one",
    ),
    (
        "no scale at all",
        lambda s: _pool(s).update(scale={}),
        "Pulumi.prod.yaml: pools[0].scale: set dedicated and/or spot (fixed size) or formula (autoscale)",
    ),
    (
        "evaluation interval without formula",
        lambda s: _pool(s).update(scale={"evaluationInterval": "PT5M"}),
        "Pulumi.prod.yaml: pools[0].scale: evaluationInterval needs a formula",
    ),
    (
        "incomplete marketplace image",
        lambda s: _pool(s).update(image={"publisher": "canonical", "offer": "ubuntu-24_04-lts"}),
        "Pulumi.prod.yaml: pools[0].image: set publisher, offer and sku (a marketplace image) or galleryImageId",
    ),
    (
        "marketplace and gallery image both set",
        lambda s: _pool(s)["image"].update(galleryImageId=GALLERY_IMAGE),
        "Pulumi.prod.yaml: pools[0].image: set either publisher, offer and sku (a marketplace image) or "
        "galleryImageId, not both",
    ),
    (
        "bad node agent",
        lambda s: _pool(s).update(nodeAgentSkuId="ubuntu 24.04"),
        "Pulumi.prod.yaml: pools[0].nodeAgentSkuId: must be a Batch node agent SKU such as 'batch.node.ubuntu 24.04'",
    ),
    (
        "bad vm size",
        lambda s: _pool(s).update(vmSize="D2s_v5"),
        "Pulumi.prod.yaml: pools[0].vmSize: must be an Azure VM size such as Standard_D2s_v3",
    ),
    (
        "bad pool id",
        lambda s: _pool(s).update(id="my pool!"),
        "Pulumi.prod.yaml: pools[0].id: must be 1-50 letters, digits, '-' or '_', starting with a letter or digit",
    ),
    (
        "resize timeout too short",
        lambda s: _pool(s)["scale"].update(resizeTimeout="PT1M"),
        "Pulumi.prod.yaml: pools[0].scale.resizeTimeout: must be between PT5M and P7D",
    ),
    (
        "resize timeout not a duration",
        lambda s: _pool(s)["scale"].update(resizeTimeout="soon"),
        "Pulumi.prod.yaml: pools[0].scale.resizeTimeout: must be a duration such as PT15M (ISO 8601) or 00:15:00",
    ),
    (
        "missing start-task file",
        lambda s: _pool(s)["startTask"]["resourceFiles"].append({"source": "start-tasks/missing.sh"}),
        "Pulumi.prod.yaml: pools[0].startTask.resourceFiles[1].source: no such file or folder in the repository: "
        "start-tasks/missing.sh",
    ),
    (
        "start-task file outside the repo",
        lambda s: _pool(s)["startTask"]["resourceFiles"].append({"source": "../secrets.txt"}),
        "Pulumi.prod.yaml: pools[0].startTask.resourceFiles[1].source: must be a path inside this repository "
        "(relative, no '..')",
    ),
    (
        "no public IPs without a subnet",
        # Public storage, so that the private storage's own need for the subnet is not reported too.
        lambda s: (s.pop("batchforge:network"), s["batchforge:storage"].update(publicNetworkAccess="Enabled")),
        "Pulumi.prod.yaml: pools[0].publicIps: false needs network.subnetId (nodes without public IPs)",
    ),
    (
        "subnet that is not a subnet id",
        lambda s: s["batchforge:network"].update(subnetId="batch-subnet"),
        "Pulumi.prod.yaml: network.subnetId: must be a subnet resource id: /subscriptions/<id>/resourceGroups/<rg>/"
        "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
    ),
    (
        "unknown authentication mode",
        lambda s: s["batchforge:batchAccount"].update(allowedAuthenticationModes=["AAD", "Certificate"]),
        "Pulumi.prod.yaml: batchAccount.allowedAuthenticationModes[1]: must be one of 'AAD', 'SharedKey' or "
        "'TaskAuthenticationToken'",
    ),
    (
        "private account without a private endpoint",
        lambda s: s["batchforge:batchAccount"].pop("privateEndpoint"),
        "Pulumi.prod.yaml: batchAccount: publicNetworkAccess Disabled needs privateEndpoint (nodes and clients reach "
        "the account through it)",
    ),
    (
        "private DNS zone that is not a zone id",
        lambda s: s["batchforge:batchAccount"]["privateEndpoint"].update(
            privateDnsZoneId="privatelink.batch.azure.com"
        ),
        "Pulumi.prod.yaml: batchAccount.privateEndpoint.privateDnsZoneId: must be a private DNS zone resource id: "
        "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/privateDnsZones/privatelink.batch.azure.com",
    ),
    (
        "batch account omitted: the private default needs an endpoint",
        lambda s: s.pop("batchforge:batchAccount"),
        "Pulumi.prod.yaml: batchAccount: publicNetworkAccess Disabled needs privateEndpoint (nodes and clients reach "
        "the account through it)",
    ),
    (
        "tag name Azure rejects",
        lambda s: s["batchforge:tags"].update({"team/owner": "hpc"}),
        "Pulumi.prod.yaml: tags: tag name 'team/owner' must be 1-128 characters without < > % & \\ ? /",
    ),
    (
        "user-subscription allocation",
        lambda s: s["batchforge:batchAccount"].update(poolAllocationMode="UserSubscription"),
        "Pulumi.prod.yaml: batchAccount.poolAllocationMode: must be one of 'BatchService'",
    ),
    (
        "existing resource group without a name",
        lambda s: s.update({"batchforge:resourceGroup": {"create": False}}),
        "Pulumi.prod.yaml: resourceGroup: name is required when create is false (the existing resource group to use)",
    ),
    (
        "no pools",
        lambda s: s.update({"batchforge:pools": []}),
        "Pulumi.prod.yaml: pools: must have at least 1 item(s)",
    ),
    (
        "missing location",
        lambda s: s.pop("batchforge:location"),
        "Pulumi.prod.yaml: location: is required",
    ),
    (
        "workload given as a path",
        lambda s: s.update({"batchforge:workloads": ["workloads/hello.yaml"]}),
        "Pulumi.prod.yaml: workloads: must be file names under workloads/ ending in .yaml: workloads/hello.yaml",
    ),
    (
        "unknown workload deletion",
        lambda s: s.update({"batchforge:workloadDeletion": "purge"}),
        "Pulumi.prod.yaml: workloadDeletion: must be one of 'terminate' or 'delete'",
    ),
    (
        "mount of neither kind",
        lambda s: _pool(s).update(mounts=[{}]),
        "Pulumi.prod.yaml: pools[0].mounts[0]: set exactly one of azureBlob or nfs",
    ),
    (
        "same container for resources and outputs",
        lambda s: s["batchforge:storage"].update(resourcesContainer="data", outputsContainer="data"),
        "Pulumi.prod.yaml: storage: resourcesContainer and outputsContainer must differ (they get different access "
        "rights)",
    ),
    (
        "key without namespace",
        lambda s: s.update({"location": "westeurope"}),
        "Pulumi.prod.yaml: location: config keys need a namespace; did you mean 'batchforge:location'?",
    ),
    (
        "deployer principal id not a GUID",
        lambda s: s.update(
            {"batchforge:deployer": {"principalId": "ci-pipeline", "principalType": "ServicePrincipal"}}
        ),
        "Pulumi.prod.yaml: deployer.principalId: must be an Entra object id, a GUID such as "
        "00000000-0000-0000-0000-000000000000",
    ),
    (
        "deployer principal type unknown",
        lambda s: s.update(
            {"batchforge:deployer": {"principalId": "5f0c3e1a-8b2d-4c6e-9f10-2a3b4c5d6e7f", "principalType": "App"}}
        ),
        "Pulumi.prod.yaml: deployer.principalType: must be one of 'ServicePrincipal', 'User' or 'Group'",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[c[0] for c in CASES])
def test_bad_stack_file_gives_exact_message(tmp_path, mutate, expected):
    assert _problems(tmp_path, mutate) == expected


def test_every_problem_is_listed_in_one_message(tmp_path):
    def break_many(section: dict[str, Any]) -> None:
        _pool(section).update(vmSzie="x", taskSlotsPerNode=0)
        _pool(section)["scale"].update(dedicated=-2)
        _add_second_pool(section)
        section["batchforge:namePrefix"] = "Batch"

    assert _problems(tmp_path, break_many).splitlines() == [
        "Pulumi.prod.yaml: namePrefix: must be 2-10 lowercase letters or digits, starting with a letter",
        "Pulumi.prod.yaml: pools[0].scale.dedicated: must be >= 0",
        "Pulumi.prod.yaml: pools[0].taskSlotsPerNode: must be >= 1",
        "Pulumi.prod.yaml: pools[0].vmSzie: unknown key; did you mean 'vmSize'?",
        "Pulumi.prod.yaml: pools[1].scale.dedicated: must be >= 0",
        "Pulumi.prod.yaml: pools[1].taskSlotsPerNode: must be >= 1",
        "Pulumi.prod.yaml: pools[1].vmSzie: unknown key; did you mean 'vmSize'?",
        "Pulumi.prod.yaml: pools[1].id: duplicate pool id 'cpu' (also pools[0])",
    ]


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  batchforge:location: [westeurope\n")
    with pytest.raises(InvalidInput) as caught:
        load_stack_file(path)
    assert str(caught.value).startswith("Pulumi.dev.yaml: line 3, column 1: invalid YAML")


def test_unknown_top_level_section_is_reported(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": _staging_section(), "confg": {}}))
    with pytest.raises(InvalidInput) as caught:
        load_stack_file(path, repo_root=REPO_ROOT)
    assert str(caught.value) == "Pulumi.dev.yaml: confg: unknown top-level key; expected 'config'"


def test_other_namespaces_belong_to_providers_and_are_ignored(tmp_path):
    section = _staging_section()
    section["azure-native:subscriptionId"] = "0000"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump({"config": section}))
    assert load_stack_file(path, repo_root=REPO_ROOT).pools[0].id == "cpu"


def _as_pulumi_passes_it(section: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in section.items()}


def test_pulumi_config_map_gives_the_same_model_as_the_file():
    for stack in ("dev", "staging", "prod"):
        path = REPO_ROOT / f"Pulumi.{stack}.yaml"
        section = yaml.safe_load(path.read_text())["config"]
        assert from_pulumi_config(stack, _as_pulumi_passes_it(section), REPO_ROOT) == load_stack_file(path)


def test_pulumi_config_problems_are_labelled_with_the_stack_file():
    section = _staging_section()
    section["batchforge:pools"][0]["scale"]["dedicated"] = -1
    with pytest.raises(InvalidInput) as caught:
        from_pulumi_config("prod", _as_pulumi_passes_it(section), REPO_ROOT)
    assert str(caught.value) == "Pulumi.prod.yaml: pools[0].scale.dedicated: must be >= 0"


def test_pulumi_yaml_declares_every_simple_key_of_the_model():
    from batchforge.config import StackConfig

    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "batchforge"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    declared = project["config"]
    aliases = {field.alias for field in StackConfig.model_fields.values()}
    assert set(declared) <= aliases
    # Pulumi types only strings, integers, booleans and arrays of those; every such key is declared.
    assert set(declared) == {"location", "namePrefix", "workloads", "workloadDeletion"}
    assert declared["workloads"]["type"] == "array" and declared["workloads"]["items"] == {"type": "string"}
    assert declared["workloadDeletion"]["default"] == StackConfig.model_fields["workload_deletion"].default
