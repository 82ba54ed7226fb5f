"""What the Pulumi program costs every preview, against a hand-written program declaring the same resources.

Run: .venv/bin/python bench/program_bench.py [--runs N]

For each stack (dev, staging, prod) the program (``__main__.py``) runs as a preview under Pulumi's mocks
with the engine-contract harness. The baseline, measured in the same process and the same way, is a
hand-written program: it imports the same ``pulumi_azure_native`` modules and registers, flat, the same
azure-native resources (the classes the program uses) with the inputs the program gave them, and nothing
else (no config validation, components, content-addressed uploads or workload submissions). Prints the
median of N alternating runs of each and their ratio (target: <= 1.1x).

Then the time a 1,000,000-task sweep adds to the program: validating its file and computing its job
identity and whether it is scheduled, as ``components.stack`` does, minus the same for a one-task workload
(target: < 50 ms). Each measured run starts with no file parsed, as one program run does.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import runpy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from batchforge.contract.engine import run_under_engine_contract  # noqa: E402
from batchforge.core.yaml_files import clear_parse_cache  # noqa: E402
from batchforge.policy.program_under_mocks import PROJECT, _RecordingMocks, stack_config_map  # noqa: E402
from batchforge.providers import workload_submission as hook  # noqa: E402
from batchforge.providers.job_schedule import is_scheduled  # noqa: E402
from batchforge.submission.target import BatchTarget, EntraIdAuth  # noqa: E402

STACKS = ("dev", "staging", "prod")
AZURE_NATIVE = "azure-native:"

SWEEP = """\
id: million
pool: cpu
tasks:
  sweep:
    parameters:
      - {name: x, range: {start: 0, stop: 499999}}
      - {name: method, values: [midpoint, simpson]}
    task:
      id: "t-{x:06d}-{method}"
      commandLine: python3 integrate.py --x {x} --method {method} --out r-{x}-{method}.json
      environment: {POSITION: "{index}"}
      outputFiles: [{pattern: "r-*.json", destination: "results/{method}/{x}"}]
"""
ONE_TASK = "id: single\npool: cpu\ntasks: {list: [{id: a, commandLine: echo a}]}\n"


def _keywords(cls: type) -> dict[str, str]:
    """camelCase input name, lowercased -> the class's Python keyword (read from its ``<Name>Args`` properties)."""
    args = getattr(sys.modules[cls.__module__], f"{cls.__name__}Args")
    names = [name for name, value in vars(args).items() if isinstance(value, property)]
    # An input called resourceName is passed as resource_name_ (resource_name is the logical name).
    return {name.replace("_", "").lower(): "resource_name_" if name == "resource_name" else name for name in names}


def _class_of(type_token: str) -> type[pulumi.CustomResource]:
    """``azure-native:batch:Pool`` -> ``pulumi_azure_native.batch.Pool``."""
    _, module, name = type_token.split(":")
    return getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)  # type: ignore[no-any-return]


def _run(stack: str, config: Mapping[str, str], program: Callable[[], None]) -> list[Any]:
    result = run_under_engine_contract(
        _RecordingMocks, program, project=PROJECT, stack=stack, config=config, modes=("preview",)
    )
    return result.mocks.resources


def _stack_program() -> None:
    # Each run starts as one `pulumi preview` process does: no workload or config file parsed yet.
    clear_parse_cache()
    runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")


