"""How the CLI fails: one clean message on stderr and a documented exit code, never a traceback.

``CliError`` and ``ExitCode`` live in :mod:`batchforge.core.outcomes` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from rich.console import Console

from batchforge.core import InvalidInput
from batchforge.core.outcomes import CliError, ExitCode
from batchforge.submission.errors import SubmissionError


def _service_message(error: HttpResponseError) -> str:
    code = getattr(error, "error", None)
    odata_code = getattr(code, "code", None) if code is not None else None
    odata_message = getattr(code, "message", None) if code is not None else None
    if odata_code:
        detail = str(odata_message or "").splitlines()[0] if odata_message else ""
        return f"{odata_code}: {detail}".rstrip(": ")
    reason = error.reason or "request failed"
    return f"{error.status_code or ''} {reason}".strip()


_SIGN_IN_HINT = "sign in with `az login` (CI: workload identity federation), or use --local for the local service"


def _auth_message(error: ClientAuthenticationError) -> str:
    if getattr(error, "response", None) is not None:
        return _service_message(error)
    # No response: the credential itself found no identity (DefaultAzureCredential tried every source).
    first_line = str(error.message or error).strip().splitlines()[0] if str(error).strip() else "no credential"
    return f"{first_line} ({_SIGN_IN_HINT})"


@contextmanager
def reported_errors(stderr: Console) -> Iterator[None]:
    """Turns expected failures into one message and an exit code; anything else is a real bug and propagates."""
    try:
        yield
    except InvalidInput as invalid:
        for problem in invalid.problems:
            stderr.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.INVALID_INPUT) from None
    except CliError as failure:
        stderr.print(f"error: {failure.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(failure.exit_code) from None
    except SubmissionError as refused:
        stderr.print(f"error: submission failed: {refused}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.SERVICE_ERROR) from None
    except ResourceNotFoundError as missing:
        stderr.print(f"error: not found: {_service_message(missing)}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.NOT_FOUND) from None
    except ClientAuthenticationError as denied:
        stderr.print(
            f"error: authentication failed: {_auth_message(denied)}", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(ExitCode.SERVICE_ERROR) from None
    except HttpResponseError as failed:
        stderr.print(f"error: {_service_message(failed)}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.SERVICE_ERROR) from None
    except AzureError as unreachable:
        first_line = str(unreachable).splitlines()[0] if str(unreachable) else type(unreachable).__name__
        stderr.print(f"error: cannot reach the service: {first_line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.SERVICE_ERROR) from None
