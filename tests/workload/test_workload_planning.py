"""plan_job: the azure-batch models a workload becomes, uploads, identities, factories."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from azure.batch import models as bm
from conftest import IDENTITY, OUTPUTS, RESOURCES

from batchforge.core import InvalidInput
from batchforge.submission.chunking import wire_json
from batchforge.submission.sdk_adapter import model_from_wire
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job


def _wire(model: object) -> str:
    """The request body the chunker measures, with keys sorted so two models compare by content."""
    return json.dumps(json.loads(wire_json(model)), sort_keys=True)


FULL = """
id: full
pool: gpu
displayName: everything at once
# Task logs' output file is tested in test_workload_output_collisions.py; here only the declared ones.
uploadLogs: false
priority: -5
maxParallelTasks: 4
constraints: {maxWallClockTime: PT2H, maxTaskRetryCount: 3}
environment: {JOB_LEVEL: "1"}
metadata: {team: research}
onAllTasksComplete: noaction
onTaskFailure: performexitoptionsjobaction
jobPreparationTask:
  commandLine: /bin/sh -c 'echo prep'
  resourceFiles:
    - source: workloads/scripts/run.py
  environment: {PREP: "yes"}
  constraints: {maxWallClockTime: PT10M, maxTaskRetryCount: 2}
  userIdentity: {autoUser: {scope: pool, elevationLevel: admin, reason: installs packages the job's tasks share}}
jobReleaseTask:
  commandLine: /bin/sh -c 'echo release'
  maxWallClockTime: PT5M
tasks:
  list:
    - id: prepare
      commandLine: python3 run.py prepare
      resourceFiles:
        - source: workloads/scripts/run.py
          fileMode: "0755"
        - source: https://example.org/data/table.csv
        - storageContainerUrl: https://other.blob.core.windows.net/reference
          blobPrefix: genomes/
          filePath: ref
          useIdentity: false
      requiredSlots: 2
      userIdentity: {autoUser: {scope: task, elevationLevel: nonadmin}}
      exitConditions:
        exitCodes: [{code: 3, jobAction: terminate, dependencyAction: block}]
        exitCodeRanges: [{start: 10, end: 20, dependencyAction: satisfy}]
        default: {jobAction: none}
    - id: mpi
      commandLine: mpirun -n 4 ./solver
      dependsOn: {ids: [prepare]}
      multiInstance:
        numberOfInstances: 4
        coordinationCommandLine: /bin/sh -c 'echo ready'
        commonResourceFiles:
          - source: inputs
  sweep:
    parameters:
      - {name: size, values: [small, large]}
      - {name: seed, range: {start: 1, stop: 5, step: 2}}
    task:
      id: run-{size}-{seed:03d}
      displayName: "{size} #{seed}"
      commandLine: python3 run.py --size {size} --seed {seed}
      environment: {SIZE: "{size}", FIXED: same}
      resourceFiles:
        - source: workloads/scripts/run.py
        - source: https://example.org/{size}.bin
          filePath: data/{size}.bin
          useIdentity: true
      outputFiles:
        - {pattern: "out-*.json", destination: "results/{size}", uploadCondition: tasksuccess}
        - {pattern: ../stdout.txt}
      constraints: {maxWallClockTime: PT1M, retentionTime: P1D}
      dependsOn:
        ids: [prepare]
"""


@pytest.fixture
def full(repo: Path, write_workload, target: BatchTarget, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(repo)
    write_workload("full.yaml", FULL)
    return plan_job(load_workload(Path("workloads/full.yaml")), target, repo_root=repo)


def test_job_options(full):
    job = full.job
    assert job.id == f"full-{full.content_hash}" and len(full.content_hash) == 10
    assert job.pool_info.pool_id == "bforge-dev-gpu"
    assert job.display_name == "everything at once"
    assert (job.priority, job.max_parallel_tasks) == (-5, 4)
    assert job.constraints.max_wall_clock_time == timedelta(hours=2)
    assert job.constraints.max_task_retry_count == 3
    assert [(e.name, e.value) for e in job.common_environment_settings] == [("JOB_LEVEL", "1")]
    assert {m.name: m.value for m in job.metadata} == {
        "team": "research",
        "batchforge-workload": "full",
        "batchforge-content-hash": full.content_hash,
        "batchforge-settings-hash": full.settings_hash,
    }
    assert job.task_failure_mode == "performexitoptionsjobaction"
    assert job.all_tasks_complete_mode is None
    assert full.all_tasks_complete_mode == "noaction"
    assert job.uses_task_dependencies is True
    prep = job.job_preparation_task
    assert prep.command_line == "/bin/sh -c 'echo prep'"
    assert prep.wait_for_success is True
    assert prep.constraints.max_task_retry_count == 2
    assert prep.user_identity.auto_user.elevation_level == "admin"
    assert prep.resource_files[0].identity_reference.resource_id == IDENTITY
    assert job.job_release_task.max_wall_clock_time == timedelta(minutes=5)


def test_listed_task(full):
    prepare = full.tasks[0]
    assert prepare.id == "prepare"
    local, url, container = prepare.resource_files
    assert local.http_url.startswith(f"{RESOURCES}/workloads/full/") and local.http_url.endswith("/run.py")
    assert (local.file_path, local.file_mode) == ("run.py", "0755")
    assert local.identity_reference.resource_id == IDENTITY
    assert (url.http_url, url.file_path, url.identity_reference) == (
        "https://example.org/data/table.csv",
        "table.csv",
        None,
    )
    assert container.storage_container_url == "https://other.blob.core.windows.net/reference"
    assert (container.blob_prefix, container.file_path, container.identity_reference) == ("genomes/", "ref", None)
    assert prepare.required_slots == 2
    assert prepare.user_identity.auto_user.scope == "task"
    exits = prepare.exit_conditions
    assert exits.exit_codes[0].code == 3 and exits.exit_codes[0].exit_options.job_action == "terminate"
    assert exits.exit_code_ranges[0].exit_options.dependency_action == "satisfy"
    assert exits.default.job_action == "none"


def test_multi_instance_task_and_folder_upload(full):
    mpi = next(task for task in full.tasks if task.id == "mpi")
    settings = mpi.multi_instance_settings
    assert settings.number_of_instances == 4
    assert settings.coordination_command_line == "/bin/sh -c 'echo ready'"
    assert sorted(f.file_path for f in settings.common_resource_files) == [
        "inputs/a.csv",
        "inputs/b.csv",
        "inputs/notes.txt",
    ]
    assert mpi.depends_on.task_ids == ["prepare"]
    uploaded = {upload.local_path.name for upload in full.uploads}
    assert uploaded == {"run.py", "a.csv", "b.csv", "notes.txt"}
    assert len({upload.blob_name for upload in full.uploads}) == len(full.uploads) == 4


def test_sweep_tasks(full):
    sweep = [task for task in full.tasks if task.id.startswith("run-")]
    assert [task.id for task in sweep] == [
        "run-small-001",
        "run-small-003",
        "run-small-005",
        "run-large-001",
        "run-large-003",
        "run-large-005",
    ]
    first = sweep[0]
    assert first.display_name == "small #1"
    assert first.command_line == "python3 run.py --size small --seed 1"
    assert [(e.name, e.value) for e in first.environment_settings] == [("SIZE", "small"), ("FIXED", "same")]
    local, url = first.resource_files
    assert (url.http_url, url.file_path) == ("https://example.org/small.bin", "data/small.bin")
    assert url.identity_reference.resource_id == IDENTITY
    assert local.http_url == full.tasks[0].resource_files[0].http_url
    results, stdout = first.output_files
    assert results.file_pattern == "out-*.json"
    assert results.destination.container.container_url == OUTPUTS
    assert results.destination.container.path == f"{full.job_id}/results/small"
    assert results.destination.container.identity_reference.resource_id == IDENTITY
    assert results.upload_options.upload_condition == "tasksuccess"
    assert stdout.destination.container.path == f"{full.job_id}/run-small-001"
    assert stdout.upload_options.upload_condition == "taskcompletion"
    assert first.constraints.retention_time == timedelta(days=1)
    assert first.depends_on.task_ids == ["prepare"]


def test_fast_models_serialize_like_the_public_constructors(full):
    """The per-task models skip the SDK constructor; what goes on the wire must be identical."""
    task = next(task for task in full.tasks if task.id == "run-large-003")
    identity = bm.BatchNodeIdentityReference(resource_id=IDENTITY)
    expected = bm.BatchTaskCreateOptions(
        id="run-large-003",
        display_name="large #3",
        command_line="python3 run.py --size large --seed 3",
        environment_settings=[
            bm.EnvironmentSetting(name="SIZE", value="large"),
            bm.EnvironmentSetting(name="FIXED", value="same"),
        ],
        resource_files=[
            bm.ResourceFile(http_url=task.resource_files[0].http_url, file_path="run.py", identity_reference=identity),
            bm.ResourceFile(
                http_url="https://example.org/large.bin", file_path="data/large.bin", identity_reference=identity
            ),
        ],
        output_files=[
            bm.OutputFile(
                file_pattern="out-*.json",
                destination=bm.OutputFileDestination(
                    container=bm.OutputFileBlobContainerDestination(
                        container_url=OUTPUTS, path=f"{full.job_id}/results/large", identity_reference=identity
                    )
                ),
                upload_options=bm.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
            ),
            bm.OutputFile(
                file_pattern="../stdout.txt",
                destination=bm.OutputFileDestination(
                    container=bm.OutputFileBlobContainerDestination(
                        container_url=OUTPUTS, path=f"{full.job_id}/run-large-003", identity_reference=identity
                    )
                ),
                upload_options=bm.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
            ),
        ],
        constraints=bm.BatchTaskConstraints(max_wall_clock_time=timedelta(minutes=1), retention_time=timedelta(days=1)),
        depends_on=bm.BatchTaskDependencies(task_ids=["prepare"]),
        # Not written in the file: every task gets an auto-user of its own.
        user_identity=bm.UserIdentity(auto_user=bm.AutoUserSpecification(scope="task", elevation_level="nonadmin")),
    )
    assert _wire(task) == _wire(expected)
    assert task.as_dict() == expected.as_dict()
    assert task == expected


@pytest.mark.parametrize(
    ("cls", "kwargs", "data"),
    [
        (bm.EnvironmentSetting, {"name": "A", "value": "b"}, {"name": "A", "value": "b"}),
        (bm.ResourceFile, {"http_url": "https://x/y", "file_path": "y"}, {"httpUrl": "https://x/y", "filePath": "y"}),
        (bm.BatchTaskDependencies, {"task_ids": ["a"]}, {"taskIds": ["a"]}),
        (
            bm.MultiInstanceSettings,
            {"number_of_instances": 2, "coordination_command_line": "c"},
            {"numberOfInstances": 2, "coordinationCommandLine": "c"},
        ),
    ],
)
def test_fast_model_matches_constructor(cls, kwargs, data):
    assert _wire(model_from_wire(cls, dict(data))) == _wire(cls(**kwargs))
    assert model_from_wire(cls, dict(data)) == cls(**kwargs)


def test_no_identity_reference_without_an_identity(repo: Path, write_workload, target: BatchTarget):
    path = write_workload("w.yaml", FULL)
    planned = plan_job(load_workload(path), target.model_copy(update={"identity_resource_id": None}), repo_root=repo)
    task = planned.tasks[0]
    assert task.resource_files[0].identity_reference is None
    assert all(
        f.destination.container.identity_reference is None for t in planned.tasks for f in (t.output_files or [])
    )


def test_no_dependencies_means_no_task_dependency_flag(repo: Path, write_workload, target: BatchTarget):
    path = write_workload("w.yaml", "id: w\npool: cpu\ntasks: {list: [{id: a, commandLine: echo}]}\n")
    planned = plan_job(load_workload(path), target, repo_root=repo)
    assert planned.job.uses_task_dependencies is None
    assert planned.all_tasks_complete_mode == "terminatejob"
    assert planned.uploads == []


def test_per_file_over_a_local_folder(repo: Path, write_workload, target: BatchTarget):
    path = write_workload(
        "w.yaml",
        """
        id: files
        pool: cpu
        tasks:
          perFile:
            source: {localFolder: inputs, pattern: "*.csv"}
            task:
              id: count-{fileStem}
              commandLine: wc -l {filePath}
              outputFiles:
                - {pattern: "{fileStem}.out", destination: "counts/{fileName}.out"}
        """,
    )
    planned = plan_job(load_workload(path), target, repo_root=repo)
    assert [t.id for t in planned.tasks] == ["count-a", "count-b"]
    own = planned.tasks[1].resource_files[-1]
    assert own.file_path == "b.csv"
    assert own.http_url.startswith(f"{RESOURCES}/workloads/files/") and own.http_url.endswith("/inputs/b.csv")
    assert planned.tasks[1].command_line == "wc -l b.csv"
    assert planned.tasks[1].output_files[0].destination.container.path == f"{planned.job_id}/counts/b.csv.out"
    assert sorted(u.local_path.name for u in planned.uploads) == ["a.csv", "b.csv"]


def test_per_file_over_a_blob_prefix_lists_the_resources_container(
    repo: Path, write_workload, target: BatchTarget, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(repo)
    write_workload(
        "w.yaml",
        """
        id: blobs
        pool: cpu
        tasks:
          perFile:
            source: {blobPrefix: "raw/2024/"}
            task:
              commandLine: python3 -c "print('{filePath}')"
          list:
            - id: summary
              commandLine: echo done
              dependsOn: {ranges: [{start: 0, end: 1}]}
        """,
    )
    asked: list[tuple[str, str]] = []

    def lister(container_url: str, prefix: str) -> list[str]:
        asked.append((container_url, prefix))
        return ["raw/2024/b/2.txt", "raw/2024/a.txt"]

    workload = load_workload(Path("workloads/w.yaml"))
    planned = plan_job(workload, target, repo_root=repo, blob_lister=lister)
    assert asked == [(RESOURCES, "raw/2024/")]
    assert [t.id for t in planned.tasks] == ["0", "1", "summary"]
    assert planned.tasks[0].resource_files[-1].http_url == f"{RESOURCES}/raw/2024/a.txt"
    assert planned.tasks[1].resource_files[-1].file_path == "b/2.txt"
    assert planned.tasks[1].command_line == "python3 -c \"print('b/2.txt')\""
    assert planned.uploads == []
    # A different listing is different input: a different job.
    other = plan_job(workload, target, repo_root=repo, blob_lister=lambda url, prefix: ["raw/2024/a.txt", "raw/2024/c"])
    assert other.job_id != planned.job_id

    with pytest.raises(InvalidInput) as caught:
        plan_job(workload, target, repo_root=repo, blob_lister=lambda url, prefix: [])
    assert [str(p) for p in caught.value.problems] == [
        "workloads/w.yaml: tasks.perFile.source.blobPrefix: no blob in the resources container starts with "
        "'raw/2024/' and matches '*'",
        "workloads/w.yaml: tasks.list[0].dependsOn.ranges[0]: no task with id '0' in this workload "
        "(the range 0..1 must cover existing tasks only)",
    ]


def test_outputs_container_files_are_this_jobs_folder(repo: Path, write_workload, target: BatchTarget):
    path = write_workload(
        "w.yaml",
        """
        id: chain
        pool: cpu
        tasks:
          list:
            - {id: first, commandLine: echo 1, outputFiles: [{pattern: "*.txt", destination: stage1}]}
            - id: second
              commandLine: cat stage1/*
              dependsOn: {ids: [first]}
              resourceFiles: [{container: outputs, blobPrefix: stage1/, filePath: in}]
        """,
    )
    planned = plan_job(load_workload(path), target, repo_root=repo)
    files = planned.tasks[1].resource_files[0]
    assert (files.storage_container_url, files.blob_prefix, files.file_path) == (
        OUTPUTS,
        f"{planned.job_id}/stage1/",
        "in",
    )
    assert files.identity_reference.resource_id == IDENTITY


def test_numbers_and_booleans_in_environment_and_metadata_are_text(repo: Path, write_workload, target: BatchTarget):
    path = write_workload(
        "w.yaml",
        "id: w\npool: cpu\nenvironment: {THREADS: 4, DEBUG: true}\nmetadata: {version: 1.5}\n"
        "tasks: {list: [{id: a, commandLine: echo, environment: {RATE: 0.25}}]}\n",
    )
    planned = plan_job(load_workload(path), target, repo_root=repo)
    assert [(e.name, e.value) for e in planned.job.common_environment_settings] == [("THREADS", "4"), ("DEBUG", "true")]
    assert planned.job.metadata[0].value == "1.5"
    assert planned.tasks[0].environment_settings[0].value == "0.25"


def test_braces_listed_tasks_literal_and_factory_escapes(repo: Path, write_workload, target: BatchTarget):
    path = write_workload(
        "w.yaml",
        """
        id: braces
        pool: cpu
        tasks:
          list:
            - id: literal
              commandLine: "/bin/sh -c 'echo {{a}} {b} ${HOME}'"
              environment: {JSON: '{"k": 1}'}
          sweep:
            parameters: [{name: n, values: [x]}]
            task:
              displayName: "constant {{text}}"
              commandLine: "/bin/sh -c 'echo {n} {{n}} ${HOME} | awk \\"{print $1}\\"'"
              environment: {JSON: '{"k": "{n}"}', FIXED: "{{fixed}}"}
        """,
    )
    listed, swept = plan_job(load_workload(path), target, repo_root=repo).tasks
    assert listed.command_line == "/bin/sh -c 'echo {{a}} {b} ${HOME}'"
    assert listed.environment_settings[0].value == '{"k": 1}'
    assert swept.display_name == "constant {text}"
    assert swept.command_line == "/bin/sh -c 'echo x {n} ${HOME} | awk \"{print $1}\"'"
    assert [(e.name, e.value) for e in swept.environment_settings] == [("JSON", '{"k": "x"}'), ("FIXED", "{fixed}")]


def test_yaml_anchors_and_merge_keys_share_settings(repo: Path, write_workload, target: BatchTarget):
    path = write_workload(
        "w.yaml",
        """
        id: anchors
        pool: cpu
        x-defaults: &defaults
          constraints: {maxWallClockTime: PT5M, maxTaskRetryCount: 1}
          environment: {MODE: fast}
        tasks:
          list:
            - <<: *defaults
              id: a
              commandLine: echo a
            - <<: *defaults
              id: b
              commandLine: echo b
              environment: {MODE: slow}
        """,
    )
    a, b = plan_job(load_workload(path), target, repo_root=repo).tasks
    assert a.constraints.max_task_retry_count == b.constraints.max_task_retry_count == 1
    assert (a.environment_settings[0].value, b.environment_settings[0].value) == ("fast", "slow")
