"""The account's pools, nodes, jobs and tasks held in memory, each as the REST wire JSON it is served as.

Keys starting with "_" in a body are the service's private bookkeeping: persisted with the entity,
never served.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import quote

from batchforge.localbatch.dependencies import DependencyIndex
from batchforge.localbatch.taskcounts import TaskCounts


def key_of(entity_id: str) -> str:
    """Batch ids are case-insensitive and case-preserving."""
    return entity_id.lower()


@dataclass(eq=False)
class Entity:
    key: str
    seq: int
    body: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def state(self) -> str:
        return str(self.body.get("state", ""))

    def public(self, base_url: str) -> dict[str, Any]:
        out = {k: v for k, v in self.body.items() if not k.startswith("_")}
        self.add_urls(out, base_url)
        return out

    def add_urls(self, out: dict[str, Any], base_url: str) -> None:
        return None


@dataclass(eq=False)
class Node(Entity):
    pool_key: str = ""
    running: dict[str, int] = field(default_factory=dict)  # task key -> slots held
    exclusive: str | None = None  # the key of a job manager task running here with runExclusive

    def add_urls(self, out: dict[str, Any], base_url: str) -> None:
        out["url"] = f"{base_url}/pools/{quote(self.body.get('_poolId', ''), safe='')}/nodes/{quote(self.id, safe='')}"
        for recent in out.get("recentTasks", []):
            recent["taskUrl"] = (
                f"{base_url}/jobs/{quote(recent['jobId'], safe='')}/tasks/{quote(recent['taskId'], safe='')}"
            )

    @property
    def used_slots(self) -> int:
        return sum(self.running.values())


@dataclass(eq=False)
class Pool(Entity):
    nodes: dict[str, Node] = field(default_factory=dict)

    def add_urls(self, out: dict[str, Any], base_url: str) -> None:
        out["url"] = f"{base_url}/pools/{quote(self.id, safe='')}"

    @property
    def slots_per_node(self) -> int:
        return int(self.body.get("taskSlotsPerNode") or 1)


@dataclass(eq=False)
class Task(Entity):
    job_key: str = ""
    counted: tuple[str, int] | None = None  # where the job's TaskCounts has this task
    satisfied: bool = False  # whether it satisfies the tasks that depend on it, as last told to them

    def add_urls(self, out: dict[str, Any], base_url: str) -> None:
        job_id = self.body.get("_jobId", "")
        out["url"] = f"{base_url}/jobs/{quote(job_id, safe='')}/tasks/{quote(self.id, safe='')}"
        add_node_info_urls(out.get("nodeInfo"), base_url)


class WireCache:
    """Tasks' served JSON as last rendered, so that a list page of tasks that did not change since it was last
    served is a join of strings rather than 1,000 copies, URL fills and encodings (a 100,000-task job is listed
    while it runs, and its completed tasks no longer change).

    An entry is valid for the address the client used and the task's ETag; `Account.save` drops it on every
    change. At most `limit` entries are kept (the oldest go first), so memory stays bounded at any job size.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._entries: dict[str, tuple[str, str, str]] = {}  # task key -> (base url, eTag, JSON text)

    def get(self, task: Task, base_url: str) -> str | None:
        entry = self._entries.get(task.key)
        if entry is None or entry[0] != base_url or entry[1] != task.body.get("eTag"):
            return None
        return entry[2]

    def put(self, task: Task, base_url: str, text: str) -> None:
        etag = task.body.get("eTag")
        if not isinstance(etag, str):
            return
        entries = self._entries
        entries.pop(task.key, None)
        if len(entries) >= self.limit:
            del entries[next(iter(entries))]
        entries[task.key] = (base_url, etag, text)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class TaskTable(dict[str, "Task"]):
    """A job's tasks by key, also kept in order of `seq` (the order lists are served in), so that a list page
    starts where the last one ended instead of sorting and walking the whole job (100,000 tasks).

    Deletion leaves a hole that is compacted once holes are half of the order, so deleting many tasks one
    by one stays cheap; only `[key] = task` and `pop` change the table.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seqs: list[int] = []
        self._order: list[Task | None] = []
        self._holes = 0

    def __setitem__(self, key: str, task: Task) -> None:
        if key in self:
            self._unindex(self[key])
        super().__setitem__(key, task)
        if not self._seqs or task.seq > self._seqs[-1]:
            self._seqs.append(task.seq)
            self._order.append(task)
        else:  # only when loading out of order or replacing an entry
            at = bisect.bisect_left(self._seqs, task.seq)
            self._seqs.insert(at, task.seq)
            self._order.insert(at, task)

    def pop(self, key: str, *default: Task | None) -> Task | None:  # type: ignore[override]
        task = super().pop(key, *default)
        if task is not None and key not in self:
            self._unindex(task)
        return task

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def _unindex(self, task: Task) -> None:
        at = bisect.bisect_left(self._seqs, task.seq)
        if at < len(self._order) and self._order[at] is task:
            self._order[at] = None
            self._holes += 1
        if self._holes > 1024 and self._holes * 2 > len(self._order):
            kept = [(seq, entry) for seq, entry in zip(self._seqs, self._order, strict=True) if entry is not None]
            self._seqs = [seq for seq, _ in kept]
            self._order = [entry for _, entry in kept]
            self._holes = 0

    def after(self, seq: int) -> Iterator[Task]:
        """The tasks with a greater `seq`, in order (a generator: do not change the table while reading it)."""
        order = self._order
        for index in range(bisect.bisect_right(self._seqs, seq), len(order)):
            task = order[index]
            if task is not None:
                yield task

    def _unsupported(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("TaskTable changes only through [key] = task and pop(key)")

    clear = update = setdefault = popitem = __ior__ = _unsupported  # type: ignore[assignment]


@dataclass(eq=False)
class Job(Entity):
    tasks: TaskTable = field(default_factory=TaskTable)
    ready: dict[str, None] = field(default_factory=dict)  # active tasks whose dependencies are met, in order
    blocked: set[str] = field(default_factory=set)  # active tasks waiting on dependencies
    running: set[str] = field(default_factory=set)
    # Ready tasks that no node of the pool can hold (too many slots or instances), left active as Batch
    # leaves them; they go back to `ready` when the pool's shape (node count, slots per node) changes.
    unfit: dict[str, None] = field(default_factory=dict)
    unfit_shape: tuple[int, int] = (0, 0)
    counts: TaskCounts = field(default_factory=TaskCounts)
    deps: DependencyIndex = field(init=False)

    def __post_init__(self) -> None:
        self.deps = DependencyIndex(self.key)

    def add_urls(self, out: dict[str, Any], base_url: str) -> None:
        out["url"] = f"{base_url}/jobs/{quote(self.id, safe='')}"

    @property
    def pool_key(self) -> str:
        # executionInfo.poolId is the pool the job is on: poolInfo has no poolId when it is an auto pool.
        pool_id = (self.body.get("poolInfo") or {}).get("poolId") or (self.body.get("executionInfo") or {}).get(
            "poolId"
        )
        return key_of(str(pool_id or ""))


def add_node_info_urls(node_info: dict[str, Any] | None, base_url: str) -> None:
    """nodeUrl and taskRootDirectoryUrl depend on the address the client used; filled in when served."""
    if not node_info or "poolId" not in node_info:
        return
    node_path = f"/pools/{quote(node_info['poolId'], safe='')}/nodes/{quote(node_info['nodeId'], safe='')}"
    node_info["nodeUrl"] = base_url + node_path
    if node_info.get("taskRootDirectory"):
        node_info["taskRootDirectoryUrl"] = f"{base_url}{node_path}/files/{node_info['taskRootDirectory']}"
