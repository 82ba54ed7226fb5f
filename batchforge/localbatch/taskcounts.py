"""A job's task counts kept as tasks change, so that the task-counts request and the
`onAllTasksComplete` check cost the same for ten tasks as for a hundred thousand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchforge.localbatch.entities import Task

CATEGORIES = ("active", "running", "succeeded", "failed")


def category_of(body: dict[str, Any]) -> str:
    state = body.get("state")
    if state == "completed":
        return "succeeded" if (body.get("executionInfo") or {}).get("result") == "success" else "failed"
    if state == "preparing":  # counted as running, as Batch does
        return "running"
    return "active" if state == "active" else "running"


class TaskCounts:
    def __init__(self) -> None:
        self.tasks = dict.fromkeys(CATEGORIES, 0)
        self.slots = dict.fromkeys(CATEGORIES, 0)

    def update(self, task: Task) -> None:
        """Count the task where its body says it is now (idempotent)."""
        body = task.body
        now = (category_of(body), int(body.get("requiredSlots", 1)))
        if now != task.counted:
            self.remove(task)
            self.tasks[now[0]] += 1
            self.slots[now[0]] += now[1]
            task.counted = now

    def remove(self, task: Task) -> None:
        if task.counted is not None:
            category, slots = task.counted
            self.tasks[category] -= 1
            self.slots[category] -= slots
            task.counted = None

    @property
    def completed(self) -> int:
        return self.tasks["succeeded"] + self.tasks["failed"]

    def wire(self) -> dict[str, Any]:
        def block(values: dict[str, int]) -> dict[str, int]:
            return {**values, "completed": values["succeeded"] + values["failed"]}

        return {"taskCounts": block(self.tasks), "taskSlotCounts": block(self.slots)}
