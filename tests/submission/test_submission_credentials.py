"""The credential factory: in GitHub Actions, a ClientAssertionCredential whose assertion is a fresh GitHub OIDC
token per access token (checked against stand-ins for the Actions token endpoint and for Entra ID's token
endpoint); elsewhere DefaultAzureCredential without the browser."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.identity import ClientAssertionCredential, DefaultAzureCredential

from batchforge.submission import credentials
from batchforge.submission.credentials import OidcTokenError, azure_credential, github_oidc_assertion

RUNTIME_TOKEN = "stand-in-runtime-token"  # what the runner puts in ACTIONS_ID_TOKEN_REQUEST_TOKEN
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


@dataclass
class Recorder:
    port: int = 0
    oidc_calls: list[dict[str, Any]] = field(default_factory=list)
    token_posts: list[dict[str, list[str]]] = field(default_factory=list)


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def actions_endpoint() -> Iterator[Recorder]:
    """The Actions OIDC endpoint: checks the bearer token, hands out a new JWT-shaped value per call."""
    record = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            record.oidc_calls.append({"query": query, "authorization": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != f"Bearer {RUNTIME_TOKEN}":
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"value": f"header.oidc-{len(record.oidc_calls)}.signature"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    _serve(server)
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def request_url(record: Recorder) -> str:
    # The runner's URL already has a query string; the audience must be added to it, not replace it.
    return f"http://127.0.0.1:{record.port}/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken?api-version=2.0"


def test_each_call_fetches_a_new_token_for_the_entra_audience(actions_endpoint):
    fetch = github_oidc_assertion(request_url(actions_endpoint), RUNTIME_TOKEN)

    assert [fetch(), fetch()] == ["header.oidc-1.signature", "header.oidc-2.signature"]
    assert [call["query"] for call in actions_endpoint.oidc_calls] == [
        {"api-version": ["2.0"], "audience": ["api://AzureADTokenExchange"]}
    ] * 2


def test_a_refused_request_token_says_which_permission_is_missing(actions_endpoint):
    fetch = github_oidc_assertion(request_url(actions_endpoint), "not-the-runtime-token")

    with pytest.raises(OidcTokenError, match="answered 401; does the job have `permissions: id-token: write`"):
        fetch()


def _actions_env(record: Recorder) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": request_url(record),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": RUNTIME_TOKEN,
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_TENANT_ID": TENANT,
    }


def test_actions_with_oidc_and_an_identity_select_the_assertion_credential(actions_endpoint):
    env = _actions_env(actions_endpoint)
    assert isinstance(azure_credential(env), ClientAssertionCredential)
    for missing in env:
        others = {name: value for name, value in env.items() if name != missing}
        assert isinstance(azure_credential(others), DefaultAzureCredential), missing


def test_elsewhere_default_credential_never_opens_a_browser(monkeypatch):
    seen: dict[str, Any] = {}

    class Recording(DefaultAzureCredential):
        def __init__(self, **kwargs: Any) -> None:
            seen.update(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Recording)
    assert isinstance(azure_credential({}), Recording)
    assert seen == {"exclude_interactive_browser_credential": True}


# ---------------------------------------------------------------- end to end against a stand-in Entra ID


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    # Entra ID authorities must be https (azure-identity refuses anything else): a throwaway cert for 127.0.0.1.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "entra.pem", folder / "entra.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def entra_endpoint(tmp_path) -> Iterator[tuple[Recorder, Path]]:
    """Entra ID's v2.0 token endpoint: records each client-assertion grant and issues an access token."""
    record = Recorder()
    cert_path, key_path = _self_signed_certificate(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            record.token_posts.append({"path": [self.path], **form})
            body = json.dumps(
                {"token_type": "Bearer", "expires_in": 3600, "access_token": f"access-{len(record.token_posts)}"}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    record.port = server.server_address[1]
    _serve(server)
    try:
        yield record, cert_path
    finally:
        server.shutdown()
        server.server_close()


def test_every_new_access_token_is_bought_with_a_fresh_oidc_token(actions_endpoint, entra_endpoint):
    entra, cert_path = entra_endpoint
    credential = azure_credential(
        _actions_env(actions_endpoint),
        authority=f"https://127.0.0.1:{entra.port}",
        connection_verify=str(cert_path),
    )

    batch = credential.get_token("https://batch.core.windows.net//.default")
    storage = credential.get_token("https://storage.azure.com/.default")
    again = credential.get_token("https://batch.core.windows.net//.default")

    assert (batch.token, storage.token, again.token) == ("access-1", "access-2", "access-1")  # cached while valid
    assert len(actions_endpoint.oidc_calls) == 2, "one GitHub OIDC token per token request to Entra ID"
    assert [post["client_assertion"] for post in entra.token_posts] == [
        ["header.oidc-1.signature"],
        ["header.oidc-2.signature"],
    ]
    for post in entra.token_posts:
        assert post["path"] == [f"/{TENANT}/oauth2/v2.0/token"]
        assert post["client_id"] == [CLIENT] and post["grant_type"] == ["client_credentials"]
        assert post["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert credentials.ENTRA_TOKEN_EXCHANGE_AUDIENCE == "api://AzureADTokenExchange"
