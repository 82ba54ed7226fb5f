"""Field types shared by the stack-config and workload models."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_OCTAL_FILE_MODE = re.compile(r"^0?[0-7]{3}$")


def _check_file_mode(value: str) -> str:
    if not _OCTAL_FILE_MODE.match(value):
        raise ValueError("must be an octal file mode such as '0755'")
    return value


FileMode = Annotated[str, AfterValidator(_check_file_mode)]
"""A resource file's mode on Linux nodes, as Batch takes it: an octal string such as ``0755``."""
