"""Node user accounts and remote login settings.

Locally nodes are folders on this machine, so nothing is created on the host: a user is validated as Batch
validates it and recorded on the node (its password only as a digest), so duplicates, updates and deletes
answer as they do on Azure. The API lists users nowhere; they live as long as the node does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.api.common import account, base_url, endpoint, json_response, read_json
from batchforge.localbatch.clock import iso, now, parse_iso
from batchforge.localbatch.entities import Node, Pool
from batchforge.localbatch.errors import BatchApiError, invalid_property, missing_property

USERS_KEY = "_users"
DEFAULT_LIFETIME = timedelta(days=1)
# Batch adds users to a node only while it can run tasks; other states answer with their own conflict code.
_STATE_CONFLICTS = {
    "creating": "NodeBeingCreated",
    "starting": "NodeBeingStarted",
    "rebooting": "NodeBeingRebooted",
    "reimaging": "NodeBeingReimaged",
    "unusable": "NodeStateUnusable",
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SSH_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ssh-dss", "ecdsa-sha2-", "sk-ssh-ed25519@", "sk-ecdsa-sha2-")
SSH_PORT = 22


def _is_windows(pool: Pool) -> bool:
    config = pool.body.get("virtualMachineConfiguration") or {}
    return str(config.get("nodeAgentSKUId", "")).lower().startswith("batch.node.windows")


def _user_not_found() -> BatchApiError:
    return BatchApiError(404, "NodeUserNotFound", "The specified node user does not exist.")


def _ready_node(request: Request) -> tuple[Pool, Node]:
    pool, node = account(request).node(request.path_params["pool_id"], request.path_params["node_id"])
    if node.state not in ("idle", "running"):
        code = _STATE_CONFLICTS.get(node.state, "OperationNotValidOnNode")
        raise BatchApiError(
            409, code, f"User accounts can be changed only on idle or running nodes; the node is {node.state}."
        )
    return pool, node


def _credentials(pool: Pool, body: dict[str, Any]) -> dict[str, Any]:
    """The password (as a digest), SSH key and expiry of an add or replace body, checked for the node's OS."""
    password, ssh_key = body.get("password"), body.get("sshPublicKey")
    for name, value in (("password", password), ("sshPublicKey", ssh_key)):
        if value is not None and not isinstance(value, str):
            raise invalid_property(name, value, "Must be a string.")
    if _is_windows(pool):
        if ssh_key:
            raise invalid_property("sshPublicKey", "...", "SSH public keys are supported only on Linux nodes.")
        if not password:
            raise missing_property("password")
    elif not password and not ssh_key:
        raise missing_property("password")
    if ssh_key:
        _check_ssh_key(ssh_key)
    expiry_text = body.get("expiryTime")
    if expiry_text is None:
        expiry = now() + DEFAULT_LIFETIME
    else:
        try:
            expiry = parse_iso(str(expiry_text))
        except ValueError:
            raise invalid_property("expiryTime", expiry_text, "Must be an ISO 8601 date and time.") from None
        if expiry.tzinfo is None or expiry <= now():
            raise invalid_property("expiryTime", expiry_text, "Must be a time in the future, with a time zone.")
    return {
        "expiryTime": iso(expiry),
        # Recorded only to tell whether one was set; the clear text never reaches the state database.
        "passwordSha256": hashlib.sha256(password.encode()).hexdigest() if password else None,
        "sshPublicKey": ssh_key or None,
    }


def _check_ssh_key(key: str) -> None:
    parts = key.split()
    reason = "Must be an OpenSSH public key: '<type> <base64 key> [comment]'."
    if len(parts) < 2 or not parts[0].startswith(_SSH_KEY_TYPES):
        raise invalid_property("sshPublicKey", key[:40], reason)
    try:
        base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_property("sshPublicKey", key[:40], reason) from None


@endpoint
async def add_user(request: Request) -> Response:
    pool, node = _ready_node(request)
    body = await read_json(request)
    name = body.get("name")
    if name is None or name == "":
        raise missing_property("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid_property(
            "name", name, "Letters, digits, '_', '.' and '-', at most 64 characters, not starting with '.' or '-'."
        )
    is_admin = body.get("isAdmin", False)
    if not isinstance(is_admin, bool):
        raise invalid_property("isAdmin", is_admin, "Must be true or false.")
    users: dict[str, Any] = node.body.setdefault(USERS_KEY, {})
    if name.lower() in users:
        raise BatchApiError(409, "NodeUserExists", "The specified node user already exists.")
    users[name.lower()] = {"name": name, "isAdmin": is_admin, **_credentials(pool, body)}
    account(request).save(node)
    location = f"{base_url(request)}{request.url.path}/{quote(name, safe='')}"
    return Response(status_code=201, headers={"DataServiceId": location, "Location": location})


@endpoint
async def replace_user(request: Request) -> Response:
    pool, node = _ready_node(request)
    user = node.body.get(USERS_KEY, {}).get(request.path_params["user_name"].lower())
    if user is None:
        raise _user_not_found()
    # Replace, not merge: an omitted expiryTime goes back to the default, an omitted password or key is removed.
    user.update(_credentials(pool, await read_json(request)))
    account(request).save(node)
    return Response(status_code=200)


@endpoint
async def delete_user(request: Request) -> Response:
    _, node = _ready_node(request)
    if node.body.get(USERS_KEY, {}).pop(request.path_params["user_name"].lower(), None) is None:
        raise _user_not_found()
    account(request).save(node)
    return Response(status_code=200)


@endpoint
async def remote_login_settings(request: Request) -> Response:
    _, node = account(request).node(request.path_params["pool_id"], request.path_params["node_id"])
    return json_response({"remoteLoginIPAddress": node.body.get("ipAddress", "127.0.0.1"), "remoteLoginPort": SSH_PORT})


NODE = "/pools/{pool_id}/nodes/{node_id}"
routes = [
    Route(NODE + "/users", add_user, methods=["POST"]),
    Route(NODE + "/users/{user_name}", replace_user, methods=["PUT"]),
    Route(NODE + "/users/{user_name}", delete_user, methods=["DELETE"]),
    Route(NODE + "/remoteloginsettings", remote_login_settings, methods=["GET"]),
]
