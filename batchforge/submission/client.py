"""Clients for a `BatchTarget`: the Batch data-plane client and the resources container, with the right credential.

Entra ID on Azure (``batchforge.submission.credentials.azure_credential``: a self-renewing GitHub OIDC
assertion in Actions, DefaultAzureCredential elsewhere); Shared Key only for the local Batch service and
Azurite. Credentials are resolved here, at call time, and never stored anywhere else.

Also the one reading of a 403 from Batch or Storage (``forbidden_kind``): a caller outside the network of a
private account is refused for good, a role assignment that has not reached the data plane yet is not.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import ContainerClient
from requests.adapters import HTTPAdapter

from batchforge.core.sdk_logs import route_library_logs
from batchforge.submission.credentials import azure_credential
from batchforge.submission.target import BatchTarget, EntraIdAuth, SharedKeyAuth

# Enough pooled keep-alive connections for the engine's concurrent add-task-collection requests
# (requests' default of 10 would make every extra worker open and drop a connection per request).
DEFAULT_CONNECTION_POOL_SIZE = 64


def credential_for(auth: SharedKeyAuth | EntraIdAuth) -> AzureNamedKeyCredential | TokenCredential:
    """The azure-core credential for one auth setting."""
    if isinstance(auth, SharedKeyAuth):
        return AzureNamedKeyCredential(auth.account_name, auth.account_key.get_secret_value())
    return azure_credential()


def pooled_transport(pool_size: int = DEFAULT_CONNECTION_POOL_SIZE) -> RequestsTransport:
    """An HTTP transport whose keep-alive pool fits ``pool_size`` concurrent requests to one host."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True)


def make_batch_client(target: BatchTarget, *, pool_size: int = DEFAULT_CONNECTION_POOL_SIZE) -> BatchClient:
    """A Batch client for the target's account: Shared Key for the local service, Entra ID for Azure.

    The SDK's log records (warnings with tracebacks on requests the engine retries) go to
    ``$BATCHFORGE_LOG_FILE`` or nowhere, never to the terminal of the CLI or of ``pulumi up``.
    """
    route_library_logs()
    return BatchClient(
        endpoint=target.account_endpoint,
        credential=credential_for(target.auth),
        transport=pooled_transport(pool_size),
    )


def make_resources_container_client(target: BatchTarget, batch_pool_id: str | None = None) -> ContainerClient:
    """A client for the container that task input files are uploaded to, authenticated as ``target.blob_auth``.

    ``batch_pool_id`` (a job's pool, as the account names it): a pool with its own node identity reads only
    its own resources container, so a job on it has its files uploaded there.
    """
    if batch_pool_id is not None:
        for key, pool_id in target.pool_ids.items():
            if pool_id == batch_pool_id:
                target = target.for_pool(key)
                break
    return ContainerClient.from_container_url(
        target.resources_container_url, credential=credential_for(target.blob_auth)
    )


# ---------------------------------------------------------------- 403 triage

# Where these come from:
# - Storage, RBAC: ``AuthorizationPermissionMismatch`` "This request is not authorized to perform this operation
#   using this permission." (REST reference, "SAS error codes"; an Entra ID caller whose role lacks the data
#   action gets the same code). A role assignment minutes old answers exactly this until it propagates.
# - Storage, network: ``AuthorizationFailure`` "This request is not authorized to perform this operation." is
#   what the firewall answers a caller outside the allowed networks, public network access disabled included
#   (microsoft/AzureStorageExplorer#6916, #8183, #9150; Azure/batch-shipyard#203); the network security
#   perimeter says so outright ("... not authorized by network security perimeter ...").
#   ``AuthorizationSourceIPMismatch`` is the same refusal for an IP-restricted SAS.
# - Batch, RBAC: the caller's role lacks the action: "The client '<id>' with object id '<id>' does not have
#   authorization to perform action 'Microsoft.Batch/batchAccounts/pools/write' over scope ..." (Azure/Batch#154).
# - Batch, network: what the account's public endpoint answers a caller outside its network is not in the Batch
#   error-code table; reports show the Storage-style ``AuthorizationFailure`` "This request is not authorized to
#   perform this operation." from a Batch account (Azure/BatchExplorer#2203, a Contributor refused), and the
#   existing hook tests read that code from Batch as propagation. So for Batch the code alone decides nothing:
#   it is a network refusal when DNS shows the account behind a private endpoint ("<name>.privatelink.<zone>"
#   in its CNAME chain, Azure's private endpoint DNS convention) and this process reached it at a public address.
NETWORK_DENIAL_CODES = frozenset({"AuthorizationSourceIPMismatch"})
# The code both services use for a network refusal and, for Batch, possibly for other refusals too.
AMBIGUOUS_CODE = "AuthorizationFailure"
STORAGE_SERVICES = frozenset({"blob", "dfs", "file", "queue", "table"})
AUTHORIZATION_CODES = frozenset({"AuthorizationPermissionMismatch", "AuthorizationFailed"})
# Lower-case phrases that only a network refusal uses.
NETWORK_DENIAL_PHRASES = (
    "network security perimeter",
    "private endpoint",
    "public network access",
    "network rule",
    "using this network",
    "using this source ip",
)
RBAC_PHRASES = ("does not have authorization to perform action", "using this permission")

