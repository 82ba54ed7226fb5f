"""The secret detector on a corpus of real-looking credentials and near-misses, and where workloads are refused.

Every credential below is fabricated (random bytes of the right shape, or the vendors' documented examples);
the near-misses are strings a workload legitimately holds that share a prefix, a length or a keyword with one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from batchforge.cli.offline_check import check
from batchforge.core import InvalidInput
from batchforge.core.secrets import find_secret, find_secret_in_variable
from batchforge.promotion.promote import check_promotion

_RANDOM = random.Random(15)


def _bytes(count: int) -> bytes:
    return bytes(_RANDOM.randrange(256) for _ in range(count))


def _alnum(count: int) -> str:
    return "".join(_RANDOM.choice(string.ascii_letters + string.digits) for _ in range(count))


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


ACCOUNT_KEY = base64.b64encode(_bytes(64)).decode()
SIGNATURE = quote(base64.b64encode(_bytes(32)).decode(), safe="")
SAS = f"sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig={SIGNATURE}"
JWT = ".".join(
    [_b64url({"alg": "RS256", "typ": "JWT"}), _b64url({"aud": "https://storage.azure.com", "oid": "x"}), _alnum(43)]
)

SECRETS: dict[str, tuple[str, str]] = {
    "sas url": (f"https://bforgedevst.blob.core.windows.net/resources/input.csv?{SAS}", "sas"),
    "sas token alone": (SAS, "sas"),
    "sas in a curl command": (f"curl -o in.csv 'https://a.blob.core.windows.net/c/in.csv?{SAS}'", "sas"),
    "account key connection string": (
        f"DefaultEndpointsProtocol=https;AccountName=bforgedevst;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net",
        "connection-string",
    ),
    "service bus connection string": (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;"
        f"SharedAccessKey={base64.b64encode(_bytes(32)).decode()}",
        "connection-string",
    ),
    "bare account key": (ACCOUNT_KEY, "account-key"),
    "account key as an option": (f"azcopy copy in out --key {ACCOUNT_KEY}", "account-key"),
    "jwt": (JWT, "jwt"),
    "jwt in a header": (f"curl -H 'x-ms-token: {JWT}' https://example.org", "jwt"),
    "github classic token": (f"ghp_{_alnum(36)}", "github-token"),
    "github actions token": (f"git clone https://x:ghs_{_alnum(36)}@github.com/o/r", "url-password"),
    "github fine-grained token": (f"github_pat_{_alnum(22)}_{_alnum(59)}", "github-token"),
    "aws access key id": ("AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
    "aws session key id": (f"ASIA{_alnum(16).upper()}", "aws-access-key"),
    "aws secret key": ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws-secret-key"),
    "slack bot token": (f"xoxb-{_RANDOM.randrange(10**11)}-{_RANDOM.randrange(10**12)}-{_alnum(24)}", "slack-token"),
    "entra client secret": (f"Zx18Q~{_alnum(34)}", "client-secret"),
    "private key": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", "private-key"),
    "rsa private key": ("-----BEGIN RSA PRIVATE KEY-----", "private-key"),
    "bearer token": (f"curl -H 'Authorization: Bearer {_alnum(40)}' https://api.example.org", "bearer-token"),
    "password in a url": ("postgresql://batch:Tr0ub4dor3@db.internal:5432/results", "url-password"),
    "password option": ("psql --dbname=results password=Tr0ub4dor&3", "password"),
    "sql connection string": ("Server=tcp:db.database.windows.net;User ID=batch;Password=S3cr3t!pass;", "password"),
}

NEAR_MISSES: dict[str, str] = {
    "plain blob url": "https://bforgedevst.blob.core.windows.net/resources/workloads/hello/abc123/input.csv",
    "query with sig-like names": "https://example.org/search?signal=strong&sigma=2&design=1",
    "empty sig": "https://a.blob.core.windows.net/c/b?sig=",
    "connection string without a key": (
        "DefaultEndpointsProtocol=https;AccountName=bforge;EndpointSuffix=core.windows.net"
    ),
    "azurite development storage": "UseDevelopmentStorage=true",
    "sha256 hex digest": hashlib.sha256(b"input").hexdigest(),
    "git commit": hashlib.sha1(b"commit").hexdigest(),
    "short base64": base64.b64encode(b"hello world").decode(),
    "base64 of 32 bytes": base64.b64encode(_bytes(32)).decode(),
    "jwt header alone": _b64url({"alg": "RS256", "typ": "JWT"}),
    "dotted version": "1.2.3-beta.4+build.5",
    "ghp without a token": "ghp_example",
    "github url": "https://github.com/Azure/azure-rest-api-specs/pull/44527",
    "lower-case akia": "akiaiosfodnn7example",
    "akia too short": "AKIA1234",
    "public key": "-----BEGIN PUBLIC KEY-----",
    "certificate": "-----BEGIN CERTIFICATE-----",
    "bearer from a variable": 'curl -H "Authorization: Bearer $TOKEN" https://api.example.org',
    "bearer from a braced variable": "curl -H 'Authorization: Bearer ${ACCESS_TOKEN}' https://api.example.org",
    "url with a port": "https://db.internal:8443/health",
    "ssh remote": "git@github.com:org/repo.git",
    "ssh url with a port": "ssh://git@host.example.org:22/repo.git",
    "url with a user only": "https://user@host.example.org/path",
    "mongodb without credentials": "mongodb://db.internal:27017/app",
    "password from a variable": "psql password=$DB_PASSWORD",
    "password from a placeholder": "login --password={password}",
    "password file option": "mysql --password-file=/run/secrets/db",
    "password prompt": "password: ********",
    "uuid": "0b9ae6a4-3e2c-4d5a-9c1f-2f7a8a6b0c11",
    "training command": "python train.py --lr 0.001 --seed 42 --epochs 10",
    "ffmpeg command": "ffmpeg -i in.mp4 -b:v 2M -c:a aac out.mp4",
    "shell with batch variables": "/bin/sh -c 'echo $AZ_BATCH_TASK_ID > $AZ_BATCH_TASK_WORKING_DIR/id.txt'",
    "container image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20230103.v1",
    "token audience": "https://storage.azure.com/.default",
    "key vault reference": "https://kv-research.vault.azure.net/secrets/db-password",
    "aws secret from a variable": "aws_secret_access_key=$AWS_SECRET_ACCESS_KEY",
    "xoxb alone": "xoxb",
    "a tilde path": "~/data/run-2024~1/out.csv",
    "workflow expression": "${{ secrets.STORAGE_KEY }}",
}

SECRET_VARIABLES: dict[str, str] = {
    "API_TOKEN": "9f8e7d6c5b4a3210fedcba98",
    "DB_PASSWORD": "hunter2hunter2hunter2x9",
    "CLIENT_SECRET": f"{_alnum(30)}7",
    "STORAGE_ACCESS_KEY": f"{_alnum(20)}1",
}

SAFE_VARIABLES: dict[str, str] = {
    "SECRET_NAME": "storage-account-key",
    "TOKEN_AUDIENCE": "https://storage.azure.com/",
    "PASSWORD_FILE": "/mnt/secrets/db-password",
    "KEYVAULT_SECRET_URL": "https://kv.vault.azure.net/secrets/db",
    "API_KEY_ID": "0b9ae6a4-3e2c-4d5a-9c1f-2f7a8a6b0c11",
    "TOKEN_CACHE": "off",
    "GREETING": "hello from batchforge",
    "SEED": "1234567890123456789",
    "ACCESS_TOKEN": "$ACCESS_TOKEN_FROM_VAULT",
}


@pytest.mark.parametrize(("text", "kind"), SECRETS.values(), ids=SECRETS.keys())
def test_every_secret_is_found(text, kind):
    finding = find_secret(text)
    assert finding is not None, text
    assert finding.kind.name == kind
    # The report shows a few characters, never the credential.
    assert len(finding.excerpt) <= 11


@pytest.mark.parametrize("text", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_no_near_miss_is_flagged(text):
    assert find_secret(text) is None


@pytest.mark.parametrize(("name", "value"), SECRET_VARIABLES.items())
def test_credential_variables_with_literal_values_are_found(name, value):
    assert find_secret_in_variable(name, value) is not None


@pytest.mark.parametrize(("name", "value"), SAFE_VARIABLES.items())
def test_references_and_ordinary_variables_are_not_flagged(name, value):
    assert find_secret_in_variable(name, value) is None


# ---- validate and promote refuse them, naming the file, the key path and the alternative ----------------------

_STACK = """\
config:
  batchforge:location: westeurope
  batchforge:namePrefix: tst
  batchforge:tags: {environment: test, costCenter: research, managedBy: pulumi}
  batchforge:batchAccount: {publicNetworkAccess: Enabled}
  batchforge:pools:
    - id: cpu
      vmSize: Standard_D2s_v5
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale: {dedicated: 1}
  batchforge:workloads: [leaky.yaml]