def _declared(stack: str, config: Mapping[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """The azure-native resources of a stack with their inputs, as an update (every input known) gives them."""
    result = run_under_engine_contract(
        _RecordingMocks, _stack_program, project=PROJECT, stack=stack, config=config, modes=("update",)
    )
    declared = result.mocks.resources
    return [(r.resource_type, r.name, dict(r.props)) for r in declared if r.resource_type.startswith(AZURE_NATIVE)]


def _handwritten(resources: list[tuple[str, str, dict[str, Any]]]) -> Callable[[], None]:
    """A flat program: the same azure-native classes, the same inputs, in the order the program declared them."""
    classes = {type_token: _class_of(type_token) for type_token, _, _ in resources}
    keywords = {type_token: _keywords(cls) for type_token, cls in classes.items()}
    declarations = [
        (classes[t], name, {keywords[t][key.lower()]: value for key, value in inputs.items()})
        for t, name, inputs in resources
    ]

    def program() -> None:
        for type_token in classes:
            importlib.import_module("pulumi_azure_native." + type_token.split(":")[1])
        for cls, name, kwargs in declarations:
            cls(name, **kwargs)

    return program


def _median_s(call: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _timed_s(stack: str, config: Mapping[str, str], program: Callable[[], None]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU time (all threads) is what other processes' load leaves alone."""
    started, started_cpu = time.perf_counter(), time.process_time()
    _run(stack, config, program)
    return time.perf_counter() - started, time.process_time() - started_cpu


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def _program_ratios(runs: int, *, gc_off: bool = False) -> None:
    """``gc_off``: both measured with the cyclic garbage collector disabled (what allocation alone costs aside)."""
    if gc_off:
        gc.collect()
        gc.disable()
    try:
        _measure_ratios(runs, "garbage collector off in both: " if gc_off else "")
    finally:
        gc.enable()


def _measure_ratios(runs: int, label: str) -> None:
    print(f"{label}program vs hand-written, preview under mocks, median of {runs} runs each ({_load()})")
    for stack in STACKS:
        config = stack_config_map(REPO / f"Pulumi.{stack}.yaml")
        resources = _declared(stack, config)
        baseline = _handwritten(resources)
        assert len(_run(stack, config, baseline)) == len(resources)
        _run(stack, config, _stack_program)  # warm: imports, caches of both
        program_s: list[tuple[float, float]] = []
        baseline_s: list[tuple[float, float]] = []
        for _ in range(runs):  # alternating, so load on the machine hits both alike
            program_s.append(_timed_s(stack, config, _stack_program))
            baseline_s.append(_timed_s(stack, config, baseline))
        ours, theirs = (statistics.median(wall for wall, _ in program_s), statistics.median(w for w, _ in baseline_s))
        ours_cpu, theirs_cpu = (statistics.median(c for _, c in program_s), statistics.median(c for _, c in baseline_s))
        print(
            f"  {stack:8s} {len(resources):3d} azure-native resources: program {ours * 1000:7.1f} ms, "
            f"hand-written {theirs * 1000:7.1f} ms, ratio {ours / theirs:.2f}x (target <= 1.10x); "
            f"CPU {ours_cpu * 1000:.1f} vs {theirs_cpu * 1000:.1f} ms, ratio {ours_cpu / theirs_cpu:.2f}x"
        )


def _workload_cost(repo: Path, file_name: str, target: BatchTarget) -> None:
    clear_parse_cache()  # from a cold start, as one program run
    hook.validate_workload_files([file_name], repo)
    is_scheduled(file_name, repo)  # the program asks each workload whether it is a schedule
    hook.identify_workload_file(repo / "workloads" / file_name, target, repo)


def _sweep_added_time(runs: int) -> None:
    target = BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=EntraIdAuth(),
        pool_ids={"cpu": "bforge-dev-cpu"},
        resources_container_url="https://st.blob.core.windows.net/resources",
        outputs_container_url="https://st.blob.core.windows.net/outputs",
    )
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder)
        (repo / "workloads").mkdir()
        (repo / "workloads" / "million.yaml").write_text(SWEEP)
        (repo / "workloads" / "single.yaml").write_text(ONE_TASK)
        _workload_cost(repo, "million.yaml", target)
        sweep = _median_s(lambda: _workload_cost(repo, "million.yaml", target), runs)
        single = _median_s(lambda: _workload_cost(repo, "single.yaml", target), runs)
    print(
        f"1,000,000-task sweep: {sweep * 1000:.1f} ms validate + identity vs {single * 1000:.1f} ms for one task; "
        f"adds {(sweep - single) * 1000:.1f} ms to the program (target < 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--gc-off-too", action="store_true", help="measure again with the cyclic garbage collector off in both"
    )
    args = parser.parse_args()
    _program_ratios(args.runs)
    if args.gc_off_too:
        _program_ratios(args.runs, gc_off=True)
    _sweep_added_time(args.runs)


if __name__ == "__main__":
    main()
