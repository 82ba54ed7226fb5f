"""onAllTasksComplete is updated in place, one way only: Batch (and the local service) refuse terminatejob back
to noaction, so a workload changed that way keeps its live job, which still ends when its tasks are done."""

from __future__ import annotations

import uuid
from pathlib import Path

from batchforge.localbatch.testing import LocalBatch
from batchforge.submission.engine import delete_job, submit
from batchforge.workload import load_workload, plan_job


def _plan(root: Path, target, workload_id: str, mode: str):
    path = root / "workloads" / "mode.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"id: {workload_id}\npool: cpu\nonAllTasksComplete: {mode}\n"
        'tasks:\n  list:\n    - id: a\n      commandLine: "true"\n'
    )
    return plan_job(load_workload(path), target, repo_root=root)


def test_a_change_from_terminatejob_to_noaction_keeps_the_job_and_does_not_fail(local_batch: LocalBatch, tmp_path):
    # A pool without nodes: the task stays queued, so the job stays active with terminatejob set.
    target = local_batch.target({"cpu": "mode-no-nodes"})
    client = local_batch.batch_client()
    workload_id = f"mode-{uuid.uuid4().hex[:8]}"
    first = _plan(tmp_path, target, workload_id, "terminatejob")
    assert submit(first, client).completion_mode_set
    changed = _plan(tmp_path, target, workload_id, "noaction")
    try:
        assert changed.job_id == first.job_id
        again = submit(changed, client)
        assert again.complete and not again.completion_mode_set and not again.job_created
        mode = client.get_job(first.job_id).all_tasks_complete_mode
        assert str(getattr(mode, "value", mode)).lower() == "terminatejob"
    finally:
        delete_job(client, first.job_id)
