"""A multi-instance task's primary runs its command line only once every instance's coordination
command has returned, subtasks included (as on Batch)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch.sandbox import ALLOW_HOST_CHANGES_VARIABLE
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes, wait_for_tasks_completed


def test_primary_waits_for_the_other_instances_coordination(
    local_batch_factory: Callable[[], LocalBatch], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The instances meet in a host folder, which sandboxed nodes cannot write: the order is under test here,
    # so these nodes run on the host.
    monkeypatch.setenv(ALLOW_HOST_CHANGES_VARIABLE, "1")
    client: BatchClient = local_batch_factory().batch_client()
    pool_id, job_id = f"mpi-{uuid.uuid4().hex[:8]}", f"mpi-job-{uuid.uuid4().hex[:8]}"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=2, enable_inter_node_communication=True
        )
    )
    wait_for_idle_nodes(client, pool_id, 2)
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    marks = tmp_path / "marks"
    marks.mkdir()
    # The subtask's coordination takes a second; the primary's command checks that it has returned.
    coordination = (
        "/bin/sh -c 'if [ \"$AZ_BATCH_IS_CURRENT_NODE_MASTER\" = false ]; then sleep 1; touch $MARKS/subtask; fi'"
    )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="mpi",
            command_line="/bin/sh -c 'test -e $MARKS/subtask && echo coordinated'",
            environment_settings=[m.EnvironmentSetting(name="MARKS", value=str(marks))],
            multi_instance_settings=m.MultiInstanceSettings(
                number_of_instances=2, coordination_command_line=coordination
            ),
        ),
    )
    wait_for_tasks_completed(client, job_id, timeout=30)
    task = client.get_task(job_id, "mpi")
    assert task.execution_info.exit_code == 0, "the primary ran before the subtask's coordination returned"
    assert "coordinated" in b"".join(client.download_task_file(job_id, "mpi", "stdout.txt")).decode()
    subtasks = list(client.list_subtasks(job_id, "mpi"))
    assert [s.exit_code for s in subtasks] == [0]
    client.begin_delete_pool(pool_id, polling_interval=0.1)
