"""Naming rules, pool replacement keys and content-addressed blob names."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from batchforge.assets import content_blob_name, expand_source, expand_sources, sha256_file
from batchforge.config import iso_duration, load_stack_file, pool_name
from batchforge.config.naming import global_account_name, resource_group_name
from batchforge.config.start_task_files import plan_start_task_files

REPO_ROOT = Path(__file__).resolve().parents[2]


@given(
    prefix=st.from_regex(r"[a-z][a-z0-9]{1,9}", fullmatch=True),
    stack=st.text(min_size=1, max_size=40),
    seed=st.uuids().map(str),
)
def test_global_account_names_are_valid_and_deterministic(prefix, stack, seed):
    name = global_account_name(prefix, stack, "st", seed)
    assert re.fullmatch(r"[a-z0-9]{3,24}", name)
    assert name == global_account_name(prefix, stack, "st", seed)
    assert name != global_account_name(prefix, stack, "ba", seed)


def test_account_names_differ_per_subscription():
    assert global_account_name("bforge", "dev", "st", "sub-a") != global_account_name("bforge", "dev", "st", "sub-b")


def test_resource_group_name_default_and_existing():
    assert resource_group_name(load_stack_file(REPO_ROOT / "Pulumi.dev.yaml"), "dev") == "bforge-dev-rg"
    assert resource_group_name(load_stack_file(REPO_ROOT / "Pulumi.prod.yaml"), "prod") == "research-batch-prod-rg"


def test_pool_name_changes_only_with_replacement_properties():
    pool = load_stack_file(REPO_ROOT / "Pulumi.prod.yaml").pools[0]
    name = pool_name(pool, "subnet-a")
    assert re.fullmatch(r"cpu-[0-9a-f]{8}", name)
    assert pool_name(pool.model_copy(update={"vm_size": "Standard_D16s_v5"}), "subnet-a") != name
    assert pool_name(pool.model_copy(update={"public_ips": True}), "subnet-a") != name
    assert pool_name(pool, "subnet-b") != name
    assert pool_name(pool.model_copy(update={"metadata": {"x": "y"}}), "subnet-a") == name
    assert pool_name(pool.model_copy(update={"display_name": "other"}), "subnet-a") != name


def test_iso_durations():
    from datetime import timedelta

    assert iso_duration(timedelta(minutes=15)) == "PT15M"
    assert iso_duration(timedelta(hours=1, minutes=30)) == "PT1H30M"
    assert iso_duration(timedelta(days=7)) == "P7D"
    assert iso_duration(timedelta(0)) == "PT0S"


def test_file_blob_name_embeds_its_content_hash(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("echo one\n")
    (asset,) = expand_source(tmp_path, "setup.sh", "start-tasks/cpu")
    assert asset.sha256 == sha256_file(script)
    assert asset.blob_name == f"start-tasks/cpu/{asset.sha256[:12]}/setup.sh"
    assert asset.node_path == "setup.sh"
    assert asset.to_upload().blob_name == asset.blob_name
    script.write_text("echo two\n")
    (changed,) = expand_source(tmp_path, "setup.sh", "start-tasks/cpu")
    assert changed.blob_name != asset.blob_name


def test_folder_expands_per_file_and_unchanged_files_keep_their_names(tmp_path):
    tools = tmp_path / "tools"
    (tools / "lib").mkdir(parents=True)
    (tools / "run.sh").write_text("run\n")
    (tools / "lib" / "helper.py").write_text("x = 1\n")
    (tools / "__pycache__").mkdir()
    (tools / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"\0")
    before = {a.node_path: a.blob_name for a in expand_source(tmp_path, "tools", "inputs")}
    assert set(before) == {"tools/run.sh", "tools/lib/helper.py"}
    (tools / "run.sh").write_text("run faster\n")
    after = {a.node_path: a.blob_name for a in expand_source(tmp_path, "tools", "inputs")}
    assert after["tools/lib/helper.py"] == before["tools/lib/helper.py"]
    assert after["tools/run.sh"] != before["tools/run.sh"]


def test_expand_sources_lists_each_blob_once(tmp_path):
    (tmp_path / "a.txt").write_text("same")
    assets = expand_sources(tmp_path, ["a.txt", "a.txt"], "p")
    assert len(assets) == 1
    assert content_blob_name("/p/q/", "ab" * 32, "x/y") == f"p/q/{'ab' * 6}/x/y"


def test_start_task_file_paths_follow_batch_semantics(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "a.sh").write_text("a")
    (tmp_path / "one.sh").write_text("one")
    pool = load_stack_file(REPO_ROOT / "Pulumi.dev.yaml").pools[0]
    task = pool.start_task.model_validate(
        {
            "commandLine": "true",
            "resourceFiles": [
                {"source": "scripts", "filePath": "bin/"},
                {"source": "one.sh", "filePath": "tools/first.sh", "fileMode": "0755"},
                {"source": "https://example.org/x/data.csv"},
            ],
        },
        context={"repo_root": tmp_path},
    )
    planned = plan_start_task_files(pool.model_copy(update={"start_task": task}), tmp_path)
    assert [(p.file_path, p.file_mode, p.http_url) for p in planned] == [
        ("bin/a.sh", None, None),
        ("tools/first.sh", "0755", None),
        ("data.csv", None, "https://example.org/x/data.csv"),
    ]
