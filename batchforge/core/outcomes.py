"""What an operator-facing command ends with: an exit code, and the expected failure that carries one.

Shared by the CLI, the local run and the job-following code, so every command has the same exit codes
(docs/cli.md's table).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes shared by every command (documented in docs/cli.md)."""

    OK = 0
    TASKS_FAILED = 1
    INVALID_INPUT = 2
    NOT_FOUND = 3
    SERVICE_ERROR = 4
    TIMED_OUT = 5
    INTERNAL_ERROR = 70  # a bug: the message names what failed and the log file holding the traceback
    INTERRUPTED = 130


class CliError(Exception):
    """An expected failure with a message meant for the operator."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.SERVICE_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
