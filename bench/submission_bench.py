"""Submission throughput: 10,000 tasks from a YAML sweep to "accepted by the local Batch service".

Three ways to put the same tasks into a job, each into its own job on one local service:
- engine: `batchforge.submission.engine.submit` (what `pulumi up` and `batchctl submit` run);
- naive: one `create_task` call per task, sequentially (a sample is timed and extrapolated; said so below);
- raw limit: the tasks pre-serialized into 100-task JSON bodies before the clock starts, then POSTed to
  addtaskcollection at full concurrency over keep-alive connections with the same Shared Key auth
  (signed by the SDK's own policy) and no SDK models at all.

Every job's task ids are counted on the service afterwards. Targets: engine >= 0.8x raw and >= 20x naive.

    .venv/bin/python bench/submission_bench.py [--tasks 10000] [--naive-sample 500] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import email.utils
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from azure.batch import BatchClient
from azure.batch import models as batch_models
from pydantic import SecretStr
from requests.adapters import HTTPAdapter

REPO_ROOT = Path(__file__).resolve().parents[1]

from batchforge.submission.chunking import wire_json  # noqa: E402
from batchforge.submission.client import make_batch_client  # noqa: E402
from batchforge.submission.engine import submit  # noqa: E402
from batchforge.submission.plan import PlannedJob  # noqa: E402
from batchforge.submission.target import BatchTarget, SharedKeyAuth  # noqa: E402
from batchforge.workload import load_workload, plan_job  # noqa: E402

API_VERSION = "2025-06-01"
BENCH_POOL = "bench-pool"


@dataclass(frozen=True)
class LocalService:
    endpoint: str
    account_name: str
    account_key: str
    blob_endpoint: str


@contextlib.contextmanager
def local_service(data_dir: Path) -> Iterator[LocalService]:
    """Starts the local Batch service (and Azurite) in the background for the benchmark, stops it after."""
    command = [sys.executable, "-m", "batchforge.localbatch"]
    subprocess.run(
        [*command, "serve", "--background", "--port", "0", "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        config = json.loads((data_dir / "localbatch.json").read_text())
        service = json.loads((data_dir / "service.json").read_text())
        yield LocalService(service["endpoint"], config["account_name"], config["account_key"], service["blob_endpoint"])
    finally:
        subprocess.run([*command, "stop", "--data-dir", str(data_dir)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def sweep_yaml(name: str, count: int) -> str:
    return f"""\
id: {name}
pool: cpu
tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 0, stop: {count - 1}}}
    task:
      id: "t-{{i:05d}}"
      commandLine: "echo {{i}}"
