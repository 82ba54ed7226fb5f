"""Job ids carry a content hash: same content, same job; any change to the file or an input file, a new job."""

from __future__ import annotations

from pathlib import Path

from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job

BASE = """\
# a comment
id: hashed
pool: cpu
tasks:
  list:
    - id: a
      commandLine: python3 run.py
      resourceFiles:
        - source: workloads/scripts/run.py
"""


def _job_id(repo: Path, write_workload, target: BatchTarget, text: str) -> str:
    return plan_job(load_workload(write_workload("h.yaml", text)), target, repo_root=repo).job_id


def test_same_content_same_job_id(repo: Path, write_workload, target: BatchTarget):
    first = _job_id(repo, write_workload, target, BASE)
    assert first.startswith("hashed-") and len(first) == len("hashed-") + 10
    assert _job_id(repo, write_workload, target, BASE) == first
    # Comments, key order, quoting and flow style are not content.
    reordered = (
        'pool: "cpu"\nid: hashed  # same job\ntasks: {list: [{commandLine: python3 run.py, id: a, '
        "resourceFiles: [{source: workloads/scripts/run.py}]}]}\n"
    )
    assert _job_id(repo, write_workload, target, reordered) == first
    # Writing out a default is the same content as leaving it out.
    assert _job_id(repo, write_workload, target, BASE.replace("pool: cpu\n", "pool: cpu\npriority: 0\n")) == first


def test_changed_workload_or_input_file_is_a_new_job(repo: Path, write_workload, target: BatchTarget):
    first = _job_id(repo, write_workload, target, BASE)
    assert _job_id(repo, write_workload, target, BASE.replace("python3 run.py", "python3 run.py -v")) != first
    assert _job_id(repo, write_workload, target, BASE.replace("pool: cpu", "pool: gpu")) != first
    (repo / "workloads" / "scripts" / "run.py").write_text("print('changed')\n")
    changed = _job_id(repo, write_workload, target, BASE)
    assert changed != first
    (repo / "workloads" / "scripts" / "run.py").write_text("print('run')\n")
    assert _job_id(repo, write_workload, target, BASE) == first


def test_hash_does_not_depend_on_the_checkout_location(
    repo: Path, write_workload, target: BatchTarget, tmp_path_factory
):
    first = _job_id(repo, write_workload, target, BASE)
    clone = tmp_path_factory.mktemp("clone")
    (clone / "workloads" / "scripts").mkdir(parents=True)
    (clone / "workloads" / "scripts" / "run.py").write_text("print('run')\n")
    (clone / "workloads" / "h.yaml").write_text(BASE)
    assert plan_job(load_workload(clone / "workloads" / "h.yaml"), target, repo_root=clone).job_id == first


def test_per_file_folder_contents_are_part_of_the_hash(repo: Path, write_workload, target: BatchTarget):
    text = (
        "id: pf\npool: cpu\ntasks:\n  perFile:\n    source: {localFolder: inputs}\n"
        '    task: {commandLine: "cat {filePath}"}\n'
    )
    first = _job_id(repo, write_workload, target, text)
    (repo / "inputs" / "new.csv").write_text("x\n")
    assert _job_id(repo, write_workload, target, text) != first


def test_a_replaced_pool_makes_a_new_job(repo: Path, write_workload, target: BatchTarget):
    first = _job_id(repo, write_workload, target, BASE)
    replaced = target.model_copy(update={"pool_ids": {**target.pool_ids, "cpu": "bforge-dev-cpu-0a1b2c3d"}})
    assert _job_id(repo, write_workload, replaced, BASE) != first


def test_a_storage_url_or_identity_change_makes_a_new_job_id(repo: Path, write_workload, target: BatchTarget):
    # The tasks' resource files and output destinations are built from these: old and new bodies must not mix.
    first = _job_id(repo, write_workload, target, BASE)
    changes = [
        {"resources_container_url": "http://127.0.0.1:10000/acct/resources"},
        {"outputs_container_url": "http://127.0.0.1:10000/acct/outputs"},
        {"identity_resource_id": f"{target.identity_resource_id}-other"},
    ]
    ids = {_job_id(repo, write_workload, target.model_copy(update=change), BASE) for change in changes}
    assert first not in ids and len(ids) == len(changes)
