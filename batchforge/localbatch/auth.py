"""Shared Key authentication for the Batch data plane, checked the way the service checks it.

The string to sign is the verb, eleven standard headers, the `ocp-*` headers sorted by name, then the
canonicalized resource: `/<account><path>` and one `name:value` line per query parameter, names
lowercased and sorted, values URL-decoded, a repeated parameter's values sorted and comma-joined. For
a request with a body verb and no Content-Length, the length counts as "0".

Every value of a repeated parameter is signed because the service acts on what it parses: signing only
the first would let anyone holding a signed URL append `&$filter=...` and still pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import timedelta
from urllib.parse import parse_qsl

from batchforge.localbatch.clock import parse_rfc1123, wall_now
from batchforge.localbatch.errors import BatchApiError

SIGNED_HEADERS = (
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
ALLOWED_CLOCK_SKEW = timedelta(minutes=15)


def string_to_sign(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    account_name: str,
    *,
    lowercase_names: bool = True,
) -> str:
    lowered: dict[str, str] = {}
    ocp: list[tuple[str, str]] = []
    for name, value in headers:
        key = name.lower()
        if not value:
            continue
        lowered.setdefault(key, value)
        if "ocp-" in key:
            ocp.append((key, value))
    if method not in ("GET", "HEAD"):
        lowered.setdefault("content-length", "0")
    parts = [method, *(lowered.get(h, "") for h in SIGNED_HEADERS)]
    text = "\n".join(parts) + "\n"
    for key, value in sorted(ocp):
        text += f"{key}:{value}\n"
    return text + canonicalized_resource(account_name, raw_path, raw_query, lowercase_names=lowercase_names)


def canonicalized_resource(account_name: str, raw_path: str, raw_query: str, *, lowercase_names: bool = True) -> str:
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        values.setdefault(name.lower() if lowercase_names else name, []).append(value)
    lines = [f"/{account_name}{raw_path}"]
    for name in sorted(values):
        # An empty value adds no line: the SDKs skip them, and an empty value selects nothing.
        present: Sequence[str] = sorted(v for v in values[name] if v)
        if present:
            lines.append(f"{name}:{','.join(present)}")
    return "\n".join(lines)


def sign(key_b64: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _failed(detail: str) -> BatchApiError:
    return BatchApiError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is "
        "formed correctly including the signature.",
        {"AuthenticationErrorDetail": detail},
    )


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    account_name: str,
    account_key: str,
) -> None:
    """Raise `AuthenticationFailed` (403) unless the request carries a valid signature for this account."""
    by_name = {name.lower(): value for name, value in headers}
    authorization = by_name.get("authorization", "")
    if not authorization:
        raise _failed("The Authorization header is missing.")
    scheme, _, credential = authorization.partition(" ")
    if scheme != "SharedKey" or ":" not in credential:
        raise _failed("The Authorization header is not in the form 'SharedKey <account>:<signature>'.")
    name, _, signature = credential.partition(":")
    if name != account_name:
        raise _failed(f"The account '{name}' in the Authorization header is not this account.")
    sent_at = by_name.get("ocp-date") or by_name.get("date")
    if not sent_at:
        raise _failed("Neither the ocp-date nor the Date header is present.")
    try:
        skew = abs(wall_now() - parse_rfc1123(sent_at))  # the client's clock, never a test clock
    except (TypeError, ValueError):
        raise _failed(f"The request date '{sent_at}' is not a valid RFC 1123 date.") from None
    if skew > ALLOWED_CLOCK_SKEW:
        raise _failed(f"Request date header too old or too far in the future: '{sent_at}'.")
    expected = sign(account_key, string_to_sign(method, raw_path, raw_query, headers, account_name))
    matched = hmac.compare_digest(expected, signature)
    if not matched and any(name != name.lower() for name, _ in parse_qsl(raw_query, keep_blank_values=True)):
        # The documented form lowercases parameter names; the azure-batch SDKs sign them as sent (15.x sends
        # `timeOut`), a difference of case only, so that form passes too. Both sign every value.
        text = string_to_sign(method, raw_path, raw_query, headers, account_name, lowercase_names=False)
        matched = hmac.compare_digest(sign(account_key, text), signature)
    if not matched:
        raise _failed("The MAC signature found in the HTTP request is not the same as any computed signature.")
