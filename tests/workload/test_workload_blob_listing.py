"""The default blob lister of the per-file factory, against Azurite (through the local Batch service fixture)."""

from __future__ import annotations

import uuid
from pathlib import Path

from batchforge.workload import load_workload, plan_job


def test_per_file_blob_prefix_lists_the_resources_container_with_the_targets_storage_key(local_batch, tmp_path: Path):
    target = local_batch.target({"cpu": "pool-cpu"})
    prefix = f"wl-{uuid.uuid4().hex[:8]}/raw/"
    container = local_batch.blob_service_client().get_container_client(target.resources_container_url.rsplit("/", 1)[1])
    for name in ("b.txt", "a.txt", "deeper/c.txt", "skip.bin"):
        container.upload_blob(prefix + name, b"data", overwrite=True)
    (tmp_path / "workloads").mkdir()
    path = tmp_path / "workloads" / "blobs.yaml"
    path.write_text(
        "id: blobs\npool: cpu\ntasks:\n  perFile:\n"
        f"    source: {{blobPrefix: {prefix}, pattern: '*.txt'}}\n"
        "    task: {id: 'f{index}', commandLine: 'cat {filePath}'}\n"
    )
    planned = plan_job(load_workload(path), target, repo_root=tmp_path)
    assert [(t.id, t.command_line) for t in planned.tasks] == [
        ("f0", "cat a.txt"),
        ("f1", "cat b.txt"),
        ("f2", "cat deeper/c.txt"),
    ]
    assert planned.tasks[2].resource_files[-1].http_url == f"{target.resources_container_url}/{prefix}deeper/c.txt"
