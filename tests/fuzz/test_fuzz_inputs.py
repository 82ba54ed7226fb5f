"""Malformed variants of every committed input file: exit 2, clear problems, no traceback, bounded time and memory.

For each variant ``batchctl validate`` runs in a forked child (see fuzz_harness); for a sample of them
``batchctl submit --local`` runs too, against the session's local Batch service, which must end up with no
new job. Targets: 5 s of CPU time and 300 MB per case, measured (generous headroom on a shared 2-core machine);
CPU time rather than wall time, so that other work loading the machine does not fail the case (a hang is
still caught by the harness's wall-clock timeout).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fuzz_harness import Outcome, committed_inputs, copy_repo, run_batchctl
from fuzz_mutations import Variant, variants

from batchforge.localbatch.testing import LocalBatch

MAX_SECONDS = 5.0
MAX_RSS_GROWTH_MB = 300.0
STRUCTURAL_PER_FILE = 32
SUBMIT_EVERY = 6  # every sixth variant also goes through submit --local
_PROBLEM_LINE = re.compile(r"^(Pulumi\.[\w-]+\.yaml|workloads/[\w.-]+\.yaml|--workload): \S")
_PYTHON_ERRORS = re.compile(r"Traceback|\b[A-Z]\w*(Error|Exception)\b: |unhandled:")


def _cases() -> Iterator[tuple[str, Variant]]:
    root = Path(__file__).resolve().parents[2]
    for index, relative in enumerate(committed_inputs()):
        text = (root / relative).read_text(encoding="utf-8")
        for variant in variants(text, relative.startswith("Pulumi."), STRUCTURAL_PER_FILE, seed=1600 + index):
            yield relative, variant


CASES = list(_cases())


def _stack_workloads() -> set[str]:
    """The workload files some committed stack deploys (the others, examples, are validated on their own)."""
    root = Path(__file__).resolve().parents[2]
    named: set[str] = set()
    for stack in root.glob("Pulumi.*.yaml"):
        config = (yaml.safe_load(stack.read_text(encoding="utf-8")) or {}).get("config") or {}
        named.update(f"workloads/{name}" for name in config.get("batchforge:workloads") or [])
    return named


STACK_WORKLOADS = _stack_workloads()


def test_there_are_at_least_300_cases_across_every_committed_input_file() -> None:
    assert len(CASES) >= 300
    assert {relative for relative, _ in CASES} == set(committed_inputs())
    assert {"Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml"} <= set(committed_inputs())


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("fuzz-repo"))


def _stack_for(relative: str) -> str:
    return relative.removeprefix("Pulumi.").removesuffix(".yaml") if relative.startswith("Pulumi.") else "dev"


def _check(outcome: Outcome, relative: str, name: str) -> list[str]:
    found: list[str] = []
    if outcome.hung:
        return [f"{relative} [{name}]: hung (killed after the hard timeout)"]
    if outcome.exit_code != 2:
        found.append(f"exit {outcome.exit_code}, expected 2")
    if _PYTHON_ERRORS.search(outcome.stderr + outcome.stdout):
        found.append("a Python exception reached the output")
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    if not lines:
        found.append("no problem was printed")
    unclear = [line for line in lines if not _PROBLEM_LINE.match(line)]
    if unclear:
        found.append(f"not '<file>: <key path>: <message>': {unclear[0][:160]!r}")
    if lines and not any(line.startswith(f"{relative}:") for line in lines):
        found.append(f"no problem names {relative}: {lines[0][:160]!r}")
    if outcome.cpu_seconds > MAX_SECONDS:
        found.append(
            f"took {outcome.cpu_seconds:.1f} s of CPU, {outcome.seconds:.1f} s wall (limit {MAX_SECONDS} s of CPU)"
        )
    if outcome.rss_growth_mb > MAX_RSS_GROWTH_MB:
        found.append(f"grew by {outcome.rss_growth_mb:.0f} MB (limit {MAX_RSS_GROWTH_MB:.0f} MB)")
    return [f"{relative} [{name}]: {what}" for what in found]


def test_every_malformed_variant_is_refused_clearly_fast_and_submits_nothing(
    scratch_repo: Path, local_batch: LocalBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(scratch_repo)
    client = local_batch.batch_client()
    jobs_before = {job.id for job in client.list_jobs(select=["id"])}
    failures: list[str] = []
    slowest = 0.0
    largest = 0.0
    submitted = 0
    deployed_cases = 0
    for relative, variant in CASES:
        path = scratch_repo / relative
        original = path.read_bytes()
        data = variant.text if isinstance(variant.text, bytes) else variant.text.encode("utf-8")
        path.write_bytes(data)
        try:
            stack_file = f"Pulumi.{_stack_for(relative)}.yaml"
            deployed = relative.startswith("Pulumi.") or relative in STACK_WORKLOADS
            # Named from the repository root (the working directory), as a user in the checkout names it.
            files = [str(scratch_repo / stack_file)] + ([] if deployed else [relative])
            outcome = run_batchctl(["validate", "--repo-root", str(scratch_repo), *files])
            failures.extend(_check(outcome, relative, variant.name))
            slowest, largest = max(slowest, outcome.cpu_seconds), max(largest, outcome.rss_growth_mb)
            # A workload no stack deploys is not submitted by submit --stack: nothing to check there.
            if deployed:
                deployed_cases += 1
            if deployed and deployed_cases % SUBMIT_EVERY == 1:
                submitted += 1
                local = ["--local", "--data-dir", str(local_batch.data_dir)]
                args = ["submit", "--stack", _stack_for(relative), "--repo-root", str(scratch_repo), *local]
                failures.extend(_check(run_batchctl(args), relative, f"submit --local {variant.name}"))
        finally:
            path.write_bytes(original)
    jobs_after = {job.id for job in client.list_jobs(select=["id"])}

    assert not failures, f"{len(failures)} of {len(CASES)} cases failed:\n" + "\n".join(failures[:40])
    assert jobs_after == jobs_before, f"jobs left on the local service: {sorted(jobs_after - jobs_before)}"
    assert deployed_cases >= 300 and submitted >= deployed_cases // SUBMIT_EVERY
    print(f"{len(CASES)} cases, slowest {slowest:.2f} s of CPU, largest RSS growth {largest:.0f} MB")