ForbiddenKindName = Literal["network", "authorization"]


@dataclass(frozen=True)
class Forbidden:
    """A 403 read: which kind, with the service's code and the first line of its message."""

    kind: ForbiddenKindName
    code: str
    message: str


# host -> (canonical name, aliases, addresses), as ``socket.gethostbyname_ex`` returns them.
Resolver = Callable[[str], tuple[str, list[str], list[str]]]


class PrivateNetworkOnlyError(RuntimeError):
    """The account refused the caller's network: retrying from the same place can never succeed."""


def _text(value: object) -> str:
    # Storage error codes are str-valued enums, whose str() would be "StorageErrorCode.X".
    return str(getattr(value, "value", value) or "")


def _body_code_and_message(error: HttpResponseError) -> tuple[str, str]:
    # Batch raises with its BatchError model (code, message.value); Storage with the x-ms-error-code header and
    # an XML body; neither is guaranteed, so every source is tried and the response body read last.
    code = _text(getattr(error, "error_code", None))
    message = ""
    model = getattr(error, "model", None)
    if model is not None:
        code = code or _text(getattr(model, "code", None))
        model_message = getattr(model, "message", None)
        message = _text(getattr(model_message, "value", None) or model_message)
    odata = getattr(error, "error", None)
    if odata is not None:
        code = code or _text(getattr(odata, "code", None))
        message = message or _text(getattr(odata, "message", None))
    response = getattr(error, "response", None)
    if response is not None:
        code = code or _text(response.headers.get("x-ms-error-code"))
        if not message or not code:
            body_code, body_message = _parse_body(response)
            code, message = code or body_code, message or body_message
    return code, message or str(error.message or "")


def _parse_body(response: Any) -> tuple[str, str]:
    try:
        text = response.text()
    except Exception:  # a streamed or already consumed body has nothing more to tell
        return "", ""
    try:
        document = json.loads(text)
    except ValueError:
        return _xml_field(text, "Code"), _xml_field(text, "Message")
    if not isinstance(document, dict):
        return "", ""
    inner = document.get("error") or document.get("odata.error") or document
    if not isinstance(inner, dict):
        return "", ""
    message = inner.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return str(inner.get("code") or ""), str(message or "")


def _xml_field(text: str, tag: str) -> str:
    start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
    return text[start + len(tag) + 2 : end] if 0 <= start < end else ""


def _host_of(error: HttpResponseError) -> str | None:
    request = getattr(getattr(error, "response", None), "request", None)
    return urlsplit(str(getattr(request, "url", "") or "")).hostname


def _is_storage_host(host: str | None) -> bool:
    # <account>.<service>.core.windows.net (or another cloud's suffix): the second label names the service.
    labels = (host or "").split(".")
    return len(labels) > 2 and labels[1] in STORAGE_SERVICES


def _behind_private_endpoint_reached_publicly(host: str | None, resolve: Resolver) -> bool:
    if not host:
        return False
    try:
        canonical, aliases, addresses = resolve(host)
    except OSError:
        return False
    names = [canonical, *aliases]
    if not any(".privatelink." in name for name in names) or not addresses:
        return False
    # Inside the network, the privatelink zone answers with the endpoint's private address.
    return all(ipaddress.ip_address(address).is_global for address in addresses)


def forbidden_kind(error: BaseException, *, resolve: Resolver | None = None) -> Forbidden | None:
    """How to read a 403 from Batch or Storage; None for anything that is not a 403.

    ``network``: the account refuses the caller's network (fail at once). ``authorization``: a role is missing
    or not propagated yet (worth a bounded wait right after the role assignments were made). A 403 that
    matches neither is read as authorization, which keeps the wait bounded rather than hiding a real RBAC gap.
    ``resolve`` (default ``socket.gethostbyname_ex``) is asked only about an ambiguous Batch refusal.
    """
    if not isinstance(error, HttpResponseError) or error.status_code != 403:
        return None
    code, message = _body_code_and_message(error)
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    lowered = message.lower()
    if code in AUTHORIZATION_CODES or any(phrase in lowered for phrase in RBAC_PHRASES):
        return Forbidden("authorization", code, first_line)
    if code in NETWORK_DENIAL_CODES or any(phrase in lowered for phrase in NETWORK_DENIAL_PHRASES):
        return Forbidden("network", code or "403", first_line)
    if code == AMBIGUOUS_CODE:
        host = _host_of(error)
        if _is_storage_host(host) or _behind_private_endpoint_reached_publicly(
            host, resolve or socket.gethostbyname_ex
        ):
            return Forbidden("network", code, first_line)
    return Forbidden("authorization", code or "403", first_line)


def private_network_error(error: BaseException, forbidden: Forbidden) -> PrivateNetworkOnlyError:
    """The message for a network refusal: what happened and how to reach the account instead."""
    host = _host_of(error) if isinstance(error, HttpResponseError) else None
    return PrivateNetworkOnlyError(
        f"{host or 'the account'} refused this request from this network (403 {forbidden.code}: "
        f"{forbidden.message}). The account only accepts traffic through its private endpoint: run "
        "`pulumi up` for this stack from a runner inside its virtual network (a self-hosted runner that "
        'resolves the privatelink DNS zones; docs/gitops.md, "Self-hosted runners for private stacks").'
    )
