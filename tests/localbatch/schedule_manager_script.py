"""A job manager task for the job-schedule tests: adds TASK_COUNT tasks to its own job through the Batch API
(Task - Add Collection, Shared Key signed by the documented algorithm, standard library only so that it
starts fast) and exits. Each task appends "<job id> <task id>" to RUN_LOG, so a test can count the runs.

Run by the service as `python schedule_manager_script.py`; everything it needs is in its environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import sys
from email.utils import formatdate
from urllib.parse import quote, urlsplit

API_VERSION = "2025-06-01"


def signed_post(path: str, body: dict[str, object]) -> tuple[int, bytes]:
    endpoint = urlsplit(os.environ["AZ_BATCH_ACCOUNT_URL"])
    account = os.environ["LOCALBATCH_ACCOUNT_NAME"]
    key = base64.b64decode(os.environ["LOCALBATCH_ACCOUNT_KEY"])
    data = json.dumps(body).encode()
    content_type = "application/json; odata=minimalmetadata"
    date = formatdate(usegmt=True)
    lines = ["POST", "", "", str(len(data)), "", content_type, "", "", "", "", "", ""]
    to_sign = "\n".join(lines) + f"\nocp-date:{date}\n/{account}{path}\napi-version:{API_VERSION}"
    signature = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
    headers = {
        "ocp-date": date,
        "Content-Type": content_type,
        "Content-Length": str(len(data)),
        "Authorization": f"SharedKey {account}:{signature}",
    }
    connection = http.client.HTTPConnection(endpoint.netloc, timeout=30)
    try:
        connection.request("POST", f"{path}?api-version={API_VERSION}", body=data, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def main() -> int:
    job_id = os.environ["AZ_BATCH_JOB_ID"]
    log = os.environ["RUN_LOG"]
    count = int(os.environ["TASK_COUNT"])
    command = f"/bin/sh -c 'echo \"$AZ_BATCH_JOB_ID $AZ_BATCH_TASK_ID\" >> {log}'"
    tasks = [{"id": f"work-{n}", "commandLine": command} for n in range(count)]
    status, text = signed_post(f"/jobs/{quote(job_id, safe='')}/addtaskcollection", {"value": tasks})
    if status != 200:
        print(f"adding tasks failed: {status} {text!r}", file=sys.stderr)
        return 1
    results = json.loads(text)["value"]
    failed = [r for r in results if r.get("status") != "success"]
    if failed:
        print(f"tasks refused: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
