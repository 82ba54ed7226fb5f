"""Each input the issue found validated-then-refused, crashing or hanging, as its own test (exit 2, one clear line)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchforge.cli.app import app

REPO = Path(__file__).resolve().parents[2]
HELLO = "id: ex\npool: cpu\ntasks:\n  list:\n    - id: one\n      commandLine: echo hi\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ["Pulumi.yaml", "Pulumi.dev.yaml"]:
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "workloads", tmp_path / "workloads")
    shutil.copytree(REPO / "start-tasks", tmp_path / "start-tasks")
    return tmp_path


def _validate(repo: Path, text: str, name: str = "hello.yaml") -> tuple[int, list[str], float]:
    (repo / "workloads" / name).write_text(text, encoding="utf-8")
    started = time.process_time()  # CPU time: other work loading the machine does not stretch it as it does wall time
    result = CliRunner().invoke(app, ["validate", "--repo-root", str(repo), str(repo / "Pulumi.dev.yaml")])
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith("warning: ")]
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(result.exception, SystemExit)
    return result.exit_code, lines, time.process_time() - started


def _refused(repo: Path, text: str, *expected: str) -> list[str]:
    code, lines, seconds = _validate(repo, text)
    assert code == 2, lines
    assert lines and all(line.startswith("workloads/hello.yaml: ") for line in lines), lines
    assert all(any(part in line for line in lines) for part in expected), lines
    assert seconds < 5
    return lines


def _sweep(task: str, values: str = "range: {start: 0, stop: 3}") -> str:
    return f"id: ex\npool: cpu\ntasks:\n  sweep:\n    parameters:\n      - name: v\n        {values}\n    task:\n{task}"


def test_the_unchanged_example_validates(repo: Path) -> None:
    assert _validate(repo, HELLO)[0] == 0


def test_merge_keys_nested_nine_deep_are_refused_in_milliseconds(repo: Path) -> None:
    bomb = "x-a0: &a0 {k: v}\n" + "".join(
        f"x-a{i}: &a{i}\n  <<: [{', '.join([f'*a{i - 1}'] * 9)}]\n  k{i}: 1\n" for i in range(1, 10)
    )
    _refused(repo, HELLO + bomb, "merge keys ('<<') expand to more than")


def test_thousands_of_brackets_are_a_depth_problem_not_a_recursion_error(repo: Path) -> None:
    _refused(repo, HELLO + "x-deep: " + "[" * 5000 + "\n", "nested more than 64 levels")


def test_thousands_of_nested_mappings_are_a_depth_problem(repo: Path) -> None:
    deep = "x-deep:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300))
    _refused(repo, HELLO + deep, "nested more than 64 levels")


def test_range_stop_1e30_is_refused_without_overflow(repo: Path) -> None:
    _refused(repo, _sweep("      commandLine: echo {v}\n", "range: {start: 0, stop: 1.0e+30}"), "range.stop: ")


def test_a_format_width_of_999999999_is_refused_before_formatting(repo: Path) -> None:
    _refused(repo, _sweep("      commandLine: echo {v:0999999999d}\n"), "format width 999999999 is too wide")


def test_a_2_mb_command_line_is_refused(repo: Path) -> None:
    _refused(repo, HELLO.replace("echo hi", "echo " + "x" * 2_000_000), "larger than 512 KiB")


def test_100000_metadata_keys_are_refused(repo: Path) -> None:
    keys = "".join(f"  k{i}: v\n" for i in range(100_000))
    code, lines, _ = _validate(repo, HELLO + "metadata:\n" + keys)
    assert code == 2 and lines and lines[0].startswith("workloads/hello.yaml: ")


def test_metadata_that_makes_the_job_request_too_big_is_refused(repo: Path) -> None:
    big = "x-big: &big " + "m" * 300_000 + "\nmetadata: {a: *big, b: *big, c: *big, d: *big}\n"
    _refused(repo, HELLO + big, "workloads/hello.yaml: metadata: makes the job's create request")


def test_a_task_whose_rendered_body_exceeds_the_request_limit_is_refused(repo: Path) -> None:
    values = "values: ['" + "q" * 300_000 + "']"
    _refused(repo, _sweep("      commandLine: echo {v} {v} {v} {v}\n", values), "renders to a request of")


def test_a_job_release_task_without_a_preparation_task_is_refused(repo: Path) -> None:
    _refused(repo, HELLO + "jobReleaseTask:\n  commandLine: echo bye\n", "jobReleaseTask: needs a jobPreparationTask")


def test_required_slots_above_the_pools_task_slots_per_node_is_refused(repo: Path) -> None:
    _refused(repo, HELLO + "      requiredSlots: 1000\n", "requiredSlots: is 1000 but pool 'cpu' has taskSlotsPerNode")


def test_a_nul_character_in_a_command_line_is_refused(repo: Path) -> None:
    _refused(repo, HELLO.replace("echo hi", '"echo \\0 hi"'), "commandLine: contains the control character U+0000")


def test_sweep_values_rendering_dot_dot_into_file_path_are_refused(repo: Path) -> None:
    task = (
        "      commandLine: echo {v}\n      resourceFiles:\n"
        "        - {source: 'https://example.org/a', filePath: '{v}/a'}\n"
    )
    _refused(repo, _sweep(task, "values: ['ok', '../../..']"), "resourceFiles[0].filePath: renders to '../../../a'")


def test_sweep_values_rendering_dot_dot_into_an_output_destination_are_refused(repo: Path) -> None:
    task = "      commandLine: echo {v}\n      outputFiles:\n        - {pattern: '*.txt', destination: 'out/{v}'}\n"
    _refused(repo, _sweep(task, "values: ['ok', '../../..']"), "outputFiles[0].destination: renders to 'out/../../..'")


def test_a_listed_destination_escaping_the_job_folder_is_refused(repo: Path) -> None:
    listed = HELLO + "      outputFiles:\n        - {pattern: '*.txt', destination: ../../../escape}\n"
    _refused(repo, listed, "tasks.list[0].outputFiles[0].destination", "no '.' or '..' segments")
