"""batchforge's job manager task: adds a scheduled workload's planned tasks to the job it runs in.

Run on a node as ``python -m batchforge.submission.job_manager batchforge-tasks.json`` (the job specification
of every scheduled workload says so). The plan file, a resource file from the resources container, holds the
tasks as planned at deploy time for a placeholder job id; here they are pointed at this job
(``$AZ_BATCH_JOB_ID``: output paths and outputs-container prefixes start with the job id) and added with the
submission engine, chunked and exactly once: a retried or requeued manager adds only what is missing. Last, the
engine sets the planned onAllTasksComplete, so the job ends when its tasks have.

Authentication, as the node gives it: ``AZ_BATCH_AUTHENTICATION_TOKEN`` (Batch's token for this job's
operations, authenticationTokenSettings access=job), else, for the local Batch service only, Shared Key with
``AZ_BATCH_ACCOUNT_NAME`` and ``BATCHFORGE_LOCAL_BATCH_KEY``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from azure.batch import models as bm
from azure.core.credentials import AccessToken, AzureNamedKeyCredential, TokenCredential

from batchforge.submission.plan import PlannedJob

PLAN_FORMAT = 1
TOKEN_ENV = "AZ_BATCH_AUTHENTICATION_TOKEN"
LOCAL_KEY_ENV = "BATCHFORGE_LOCAL_BATCH_KEY"
CONTENT_HASH_METADATA_KEY = "batchforge-content-hash"


class _JobToken(TokenCredential):
    """The token Batch hands the task; it is valid for the task's lifetime and cannot be renewed here."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


def credential_from_environment(environ: Mapping[str, str]) -> TokenCredential | AzureNamedKeyCredential:
    token = environ.get(TOKEN_ENV)
    if token:
        return _JobToken(token)
    key, account = environ.get(LOCAL_KEY_ENV), environ.get("AZ_BATCH_ACCOUNT_NAME")
    if key and account:
        return AzureNamedKeyCredential(account, key)
    raise RuntimeError(
        f"no credential: {TOKEN_ENV} is not set (the job manager needs authenticationTokenSettings access=job)"
    )


def _retarget_files(files: list[dict[str, Any]] | None, old: str, new: str, outputs_url: str) -> None:
    for item in files or ():
        prefix = item.get("blobPrefix")
        if item.get("storageContainerUrl") == outputs_url and isinstance(prefix, str) and prefix.startswith(old):
            item["blobPrefix"] = new + prefix[len(old) :]


def retarget(task: dict[str, Any], planned_job_id: str, job_id: str, outputs_url: str) -> dict[str, Any]:
    """The task with every path below ``<planned job id>/`` in the outputs container moved below ``<job id>/``."""
    old, new = f"{planned_job_id}/", f"{job_id}/"
    copy = json.loads(json.dumps(task))
    for output in copy.get("outputFiles") or ():
        container = (output.get("destination") or {}).get("container") or {}
        path = container.get("path")
        if isinstance(path, str) and path.startswith(old):
            container["path"] = new + path[len(old) :]
    _retarget_files(copy.get("resourceFiles"), old, new, outputs_url)
    _retarget_files((copy.get("multiInstanceSettings") or {}).get("commonResourceFiles"), old, new, outputs_url)
    return copy


def planned_job_from(document: Mapping[str, Any], job_id: str, pool_id: str) -> PlannedJob:
    """The plan file as the engine's ``PlannedJob`` for this job (which the schedule already created)."""
    if document.get("format") != PLAN_FORMAT:
        raise RuntimeError(f"unknown plan format {document.get('format')!r}; expected {PLAN_FORMAT}")
    planned_id, outputs = str(document["plannedJobId"]), str(document["outputsContainerUrl"])
    mode = document.get("allTasksCompleteMode")
    job = bm.BatchJobCreateOptions(
        id=job_id,
        pool_info=bm.BatchPoolInfo(pool_id=pool_id),
        metadata=[bm.BatchMetadataItem(name=CONTENT_HASH_METADATA_KEY, value=str(document["contentHash"]))],
    )
    return PlannedJob(
        workload_name=str(document["workload"]),
        content_hash=str(document["contentHash"]),
        job=job,
        tasks=[bm.BatchTaskCreateOptions(retarget(task, planned_id, job_id, outputs)) for task in document["tasks"]],
        all_tasks_complete_mode=bm.BatchAllTasksCompleteMode(mode) if mode else None,
        created_elsewhere=True,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    from azure.batch import BatchClient

    from batchforge.submission.engine import submit

    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    if len(args) != 1:
        print("usage: python -m batchforge.submission.job_manager <plan file>", file=sys.stderr)
        return 2
    document = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    planned = planned_job_from(document, env["AZ_BATCH_JOB_ID"], env.get("AZ_BATCH_POOL_ID", ""))
    client = BatchClient(endpoint=env["AZ_BATCH_ACCOUNT_URL"], credential=credential_from_environment(env))
    result = submit(planned, client)
    print(result.summary())
    return 0 if result.complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
