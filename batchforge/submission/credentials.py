"""The one place that builds an Entra ID credential for Batch and Storage calls.

Inside a GitHub Actions job that may request an OIDC token (``permissions: id-token: write``) and names the
identity (``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``), the credential is a ``ClientAssertionCredential`` whose
assertion is a fresh GitHub OIDC token fetched each time Entra ID is asked for an access token. The Azure CLI
session that ``azure/login`` opens holds one federated assertion that expires after about ten minutes and
cannot be renewed, so anything signing in through it fails part-way through a long ``pulumi up``.

Everywhere else (a laptop after ``az login``, a VM with a managed identity, AKS workload identity) it is
``DefaultAzureCredential`` without the interactive browser: nothing may open a browser inside a Pulumi
provider or a pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from azure.core.credentials import TokenCredential

# The audience Entra ID expects in a federated credential's assertion (workload identity federation).
ENTRA_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
ACTIONS_ID_TOKEN_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
ACTIONS_ID_TOKEN_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
AZURE_CLIENT_ID = "AZURE_CLIENT_ID"
AZURE_TENANT_ID = "AZURE_TENANT_ID"
GITHUB_OIDC_TIMEOUT_S = 30.0


class OidcTokenError(RuntimeError):
    """The GitHub Actions token endpoint did not hand out an OIDC token."""


def _with_audience(request_url: str, audience: str) -> str:
    # The runner's URL already carries a query (api-version); the audience is one more parameter.
    parts = urlsplit(request_url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "audience"]
    query.append(("audience", audience))
    return urlunsplit(parts._replace(query=urlencode(query)))


def github_oidc_assertion(
    request_url: str,
    request_token: str,
    *,
    audience: str = ENTRA_TOKEN_EXCHANGE_AUDIENCE,
    timeout_s: float = GITHUB_OIDC_TIMEOUT_S,
    session: requests.Session | None = None,
) -> Callable[[], str]:
    """A callable returning a new GitHub OIDC token (a JWT for ``audience``) on every call.

    ``request_url``/``request_token`` are the job's ``ACTIONS_ID_TOKEN_REQUEST_URL`` and
    ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; the token is sent as a bearer token and never kept elsewhere.
    """
    url = _with_audience(request_url, audience)
    http = session or requests.Session()

    def fetch() -> str:
        try:
            response = http.get(
                url,
                headers={"Authorization": f"Bearer {request_token}", "Accept": "application/json"},
                timeout=timeout_s,
            )
        except requests.RequestException as error:
            raise OidcTokenError(f"could not reach the GitHub Actions OIDC token endpoint: {error}") from error
        if response.status_code != 200:
            raise OidcTokenError(
                f"the GitHub Actions OIDC token endpoint answered {response.status_code}; "
                "does the job have `permissions: id-token: write`?"
            )
        try:
            value = response.json()["value"]
        except (ValueError, KeyError, TypeError) as error:
            raise OidcTokenError("the GitHub Actions OIDC token endpoint returned no token value") from error
        if not isinstance(value, str) or not value:
            raise OidcTokenError("the GitHub Actions OIDC token endpoint returned an empty token")
        return value

    return fetch


def in_github_actions_with_oidc(environ: Mapping[str, str]) -> bool:
    """True when this process can mint GitHub OIDC tokens and knows which Entra identity to exchange them for."""
    names = (ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN, AZURE_CLIENT_ID, AZURE_TENANT_ID)
    return all(environ.get(name) for name in names)


def azure_credential(environ: Mapping[str, str] | None = None, **kwargs: object) -> TokenCredential:
    """The Entra ID credential for this process (see the module docstring for which one and why).

    ``environ`` defaults to ``os.environ``; ``kwargs`` go to the credential (``authority``, transport options).
    """
    env = os.environ if environ is None else environ
    # Imported lazily: azure-identity is only needed against Azure.
    if in_github_actions_with_oidc(env):
        from azure.identity import ClientAssertionCredential

        return ClientAssertionCredential(
            tenant_id=env[AZURE_TENANT_ID],
            client_id=env[AZURE_CLIENT_ID],
            func=github_oidc_assertion(env[ACTIONS_ID_TOKEN_REQUEST_URL], env[ACTIONS_ID_TOKEN_REQUEST_TOKEN]),
            **kwargs,
        )
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True, **kwargs)
