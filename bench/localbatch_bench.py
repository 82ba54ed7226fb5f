"""Local Batch service throughput, printed as figures (not a test).

    .venv/bin/python bench/localbatch_bench.py [--tasks 2000] [--add-tasks 5000] [--concurrency 8]
                                               [--map-reduce 100000]

1. add-collection: tasks accepted per second through the SDK's create_tasks (100-task bodies, all
   client threads at once), into a job whose pool has no nodes so nothing runs meanwhile.
2. dispatch: no-op tasks on 2 nodes x 4 slots, timed from enabling the job (all tasks already added)
   until every task completed, next to a raw subprocess pool running the same command line with the
   same concurrency. Target: dispatch >= 0.7x the raw pool.
3. map/reduce (only with --map-reduce N; about three minutes for 100,000 on two cores): N no-op tasks
   and a reduce task depending on all of them through one id range, on the same pool; sustained
   dispatch from enabling the job until the reduce task completed, against the raw pool over the same
   N commands (target >= 0.5x), and the p99 latency of a task-counts request and of a list-tasks page
   (1,000 tasks) sent raw (no SDK model parsing) every 0.1 s by another client during the run
   (target < 100 ms).
The data directory is on the ordinary disk (a temporary folder under ~/.cache/localbatch-bench).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import tempfile
import threading
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
    agents = [pid for pid in _descendants(service_pid) if "agent_main" in _cmdline(pid)]
    service, _ = _cpu_seconds(service_pid)
    agent_own = [_cpu_seconds(pid) for pid in agents]
    own = os.times()
    return {
        "service": service,
        "agents": sum(a for a, _ in agent_own),
        "task processes": sum(c for _, c in agent_own),
        "client": own.user + own.system,
    }


def _descendants(pid: int) -> list[int]:
    # A sandboxed node's agent runs under the sandbox's own processes (bwrap), not directly under the service.
    found, queue = [], _children(pid)
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(_children(child))
    return found


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


def _p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def bench_map_reduce(batch: LocalBatch, count: int) -> dict[str, float]:
    """Runs on the pool bench_dispatch created; returns tasks/s and p99 latencies in milliseconds."""
    client = batch.batch_client()
    job_id = "bench-mr"
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="bench"), uses_task_dependencies=True)
    )
    client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks="wait"), polling_interval=0.1).result()
    client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=str(i), command_line=NO_OP) for i in range(count)], max_concurrency=8
    )
    everything = m.BatchTaskDependencies(task_id_ranges=[m.BatchTaskIdRange(start=0, end=count - 1)])
    client.create_task(job_id, m.BatchTaskCreateOptions(id="reduce", command_line=NO_OP, depends_on=everything))
    latencies: dict[str, list[float]] = {"task counts": [], "list-tasks page": []}
    stop = threading.Event()

    def observe() -> None:
        # Raw requests through the signed pipeline: the figure is the service's answer time, not the SDK's
        # time to turn 1,000 tasks into model objects.
        from azure.core.rest import HttpRequest

        observer = batch.batch_client()
        base = f"{batch.endpoint}/jobs/{job_id}"
        paths = {
            "task counts": f"{base}/taskcounts?api-version=2025-06-01",
            "list-tasks page": f"{base}/tasks?api-version=2025-06-01&maxresults=1000",
        }
        while not stop.is_set():
            for name, url in paths.items():
                started = time.perf_counter()
                response = observer.send_request(HttpRequest("GET", url))
                response.read()
                latencies[name].append(time.perf_counter() - started)
                assert response.status_code == 200, (url, response.status_code)
            stop.wait(0.1)

    observer = threading.Thread(target=observe, daemon=True)
    started = time.perf_counter()
    client.begin_enable_job(job_id, polling_interval=0.1).result()
    observer.start()
    try:
        wait_for(
            lambda: client.get_task(job_id, "reduce").state == "completed",
            timeout=3600,
            interval=0.5,
            what="the reduce task completed",
        )
    finally:
        stop.set()
        observer.join()
    elapsed = time.perf_counter() - started
    counts = client.get_job_task_counts(job_id).task_counts
    assert counts.failed == 0 and counts.succeeded == count + 1, counts
    return {
        "rate": (count + 1) / elapsed,
        **{f"p99 {name}": _p99(values) * 1000 for name, values in latencies.items()},
        **{f"requests {name}": float(len(values)) for name, values in latencies.items()},
    }


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
    parser.add_argument("--map-reduce", type=int, default=0, help="map tasks of the map/reduce figure (0: skip)")
    args = parser.parse_args()
    # On the ordinary disk, where a developer's data directory is, not /tmp (a tmpfs on some machines).
    parent = Path.home() / ".cache" / "localbatch-bench"
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent) as tmp, LocalBatch.start(Path(tmp)) as batch:
        added = bench_add_collection(batch, args.add_tasks, args.concurrency)
        print(
            f"add-collection: {added:8.0f} tasks/s accepted ({args.add_tasks} tasks, 100 per request, "
            f"{args.concurrency} client threads)"
        )
        split: dict[str, float] = {}
        dispatched = bench_dispatch(batch, args.tasks, split)
        map_reduce = bench_map_reduce(batch, args.map_reduce) if args.map_reduce else None
    raw = bench_raw(args.tasks, 8)
    print(f"dispatch:       {dispatched:8.0f} tasks/s ({args.tasks} no-op tasks, 2 nodes x 4 slots)")
    print(f"raw subprocess: {raw:8.0f} tasks/s (same command, 8 concurrent)")
    print(
        "dispatch CPU:   "
        + ", ".join(f"{name} {seconds * 1000 / args.tasks:.2f}" for name, seconds in split.items())
        + " ms per task"
    )
    print(f"ratio:          {dispatched / raw:8.2f}x (target >= 0.7x)")
    if map_reduce is not None:
        raw_big = bench_raw(args.map_reduce, 8)
        print(
            f"map/reduce:     {map_reduce['rate']:8.0f} tasks/s sustained ({args.map_reduce} map tasks + 1 reduce "
            f"over one id range), raw {raw_big:.0f} tasks/s, ratio {map_reduce['rate'] / raw_big:.2f}x "
            "(target >= 0.5x)"
        )
        for name in ("task counts", "list-tasks page"):
            print(
                f"  p99 {name}: {map_reduce[f'p99 {name}']:6.1f} ms over "
                f"{map_reduce[f'requests {name}']:.0f} requests during the run (target < 100 ms)"
            )


if __name__ == "__main__":
    main()
