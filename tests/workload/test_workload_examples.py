"""The example workloads in workloads/: they validate, plan, match the schema, and their scripts work."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, load_workloads, plan_job
from batchforge.workload.schema import SCHEMA_PATH, main, schema_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "workloads").glob("*.yaml"))
HEADER = "# yaml-language-server: $schema=./schema/workload.schema.json"


def test_the_three_examples_exist():
    assert {path.name for path in EXAMPLES} >= {"hello.yaml", "sweep.yaml", "mapreduce.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_starts_with_the_schema_line_and_matches_the_schema(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(text), schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_plans_against_the_dev_pool(path: Path, target: BatchTarget):
    planned = plan_job(load_workload(path), target, repo_root=REPO)
    assert planned.job.pool_info.pool_id == "bforge-dev-cpu"
    assert planned.tasks
    for upload in planned.uploads:
        assert upload.local_path.is_file()


def test_examples_load_together():
    assert [w.id for w in load_workloads(EXAMPLES)] == [load_workload(p).id for p in EXAMPLES]


def test_schema_file_is_up_to_date():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), "run: python -m batchforge.workload.schema"
    assert main(["--check"]) == 0


def test_sweep_shape(target: BatchTarget):
    planned = plan_job(load_workload(REPO / "workloads" / "sweep.yaml"), target, repo_root=REPO)
    assert len(planned.tasks) == 48
    assert planned.tasks[0].id == "pi-00" and planned.tasks[-1].id == "sine-15"
    assert str(planned.all_tasks_complete_mode) == "terminatejob" or planned.all_tasks_complete_mode == "terminatejob"
    assert planned.job.all_tasks_complete_mode is None


def test_mapreduce_shape(target: BatchTarget):
    planned = plan_job(load_workload(REPO / "workloads" / "mapreduce.yaml"), target, repo_root=REPO)
    assert [t.id for t in planned.tasks] == [*map(str, range(1, 9)), "reduce"]
    reduce = planned.tasks[-1]
    assert reduce.depends_on.task_id_ranges[0].start == 1 and reduce.depends_on.task_id_ranges[0].end == 8
    assert planned.job.uses_task_dependencies is True
    assert planned.job.job_preparation_task is not None
    outputs = reduce.resource_files[-1]
    assert outputs.storage_container_url.endswith("/outputs")
    assert outputs.blob_prefix == f"{planned.job_id}/map/"


def test_sweep_script_computes_pi_from_its_slices(tmp_path: Path):
    """What the 16 'pi' sweep tasks compute adds up to pi (a few slices' worth of work, run here)."""
    total = 0.0
    for index in range(16):
        out = tmp_path / f"integral-pi-{index:02d}.json"
        subprocess.run(
            [
                sys.executable,
                str(REPO / "workloads/scripts/integrate.py"),
                "--function",
                "pi",
                "--slice",
                str(index),
                "--slices",
                "16",
                "--steps",
                "200",
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        total += json.loads(out.read_text())["value"]
    assert math.isclose(total, math.pi, rel_tol=1e-9)


def test_mapreduce_scripts_count_every_word(tmp_path: Path):
    script = str(REPO / "workloads/scripts/wordcount.py")
    corpus = REPO / "workloads/data/corpus.txt"
    results = tmp_path / "map-results" / "job" / "map"
    results.mkdir(parents=True)
    for part in range(1, 9):
        subprocess.run(
            [
                sys.executable,
                script,
                "map",
                "--text",
                str(corpus),
                "--part",
                str(part),
                "--parts",
                "8",
                "--out",
                str(results / f"counts-{part}.json"),
            ],
            check=True,
            capture_output=True,
        )
    out = tmp_path / "wordcount.json"
    subprocess.run(
        [
            sys.executable,
            script,
            "reduce",
            "--folder",
            str(tmp_path / "map-results"),
            "--parts",
            "8",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    expected = sum(len(line.replace(".", "").split()) for line in corpus.read_text().splitlines())
    assert json.loads(out.read_text())["words"] == expected


def test_hello_script_prints_batch_variables(tmp_path: Path):
    (tmp_path / "wd").mkdir()
    env = {"AZ_BATCH_TASK_ID": "hello", "AZ_BATCH_NODE_ROOT_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run(
        [sys.executable, str(REPO / "workloads/scripts/hello.py")],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path / "wd",
    ).stdout
    assert "AZ_BATCH_TASK_ID=hello" in shown
    assert "  wd/" in shown