"""


def plan_sweep(name: str, count: int, target: BatchTarget, work_dir: Path) -> PlannedJob:
    workloads = work_dir / "workloads"
    workloads.mkdir(parents=True, exist_ok=True)
    path = workloads / f"{name}.yaml"
    path.write_text(sweep_yaml(name, count))
    return plan_job(load_workload(path), target, repo_root=work_dir)


def count_tasks(client: BatchClient, job_id: str) -> int:
    return len({task.id for task in client.list_tasks(job_id, select=["id"], max_results=1000)})


def create_job(client: BatchClient, job_id: str) -> None:
    client.create_job(
        batch_models.BatchJobCreateOptions(id=job_id, pool_info=batch_models.BatchPoolInfo(pool_id=BENCH_POOL))
    )


def with_job_id(planned: PlannedJob, job_id: str) -> PlannedJob:
    job = batch_models.BatchJobCreateOptions(planned.job.as_dict())
    job.id = job_id
    return dataclasses.replace(planned, job=job)


def run_engine(client: BatchClient, planned: PlannedJob, concurrency: int) -> float:
    started = time.perf_counter()
    result = submit(planned, client, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert result.complete and result.tasks_added == len(planned.tasks), result.summary()
    return elapsed


def run_naive(client: BatchClient, planned: PlannedJob, sample: int) -> float:
    """Seconds per task of one create_task call per task, measured on the first ``sample`` tasks."""
    job_id = f"naive-{planned.content_hash}"
    create_job(client, job_id)
    tasks = planned.tasks[:sample]
    started = time.perf_counter()
    for task in tasks:
        client.create_task(job_id, task)
    elapsed = time.perf_counter() - started
    assert count_tasks(client, job_id) == len(tasks)
    return elapsed / len(tasks)


def shared_key_headers(
    service: LocalService, method: str, path: str, content_length: int, content_type: str
) -> dict[str, str]:
    """Batch Shared Key headers, signed as the REST reference documents it (no SDK internals)."""
    date = email.utils.formatdate(usegmt=True)
    string_to_sign = "\n".join(
        [method, "", "", str(content_length), "", content_type, "", "", "", "", "", "", f"ocp-date:{date}"]
    )
    string_to_sign += f"\n/{service.account_name}{path}\napi-version:{API_VERSION}"
    digest = hmac.new(base64.b64decode(service.account_key), string_to_sign.encode("utf-8"), hashlib.sha256)
    signature = base64.b64encode(digest.digest()).decode("ascii")
    return {
        "Content-Type": content_type,
        "Content-Length": str(content_length),
        "ocp-date": date,
        "Authorization": f"SharedKey {service.account_name}:{signature}",
    }


def run_raw(service: LocalService, client: BatchClient, planned: PlannedJob, concurrency: int, job_id: str) -> float:
    create_job(client, job_id)
    bodies = [
        wire_json(batch_models.BatchTaskGroup(task_values=planned.tasks[start : start + 100])).encode()
        for start in range(0, len(planned.tasks), 100)
    ]
    path = f"/jobs/{job_id}/addtaskcollection"
    url = f"{service.endpoint}{path}?api-version={API_VERSION}"
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=concurrency * 2))
    content_type = "application/json; odata=minimalmetadata"

    def post(body: bytes) -> None:
        headers = shared_key_headers(service, "POST", path, len(body), content_type)
        response = session.post(url, data=body, headers=headers, timeout=60)
        response.raise_for_status()
        results = response.json()["value"]
        assert all(item["status"] == "success" for item in results), results[:1]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    assert count_tasks(client, job_id) == len(planned.tasks)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved engine/raw rounds; the best of each counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="submission-bench-") as scratch:
        work_dir = Path(scratch)
        with local_service(work_dir / "service") as service:
            target = BatchTarget(
                account_endpoint=service.endpoint,
                auth=SharedKeyAuth(account_name=service.account_name, account_key=SecretStr(service.account_key)),
                pool_ids={"cpu": BENCH_POOL},
                resources_container_url=f"{service.blob_endpoint}/resources",
                outputs_container_url=f"{service.blob_endpoint}/outputs",
            )
            client = make_batch_client(target)

            started = time.perf_counter()
            planned = plan_sweep("bench-sweep", args.tasks, target, work_dir)
            plan_s = time.perf_counter() - started
            # Interleaved rounds, each into a fresh job, so a service that slows as it fills up hurts both alike.
            raw_times, engine_times = [], []
            for round_number in range(args.rounds):
                raw_times.append(run_raw(service, client, planned, args.concurrency, f"raw-{round_number}"))
                engine_times.append(
                    run_engine(client, with_job_id(planned, f"{planned.job_id}-{round_number}"), args.concurrency)
                )
            raw_s, engine_s = min(raw_times), min(engine_times)
            naive_per_task = run_naive(client, planned, min(args.naive_sample, args.tasks))

    tasks = args.tasks
    naive_s = naive_per_task * tasks
    print(f"submission benchmark: {tasks} tasks from a YAML sweep, local Batch service, concurrency {args.concurrency}")
    print(f"  plan (load + expand YAML)  {plan_s:7.2f} s")
    rounds = f"(best of {args.rounds}: " + "{} s)"
    print(
        f"  engine submit              {engine_s:7.2f} s  {tasks / engine_s:8.0f} tasks/s  "
        + rounds.format(", ".join(f"{t:.2f}" for t in engine_times))
    )
    print(
        f"  raw limit (pre-serialized) {raw_s:7.2f} s  {tasks / raw_s:8.0f} tasks/s  "
        + rounds.format(", ".join(f"{t:.2f}" for t in raw_times))
    )
    print(
        f"  naive create_task loop     {naive_s:7.2f} s  {tasks / naive_s:8.0f} tasks/s"
        f"  (extrapolated from {min(args.naive_sample, tasks)} timed tasks)"
    )
    print(f"  engine vs raw:   {raw_s / engine_s:5.2f}x  (target >= 0.8x)")
    print(f"  engine vs naive: {naive_s / engine_s:5.1f}x  (target >= 20x)")


if __name__ == "__main__":
    main()
