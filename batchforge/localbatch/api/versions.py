"""The Batch data-plane api-versions the service answers; any other gets Batch's `UnsupportedRequestVersion`.

Each is a published version of the Batch REST API (azure-rest-api-specs, specification/batch/data-plane),
listed with the azure-batch Python release that sends it by default (read from each release's client
configuration). The local service speaks the current wire format to all of them: the JSON of these
versions differs only in fields it does not implement.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from batchforge.localbatch.errors import BatchApiError

CURRENT_API_VERSION = "2025-06-01"
SUPPORTED_API_VERSIONS: dict[str, str] = {
    "2025-06-01": "azure-batch 15.x",
    "2024-07-01.20.0": "published; no Python release sends it by default",
    "2024-02-01.19.0": "azure-batch 14.2.0 (the last 14.x)",
    "2023-11-01.18.0": "azure-batch 14.1.0",
    "2023-05-01.17.0": "azure-batch 14.0.0",
    "2022-10-01.16.0": "azure-batch 13.0.0",
    "2022-01-01.15.0": "azure-batch 12.0.0",
    "2021-06-01.14.0": "azure-batch 11.0.0",
    "2020-09-01.12.0": "azure-batch 10.0.0",
    "2020-03-01.11.0": "azure-batch 9.0.0",
    "2019-08-01.10.0": "azure-batch 8.0.0",
    "2019-06-01.9.0": "azure-batch 7.0.0",
    "2018-12-01.8.0": "azure-batch 6.0.0",
}


def api_version_of(raw_query: str) -> str | None:
    if "api-version=" not in raw_query:
        return None
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        if name == "api-version":
            return value
    return None


def check_api_version(raw_query: str) -> None:
    version = api_version_of(raw_query)
    if version is None:
        raise BatchApiError(
            400,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
            {"QueryParameterName": "api-version"},
        )
    if version not in SUPPORTED_API_VERSIONS:
        raise BatchApiError(
            400,
            "UnsupportedRequestVersion",
            "The specified request version is not supported.",
            {
                "QueryParameterName": "api-version",
                "QueryParameterValue": version,
                "Reason": f"Supported versions: {', '.join(SUPPORTED_API_VERSIONS)}.",
            },
        )
