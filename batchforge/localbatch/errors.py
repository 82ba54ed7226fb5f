"""Batch service errors as the REST API reports them: an HTTP status plus an OData error body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERROR_METADATA_SUFFIX = "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


class BatchApiError(Exception):
    """Raised anywhere in request handling; the app turns it into the service's error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        values: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = dict(values or {})
        self.headers = dict(headers or {})

    def body(self, base_url: str, request_id: str) -> dict[str, Any]:
        """The OData error document; the message carries the request id and time like the service's does."""
        from batchforge.localbatch.clock import iso_now

        text = f"{self.message}\nRequestId:{request_id}\nTime:{iso_now()}"
        body: dict[str, Any] = {
            "odata.metadata": base_url + ERROR_METADATA_SUFFIX,
            "code": self.code,
            "message": {"lang": "en-US", "value": text},
        }
        if self.values:
            body["values"] = [{"key": k, "value": v} for k, v in self.values.items()]
        return body


def not_found(kind: str, what: str) -> BatchApiError:
    """`PoolNotFound`, `JobNotFound`, `TaskNotFound`, `NodeNotFound`, `FileNotFound` ..."""
    return BatchApiError(404, f"{kind}NotFound", f"The specified {what} does not exist.")


def already_exists(kind: str, what: str) -> BatchApiError:
    return BatchApiError(409, f"{kind}Exists", f"The specified {what} already exists.")


def invalid_body(reason: str) -> BatchApiError:
    return BatchApiError(
        400, "InvalidRequestBody", "The specified Request Body is not syntactically valid.", {"Reason": reason}
    )


def missing_property(name: str) -> BatchApiError:
    return BatchApiError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        {"PropertyName": name},
    )


def invalid_property(name: str, value: object, reason: str) -> BatchApiError:
    return BatchApiError(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        {"PropertyName": name, "PropertyValue": str(value), "Reason": reason},
    )
