"""Certificates: retired by Batch on 2024-02-29, answered with an error that names the replacement.

A bare 404 would read as a bug in the local service; the error tells the caller what Azure says instead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.errors import BatchApiError

CERTIFICATE_MIGRATION_GUIDE = "https://learn.microsoft.com/azure/batch/batch-certificate-migration-guide"


def certificates_retired(what: str = "The Batch certificates API") -> BatchApiError:
    return BatchApiError(
        400,
        "FeatureNotSupported",
        f"{what} was retired on 2024-02-29 and is not available. Install certificates on nodes with the "
        f"Azure Key Vault VM extension and a managed identity instead; see {CERTIFICATE_MIGRATION_GUIDE}.",
        {"Reason": "Batch account certificates were retired on 2024-02-29."},
    )


async def certificate_operation(request: Request) -> Response:
    raise certificates_retired()


routes = [
    # Add and list at /certificates; get, delete and cancel deletion at
    # /certificates(thumbprintAlgorithm=...,thumbprint=...)[/canceldelete].
    Route("/certificates{rest:path}", certificate_operation, methods=["GET", "POST", "DELETE"]),
]
