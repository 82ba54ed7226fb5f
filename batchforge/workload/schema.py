"""The workload JSON Schema, generated from the model; ``python -m batchforge.workload.schema`` rewrites the file.

Editors pick it up through the first line of each workload file:
``# yaml-language-server: $schema=./schema/workload.schema.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from batchforge.project import CHECKOUT_ROOT
from batchforge.workload.model import Workload

SCHEMA_PATH = CHECKOUT_ROOT / "workloads" / "schema" / "workload.schema.json"


def workload_json_schema() -> dict[str, Any]:
    return Workload.model_json_schema(by_alias=True)


def schema_text() -> str:
    return json.dumps(workload_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Writes the schema file; with ``--check`` only reports whether it is up to date."""
    text = schema_text()
    current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else None
    if "--check" in argv:
        if current != text:
            print(f"{SCHEMA_PATH} is out of date; run: python -m batchforge.workload.schema", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
