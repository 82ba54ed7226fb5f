"""Reading a stack's config into :class:`StackConfig`: from ``Pulumi.<stack>.yaml`` or from Pulumi's config map.

Both paths report every problem at once as ``Pulumi.<stack>.yaml: <key path>: <message>``, key paths
without the ``batchforge:`` namespace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from batchforge.config.lifecycle import lifecycle_problems
from batchforge.config.model import StackConfig, is_container_name, own_container_names
from batchforge.core import InvalidInput, Problem, problems_from_validation_error, read_yaml_file

NAMESPACE = "batchforge"


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def _cross_checks(data: Mapping[str, Any], source: str) -> list[Problem]:
    """Rules spanning several keys, checked on the raw data so they are reported with the field errors."""
    problems: list[Problem] = []
    network = data.get("network")
    has_subnet = isinstance(network, Mapping) and bool(network.get("subnetId"))
    storage = data.get("storage")
    if isinstance(storage, Mapping) and storage.get("publicNetworkAccess") == "Disabled" and not has_subnet:
        problems.append(
            Problem(
                source,
                "storage.publicNetworkAccess",
                "Disabled needs network.subnetId: nodes outside a virtual network cannot reach the storage "
                "account's private endpoint",
            )
        )
    pools = data.get("pools")
    if not isinstance(pools, list):
        return problems
    first_seen: dict[str, int] = {}
    for index, pool in enumerate(pools):
        if not isinstance(pool, Mapping):
            continue
        pool_id = pool.get("id")
        if isinstance(pool_id, str):
            if pool_id in first_seen:
                problems.append(
                    Problem(
                        source,
                        f"pools[{index}].id",
                        f"duplicate pool id '{pool_id}' (also pools[{first_seen[pool_id]}])",
                    )
                )
            else:
                first_seen[pool_id] = index
        if pool.get("identity") == "own" and isinstance(pool_id, str):
            problems.extend(_own_container_problems(storage, pools, index, pool_id, source))
        if pool.get("publicIps") is False and not has_subnet:
            problems.append(
                Problem(source, f"pools[{index}].publicIps", "false needs network.subnetId (nodes without public IPs)")
            )
    return problems


def _own_container_problems(storage: object, pools: list[Any], index: int, pool_id: str, source: str) -> list[Problem]:
    """A pool with its own identity gets containers of its own: their names must be valid and no one else's."""
    settings = storage if isinstance(storage, Mapping) else {}
    shared = (str(settings.get("resourcesContainer", "resources")), str(settings.get("outputsContainer", "outputs")))
    names = own_container_names(*shared, pool_id)
    bad = [name for name in names if not is_container_name(name)]
    if bad:
        return [
            Problem(
                source,
                f"pools[{index}].identity",
                f"own needs the containers {' and '.join(names)}, and {', '.join(bad)} is not a blob container name "
                "(3-63 lowercase letters, digits, single hyphens): shorten the pool id or the storage container names",
            )
        ]
    taken: dict[str, str] = {name: "storage" for name in shared}
    for other_index, other in enumerate(pools):
        if other_index == index or not isinstance(other, Mapping) or other.get("identity") != "own":
            continue
        if isinstance(other.get("id"), str) and other.get("id") != pool_id:
            for name in own_container_names(*shared, str(other["id"])):
                taken[name] = f"pools[{other_index}]"
    clashes = [f"{name} (also {taken[name]})" for name in names if name in taken]
    if clashes:
        return [
            Problem(
                source,
                f"pools[{index}].identity",
                f"own needs containers of its own, and these would not be: {', '.join(clashes)}; choose pool ids "
                "(or storage container names) that differ after lowercasing and '_' -> '-'",
            )
        ]
    return []


@dataclass(frozen=True)
class LoadedStack:
    """A valid stack config and what is valid today but needs attention soon (e.g. a node agent's end of support)."""

    config: StackConfig
    warnings: tuple[Problem, ...] = ()


