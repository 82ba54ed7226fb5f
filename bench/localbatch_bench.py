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
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.batch import models as m

from localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes

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


def bench_dispatch(batch: LocalBatch, count: int) -> float:
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
    started = time.perf_counter()
    client.begin_enable_job("bench-run", polling_interval=0.1).result()
    wait_for(
        lambda: client.get_job_task_counts("bench-run").task_counts.completed == count,
        timeout=600,
        interval=0.1,
        what="all tasks completed",
    )
    elapsed = time.perf_counter() - started
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
        dispatched = bench_dispatch(batch, args.tasks)
    raw = bench_raw(args.tasks, 8)
    print(f"dispatch:       {dispatched:8.0f} tasks/s ({args.tasks} no-op tasks, 2 nodes x 4 slots)")
    print(f"raw subprocess: {raw:8.0f} tasks/s (same command, 8 concurrent)")
    print(f"ratio:          {dispatched / raw:8.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
