"""Local nodes in a sandbox (bubblewrap): a task cannot read another task's folder, write outside its node's
folder, or see another node's processes; a start task that installs software fails with a clear message
and leaves the host unchanged; admin and non-admin tasks are different users."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch.execution.confinement import HINT
from batchforge.localbatch.sandbox import node_sandbox
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes, wait_for_tasks_completed

REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bwrap") is None,
    reason="the node sandbox needs Linux and bubblewrap (scripts/setup installs it where it can)",
)

TASK_USER = m.UserIdentity(auto_user=m.AutoUserSpecification(scope="task", elevation_level="nonadmin"))
ADMIN = m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin"))


def _pool(client: BatchClient, pool_id: str, nodes: int = 1, start_task: m.BatchStartTask | None = None) -> None:
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=nodes,
            task_slots_per_node=2,
            start_task=start_task,
        )
    )


def _run(
    client: BatchClient, job_id: str, pool_id: str, tasks: list[m.BatchTaskCreateOptions], *, chained: bool = True
) -> dict[str, str]:
    """Runs the tasks (chained: one after another, each depending on the one before); returns their results."""
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), uses_task_dependencies=True)
    )
    for before, task in zip([None, *tasks], tasks, strict=False):
        if chained and before is not None:
            task.depends_on = m.BatchTaskDependencies(task_ids=[before.id])
        client.create_task(job_id, task)
    wait_for_tasks_completed(client, job_id, timeout=60)
    return {task.id: task.execution_info.result for task in client.list_tasks(job_id)}


def _stdout(batch: LocalBatch, job_id: str, task_id: str) -> str:
    (path,) = batch.nodes_dir.glob(f"*/*/workitems/{job_id}/job-1/{task_id}/stdout.txt")
    return path.read_text()


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> LocalBatch:
    assert node_sandbox() is not None
    with LocalBatch.start(tmp_path_factory.mktemp("sandboxed")) as batch:
        yield batch  # type: ignore[misc]


def test_a_task_cannot_read_another_tasks_folder_on_its_node(sandboxed: LocalBatch) -> None:
    client = sandboxed.batch_client()
    pool_id, job_id = f"sbx-{uuid.uuid4().hex[:6]}", "read-other"
    _pool(client, pool_id)
    wait_for_idle_nodes(client, pool_id, 1)
    writer = m.BatchTaskCreateOptions(
        id="writer", command_line="/bin/sh -c 'echo the-secret > secret.txt'", user_identity=TASK_USER
    )
    reader = m.BatchTaskCreateOptions(
        id="reader",
        command_line="/bin/sh -c 'cat $AZ_BATCH_TASK_DIR/../writer/wd/secret.txt'",
        user_identity=TASK_USER,
    )
    results = _run(client, job_id, pool_id, [writer, reader])
    assert results == {"writer": "success", "reader": "failure"}
    assert "the-secret" not in _stdout(sandboxed, job_id, "reader")
    (secret,) = sandboxed.nodes_dir.glob(f"*/*/workitems/{job_id}/job-1/writer/wd/secret.txt")
    assert secret.read_text() == "the-secret\n"  # it was there to read


def test_a_task_cannot_write_outside_its_node_folder(sandboxed: LocalBatch) -> None:
    client = sandboxed.batch_client()
    pool_id, job_id = f"sbx-{uuid.uuid4().hex[:6]}", "write-outside"
    _pool(client, pool_id)
    wait_for_idle_nodes(client, pool_id, 1)
    marker = f"localbatch-sandbox-{uuid.uuid4().hex}"
    targets = {"usr-local": Path("/usr/local") / marker, "repository": REPOSITORY / marker}
    tasks = [
        m.BatchTaskCreateOptions(id=name, command_line=f"/bin/sh -c 'echo x > {target}'", user_identity=ADMIN)
        for name, target in targets.items()
    ] + [
        m.BatchTaskCreateOptions(
            id="nonadmin-repository", command_line=f"/bin/sh -c 'echo x > {targets['repository']}'"
        ),
        m.BatchTaskCreateOptions(id="own-folders", command_line="/bin/sh -c 'echo x > $AZ_BATCH_NODE_SHARED_DIR/ok'"),
    ]
    results = _run(client, job_id, pool_id, tasks, chained=False)
    assert results == {
        "usr-local": "failure",
        "repository": "failure",
        "nonadmin-repository": "failure",
        "own-folders": "success",
    }
    for target in targets.values():
        assert not target.exists(), f"{target} was written on the host"


def test_a_start_task_installing_software_fails_and_says_why(sandboxed: LocalBatch) -> None:
    client = sandboxed.batch_client()
    pool_id = f"sbx-{uuid.uuid4().hex[:6]}"
    installed = Path("/usr/local/lib") / f"localbatch-sandbox-{uuid.uuid4().hex}"
    start = m.BatchStartTask(
        command_line=f"/bin/sh -c 'mkdir -p {installed} && touch {installed}/tool'",
        user_identity=ADMIN,
        wait_for_success=True,
    )
    _pool(client, pool_id, start_task=start)
    nodes = wait_for_nodes_state(client, pool_id, "starttaskfailed")
    assert nodes
    assert not installed.exists()
    (stderr,) = sandboxed.nodes_dir.glob(f"{pool_id}/*/startup/stderr.txt")
    text = stderr.read_text()
    assert "Read-only file system" in text and HINT.strip() in text


def wait_for_nodes_state(client: BatchClient, pool_id: str, state: str) -> list[m.BatchNode]:
    from batchforge.localbatch.testing import wait_for

    def reached() -> list[m.BatchNode] | None:
        nodes = list(client.list_nodes(pool_id))
        return nodes if nodes and all(node.state == state for node in nodes) else None

    result: list[m.BatchNode] = wait_for(reached, timeout=60, what=f"nodes {state}")
    return result


def test_admin_and_non_admin_tasks_are_different_users_and_nodes_see_only_their_processes(
    sandboxed: LocalBatch,
) -> None:
    client = sandboxed.batch_client()
    pool_id, job_id = f"sbx-{uuid.uuid4().hex[:6]}", "users"
    _pool(client, pool_id, nodes=2)
    wait_for_idle_nodes(client, pool_id, 2)
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    # Long tasks whose command line names their node, and probes that list every process they can see.
    for index in range(2):
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id=f"sleeper{index}",
                command_line="""/bin/sh -c 'exec /bin/sh -c "sleep 4" marker-$AZ_BATCH_NODE_ID'""",
            ),
        )
    probes = {
        "admin": ADMIN,
        "pool-nonadmin": m.UserIdentity(auto_user=m.AutoUserSpecification(scope="pool", elevation_level="nonadmin")),
        "task-nonadmin": TASK_USER,
    }
    listing = "id -u; echo $AZ_BATCH_NODE_ID; for p in /proc/[0-9]*; do echo $p $(xargs -0 < $p/cmdline); done"
    for name, identity in probes.items():
        client.create_task(
            job_id, m.BatchTaskCreateOptions(id=name, command_line=f"/bin/sh -c '{listing}'", user_identity=identity)
        )
    wait_for_tasks_completed(client, job_id, timeout=60)
    uids: dict[str, int] = {}
    for name in probes:
        uid, node_id, *processes = _stdout(sandboxed, job_id, name).splitlines()
        uids[name] = int(uid)
        # Its node is a process namespace of its own, started by the sandbox, with no other node's processes.
        assert any(line.startswith("/proc/1 ") and "bwrap" in line for line in processes), processes
        markers = {word for line in processes for word in line.split() if word.startswith("marker-")}
        assert markers <= {f"marker-{node_id}"}, (name, node_id, markers)
    assert uids["admin"] == 0 and len(set(uids.values())) == 3, uids
