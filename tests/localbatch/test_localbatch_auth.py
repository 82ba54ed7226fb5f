"""Shared Key as documented ("Authenticate requests to the Azure Batch service"), checked with a signer of
our own at the api-version the last azure-batch 14.x sends, and with the unmodified 15.x SDK.

`RawBatch` is the tiny signer the other local-Batch API tests use for requests the SDK cannot make.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch import auth
from batchforge.localbatch.testing import LocalBatch

LAST_14X_API_VERSION = "2024-02-01.19.0"  # azure-batch 14.2.0
_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def documented_string_to_sign(
    method: str, path: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str], account: str
) -> str:
    lowered = {name.lower(): value for name, value in headers.items()}
    lines = [method, *(lowered.get(name, "") for name in _STANDARD_HEADERS)]
    lines += [f"{name}:{lowered[name]}" for name in sorted(n for n in lowered if n.startswith("ocp-"))]
    by_name: dict[str, list[str]] = {}
    for name, value in query:
        if value:  # an empty value adds no line (what the SDKs do)
            by_name.setdefault(unquote(name).lower(), []).append(unquote(value))
    resource = [f"/{account}{path}"] + [f"{name}:{','.join(sorted(by_name[name]))}" for name in sorted(by_name)]
    return "\n".join(lines) + "\n" + "\n".join(resource)


@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str]  # names lowercased
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class RawBatch:
    """Signs requests by the documented algorithm; `tamper` is query text appended after signing.

    Sent with http.client, which sends the path exactly as given (HTTP libraries fold `.` and `..` segments).
    """

    def __init__(self, batch: LocalBatch, api_version: str = LAST_14X_API_VERSION) -> None:
        self.endpoint = batch.endpoint
        self.account = batch.account_name
        self.key = base64.b64decode(batch.account_key)
        self.api_version = api_version

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        api_version: str | None = None,
        tamper: str = "",
        timeout: float = 30,
    ) -> RawResponse:
        params = [("api-version", self.api_version if api_version is None else api_version), *query]
        data = json.dumps(body).encode() if body is not None else b""
        sent: dict[str, str] = {"ocp-date": formatdate(usegmt=True), **(headers or {})}
        if method not in ("GET", "HEAD"):
            sent["Content-Length"] = str(len(data))
        if body is not None:
            sent["Content-Type"] = "application/json; odata=minimalmetadata; charset=utf-8"
        text = documented_string_to_sign(method, path, params, sent, self.account)
        signature = base64.b64encode(hmac.new(self.key, text.encode(), hashlib.sha256).digest()).decode()
        sent["Authorization"] = f"SharedKey {self.account}:{signature}"
        target = f"{path}?" + "&".join(f"{quote(n, safe='$')}={quote(v, safe='')}" for n, v in params) + tamper
        connection = http.client.HTTPConnection(urlsplit(self.endpoint).netloc, timeout=timeout)
        try:
            connection.request(method, target, body=data or None, headers=sent)
            answer = connection.getresponse()
            return RawResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def raw(local_batch: LocalBatch) -> RawBatch:
    return RawBatch(local_batch)


@pytest.fixture(scope="module")
def pool_id(local_batch: LocalBatch) -> str:
    pool_id = f"auth-pool-{uuid.uuid4().hex[:8]}"
    local_batch.batch_client().create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3"))
    return pool_id


def test_the_documented_algorithm_signs_a_14x_request(raw: RawBatch, pool_id: str) -> None:
    response = raw.request("GET", "/pools", query=[("$filter", f"id eq '{pool_id}'"), ("maxresults", "10")])
    assert response.status_code == 200, response.text
    assert [pool["id"] for pool in response.json()["value"]] == [pool_id]


def test_a_filter_appended_after_signing_is_refused(raw: RawBatch) -> None:
    response = raw.request("GET", "/pools", tamper="&$filter=true")
    assert response.status_code == 403
    assert response.json()["code"] == "AuthenticationFailed"


def test_a_second_value_of_a_signed_parameter_is_refused(raw: RawBatch, pool_id: str) -> None:
    # Signing only the first value would let this through with the filter replaced by the appended one.
    signed = [("$filter", f"id eq '{pool_id}'")]
    assert raw.request("GET", "/pools", query=signed).status_code == 200
    response = raw.request("GET", "/pools", query=signed, tamper="&%24filter=true")
    assert response.status_code == 403
    assert response.json()["code"] == "AuthenticationFailed"


def test_repeated_parameters_sign_every_value_sorted(raw: RawBatch, pool_id: str) -> None:
    response = raw.request("GET", f"/pools/{pool_id}", query=[("$select", "url"), ("$select", "id")])
    assert response.status_code == 200, response.text


def test_parameter_names_are_signed_lowercased(raw: RawBatch, pool_id: str) -> None:
    response = raw.request("GET", f"/pools/{pool_id}", query=[("timeOut", "30"), ("$Select", "id")])
    assert response.status_code == 200, response.text


def test_canonicalized_resource_lowercases_sorts_and_joins() -> None:
    resource = auth.canonicalized_resource(
        "acct", "/pools", "api-version=2025-06-01&timeOut=30&%24filter=b&%24FILTER=a&empty="
    )
    assert resource == "/acct/pools\n$filter:a,b\napi-version:2025-06-01\ntimeout:30"


def test_the_unmodified_sdk_still_signs_correctly(local_batch: LocalBatch, pool_id: str) -> None:
    client: BatchClient = local_batch.batch_client()
    # 15.x sends `timeOut` and signs names as it sends them: the service accepts that form as well.
    pools = list(client.list_pools(filter=f"id eq '{pool_id}'", select=["id"], max_results=5, service_timeout=30))
    assert [pool.id for pool in pools] == [pool_id]
    assert client.get_pool(pool_id, service_timeout=20).id == pool_id


def test_a_wrong_signature_names_the_reason(raw: RawBatch) -> None:
    raw_wrong = RawBatch.__new__(RawBatch)
    raw_wrong.__dict__.update(raw.__dict__, key=b"not the key")
    response = raw_wrong.request("GET", "/pools")
    assert response.status_code == 403
    details = {value["key"]: value["value"] for value in response.json()["values"]}
    assert "MAC signature" in details["AuthenticationErrorDetail"]
