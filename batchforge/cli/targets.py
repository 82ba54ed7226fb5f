"""Which Batch account a command talks to: stack outputs, explicit flags, or the local service.

Against Azure the endpoint and names come from ``pulumi stack output --json`` (or flags) and auth is
DefaultAzureCredential; against the local service they come from the service's state file.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from batchforge.core import InvalidInput, Problem, problems_from_validation_error
from batchforge.submission.target import BatchTarget, EntraIdAuth

STACK_OUTPUT_KEY = "batchTarget"


@dataclass(frozen=True)
class TargetOptions:
    """The target-selecting flags every account-facing command shares."""

    outputs_file: Path | None = None
    endpoint: str | None = None
    pools: tuple[str, ...] = ()
    resources_url: str | None = None
    outputs_url: str | None = None
    identity: str | None = None
    local: bool = False
    data_dir: Path | None = None
    # Read-only commands (status, wait, logs) talk to the Batch account only, never to storage.
    storage_required: bool = True
    # Set when --data-dir was given: hints then repeat it, so they work when pasted as printed.
    data_dir_given: bool = False

    def as_flags(self) -> str:
        """The target-selecting flags, as a user would type them again (for the hints the CLI prints)."""
        if self.local:
            return "--local" + (f" --data-dir {shlex.quote(str(self.data_dir))}" if self.data_dir_given else "")
        if self.outputs_file is not None:
            return f"--stack-outputs {shlex.quote(str(self.outputs_file))}"
        if self.endpoint is not None:
            return f"--endpoint {shlex.quote(self.endpoint)}"
        return ""


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _snake_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Stack outputs may spell the target's fields in camelCase; the model uses snake_case.

    ``poolIds`` is left alone below its own key: its keys are pool ids (data), not field names.
    """
    converted: dict[str, Any] = {}
    for key, value in data.items():
        name = _snake(str(key))
        converted[name] = _snake_keys(value) if isinstance(value, dict) and name != "pool_ids" else value
    return converted


def target_from_stack_outputs(path: Path) -> BatchTarget:
    """Reads the JSON that ``pulumi stack output --json`` prints and builds the target."""
    label = str(path)
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([Problem(label, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([Problem(label, "", f"cannot read file: {exc}")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem(label, "", f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}")]
        ) from None
    if not isinstance(outputs, dict) or not isinstance(outputs.get(STACK_OUTPUT_KEY), dict):
        raise InvalidInput(
            [
                Problem(
                    label, STACK_OUTPUT_KEY, "is required: the stack output the Pulumi program exports for submitters"
                )
            ]
        )
    data = _snake_keys(outputs[STACK_OUTPUT_KEY])
    data.setdefault("auth", {"kind": "entra-id"})
    try:
        return BatchTarget.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(problems_from_validation_error(error, BatchTarget, label, (STACK_OUTPUT_KEY,))) from None


def _parse_pool_flags(pools: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    problems: list[Problem] = []
    for entry in pools:
        name, sep, actual = entry.partition("=")
        if not sep or not name or not actual:
            problems.append(Problem("--pool", "", f"'{entry}' must be CONFIG_ID=POOL_ID"))
            continue
        mapping[name] = actual
    if problems:
        raise InvalidInput(problems)
    return mapping


def target_from_flags(options: TargetOptions) -> BatchTarget:
    required = [("--endpoint", options.endpoint)]
    if options.storage_required:
        required += [("--resources-url", options.resources_url), ("--outputs-url", options.outputs_url)]
    missing = [flag for flag, value in required if not value]
    if missing:
        raise InvalidInput([Problem(flag, "", "is required without --stack-outputs or --local") for flag in missing])
    try:
        return BatchTarget(
            account_endpoint=str(options.endpoint),
            auth=EntraIdAuth(),
            pool_ids=_parse_pool_flags(options.pools),
            resources_container_url=options.resources_url or "",
            outputs_container_url=options.outputs_url or "",
            identity_resource_id=options.identity,
        )
    except ValidationError as error:
        raise InvalidInput(problems_from_validation_error(error, BatchTarget, "flags")) from None


def check_single_source(options: TargetOptions) -> None:
    chosen = [name for name, on in (("--local", options.local), ("--stack-outputs", options.outputs_file)) if on]
    if len(chosen) > 1:
        raise InvalidInput([Problem("options", "", "choose one of --local or --stack-outputs")])


def resolve_target(options: TargetOptions) -> BatchTarget:
    """The one place that decides where a command goes; exactly one source may be chosen."""
    check_single_source(options)
    if options.local:
        from batchforge.localrun.state import local_target

        target = local_target(options.data_dir)
        if options.pools:
            target = target.model_copy(update={"pool_ids": {**target.pool_ids, **_parse_pool_flags(options.pools)}})
        return target
    if options.outputs_file is not None:
        target = target_from_stack_outputs(options.outputs_file)
        if options.endpoint:
            target = target.model_copy(update={"account_endpoint": options.endpoint})
        return target
    return target_from_flags(options)
