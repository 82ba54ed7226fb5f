"""status, wait and logs against the local Batch service (the session's shared `local_batch`)."""

from __future__ import annotations

import json
import re
import shlex
import uuid

import pytest
from azure.batch import models as batch_models
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes, wait_for_tasks_completed

runner = CliRunner()


@pytest.fixture(scope="module")
def jobs(local_batch: LocalBatch) -> dict[str, str]:
    """One pool; a job whose tasks all succeed and one with a failing task, both finished."""
    client = local_batch.batch_client()
    suffix = uuid.uuid4().hex[:8]
    pool_id = f"cli-{suffix}"
    client.create_pool(
        batch_models.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="Standard_D2s_v5",
            virtual_machine_configuration=batch_models.VirtualMachineConfiguration(
                image_reference=batch_models.BatchVmImageReference(
                    publisher="canonical", offer="ubuntu-24_04-lts", sku="server"
                ),
                node_agent_sku_id="batch.node.ubuntu 24.04",
            ),
            target_dedicated_nodes=1,
            task_slots_per_node=4,
        )
    )
    wait_for_idle_nodes(client, pool_id, 1)
    ids = {"ok": f"cli-ok-{suffix}", "mixed": f"cli-mixed-{suffix}", "pool": pool_id}
    tasks = {
        ids["ok"]: [("t-ok", "/bin/sh -c 'echo hello; echo line2'")],
        ids["mixed"]: [
            ("t-ok", "/bin/sh -c 'echo fine'"),
            ("t-fail", "/bin/sh -c 'echo partial; echo oops >&2; exit 3'"),
        ],
    }
    for job_id, specs in tasks.items():
        client.create_job(
            batch_models.BatchJobCreateOptions(id=job_id, pool_info=batch_models.BatchPoolInfo(pool_id=pool_id))
        )
        for task_id, command in specs:
            client.create_task(job_id, batch_models.BatchTaskCreateOptions(id=task_id, command_line=command))
        wait_for_tasks_completed(client, job_id)
    return ids


def _local(local_batch: LocalBatch) -> list[str]:
    return ["--local", "--data-dir", str(local_batch.data_dir)]


def test_status_table_and_json(local_batch, jobs):
    table = runner.invoke(app, ["status", *_local(local_batch), jobs["ok"], jobs["mixed"]])
    assert table.exit_code == 0, table.output
    assert jobs["ok"] in table.stdout and jobs["mixed"] in table.stdout and jobs["pool"] in table.stdout
    as_json = runner.invoke(app, ["status", *_local(local_batch), "--json", jobs["mixed"]])
    assert as_json.exit_code == 0, as_json.output
    (status,) = json.loads(as_json.stdout)["jobs"]
    assert status["job_id"] == jobs["mixed"] and status["pool_id"] == jobs["pool"]
    assert status["counts"]["succeeded"] == 1 and status["counts"]["failed"] == 1 and status["finished"] is True
    every = json.loads(runner.invoke(app, ["status", *_local(local_batch), "--json"]).stdout)["jobs"]
    assert {jobs["ok"], jobs["mixed"]} <= {item["job_id"] for item in every}


def test_unknown_job_is_a_clean_message(local_batch, jobs):
    for command in (["status", "nope-job"], ["wait", "nope-job"], ["logs", "nope-job", "t-ok"]):
        result = runner.invoke(app, [command[0], *_local(local_batch), *command[1:]])
        assert result.exit_code == 3, (command, result.output)
        assert result.stderr.strip() == "error: job 'nope-job' not found"
        assert "Traceback" not in result.output


def test_wait_exits_zero_when_every_task_succeeded_and_one_when_any_failed(local_batch, jobs):
    good = runner.invoke(app, ["wait", *_local(local_batch), jobs["ok"], "--timeout", "30", "--poll", "0.2"])
    assert good.exit_code == 0, good.output
    bad = runner.invoke(app, ["wait", *_local(local_batch), jobs["ok"], jobs["mixed"], "--timeout", "30"])
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"error: tasks failed in: {jobs['mixed']}"
    hint = re.search(
        rf"{jobs['mixed']}: 1 task\(s\) failed, e\.g\. t-fail; read one with: (batchctl logs .*)$", bad.stdout, re.M
    )
    assert hint, bad.stdout
    # The hint works when pasted as printed: same account flags, then the log itself.
    words = shlex.split(hint.group(1))
    assert words[:4] == ["batchctl", "logs", jobs["mixed"], "t-fail"] and "--stderr" in words
    pasted = runner.invoke(app, words[1:])
    assert pasted.exit_code == 0, pasted.output


def test_logs_stdout_stderr_tail_and_unknown_task(local_batch, jobs):
    whole = runner.invoke(app, ["logs", *_local(local_batch), jobs["ok"], "t-ok"])
    assert whole.exit_code == 0, whole.output
    assert whole.stdout == "hello\nline2\n"
    tail = runner.invoke(app, ["logs", *_local(local_batch), jobs["ok"], "t-ok", "--tail", "1"])
    assert tail.stdout == "line2\n"
    err = runner.invoke(app, ["logs", *_local(local_batch), jobs["mixed"], "t-fail", "--stderr"])
    assert err.exit_code == 0 and err.stdout == "oops\n"
    missing = runner.invoke(app, ["logs", *_local(local_batch), jobs["ok"], "t-nope"])
    assert missing.exit_code == 3
    assert missing.stderr.strip() == f"error: task 't-nope' not found in job '{jobs['ok']}'"


def test_logs_follow_prints_everything_until_the_task_completes(local_batch, jobs):
    client = local_batch.batch_client()
    client.create_task(
        jobs["ok"],
        batch_models.BatchTaskCreateOptions(
            id="t-slow", command_line="/bin/sh -c 'echo one; sleep 1; echo two; sleep 1; echo three'"
        ),
    )
    result = runner.invoke(app, ["logs", *_local(local_batch), jobs["ok"], "t-slow", "--follow", "--poll", "0.2"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "one\ntwo\nthree\n"


def test_local_without_a_running_service_says_how_to_start_one(tmp_path):
    result = runner.invoke(app, ["status", "--local", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"error: no local Batch service is running with data dir {tmp_path}; start one with "
        "`batchctl local up --keep` (or `localbatch serve`)"
    )
