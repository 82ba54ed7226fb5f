"""Credentials in text: SAS signatures, storage keys, connection strings, tokens, private keys.

One combined expression is searched per string (tasks of a large sweep are scanned one by one), and each
finding names what was found and the safe alternative. The patterns are shapes, not guesses at meaning: a
value is reported when it has the form a credential of that kind takes (a SAS ``sig=`` of a real signature's
length, an 86-character base64 key, a token's prefix and length), and references to a credential held
elsewhere (``$TOKEN``, ``${{ secrets.X }}``, a Key Vault URL) are not credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MANAGED_IDENTITY = (
    "use the pool's managed identity instead: identityReference on resource and output files (useIdentity: true), "
    "Entra ID for storage (shared keys are disabled)"
)
KEY_VAULT = (
    "keep it in Key Vault and read it on the node with the pool's managed identity "
    "(az keyvault secret show --id https://<vault>.vault.azure.net/secrets/<name>), or use a managed identity"
)


@dataclass(frozen=True)
class SecretKind:
    name: str
    what: str
    alternative: str


@dataclass(frozen=True)
class SecretFinding:
    kind: SecretKind
    # The found text, shortened so that a report never repeats the whole credential.
    excerpt: str


_KINDS: dict[str, tuple[SecretKind, str]] = {
    # A SAS token's signature: base64 (often URL-encoded) of an HMAC-SHA256, 43+ characters.
    "sas": (
        SecretKind("sas", "a SAS token (sig=)", MANAGED_IDENTITY),
        r"(?:^|[?&;])sig=(?:[A-Za-z0-9+/=]|%2[BbFf]|%3[Dd]){40,}",
    ),
    "connection": (
        SecretKind("connection-string", "an account key or SAS in a connection string", MANAGED_IDENTITY),
        r"(?i:AccountKey|SharedAccessKey|SharedAccessSignature)\s*=\s*[A-Za-z0-9+/%&=]{20,}",
    ),
    # A storage account key: 64 random bytes in base64.
    "account_key": (
        SecretKind("account-key", "a storage account key", MANAGED_IDENTITY),
        r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])",
    ),
    "private_key": (
        SecretKind("private-key", "a private key", KEY_VAULT),
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
    ),
    # header.payload.signature, both JSON parts base64url of '{"'.
    "jwt": (
        SecretKind("jwt", "a JSON web token", KEY_VAULT),
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    ),
    "github": (
        SecretKind("github-token", "a GitHub token", KEY_VAULT),
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{80,})(?![A-Za-z0-9_])",
    ),
    "aws_key_id": (
        SecretKind("aws-access-key", "an AWS access key id", KEY_VAULT),
        r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])",
    ),
    "aws_secret": (
        SecretKind("aws-secret-key", "an AWS secret access key", KEY_VAULT),
        r"(?i:aws_secret_access_key)\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
    ),
    "slack": (
        SecretKind("slack-token", "a Slack token", KEY_VAULT),
        r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{20,}",
    ),
    # Entra ID client secrets carry 'Q~' after three characters and a digit.
    "entra_secret": (
        SecretKind("client-secret", "a Microsoft Entra client secret", KEY_VAULT),
        r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])",
    ),
    # A literal token after 'Bearer' (a $VARIABLE or ${...} is a reference, not a token).
    "bearer": (
        SecretKind("bearer-token", "a bearer token", KEY_VAULT),
        r"(?i:\bbearer)\s+[A-Za-z0-9._~+/-]{20,}=*",
    ),
    # user:password@ in a URL (not a port: the part after ':' is not all digits, and '@' follows).
    "url_password": (
        SecretKind("url-password", "a password in a URL", KEY_VAULT),
        r"\b[a-z][a-z0-9+.-]*://[^\s/:@$]+:(?!\d+[/@]?(?:[\s/]|$))[^\s/@$]{3,}@",
    ),
    # password=literal (connection strings, command-line options); $VAR, {placeholder} and <...> are references.
    "password": (
        SecretKind("password", "a password", KEY_VAULT),
        r"(?i:\b(?:password|passwd|pwd))\s*[=:]\s*(?![$%{<\s'\"*])[^\s;'\"&]{6,}",
    ),
}

_COMBINED = re.compile("|".join(f"(?P<{group}>{pattern})" for group, (_, pattern) in _KINDS.items()))

# Environment variable names that announce a credential; their value is one when it is shaped like a random
# string (long, no spaces, letters and digits mixed), not a path, URL, reference or a Key Vault secret's name.
_CREDENTIAL_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY)", re.IGNORECASE)
_NAME_REFERENCE = re.compile(r"(_FILE|_PATH|_NAME|_URL|_URI|_ID|_AUDIENCE|_SCOPE|_ENDPOINT)$", re.IGNORECASE)
_RANDOM_LOOKING = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9+/=_.~-]{16,}$")
GENERIC = SecretKind("credential", "a credential", KEY_VAULT)


def _excerpt(text: str) -> str:
    return f"{text[:8]}..." if len(text) > 8 else "..."


def find_secret(text: str) -> SecretFinding | None:
    """The first credential in ``text``, or None."""
    match = _COMBINED.search(text)
    if match is None or match.lastgroup is None:
        return None
    return SecretFinding(_KINDS[match.lastgroup][0], _excerpt(match.group(0)))


def find_secret_in_variable(name: str, value: str) -> SecretFinding | None:
    """A credential in an environment variable: in its value, or a random-looking value of a credential's name."""
    found = find_secret(value)
    if found is not None:
        return found
    if _CREDENTIAL_NAME.search(name) and not _NAME_REFERENCE.search(name) and _RANDOM_LOOKING.match(value):
        return SecretFinding(GENERIC, _excerpt(value))
    return None


def describe(finding: SecretFinding) -> str:
    """The problem text: what was found (never the whole value) and what to do instead."""
    return (
        f"holds {finding.kind.what} ({finding.excerpt}); secrets do not belong in workloads: {finding.kind.alternative}"
    )
