"""Where a downstream task finds an upstream task's outputs (``container: outputs``), run on the local service.

Batch keeps a container resource file's full blob name below ``filePath`` (ResourceFile.filePath: "any
directory structure already associated with the input data will be retained in full"), and the blob
names of outputs start with the job id, so the consumer sees ``<filePath>/<job id>/<blobPrefix>...``, or
``<job id>/<blobPrefix>...`` without a filePath: the same relative path ``batchctl download`` writes.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_cli_local_up import _repo, _up

_CHAIN = """\
id: chain
pool: POOL
tasks:
  list:
    - id: produce
      commandLine: /bin/sh -c 'mkdir -p out/deep && echo 1 > out/a.txt && echo 2 > out/deep/b.txt'
      outputFiles: [{pattern: "out/**/*.txt", destination: stage1}]
    - id: consume
      dependsOn: {ids: [produce]}
      resourceFiles:
        - {container: outputs, blobPrefix: stage1/, filePath: in}
        - {container: outputs, blobPrefix: stage1/}
      commandLine: /bin/sh -c 'find in "$AZ_BATCH_JOB_ID" -type f | sort; cat "in/$AZ_BATCH_JOB_ID/stage1/deep/b.txt"'
"""


def test_a_consuming_task_sees_outputs_under_file_path_then_job_id_then_the_blob_path(tmp_path, local_batch):
    root = _repo(tmp_path, {"chain.yaml": _CHAIN})
    result = _up(root, local_batch.data_dir, "--verbose")
    assert result.exit_code == 0, result.output
    job_id = re.search(r"(chain-[0-9a-f]+)", result.stdout).group(1)
    consume = re.search(r"ok   consume  exit 0  \S+  (\S+)/\{stdout,stderr\}\.txt", result.stdout)
    assert consume, result.stdout
    *found, content = (Path(consume.group(1)) / "stdout.txt").read_text().splitlines()
    assert sorted(found) == sorted(
        [
            f"in/{job_id}/stage1/a.txt",
            f"in/{job_id}/stage1/deep/b.txt",
            f"{job_id}/stage1/a.txt",
            f"{job_id}/stage1/deep/b.txt",
        ]
    )
    assert content == "2"
    # `local up` downloads with the same layout: the blob name below the destination folder.
    downloaded = local_batch.data_dir / "outputs"
    assert (downloaded / job_id / "stage1" / "deep" / "b.txt").read_text() == "2\n"