"""


def _repo(tmp_path: Path, workload: str) -> Path:
    (tmp_path / "Pulumi.test.yaml").write_text(_STACK)
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "leaky.yaml").write_text(workload)
    return tmp_path


_LEAKY = yaml.safe_dump(
    {
        "id": "leaky",
        "pool": "cpu",
        "environment": {
            "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={ACCOUNT_KEY}"
        },
        "tasks": {
            "list": [
                {
                    "id": "fetch",
                    "commandLine": f"/bin/sh -c 'curl -H \"Authorization: Bearer {_alnum(40)}\" https://api.example.org'",
                    "resourceFiles": [{"source": f"https://a.blob.core.windows.net/c/in.csv?{SAS}"}],
                }
            ]
        },
    }
)


def test_validate_refuses_secrets_with_file_key_path_and_alternative(tmp_path):
    report = check(_repo(tmp_path, _LEAKY))
    lines = [str(problem) for problem in report.problems]
    assert [line.split(": holds ", 1)[0] for line in lines] == [
        "workloads/leaky.yaml: environment.AZURE_STORAGE_CONNECTION_STRING",
        "workloads/leaky.yaml: tasks.list[0].commandLine",
        "workloads/leaky.yaml: tasks.list[0].resourceFiles[0].source",
    ]
    assert "an account key or SAS in a connection string" in lines[0] and "managed identity" in lines[0]
    assert "a bearer token" in lines[1] and "Key Vault" in lines[1]
    assert "a SAS token (sig=)" in lines[2] and "identityReference" in lines[2]
    assert all(ACCOUNT_KEY not in line and SIGNATURE not in line for line in lines)


def test_promote_refuses_them_too(tmp_path):
    report = check_promotion("test", _repo(tmp_path, _LEAKY))
    (workloads,) = [result for result in report.checks if result.name == "workloads"]
    assert not workloads.passed
    assert any(
        detail.startswith("workloads/leaky.yaml: tasks.list[0].resourceFiles[0].source: holds a SAS")
        for detail in workloads.details
    )


def test_a_secret_assembled_by_a_sweep_is_found_in_the_rendered_tasks(tmp_path):
    half = len(SIGNATURE) // 2
    workload = f"""\
id: assembled
pool: cpu
tasks:
  sweep:
    parameters:
      - name: part
        values: ["{SIGNATURE[:half]}"]
    task:
      id: get-{{index}}
      commandLine: "curl https://a.blob.core.windows.net/c/b?sv=2022-11-02&sig={{part}}{SIGNATURE[half:]}"
"""
    report = check(_repo(tmp_path, workload))
    assert [str(p).split(": holds ", 1)[0] for p in report.problems] == [
        "workloads/leaky.yaml: tasks[id=get-0].commandLine"
    ]


def test_the_committed_workloads_hold_no_secrets():
    repo = Path(__file__).resolve().parents[2]
    report = check(repo)
    assert report.problems == []


def test_plan_job_raises_for_a_secret(tmp_path):
    from batchforge.workload.stack_inputs import load_stack_inputs, placeholder_target

    inputs = load_stack_inputs(_repo(tmp_path, _LEAKY), "test")
    with pytest.raises(InvalidInput):
        inputs.plan(placeholder_target(inputs.config))
