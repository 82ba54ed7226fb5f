"""Restarting the service keeps every pool, job and task; running tasks come back as after a node reboot."""

from __future__ import annotations

from collections.abc import Callable

from azure.batch import models as m

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes, wait_for_tasks_completed


def test_restart_keeps_state_and_requeues_running_tasks(local_batch_factory: Callable[[], LocalBatch]) -> None:
    batch = local_batch_factory()
    key_before = batch.account_key
    client = batch.batch_client()
    client.create_pool(
        m.BatchPoolCreateOptions(id="keep", vm_size="standard_d2s_v3", target_dedicated_nodes=1, task_slots_per_node=2)
    )
    wait_for_idle_nodes(client, "keep", 1)
    client.create_job(m.BatchJobCreateOptions(id="kept-job", pool_info=m.BatchPoolInfo(pool_id="keep")))
    client.create_task("kept-job", m.BatchTaskCreateOptions(id="quick", command_line="/bin/sh -c 'echo done'"))
    wait_for(lambda: client.get_task("kept-job", "quick").state == "completed", what="quick completed")
    client.create_task(
        "kept-job",
        m.BatchTaskCreateOptions(
            id="interrupted",
            command_line="/bin/sh -c 'if [ -e $AZ_BATCH_NODE_SHARED_DIR/second ]; then exit 0; fi; "
            "touch $AZ_BATCH_NODE_SHARED_DIR/second; sleep 60'",
        ),
    )
    wait_for(lambda: client.get_task("kept-job", "interrupted").state == "running", what="running")
    blobs = batch.blob_service_client()
    blobs.create_container("kept")
    blobs.get_blob_client("kept", "a.txt").upload_blob(b"still here")

    batch.restart()

    assert batch.account_key == key_before
    client = batch.batch_client()
    assert client.get_pool("keep").target_dedicated_nodes == 1
    quick = client.get_task("kept-job", "quick")
    assert quick.state == "completed" and quick.execution_info.exit_code == 0
    wait_for_tasks_completed(client, "kept-job", timeout=30)
    interrupted = client.get_task("kept-job", "interrupted")
    assert interrupted.execution_info.requeue_count == 1
    assert interrupted.execution_info.retry_count == 0
    assert interrupted.execution_info.result == "success"
    assert batch.blob_service_client().get_blob_client("kept", "a.txt").download_blob().readall() == b"still here"
