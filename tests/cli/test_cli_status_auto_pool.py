"""`batchctl status` on a job that runs on an auto pool: the pool is named, although poolInfo has no id."""

from __future__ import annotations

import json
import re
import uuid

from azure.batch import models as m
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.localbatch.testing import LocalBatch, wait_for

runner = CliRunner()


def test_status_names_the_auto_pool_a_job_runs_on(local_batch: LocalBatch):
    client = local_batch.batch_client()
    job_id = f"auto-{uuid.uuid4().hex[:8]}"
    client.create_job(
        m.BatchJobCreateOptions(
            id=job_id,
            pool_info=m.BatchPoolInfo(
                auto_pool_specification=m.BatchAutoPoolSpecification(
                    auto_pool_id_prefix="cli",
                    pool_lifetime_option=m.BatchPoolLifetimeOption.JOB,
                    keep_alive=False,
                    pool=m.BatchPoolSpecification(
                        vm_size="standard_d2s_v3",
                        target_dedicated_nodes=0,
                        virtual_machine_configuration=m.VirtualMachineConfiguration(
                            image_reference=m.BatchVmImageReference(
                                publisher="canonical", offer="ubuntu-24_04-lts", sku="server"
                            ),
                            node_agent_sku_id="batch.node.ubuntu 24.04",
                        ),
                    ),
                )
            ),
        )
    )
    pool_id = wait_for(lambda: client.get_job(job_id).execution_info.pool_id, what="the auto pool's id")
    result = runner.invoke(app, ["status", "--local", "--data-dir", str(local_batch.data_dir), "--json", job_id])
    assert result.exit_code == 0, result.output
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["pool_id"] == pool_id and re.match(r"cli_", pool_id)
    client.begin_delete_job(job_id).result()
