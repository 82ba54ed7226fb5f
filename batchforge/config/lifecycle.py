"""Settings Azure Batch has retired and node agents' end of support, checked against a given day.

Both depend on the calendar, not only on the file: a stack that was valid last month can stop being
valid today. So every check takes ``today`` (the CLI and the program pass the real date; tests pass a
fixed one), and reports errors (retired, or past end of support) apart from warnings (a retirement
not reached yet, or end of support within :data:`WARNING_WINDOW_MONTHS`).

Checked on the raw (namespace-stripped) data, like the loader's cross-key checks, so these problems
are listed together with the field errors of the same file.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from batchforge.core import Problem

WARNING_WINDOW_MONTHS = 12

REPLACEMENT_NODE_AGENT = "batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)"


@dataclass(frozen=True)
class Retirement:
    """A config value the Batch service no longer accepts from ``effective`` on."""

    key: str
    value: str
    effective: date
    # "<value> <past|future> <effective>", e.g. "Classic was retired on 2026-03-31".
    past: str
    future: str
    replacement: str
    source: str

    def message(self, today: date) -> str:
        done = today >= self.effective
        return f"{self.value} {self.past if done else self.future} {self.effective.isoformat()}; {self.replacement}"


RETIREMENTS: tuple[Retirement, ...] = (
    Retirement(
        key="nodeCommunicationMode",
        value="Classic",
        effective=date(2026, 3, 31),
        past="was retired on",
        future="will be retired on",
        replacement="use Simplified",
        source="https://learn.microsoft.com/azure/batch/simplified-compute-node-communication",
    ),
    Retirement(
        key="allowedAuthenticationModes",
        value="TaskAuthenticationToken",
        effective=date(2024, 9, 30),
        past="was retired on",
        future="will be retired on",
        replacement="use managed identities (the pools' user-assigned identity, Microsoft Entra ID) instead",
        source="https://azure.microsoft.com/updates/azure-batch-task-authentication-token-will-be-retired-on-30-september-2024/",
    ),
    Retirement(
        key="nodeDeallocationOption",
        value="RetainedData",
        effective=date(2026, 8, 1),
        past="was removed in Batch API version",
        future="is removed in Batch API version",
        replacement="use one of Requeue, Terminate, TaskCompletion",
        source="https://github.com/Azure/azure-rest-api-specs/pull/44527",
    ),
)


@dataclass(frozen=True)
class NodeAgentSupport:
    """Until when Batch supports one node agent SKU; ``ends`` is the last supported day (None: not announced)."""

    sku: str
    ends: date | None
    source: str


def _notice(number: int) -> str:
    return f"https://github.com/Azure/Batch/issues/{number}"


# Skus Batch has announced an end for. A sku not listed here (Windows, newer Linux) is accepted without a note.
NODE_AGENTS: tuple[NodeAgentSupport, ...] = (
    NodeAgentSupport("batch.node.ubuntu 14.04", date(2019, 8, 1), _notice(61)),
    NodeAgentSupport("batch.node.ubuntu 16.04", date(2021, 5, 21), _notice(106)),
    NodeAgentSupport("batch.node.ubuntu 18.04", date(2023, 5, 30), _notice(152)),
    NodeAgentSupport("batch.node.ubuntu 20.04", date(2025, 4, 23), _notice(174)),
    NodeAgentSupport("batch.node.ubuntu 22.04", date(2027, 6, 30), _notice(200)),
    # List Supported Images reports batchSupportEndOfLife null for it: no end announced yet.
    NodeAgentSupport("batch.node.ubuntu 24.04", None, _notice(178)),
    # Retired with their operating systems; no new pools after 2024-12-31 at the latest.
    NodeAgentSupport("batch.node.centos 7", date(2024, 12, 31), _notice(180)),
    NodeAgentSupport("batch.node.centos 8", date(2024, 12, 31), _notice(180)),
    NodeAgentSupport("batch.node.debian 8", date(2024, 12, 31), _notice(180)),
    NodeAgentSupport("batch.node.debian 9", date(2024, 12, 31), _notice(180)),
    NodeAgentSupport("batch.node.debian 10", date(2024, 12, 31), _notice(180)),
)

_BY_SKU = {agent.sku: agent for agent in NODE_AGENTS}


def node_agent_support(sku: str) -> NodeAgentSupport | None:
    return _BY_SKU.get(sku)


def _months_before(day: date, months: int) -> date:
    year, index = divmod(day.year * 12 + day.month - 1 - months, 12)
    month = index + 1
    # 31 March minus one month is the last day of February.
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def node_agent_note(sku: str, today: date) -> tuple[str, bool] | None:
    """The message about ``sku`` on ``today`` and whether it is an error; None when there is nothing to say."""
    support = node_agent_support(sku)
    if support is None or support.ends is None:
        return None
    ends = support.ends.isoformat()
    if today > support.ends:
        return f"{sku} reached end of support on {ends}; use {REPLACEMENT_NODE_AGENT}", True
    if today >= _months_before(support.ends, WARNING_WINDOW_MONTHS):
        days = (support.ends - today).days
        return (
            f"{sku} reaches end of support on {ends} (in {days} days); move to {REPLACEMENT_NODE_AGENT}",
            False,
        )
    return None


def _get(mapping: Mapping[str, Any], camel: str) -> Any:
    """A key as written in YAML (camelCase) or by field name (snake_case; the models accept both)."""
    if camel in mapping:
        return mapping[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return mapping.get(snake)


def _values_at(data: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(key path, key, value) of every setting a retirement or end of support applies to."""
    account = _get(data, "batchAccount")
    if isinstance(account, Mapping):
        modes = _get(account, "allowedAuthenticationModes")
        if isinstance(modes, list):
            for index, mode in enumerate(modes):
                if isinstance(mode, str):
                    yield f"batchAccount.allowedAuthenticationModes[{index}]", "allowedAuthenticationModes", mode
    pools = _get(data, "pools")
    if not isinstance(pools, list):
        return
    for index, pool in enumerate(pools):
        if not isinstance(pool, Mapping):
            continue
        mode = _get(pool, "nodeCommunicationMode")
        if isinstance(mode, str):
            yield f"pools[{index}].nodeCommunicationMode", "nodeCommunicationMode", mode
        scale = _get(pool, "scale")
        option = _get(scale, "nodeDeallocationOption") if isinstance(scale, Mapping) else None
        if isinstance(option, str):
            yield f"pools[{index}].scale.nodeDeallocationOption", "nodeDeallocationOption", option
        sku = _get(pool, "nodeAgentSkuId")
        if isinstance(sku, str):
            yield f"pools[{index}].nodeAgentSkuId", "nodeAgentSkuId", sku


def lifecycle_problems(data: Mapping[str, Any], source: str, today: date) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for retired values and node agents' end of support in one stack's data."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    retirements = {(r.key, r.value): r for r in RETIREMENTS}
    for path, key, value in _values_at(data):
        if key == "nodeAgentSkuId":
            note = node_agent_note(value, today)
            if note is not None:
                message, is_error = note
                (errors if is_error else warnings).append(Problem(source, path, message))
            continue
        retirement = retirements.get((key, value))
        if retirement is not None:
            problem = Problem(source, path, retirement.message(today))
            (errors if today >= retirement.effective else warnings).append(problem)
    return errors, warnings
