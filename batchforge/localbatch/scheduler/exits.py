"""What an ended run means in Batch's terms: exit options chosen by exit conditions, and the
executionInfo of preparation tasks and subtasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchforge.localbatch.clock import iso
from batchforge.localbatch.entities import Task
from batchforge.localbatch.execution import ExecutionOutcome, NodeContext


def exit_options(task: Task) -> Mapping[str, Any]:
    info = task.body.get("executionInfo") or {}
    conditions = task.body.get("exitConditions") or {}
    exit_code = info.get("exitCode")
    failed = info.get("result") == "failure"
    defaults = {
        "jobAction": "terminate" if failed else "none",
        "dependencyAction": "block" if failed else "satisfy",
    }
    chosen: Mapping[str, Any] | None = None
    if exit_code is not None:
        for entry in conditions.get("exitCodes") or []:
            if entry.get("code") == exit_code:
                chosen = entry.get("exitOptions")
                break
        if chosen is None:
            for entry in conditions.get("exitCodeRanges") or []:
                if int(entry.get("start", 0)) <= exit_code <= int(entry.get("end", -1)):
                    chosen = entry.get("exitOptions")
                    break
    if chosen is None and failed and exit_code is None:
        code = (info.get("failureInfo") or {}).get("code", "")
        chosen = conditions.get("fileUploadError" if "Upload" in code else "preProcessingError")
    if chosen is None and (failed or exit_code not in (None, 0)):
        chosen = conditions.get("default")
    return {**defaults, **(chosen or {})}


def outcome_info(outcome: ExecutionOutcome, context: NodeContext, retries: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "startTime": iso(outcome.start_time),
        "endTime": iso(outcome.end_time),
        "result": outcome.result,
        "retryCount": retries,
        "taskRootDirectory": str(outcome.task_dir.relative_to(context.node_root)),
    }
    if outcome.exit_code is not None:
        info["exitCode"] = outcome.exit_code
    if outcome.failure_info:
        info["failureInfo"] = dict(outcome.failure_info)
    return info
