"""Failures of a submission as a whole (task-level refusals are reported in `SubmissionResult.failed`)."""

from __future__ import annotations


class SubmissionError(Exception):
    """The job could not be submitted; the message says why in operator terms."""


class JobConflictError(SubmissionError):
    """A job with the planned id exists but was created from different content (another content hash)."""
