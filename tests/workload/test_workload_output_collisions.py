"""Output files that would write the same blob are refused on the rendered tasks; task logs get uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.batch import models as bm

from batchforge.core import InvalidInput
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job
from batchforge.workload.task_logs import LOG_FILES_PATTERN

SWEEP = """
id: sweep
pool: cpu
tasks:
  sweep:
    parameters: [{{name: n, range: {{start: 0, stop: 499}}}}]
    task:
      id: "r-{{index}}"
      commandLine: /bin/sh -c 'echo 1 > result-{{index}}.json'
      outputFiles: [{{pattern: "result-{{index}}.json", destination: {destination}}}]
"""


def _problems(repo: Path, write_workload, target: BatchTarget, text: str) -> list[str]:
    path = write_workload("w.yaml", text)
    with pytest.raises(InvalidInput) as raised:
        plan_job(load_workload(path), target, repo_root=repo)
    return [str(problem) for problem in raised.value.problems]


def test_sweep_tasks_uploading_one_blob_are_refused_with_the_tasks_and_the_fix(repo, write_workload, target):
    (line,) = _problems(repo, write_workload, target, SWEEP.format(destination="results"))
    assert "w.yaml: tasks.sweep.task.outputFiles[0]: " in line
    assert "tasks 'r-0', 'r-1', 'r-2' and 497 more" in line
    assert "'<job id>/results'" in line
    assert "destination: 'results/result-{index}.json'" in line


def test_a_destination_that_differs_per_task_is_accepted(repo, write_workload, target):
    path = write_workload("w.yaml", SWEEP.format(destination='"results/result-{index}.json"'))
    planned = plan_job(load_workload(path), target, repo_root=repo)
    paths = {task.output_files[0].destination.container.path for task in planned.tasks}
    assert len(paths) == 500


def test_listed_tasks_and_a_task_of_its_own_colliding(repo, write_workload, target):
    text = """
    id: listed
    pool: cpu
    tasks:
      list:
        - {id: a, commandLine: echo, outputFiles: [{pattern: x.txt, destination: same.txt}]}
        - {id: b, commandLine: echo, outputFiles: [{pattern: y.txt, destination: same.txt}]}
        - id: c
          commandLine: echo
          outputFiles: [{pattern: one.txt}, {pattern: two.txt}]
    """
    lines = _problems(repo, write_workload, target, text)
    assert len(lines) == 2
    assert "tasks.list[0].outputFiles[0]: tasks 'a', 'b'" in lines[0]
    assert "(also tasks.list[1].outputFiles[0])" in lines[0]
    assert "tasks.list[2].outputFiles[0]: task 'c'" in lines[1]
    assert "own destination" in lines[1]


def test_wildcard_patterns_into_one_folder_are_not_collisions(repo, write_workload, target):
    text = SWEEP.format(destination="results").replace('"result-{index}.json"', '"out/*.json"')
    planned = plan_job(load_workload(write_workload("w.yaml", text)), target, repo_root=repo)
    assert len(planned.tasks) == 500


def test_every_task_uploads_its_logs_unless_the_workload_opts_out(repo, write_workload, target):
    text = "id: w\npool: cpu\ntasks: {list: [{id: a, commandLine: echo}]}\n"
    planned = plan_job(load_workload(write_workload("w.yaml", text)), target, repo_root=repo)
    (logs,) = planned.tasks[0].output_files
    assert logs.file_pattern == LOG_FILES_PATTERN
    assert logs.destination.container.path == f"{planned.job_id}/logs/a"
    assert logs.upload_options.upload_condition == "taskcompletion"
    expected = bm.OutputFile(
        file_pattern="../std*.txt",
        destination=bm.OutputFileDestination(
            container=bm.OutputFileBlobContainerDestination(
                container_url=target.outputs_container_url,
                path=f"{planned.job_id}/logs/a",
                identity_reference=bm.BatchNodeIdentityReference(resource_id=target.identity_resource_id),
            )
        ),
        upload_options=bm.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
    )
    assert logs.as_dict() == expected.as_dict()
    opted_out = plan_job(
        load_workload(write_workload("w.yaml", text.replace("pool: cpu", "pool: cpu\nuploadLogs: false"))),
        target,
        repo_root=repo,
    )
    assert opted_out.tasks[0].output_files is None
