"""Local Batch service throughput, printed as figures (not a test).

    .venv/bin/python bench/localbatch_bench.py [--tasks 2000] [--add-tasks 5000] [--concurrency 8]

1. add-collection: tasks accepted per second through the SDK's create_tasks (100-task bodies, all
   client threads at once), into a job whose pool has no nodes so nothing runs meanwhile.
2. dispatch: no-op tasks on 2 nodes x 4 slots, timed from enabling the job (all tasks already added)
   until every task completed, next to a raw subprocess pool running the same command line with the
   same concurrency. Target: dispatch >= 0.5x the raw pool.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.batch import models as m

from batchforge.localbatch.config import read_service_file
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes

NO_OP = "true"


def bench_add_collection(batch: LocalBatch, count: int, concurrency: int) -> float:
    client = batch.batch_client()
    client.create_job(m.BatchJobCreateOptions(id="bench-add", pool_info=m.BatchPoolInfo(pool_id="no-nodes")))
    tasks = [m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line=NO_OP) for i in range(count)]
    started = time.perf_counter()
    result = client.create_tasks("bench-add", tasks, max_concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert len(result.result_values) == count
    return count / elapsed


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(own CPU, CPU of reaped children) of a process in seconds, from /proc (Linux only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS, (int(fields[13]) + int(fields[14])) / _TICKS


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_split(service_pid: int) -> dict[str, float]:
    """CPU seconds so far of the service, its node agents, the tasks they ran, and this client."""
    agents = [c for c in _children(service_pid) if "multiprocessing" in _cmdline(c)]
    service, _ = _cpu_seconds(service_pid)
    agent_own = [_cpu_seconds(pid) for pid in agents]
    own = os.times()
    return {
        "service": service,
        "agents": sum(a for a, _ in agent_own),
        "task processes": sum(c for _, c in agent_own),
        "client": own.user + own.system,
    }


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def bench_dispatch(batch: LocalBatch, count: int, split: dict[str, float] | None = None) -> float:
    client = batch.batch_client()
    client.create_pool(
        m.BatchPoolCreateOptions(id="bench", vm_size="standard_d2s_v3", target_dedicated_nodes=2, task_slots_per_node=4)
    )
    wait_for_idle_nodes(client, "bench", 2)
    client.create_job(m.BatchJobCreateOptions(id="bench-run", pool_info=m.BatchPoolInfo(pool_id="bench")))
    client.begin_disable_job("bench-run", m.BatchJobDisableOptions(disable_tasks="wait"), polling_interval=0.1).result()
    client.create_tasks(
        "bench-run",
        [m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line=NO_OP) for i in range(count)],
        max_concurrency=8,
    )
    service_pid = int((read_service_file(batch.data_dir) or {}).get("pid", 0))
    before = cpu_split(service_pid)
    started = time.perf_counter()
    client.begin_enable_job("bench-run", polling_interval=0.1).result()
    wait_for(
        lambda: client.get_job_task_counts("bench-run").task_counts.completed == count,
        timeout=600,
        interval=0.1,
        what="all tasks completed",
    )
    elapsed = time.perf_counter() - started
    if split is not None:
        after = cpu_split(service_pid)
        split.update({name: after[name] - before[name] for name in after})
    failed = client.get_job_task_counts("bench-run").task_counts.failed
    assert failed == 0, f"{failed} tasks failed"
    return count / elapsed


def bench_raw(count: int, concurrency: int) -> float:
    argv = shlex.split(NO_OP)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: subprocess.run(argv, check=True), range(count)))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000, help="no-op tasks for the dispatch figure")
    parser.add_argument("--add-tasks", type=int, default=5000, help="tasks for the add-collection figure")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads for add-collection")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalBatch.start(Path(tmp)) as batch:
        added = bench_add_collection(batch, args.add_tasks, args.concurrency)
        print(
            f"add-collection: {added:8.0f} tasks/s accepted ({args.add_tasks} tasks, 100 per request, "
            f"{args.concurrency} client threads)"
        )
        split: dict[str, float] = {}
        dispatched = bench_dispatch(batch, args.tasks, split)
    raw = bench_raw(args.tasks, 8)
    print(f"dispatch:       {dispatched:8.0f} tasks/s ({args.tasks} no-op tasks, 2 nodes x 4 slots)")
    print(f"raw subprocess: {raw:8.0f} tasks/s (same command, 8 concurrent)")
    print(
        "dispatch CPU:   "
        + ", ".join(f"{name} {seconds * 1000 / args.tasks:.2f}" for name, seconds in split.items())
        + " ms per task"
    )
    print(f"ratio:          {dispatched / raw:8.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
