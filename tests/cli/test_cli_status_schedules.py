"""`batchctl status` lists the account's job schedules: state, recurrence, last and next run, the last job's result."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from azure.batch import models as m
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.localbatch.testing import LocalBatch, wait_for

runner = CliRunner()


def test_status_lists_schedules_with_their_last_and_next_run(local_batch: LocalBatch):
    client = local_batch.batch_client()
    schedule_id = f"st-{uuid.uuid4().hex[:8]}"
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id=schedule_id,
            schedule=m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(hours=1)),
            job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=f"nopool-{schedule_id}")),
        )
    )
    wait_for(lambda: client.get_job_schedule(schedule_id).execution_info.recent_job, what="the first job")
    result = runner.invoke(
        app, ["status", "--local", "--data-dir", str(local_batch.data_dir)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert "Job schedules" in result.stdout
    (row,) = [line for line in result.stdout.splitlines() if schedule_id in line and "job-1:" in line]
    assert "active" in row and "1:00:00" in row
    assert f"{schedule_id}:job-1: active: 0 succeeded, 0 failed" in row
    client.begin_delete_job_schedule(schedule_id, polling_interval=0).result()


def test_status_json_of_the_whole_account_has_its_schedules(local_batch: LocalBatch):
    client = local_batch.batch_client()
    schedule_id = f"sj-{uuid.uuid4().hex[:8]}"
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id=schedule_id,
            schedule=m.BatchJobScheduleConfiguration(recurrence_interval=timedelta(minutes=90)),
            job_specification=m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=f"nopool-{schedule_id}")),
        )
    )
    wait_for(lambda: client.get_job_schedule(schedule_id).execution_info.recent_job, what="the first job")
    local = ["--local", "--data-dir", str(local_batch.data_dir)]
    whole = runner.invoke(app, ["status", *local, "--json"])
    assert whole.exit_code == 0, whole.output
    (entry,) = [entry for entry in json.loads(whole.stdout)["schedules"] if entry["id"] == schedule_id]
    assert entry["state"] == "active"
    assert entry["recurrence_interval"] == "PT1H30M"
    assert entry["last_job_id"] == f"{schedule_id}:job-1"
    assert entry["last_result"] == "active: 0 succeeded, 0 failed"
    assert datetime.fromisoformat(entry["next_run"]) > datetime.fromisoformat(entry["last_run"])
    assert f"{schedule_id}:job-1" in {job["job_id"] for job in json.loads(whole.stdout)["jobs"]}
    # Asked about named jobs only, the answer is about those jobs.
    named = runner.invoke(app, ["status", *local, "--json", f"{schedule_id}:job-1"])
    assert named.exit_code == 0, named.output
    assert "schedules" not in json.loads(named.stdout)
    client.begin_delete_job_schedule(schedule_id, polling_interval=0).result()
