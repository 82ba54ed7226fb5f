"""403 triage: a private account refusing the caller's network fails at once with a way out; a role that has not
reached the data plane yet is waited out, within a bound. The errors come from the real Batch and Storage SDKs
talking to a stand-in service (through a local HTTP proxy, so the requests keep the accounts' real host names).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.batch import BatchClient
from azure.batch import models as batch_models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobClient

import batchforge.providers.workload_submission as hook
import batchforge.submission.client as clients
from batchforge.providers import blob_upload
from batchforge.submission.client import PrivateNetworkOnlyError, forbidden_kind

KEY = base64.b64encode(b"stand-in-key-material-for-tests!").decode()
BATCH_URL = "http://acct.westeurope.batch.azure.com"
BLOB_URL = "http://acct.blob.core.windows.net"

# Bodies as the services send them (Batch: OData JSON; Storage: XML plus the x-ms-error-code header).
BATCH_NOT_AUTHORIZED = {
    "odata.metadata": f"{BATCH_URL}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
    "code": "AuthorizationFailure",
    "message": {
        "lang": "en-US",
        "value": "This request is not authorized to perform this operation.\n"
        "RequestId:61056696-c076-4df2-a1f0-d3de71a1be98\nTime:2025-08-05T10:06:57.0416104Z",
    },
}
BATCH_NO_ROLE = {
    "odata.metadata": BATCH_NOT_AUTHORIZED["odata.metadata"],
    "code": "AuthorizationFailure",
    "message": {
        "lang": "en-US",
        "value": "The client 'a15f98c1-0000-4000-8000-000000000001' with object id "
        "'a15f98c1-0000-4000-8000-000000000001' does not have authorization to perform action "
        "'Microsoft.Batch/batchAccounts/jobs/write' over scope '/subscriptions/0000/resourceGroups/rg/providers/"
        "Microsoft.Batch/batchAccounts/acct/jobs/sweep' or the scope is invalid. If access was recently granted, "
        "please refresh your credentials.\nRequestId:7a1c\nTime:2025-08-05T10:06:57Z",
    },
}


def storage_error_body(code: str, message: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
        "RequestId:ad7a75b2-201e-0032-20d4-23e8a6000000\nTime:2025-08-04T05:48:03.0108277Z</Message></Error>"
    )


STORAGE_NETWORK = ("AuthorizationFailure", "This request is not authorized to perform this operation.")
STORAGE_NO_ROLE = (
    "AuthorizationPermissionMismatch",
    "This request is not authorized to perform this operation using this permission.",
)


@dataclass
class Reply:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StandIn:
    """Answers every request with the next scripted reply (the last one repeats) and records the request lines."""

    replies: list[Reply] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    port: int = 0

    def next_reply(self, line: str) -> Reply:
        self.seen.append(line)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.proxies = {"http": f"http://127.0.0.1:{self.port}"}
        return session


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            reply = state.next_reply(f"{self.command} {self.path}")
            body = reply.body.encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def batch_reply(body: dict[str, Any]) -> Reply:
    return Reply(403, json.dumps(body), {"Content-Type": "application/json;odata=minimalmetadata"})


def storage_reply(code: str, message: str) -> Reply:
    return Reply(403, storage_error_body(code, message), {"Content-Type": "application/xml", "x-ms-error-code": code})


def create_job(stand_in: StandIn) -> None:
    client = BatchClient(
        endpoint=BATCH_URL,
        credential=AzureNamedKeyCredential("acct", KEY),
        transport=RequestsTransport(session=stand_in.session(), session_owner=True),
    )
    job = batch_models.BatchJobCreateOptions(id="sweep", pool_info=batch_models.BatchPoolInfo(pool_id="cpu"))
    client.create_job(job, retry_total=0)


def blob_client(stand_in: StandIn) -> BlobClient:
    return BlobClient(
        account_url=BLOB_URL,
        container_name="resources",
        blob_name="start-tasks/cpu/abc/x.sh",
        credential={"account_name": "acct", "account_key": KEY},
        transport=RequestsTransport(session=stand_in.session(), session_owner=True),
        retry_total=0,
    )


def raised_by(action: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        action()
    return caught.value


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def public_privatelink(host: str) -> tuple[str, list[str], list[str]]:
    # What public DNS answers outside the network for an account that has a private endpoint.
    return ("acct.privatelink.westeurope.batch.azure.com", [host], ["20.50.2.7"])


def private_privatelink(host: str) -> tuple[str, list[str], list[str]]:
    # The same name inside the network: the privatelink zone answers with the endpoint's address.
    return ("acct.privatelink.westeurope.batch.azure.com", [host], ["10.20.1.5"])


NETWORK_MESSAGE = (
    "{host} refused this request from this network (403 AuthorizationFailure: This request is not authorized "
    "to perform this operation.). The account only accepts traffic through its private endpoint: run `pulumi up` "
    "for this stack from a runner inside its virtual network (a self-hosted runner that resolves the privatelink "
    'DNS zones; docs/gitops.md, "Self-hosted runners for private stacks").'
)


# ---------------------------------------------------------------- the classification


def test_storage_network_refusal_and_rbac_mismatch_are_told_apart(stand_in):
    stand_in.replies = [storage_reply(*STORAGE_NETWORK), storage_reply(*STORAGE_NO_ROLE)]
    network = raised_by(lambda: blob_client(stand_in).upload_blob(b"x", overwrite=True))
    rbac = raised_by(lambda: blob_client(stand_in).upload_blob(b"x", overwrite=True))

    assert forbidden_kind(network) == clients.Forbidden(
        "network", "AuthorizationFailure", "This request is not authorized to perform this operation."
    )
    assert forbidden_kind(rbac) == clients.Forbidden("authorization", *STORAGE_NO_ROLE)
    assert [line.split("?")[0] for line in stand_in.seen] == [f"PUT {BLOB_URL}/resources/start-tasks/cpu/abc/x.sh"] * 2


def test_batch_authorization_failure_is_a_network_refusal_only_behind_a_private_endpoint_reached_publicly(stand_in):
    stand_in.replies = [batch_reply(BATCH_NOT_AUTHORIZED)]
    error = raised_by(lambda: create_job(stand_in))

    assert forbidden_kind(error, resolve=public_privatelink).kind == "network"
    assert forbidden_kind(error, resolve=private_privatelink).kind == "authorization"
    assert forbidden_kind(error, resolve=lambda host: (host, [], ["20.50.2.7"])).kind == "authorization"


def test_batch_rbac_wording_is_authorization_whatever_dns_says(stand_in):
    stand_in.replies = [batch_reply(BATCH_NO_ROLE)]
    error = raised_by(lambda: create_job(stand_in))

    kind = forbidden_kind(error, resolve=public_privatelink)

    assert kind is not None and kind.kind == "authorization" and kind.code == "AuthorizationFailure"
    assert kind.message.startswith("The client 'a15f98c1-")


def test_other_statuses_are_not_read_as_403s(stand_in):
    stand_in.replies = [Reply(409, json.dumps({**BATCH_NOT_AUTHORIZED, "code": "JobExists"}))]
    assert forbidden_kind(raised_by(lambda: create_job(stand_in))) is None
    assert forbidden_kind(ValueError("403")) is None


# ---------------------------------------------------------------- the hook's retry loop


def test_hook_fails_at_once_on_a_network_refusal(stand_in, monkeypatch):
    stand_in.replies = [batch_reply(BATCH_NOT_AUTHORIZED)]
    monkeypatch.setattr(clients.socket, "gethostbyname_ex", public_privatelink)
    clock = FakeClock()

    with pytest.raises(PrivateNetworkOnlyError) as refused:
        hook._retry_while_rbac_propagates("entra-id", lambda: create_job(stand_in), clock=clock, sleep=clock.sleep)

    assert str(refused.value) == NETWORK_MESSAGE.format(host="acct.westeurope.batch.azure.com")
    assert isinstance(refused.value.__cause__, HttpResponseError)
    assert len(stand_in.seen) == 1 and clock.sleeps == []


def test_hook_waits_out_rbac_propagation_then_submits(stand_in):
    stand_in.replies = [batch_reply(BATCH_NO_ROLE), batch_reply(BATCH_NO_ROLE), Reply(201)]
    clock = FakeClock()

    hook._retry_while_rbac_propagates("entra-id", lambda: create_job(stand_in), clock=clock, sleep=clock.sleep)

    assert clock.sleeps == [hook.RBAC_RETRY_INTERVAL_S] * 2 and len(stand_in.seen) == 3


def test_hook_gives_up_on_rbac_after_the_propagation_window(stand_in):
    stand_in.replies = [batch_reply(BATCH_NO_ROLE)]
    clock = FakeClock()

    with pytest.raises(HttpResponseError, match="does not have authorization"):
        hook._retry_while_rbac_propagates("entra-id", lambda: create_job(stand_in), clock=clock, sleep=clock.sleep)

    assert sum(clock.sleeps) <= hook.RBAC_PROPAGATION_S
    assert sum(clock.sleeps) + hook.RBAC_RETRY_INTERVAL_S > hook.RBAC_PROPAGATION_S
    assert len(stand_in.seen) == len(clock.sleeps) + 1


# ---------------------------------------------------------------- the start-task upload's 403 loop


def _props(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "x.sh"
    script.write_text("echo hi\n")
    return {
        "account_url": BLOB_URL,
        "container_name": "resources",
        "blob_name": "start-tasks/cpu/abc/x.sh",
        "local_path": str(script),
        "sha256": "abc",
    }


def test_upload_fails_at_once_when_the_storage_account_refuses_the_network(stand_in, monkeypatch, tmp_path):
    stand_in.replies = [storage_reply(*STORAGE_NETWORK)]
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: blob_client(stand_in))
    clock = FakeClock()

    with pytest.raises(PrivateNetworkOnlyError) as refused:
        blob_upload._upload(_props(tmp_path), clock=clock, sleep=clock.sleep)

    assert str(refused.value) == NETWORK_MESSAGE.format(host="acct.blob.core.windows.net")
    assert len(stand_in.seen) == 1 and clock.sleeps == []


def test_upload_waits_out_rbac_propagation_then_uploads(stand_in, monkeypatch, tmp_path):
    stand_in.replies = [storage_reply(*STORAGE_NO_ROLE), storage_reply(*STORAGE_NO_ROLE), Reply(201)]
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: blob_client(stand_in))
    clock = FakeClock()

    url = blob_upload._upload(_props(tmp_path), clock=clock, sleep=clock.sleep)

    assert url == f"{BLOB_URL}/resources/start-tasks/cpu/abc/x.sh"
    assert clock.sleeps == [15, 15] and len(stand_in.seen) == 3


def test_upload_gives_up_on_rbac_after_the_propagation_window(stand_in, monkeypatch, tmp_path):
    stand_in.replies = [storage_reply(*STORAGE_NO_ROLE)]
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: blob_client(stand_in))
    clock = FakeClock()

    with pytest.raises(HttpResponseError) as denied:
        blob_upload._upload(_props(tmp_path), clock=clock, sleep=clock.sleep)

    assert denied.value.error_code == "AuthorizationPermissionMismatch"
    assert sum(clock.sleeps) == blob_upload._RBAC_PROPAGATION_SECONDS
    assert len(stand_in.seen) == len(clock.sleeps) + 1
