"""A job's dependency graph kept incrementally: for each task, how many of its dependencies are not
satisfied yet, and for each task id, which tasks wait on it (named ids and id ranges).

Completing (or un-completing, deleting) a task touches only the tasks that wait on it, so a reduce
task over a range of 100,000 ids costs one counter decrement per map task, never a walk of the range.
A dependency counts once per mention (an id named twice, or in two ranges, counts twice), the same way
when it is registered and when it changes, so the counters stay exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

# Ranges are indexed by buckets of this many ids; a range wider than WIDE_RANGE buckets is kept in a
# short list checked on every numeric change instead (so `0..10**9` costs nothing to register).
BUCKET = 1024
WIDE_RANGE = 4096


def numeric_id(task_id: str) -> int | None:
    """The number a task id stands for in an id range: only its canonical decimal spelling counts."""
    if task_id.isdigit() and (task_id == "0" or not task_id.startswith("0")):
        return int(task_id)
    return None


class DependencyIndex:
    def __init__(self, job_key: str) -> None:
        self._prefix = job_key + "/"
        self.unmet: dict[str, int] = {}  # dependent task key -> unsatisfied mentions
        self._by_key: defaultdict[str, list[str]] = defaultdict(list)  # dependency key -> dependents
        self._buckets: defaultdict[int, list[tuple[int, int, str]]] = defaultdict(list)
        self._wide: list[tuple[int, int, str]] = []

    def register(
        self,
        key: str,
        depends: dict[str, Any],
        is_satisfied: Callable[[str], bool],
        satisfied_numbers: Callable[[int, int], int],
    ) -> int:
        """Index a task's dependencies and return how many are unmet now.

        ``is_satisfied(key)`` tells whether one task satisfies its dependents; ``satisfied_numbers(start, end)``
        counts the tasks with numeric ids in the range that do.
        """
        unmet = 0
        for dep_id in depends.get("taskIds") or []:
            dep_key = self._prefix + str(dep_id).lower()
            self._by_key[dep_key].append(key)
            unmet += not is_satisfied(dep_key)
        for dep_range in depends.get("taskIdRanges") or []:
            start, end = int(dep_range["start"]), int(dep_range["end"])
            entry = (start, end, key)
            if end // BUCKET - start // BUCKET + 1 > WIDE_RANGE:
                self._wide.append(entry)
            else:
                for bucket in range(start // BUCKET, end // BUCKET + 1):
                    self._buckets[bucket].append(entry)
            unmet += end - start + 1 - satisfied_numbers(start, end)
        self.unmet[key] = unmet
        return unmet

    def unregister(self, key: str, depends: dict[str, Any]) -> None:
        self.unmet.pop(key, None)
        for dep_id in depends.get("taskIds") or []:
            dep_key = self._prefix + str(dep_id).lower()
            waiting = self._by_key.get(dep_key)
            if waiting is not None:
                waiting[:] = [k for k in waiting if k != key]
                if not waiting:
                    del self._by_key[dep_key]
        for dep_range in depends.get("taskIdRanges") or []:
            start, end = int(dep_range["start"]), int(dep_range["end"])
            if end // BUCKET - start // BUCKET + 1 > WIDE_RANGE:
                self._wide = [e for e in self._wide if e[2] != key]
                continue
            for bucket in range(start // BUCKET, end // BUCKET + 1):
                entries = self._buckets.get(bucket)
                if entries is not None:
                    entries[:] = [e for e in entries if e[2] != key]
                    if not entries:
                        del self._buckets[bucket]

    def dependents(self, key: str, task_id: str) -> Iterator[str]:
        """The keys of the tasks that mention this task, once per mention."""
        yield from self._by_key.get(key, ())
        number = numeric_id(task_id)
        if number is None:
            return
        for start, end, dependent in self._buckets.get(number // BUCKET, ()):
            if start <= number <= end:
                yield dependent
        for start, end, dependent in self._wide:
            if start <= number <= end:
                yield dependent
