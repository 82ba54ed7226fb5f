"""Operations the public sample clients call, answered as the Batch REST API defines them: supported images,
pool node counts, node users, the retired certificates and Cloud Services pools, api-versions, the request log.

Through the unmodified azure-batch 15.x SDK, and signed by hand (`RawBatch`) at the api-version the last
14.x release sends.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from batchforge.config import lifecycle
from batchforge.localbatch.api.versions import SUPPORTED_API_VERSIONS
from batchforge.localbatch.app import RequestLog
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from tests.localbatch.test_localbatch_auth import LAST_14X_API_VERSION, RawBatch

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVsb2NhbGJhdGNoLXRlc3Qta2V5LW5vdC1yZWFsLTAw tester@example"
UBUNTU_2404 = m.VirtualMachineConfiguration(
    image_reference=m.BatchVmImageReference(publisher="canonical", offer="ubuntu-24_04-lts", sku="server"),
    node_agent_sku_id="batch.node.ubuntu 24.04",
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def values(response_json: dict[str, Any]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in response_json.get("values", [])}


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


@pytest.fixture(scope="module")
def raw(local_batch: LocalBatch) -> RawBatch:
    return RawBatch(local_batch)


@pytest.fixture(scope="module")
def node_pool(client: BatchClient) -> tuple[str, str]:
    """A pool with one idle dedicated node: (pool id, node id)."""
    pool_id = unique("fidelity-pool")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=UBUNTU_2404, target_dedicated_nodes=1
        )
    )
    (node,) = wait_for_idle_nodes(client, pool_id, 1)
    return pool_id, node.id


# ---- supported images ---------------------------------------------------------------------------------
def test_supported_images_list_the_stacks_image_and_end_of_life(client: BatchClient) -> None:
    images = list(client.list_supported_images())
    by_image = {(i.image_reference.publisher, i.image_reference.offer, i.image_reference.sku): i for i in images}
    noble = by_image[("canonical", "ubuntu-24_04-lts", "server")]
    assert noble.node_agent_sku_id == "batch.node.ubuntu 24.04"
    assert noble.os_type == "linux" and noble.verification_type == "verified"
    assert noble.batch_support_end_of_life is None
    jammy = [i for i in images if i.node_agent_sku_id == "batch.node.ubuntu 22.04"]
    assert jammy and all(i.batch_support_end_of_life is not None for i in jammy)
    assert all(i.image_reference.version == "latest" for i in images)


def test_supported_images_agree_with_the_lifecycle_table(client: BatchClient) -> None:
    today = datetime.now(UTC).date()
    for image in client.list_supported_images():
        support = lifecycle.node_agent_support(image.node_agent_sku_id)
        ends: date | None = support.ends if support else None
        listed = image.batch_support_end_of_life.date() if image.batch_support_end_of_life else None
        assert listed == ends, image.node_agent_sku_id
        assert ends is None or ends >= today, f"{image.node_agent_sku_id} is past its end and still listed"


def test_supported_images_filter_and_paging(raw: RawBatch) -> None:
    first = raw.request("GET", "/supportedimages", query=[("maxresults", "2")])
    assert first.status_code == 200, first.text
    assert len(first.json()["value"]) == 2 and "odata.nextLink" in first.json()
    windows = raw.request("GET", "/supportedimages", query=[("$filter", "osType eq 'windows'")])
    assert windows.json()["value"] and {i["osType"] for i in windows.json()["value"]} == {"windows"}
    skus = raw.request("GET", "/nodeagentskus", api_version="2018-12-01.8.0").json()["value"]
    assert "batch.node.ubuntu 24.04" in {sku["id"] for sku in skus}


# ---- node counts ----------------------------------------------------------------------------------------
def test_pool_node_counts_by_kind_and_state(client: BatchClient, node_pool: tuple[str, str]) -> None:
    pool_id, _ = node_pool
    (counts,) = list(client.list_pool_node_counts(filter=f"poolId eq '{pool_id}'"))
    assert counts.pool_id == pool_id
    assert counts.dedicated.total == 1
    assert counts.dedicated.idle + counts.dedicated.running == 1
    assert counts.low_priority.total == 0


# ---- node users ------------------------------------------------------------------------------------------
def test_node_user_lifecycle_and_the_service_codes(client: BatchClient, node_pool: tuple[str, str]) -> None:
    pool_id, node_id = node_pool
    expiry = datetime.now(UTC) + timedelta(days=2)
    client.create_node_user(
        pool_id, node_id, m.BatchNodeUserCreateOptions(name="alice", is_admin=True, expiry_time=expiry, password="pw1")
    )
    with pytest.raises(ResourceExistsError) as duplicate:
        client.create_node_user(pool_id, node_id, m.BatchNodeUserCreateOptions(name="ALICE", password="pw2"))
    assert duplicate.value.error.code == "NodeUserExists"
    client.replace_node_user(pool_id, node_id, "alice", m.BatchNodeUserReplaceOptions(ssh_public_key=SSH_KEY))
    client.delete_node_user(pool_id, node_id, "alice")
    with pytest.raises(ResourceNotFoundError) as gone:
        client.delete_node_user(pool_id, node_id, "alice")
    assert gone.value.error.code == "NodeUserNotFound"
    with pytest.raises(ResourceNotFoundError) as missing:
        client.replace_node_user(pool_id, node_id, "bob", m.BatchNodeUserReplaceOptions(password="x"))
    assert missing.value.error.code == "NodeUserNotFound"


@pytest.mark.parametrize(
    ("body", "code", "property_name"),
    [
        ({"password": "pw"}, "MissingRequiredProperty", "name"),
        ({"name": "carol"}, "MissingRequiredProperty", "password"),
        ({"name": "carol", "sshPublicKey": "not a key"}, "InvalidPropertyValue", "sshPublicKey"),
        ({"name": "carol", "password": "pw", "isAdmin": "yes"}, "InvalidPropertyValue", "isAdmin"),
        (
            {"name": "carol", "password": "pw", "expiryTime": "2001-01-01T00:00:00Z"},
            "InvalidPropertyValue",
            "expiryTime",
        ),
        ({"name": "-carol", "password": "pw"}, "InvalidPropertyValue", "name"),
    ],
)
def test_node_user_bodies_are_validated(
    raw: RawBatch, node_pool: tuple[str, str], body: dict[str, Any], code: str, property_name: str
) -> None:
    pool_id, node_id = node_pool
    response = raw.request("POST", f"/pools/{pool_id}/nodes/{node_id}/users", body=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert values(response.json())["PropertyName"] == property_name


def test_node_users_are_recorded_not_served_and_survive_in_state(
    raw: RawBatch, node_pool: tuple[str, str], client: BatchClient
) -> None:
    pool_id, node_id = node_pool
    added = raw.request("POST", f"/pools/{pool_id}/nodes/{node_id}/users", body={"name": "dave", "password": "s3"})
    assert added.status_code == 201, added.text
    node = raw.request("GET", f"/pools/{pool_id}/nodes/{node_id}").json()
    assert "dave" not in json.dumps(node) and "s3" not in json.dumps(node)
    login = client.get_node_remote_login_settings(pool_id, node_id)
    assert login.remote_login_ip_address and login.remote_login_port == 22
    assert raw.request("DELETE", f"/pools/{pool_id}/nodes/{node_id}/users/dave").status_code == 200


def test_a_windows_node_needs_a_password_and_takes_no_ssh_key(raw: RawBatch, client: BatchClient) -> None:
    pool_id = unique("fidelity-win")
    windows = m.VirtualMachineConfiguration(
        image_reference=m.BatchVmImageReference(
            publisher="microsoftwindowsserver", offer="windowsserver", sku="2022-datacenter"
        ),
        node_agent_sku_id="batch.node.windows amd64",
    )
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", virtual_machine_configuration=windows, target_dedicated_nodes=1
        )
    )
    try:
        (node,) = wait_for_idle_nodes(client, pool_id, 1)
        users = f"/pools/{pool_id}/nodes/{node.id}/users"
        keyed = raw.request("POST", users, body={"name": "erin", "sshPublicKey": SSH_KEY, "password": "pw"})
        assert keyed.status_code == 400 and values(keyed.json())["PropertyName"] == "sshPublicKey"
        bare = raw.request("POST", users, body={"name": "erin"})
        assert bare.status_code == 400 and values(bare.json())["PropertyName"] == "password"
        assert raw.request("POST", users, body={"name": "erin", "password": "pw"}).status_code == 201
    finally:
        raw.request("DELETE", f"/pools/{pool_id}")


# ---- retired features -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/certificates"),
        ("POST", "/certificates"),
        ("GET", "/certificates(thumbprintAlgorithm=sha1,thumbprint=0123abcd)"),
        ("DELETE", "/certificates(thumbprintAlgorithm=sha1,thumbprint=0123abcd)"),
        ("POST", "/certificates(thumbprintAlgorithm=sha1,thumbprint=0123abcd)/canceldelete"),
    ],
)
def test_certificates_answer_with_their_retirement(raw: RawBatch, method: str, path: str) -> None:
    body = {"thumbprint": "0123abcd", "thumbprintAlgorithm": "sha1", "data": "AA=="} if method == "POST" else None
    response = raw.request(method, path, body=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "FeatureNotSupported"
    text = error["message"]["value"]
    assert "2024-02-29" in text and "Key Vault" in text and "managed identity" in text


def test_a_cloud_services_pool_is_refused_naming_its_replacement(raw: RawBatch, client: BatchClient) -> None:
    pool_id = unique("fidelity-csc")
    body = {"id": pool_id, "vmSize": "small", "cloudServiceConfiguration": {"osFamily": "6"}}
    response = raw.request("POST", "/pools", body=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "FeatureNotSupported"
    assert "virtualMachineConfiguration" in response.json()["message"]["value"]
    assert values(response.json())["PropertyName"] == "cloudServiceConfiguration"
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool_id)


def test_pool_certificate_references_are_refused(raw: RawBatch) -> None:
    reference = {"thumbprint": "0123abcd", "thumbprintAlgorithm": "sha1"}
    body = {"id": unique("fidelity-cert"), "vmSize": "standard_d2s_v3", "certificateReferences": [reference]}
    response = raw.request("POST", "/pools", body=body)
    assert response.status_code == 400 and response.json()["code"] == "FeatureNotSupported"


# ---- api-version --------------------------------------------------------------------------------------------
def test_every_published_version_is_answered(raw: RawBatch) -> None:
    assert LAST_14X_API_VERSION in SUPPORTED_API_VERSIONS and "2020-09-01.12.0" in SUPPORTED_API_VERSIONS
    for version in SUPPORTED_API_VERSIONS:
        response = raw.request("GET", "/pools", query=[("maxresults", "1")], api_version=version)
        assert response.status_code == 200, (version, response.text)


@pytest.mark.parametrize("version", ["2019-01-01", "2025-06-01-preview", "2024-02-01", "latest", ""])
def test_other_versions_get_the_service_error(raw: RawBatch, version: str) -> None:
    response = raw.request("GET", "/pools", api_version=version)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "UnsupportedRequestVersion"
    assert values(response.json())["QueryParameterValue"] == version


def test_the_sdk_sees_unsupported_request_version(local_batch: LocalBatch) -> None:
    future = local_batch.batch_client(api_version="2099-01-01")
    with pytest.raises(HttpResponseError) as caught:
        future.get_pool("anything")
    assert caught.value.status_code == 400
    assert caught.value.error.code == "UnsupportedRequestVersion"


# ---- request log ----------------------------------------------------------------------------------------------
def test_requests_are_logged_as_json_lines(raw: RawBatch, local_batch: LocalBatch) -> None:
    refused = raw.request("GET", "/pools", api_version="1999-01-01")
    served = raw.request("GET", "/supportedimages")
    wanted = {refused.headers["request-id"]: refused, served.headers["request-id"]: served}
    log_path = local_batch.data_dir / "requests.log"

    def logged() -> dict[str, dict[str, Any]] | None:
        lines = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
        found = {line["requestId"]: line for line in lines if line["requestId"] in wanted}
        return found if len(found) == len(wanted) else None

    found = wait_for(logged, timeout=10, what="both requests in requests.log")
    bad = found[refused.headers["request-id"]]
    assert (bad["method"], bad["path"], bad["status"], bad["code"]) == (
        "GET",
        "/pools",
        400,
        "UnsupportedRequestVersion",
    )
    good = found[served.headers["request-id"]]
    assert (good["path"], good["status"], good["code"]) == ("/supportedimages", 200, None)
    assert isinstance(good["ms"], float | int) and good["ms"] >= 0


def test_the_request_log_buffers_instead_of_writing_each_line(tmp_path: Any) -> None:
    log = RequestLog(tmp_path / "requests.log")
    for number in range(100):
        log.write(str(number), "GET", "/pools", 200, None, 0.5)
    assert (tmp_path / "requests.log").stat().st_size == 0  # nothing written per request
    log.flush()
    assert len((tmp_path / "requests.log").read_text().splitlines()) == 100
    log.close()
