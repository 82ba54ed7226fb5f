"""How fast a 100,000-task sweep validates and expands into a PlannedJob (target: < 2 s, < 300 MB).

Run: .venv/bin/python bench/workload_expand_bench.py [--tasks N]
Prints the time for each phase (YAML parse + validation, planning = expansion into azure-batch
models), the peak of Python allocations (tracemalloc, a separate run since tracing slows code down)
and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import load_workload, plan_job

WORKLOAD = """\
id: bigsweep
pool: cpu
constraints: {{maxTaskRetryCount: 2}}
tasks:
  sweep:
    parameters:
      - name: x
        range: {{start: 0, stop: {x_stop}}}
      - name: method
        values: [midpoint, simpson]
    task:
      id: "t-{{x:06d}}-{{method}}"
      commandLine: python3 integrate.py --x {{x}} --method {{method}} --out r-{{x}}-{{method}}.json
      resourceFiles:
        - source: integrate.py
      environment:
        POSITION: "{{index}}"
      outputFiles:
        - pattern: r-*.json
          destination: results/{{method}}
          uploadCondition: tasksuccess
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    target = BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=EntraIdAuth(),
        pool_ids={"cpu": "bforge-dev-cpu"},
        resources_container_url="https://acct.blob.core.windows.net/resources",
        outputs_container_url="https://acct.blob.core.windows.net/outputs",
        identity_resource_id="/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u",
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "integrate.py").write_text("print('integrate')\n")
        path = root / "workloads" / "bigsweep.yaml"
        path.parent.mkdir()
        path.write_text(WORKLOAD.format(x_stop=args.tasks // 2 - 1))

        started, cpu_started = time.perf_counter(), time.process_time()
        workload = load_workload(path)
        validated, cpu_validated = time.perf_counter(), time.process_time()
        planned = plan_job(workload, target, repo_root=root)
        finished, cpu_finished = time.perf_counter(), time.process_time()
        count = len(planned.tasks)
        rss_after_plan_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        del planned

        tracemalloc.start()
        plan_job(load_workload(path), target, repo_root=root)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    total = finished - started
    cpu_total = cpu_finished - cpu_started
    print(f"tasks:                      {count:,}")
    print(f"load + validate:            {validated - started:6.2f} s wall  {cpu_validated - cpu_started:6.2f} s CPU")
    print(f"plan (expand to models):    {finished - validated:6.2f} s wall  {cpu_finished - cpu_validated:6.2f} s CPU")
    verdict = "OK" if total < 2 else "OVER"
    print(f"total:                      {total:6.2f} s wall  {cpu_total:6.2f} s CPU   (target < 2 s wall)  {verdict}")
    print(f"load average (1 min):       {os.getloadavg()[0]:6.2f}  (wall time includes waiting for a core)")
    print(f"tracemalloc peak:           {peak / 1e6:6.0f} MB (target < 300 MB)  {'OK' if peak < 300e6 else 'OVER'}")
    print(
        f"peak RSS of the process:    {rss_after_plan_mb:6.0f} MB (interpreter and SDK imports included; "
        "before the traced run)"
    )


if __name__ == "__main__":
    main()