def check_stack_data(
    data: Any, source: str, repo_root: Path | None = None, *, today: date | None = None
) -> LoadedStack:
    """Validates already-parsed stack config (namespace removed); raises :class:`InvalidInput` with every problem.

    ``repo_root``, when given, is where start-task resource files that are local paths must exist.
    ``today`` is the day retirements and end-of-support dates are compared with (default: the real date).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidInput([Problem(source, "", "must be a mapping of batchforge:<key> settings")])
    problems: list[Problem] = []
    config: StackConfig | None = None
    try:
        config = StackConfig.model_validate(dict(data), context={"repo_root": repo_root})
    except ValidationError as exc:
        problems.extend(problems_from_validation_error(exc, StackConfig, source))
    problems.extend(_cross_checks(data, source))
    errors, warnings = lifecycle_problems(data, source, today or date.today())
    problems.extend(errors)
    if problems or config is None:
        raise InvalidInput(problems)
    return LoadedStack(config, tuple(warnings))


def validate_stack_data(
    data: Any, source: str, repo_root: Path | None = None, *, today: date | None = None
) -> StackConfig:
    """:func:`check_stack_data` for callers that have no use for warnings."""
    return check_stack_data(data, source, repo_root, today=today).config


def _strip_namespace(raw: Mapping[str, Any], source: str) -> tuple[dict[str, Any], list[Problem]]:
    """``batchforge:pools`` -> ``pools``; other namespaces (``azure-native:location``) belong to providers."""
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        namespace, sep, name = str(key).partition(":")
        if not sep:
            problems.append(
                Problem(source, str(key), f"config keys need a namespace; did you mean '{NAMESPACE}:{key}'?")
            )
            continue
        if namespace != NAMESPACE:
            continue
        # Older Pulumi spells project keys "batchforge:config:pools".
        name = name.removeprefix("config:")
        data[name] = value
    return data, problems


def check_stack_file(path: Path, repo_root: Path | None = None, *, today: date | None = None) -> LoadedStack:
    """Reads ``Pulumi.<stack>.yaml`` directly (CLI, tests, the local run). ``repo_root`` defaults to its folder."""
    source = path.name
    document = read_yaml_file(path, source)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise InvalidInput([Problem(source, "", "must be a mapping with a 'config:' section")])
    unknown_top = [k for k in document if k not in ("config", "encryptionsalt", "secretsprovider", "encryptedkey")]
    problems = [Problem(source, str(k), "unknown top-level key; expected 'config'") for k in unknown_top]
    raw = document.get("config") or {}
    if not isinstance(raw, Mapping):
        raise InvalidInput([*problems, Problem(source, "config", "must be a mapping")])
    data, namespace_problems = _strip_namespace(raw, source)
    problems.extend(namespace_problems)
    try:
        loaded = check_stack_data(data, source, repo_root if repo_root is not None else path.parent, today=today)
    except InvalidInput as exc:
        raise InvalidInput([*problems, *exc.problems]) from None
    if problems:
        raise InvalidInput(problems)
    return loaded


def load_stack_file(path: Path, repo_root: Path | None = None, *, today: date | None = None) -> StackConfig:
    """:func:`check_stack_file` without the warnings."""
    return check_stack_file(path, repo_root, today=today).config


def check_pulumi_config(
    stack: str, raw: Mapping[str, str], repo_root: Path | None = None, *, today: date | None = None
) -> LoadedStack:
    """Builds the config, and its warnings, from Pulumi's config map (``{"batchforge:pools": "<json>", ...}``).

    Pulumi hands every value over as a string; objects and arrays arrive as JSON text, numbers and
    booleans as their text. Values that do not parse as JSON stay plain strings.
    """
    source = stack_file_name(stack)
    data, problems = _strip_namespace(raw, source)
    decoded: dict[str, Any] = {}
    for key, value in data.items():
        decoded[key] = _decode(value)
    try:
        loaded = check_stack_data(decoded, source, repo_root, today=today)
    except InvalidInput as exc:
        raise InvalidInput([*problems, *exc.problems]) from None
    if problems:
        raise InvalidInput(problems)
    return loaded


def from_pulumi_config(
    stack: str, raw: Mapping[str, str], repo_root: Path | None = None, *, today: date | None = None
) -> StackConfig:
    """:func:`check_pulumi_config` without the warnings."""
    return check_pulumi_config(stack, raw, repo_root, today=today).config


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped[:1] in ("{", "[") or stripped in ("true", "false", "null") or _looks_numeric(stripped):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_pulumi_config(config_section: Mapping[str, Any]) -> dict[str, str]:
    """The inverse of Pulumi's encoding: a ``config:`` section as the string map a program receives.

    Used by tests to feed a stack file into the program under mocks exactly as the CLI would.
    """
    encoded: dict[str, str] = {}
    for key, value in config_section.items():
        if isinstance(value, str):
            encoded[key] = value
        else:
            encoded[key] = json.dumps(value)
    return encoded
