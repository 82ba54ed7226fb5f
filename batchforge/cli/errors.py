"""How the CLI fails: one clean message on stderr and a documented exit code, never a traceback.

``CliError`` and ``ExitCode`` live in :mod:`batchforge.core.outcomes` (re-exported here).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import typer
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from rich.console import Console

from batchforge.core import InvalidInput
from batchforge.core.outcomes import CliError, ExitCode
from batchforge.core.sdk_logs import append_to_log, default_log_file
from batchforge.submission.errors import SubmissionError


def _service_message(error: HttpResponseError) -> str:
    code = getattr(error, "error", None)
    odata_code = getattr(code, "code", None) if code is not None else None
    odata_message = getattr(code, "message", None) if code is not None else None
    if odata_code:
        from batchforge.submission.quota import quota_hint

        detail = str(odata_message or "").splitlines()[0] if odata_message else ""
        hint = quota_hint(odata_code)
        return f"{odata_code}: {detail}".rstrip(": ") + (f" ({hint})" if hint else "")
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
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # the command's own exit code or usage error
    except Exception as unexpected:  # a bug: one line on the terminal, the traceback in the log file
        stderr.print(unexpected_failure_message(unexpected), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.INTERNAL_ERROR) from None


def unexpected_failure_message(error: BaseException) -> str:
    """``error: batchctl submit failed unexpectedly: KeyError: 'x' (traceback in <log>)``; the traceback is logged."""
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    command = " ".join(["batchctl", *([root.invoked_subcommand] if root and root.invoked_subcommand else [])])
    frames = traceback.extract_tb(error.__traceback__)
    origin = f" in {frames[-1].name} ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    log_file = default_log_file()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    written = append_to_log(
        log_file, f"{stamp} {command} {' '.join(sys.argv[1:])}: unexpected failure\n{traceback.format_exc()}"
    )
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    what = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    where = f"traceback in {log_file}" if written else f"no log written: {log_file} is not writable"
    return f"error: {command} failed unexpectedly: {what}{origin} ({where}); please report it"
