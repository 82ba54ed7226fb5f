"""A service whose data dir lives inside a folder the sandbox re-binds (a checkout under /tmp or HOME, whose
`.localbatch` is the data dir): the data dir stays hidden and the node folder reachable, so a start task and
tasks run as non-admin and admin users (the README's first command from a clone under /tmp)."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import models as m

from batchforge.localbatch.sandbox import node_sandbox
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes, wait_for_tasks_completed

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bwrap") is None,
    reason="the node sandbox needs Linux and bubblewrap (scripts/setup installs it where it can)",
)

NON_ADMIN_TASK = m.UserIdentity(auto_user=m.AutoUserSpecification(scope="task", elevation_level="nonadmin"))
NON_ADMIN_POOL = m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="nonadmin"))
ADMIN = m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin"))


@pytest.fixture(scope="module")
def in_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBatch]:
    # tmp_path is under /tmp, which the sandbox replaces; a folder on the service's PATH is re-bound
    # read-only, exactly as a checkout there is (the package lives in it).
    assert node_sandbox() is not None
    checkout = tmp_path_factory.mktemp("checkout")
    checkout.chmod(0o755)  # as `git clone` makes it (pytest makes its folders 0700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{checkout}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin")
        with LocalBatch.start(checkout / ".localbatch") as batch:
            yield batch


def test_start_task_and_tasks_run_as_each_user_when_the_data_dir_is_inside_a_re_bound_folder(
    in_checkout: LocalBatch,
) -> None:
    client = in_checkout.batch_client()
    pool_id, job_id = f"co-{uuid.uuid4().hex[:6]}", "checkout"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            start_task=m.BatchStartTask(
                command_line="/bin/sh -c 'id -u && echo tool > $AZ_BATCH_NODE_SHARED_DIR/tool'",
                user_identity=NON_ADMIN_POOL,
                wait_for_success=True,
            ),
        )
    )
    wait_for_idle_nodes(client, pool_id, 1)
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    # Each reads what the start task left, writes in its own folder, and looks for the service's key file.
    keys = in_checkout.data_dir / "localbatch.json"
    assert keys.exists()
    probe = f"/bin/sh -c 'id -u; cat $AZ_BATCH_NODE_SHARED_DIR/tool; echo out > out.txt; test ! -e {keys}'"
    identities = {"nonadmin-task": NON_ADMIN_TASK, "nonadmin-pool": NON_ADMIN_POOL, "admin": ADMIN}
    for name, identity in identities.items():
        client.create_task(job_id, m.BatchTaskCreateOptions(id=name, command_line=probe, user_identity=identity))
    wait_for_tasks_completed(client, job_id, timeout=60)
    results = {task.id: task.execution_info.result for task in client.list_tasks(job_id)}
    assert results == dict.fromkeys(identities, "success"), [
        path.read_text() for path in in_checkout.nodes_dir.glob(f"{pool_id}/*/**/stderr.txt")
    ]
    uids = set()
    for name in identities:
        (stdout,) = in_checkout.nodes_dir.glob(f"{pool_id}/*/workitems/{job_id}/job-1/{name}/stdout.txt")
        uid, tool = stdout.read_text().splitlines()
        assert tool == "tool"
        uids.add(int(uid))
    if os.geteuid() == 0:  # a service that is not root runs every task as its own user
        assert 0 in uids and len(uids) == 3, uids
