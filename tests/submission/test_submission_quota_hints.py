"""Quota error codes of Batch (active jobs, pools, cores) each get one hint saying what frees them."""

from __future__ import annotations

import pytest

from batchforge.submission.quota import QUOTA_CODES, quota_hint


@pytest.mark.parametrize("code", sorted(QUOTA_CODES))
def test_every_quota_code_has_a_hint_naming_what_frees_it(code: str) -> None:
    hint = quota_hint(code)
    assert hint is not None and QUOTA_CODES[code] in hint
    assert any(word in hint for word in ("batchctl prune", "delete pools", "scale other pools down"))


def test_other_codes_get_no_hint() -> None:
    assert quota_hint("JobNotFound") is None and quota_hint(None) is None
