"""A task that no node of the pool can hold stays active (as on Batch) without holding up the tasks behind it."""

from __future__ import annotations

import uuid

from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes


def test_tasks_that_fit_no_node_are_skipped_not_waited_on(local_batch: LocalBatch) -> None:
    client: BatchClient = local_batch.batch_client()
    pool_id, job_id = f"unfit-{uuid.uuid4().hex[:8]}", f"unfit-job-{uuid.uuid4().hex[:8]}"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            task_slots_per_node=2,
            enable_inter_node_communication=True,
        )
    )
    wait_for_idle_nodes(client, pool_id, 2)
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    # Added first, so each is at the head of the ready queue when the small ones arrive.
    client.create_task(job_id, m.BatchTaskCreateOptions(id="three-slots", command_line="true", required_slots=3))
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="three-instances",
            command_line="true",
            multi_instance_settings=m.MultiInstanceSettings(number_of_instances=3, coordination_command_line="true"),
        ),
    )
    for index in range(4):
        client.create_task(job_id, m.BatchTaskCreateOptions(id=f"small-{index}", command_line="true"))

    wait_for(
        lambda: client.get_job_task_counts(job_id).task_counts.completed == 4,
        timeout=30,
        what="the tasks that fit",
    )
    assert client.get_task(job_id, "three-slots").state == "active"
    assert client.get_task(job_id, "three-instances").state == "active"

    # They were skipped, not dropped: once the pool can hold the multi-instance task, it runs.
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=3), polling_interval=0.1).result()
    wait_for(
        lambda: client.get_task(job_id, "three-instances").state == "completed",
        timeout=30,
        what="the multi-instance task on a pool grown to 3 nodes",
    )
    assert client.get_task(job_id, "three-slots").state == "active"
    client.begin_delete_pool(pool_id, polling_interval=0.1)
