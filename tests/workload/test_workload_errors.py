"""Bad workload files: every problem is reported with the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchforge.core import InvalidInput
from batchforge.workload import load_workload, load_workloads, plan_job


def test_unknown_keys_get_a_did_you_mean_hint(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        priorty: 5
        tasks:
          list:
            - id: a
              comandLine: echo hi
              commandLine: echo hi
              resourceFiles:
                - source: workloads/scripts/run.py
                  filPath: run.py
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].resourceFiles[0].filPath: unknown key; did you mean 'filePath'?",
        "workloads/w.yaml: tasks.list[0].comandLine: unknown key; did you mean 'commandLine'?",
        "workloads/w.yaml: priorty: unknown key; did you mean 'priority'?",
    ]


def test_bad_range_and_bad_parameters(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters:
              - name: i
                range: {start: 0, stop: 10, step: 0}
              - name: j
                range: {start: 5, stop: 1}
              - name: k
                range: {start: 0, stop: 1}
                values: [a]
              - name: index
                values: [a]
            task:
              commandLine: echo {i}
        """
    ) == [
        "workloads/w.yaml: tasks.sweep.parameters[0].range.step: must be > 0",
        "workloads/w.yaml: tasks.sweep.parameters[1].range: stop must be >= start",
        "workloads/w.yaml: tasks.sweep.parameters[2]: needs exactly one of range or values",
        "workloads/w.yaml: tasks.sweep.parameters[3].name: 'index' is reserved "
        "(it is the task's position in the sweep)",
    ]


def test_placeholder_typo_and_bad_format_spec(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters:
              - name: size
                values: [small, large]
              - name: seed
                range: {start: 1, stop: 3}
            task:
              id: run-{size}-{seed}
              commandLine: /bin/sh -c 'echo ${HOME} {{literal}} {sise} {seed:04d} | awk "{print $1}"'
              environment:
                SIZE: "{size:05d}"
        """
    ) == [
        "workloads/w.yaml: tasks.sweep.task.commandLine: unknown placeholder {sise}; did you mean {size}? "
        "(known: {index}, {seed}, {size})",
        "workloads/w.yaml: tasks.sweep.task.environment.SIZE: placeholder {size:05d}: format spec does not fit "
        "the value 'small' (Unknown format code 'd' for object of type 'str')",
    ]


def test_duplicate_task_ids_after_expansion(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          list:
            - id: Run-1
              commandLine: echo listed
          sweep:
            parameters:
              - name: i
                range: {start: 0, stop: 2}
            task:
              id: run-{i}
              commandLine: echo {i}
        """
    ) == [
        "workloads/w.yaml: tasks.sweep.task.id: duplicate task id 'run-1' (also tasks.list[0]); "
        "Batch task ids ignore case"
    ]


def test_sweep_ids_colliding_among_themselves_are_reported_a_few_times_with_a_count(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters:
              - name: i
                range: {start: 0, stop: 99}
              - name: j
                values: [a, b]
            task:
              id: task-{i}
              commandLine: echo {i} {j}
        """
    ) == [
        *(
            f"workloads/w.yaml: tasks.sweep.task.id: duplicate task id 'task-{i}'; Batch task ids ignore case"
            for i in range(5)
        ),
        "workloads/w.yaml: tasks.sweep.task.id: ... and 95 more tasks like these",
    ]


def test_dependencies_on_unknown_ids_and_ranges(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters:
              - name: i
                range: {start: 1, stop: 3}
            task:
              id: "{i}"
              commandLine: echo {i}
              dependsOn:
                ids: ["prep-{i}"]
          list:
            - id: reduce
              commandLine: echo reduce
              dependsOn:
                ids: [reduse]
                ranges:
                  - {start: 1, end: 4}
                  - {start: 3, end: 2}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].dependsOn.ranges[1]: end must be >= start",
    ]
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters:
              - name: i
                range: {start: 1, stop: 3}
            task:
              id: "{i}"
              commandLine: echo {i}
              dependsOn:
                ids: ["prep-{i}"]
          list:
            - id: reduce
              commandLine: echo reduce
              dependsOn:
                ids: [reduse, reduce]
                ranges:
                  - {start: 1, end: 4}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].dependsOn.ranges[0]: no task with id '4' in this workload "
        "(the range 1..4 must cover existing tasks only)",
        "workloads/w.yaml: tasks.list[0].dependsOn.ids[0]: no task with id 'reduse' in this workload",
        "workloads/w.yaml: tasks.list[0].dependsOn.ids[1]: task 'reduce' depends on itself",
        "workloads/w.yaml: tasks.sweep.task.dependsOn.ids[0]: no task with id 'prep-1' in this workload "
        "(renders to 'prep-1' for sweep task #0)",
        "workloads/w.yaml: tasks.sweep.task.dependsOn.ids[0]: no task with id 'prep-2' in this workload "
        "(renders to 'prep-2' for sweep task #1)",
        "workloads/w.yaml: tasks.sweep.task.dependsOn.ids[0]: no task with id 'prep-3' in this workload "
        "(renders to 'prep-3' for sweep task #2)",
    ]


def test_service_limits(problems_of):
    assert problems_of(
        """
        id: this-workload-id-is-far-too-long-for-a-batch-job-id-with-hash
        pool: cpu
        priority: 1001
        maxParallelTasks: 0
        constraints:
          maxTaskRetryCount: 101
          maxWallClockTime: soon
        jobReleaseTask:
          commandLine: echo bye
          maxWallClockTime: PT20M
        tasks:
          list:
            - id: bad id!
              commandLine: echo
              requiredSlots: 0
              constraints:
                maxTaskRetryCount: -2
        """
    ) == [
        "workloads/w.yaml: id: must be 1-53 letters, digits, hyphens or underscores "
        "(the job id adds '-' and a 10-character content hash; Batch allows 64)",
        "workloads/w.yaml: priority: must be <= 1000",
        "workloads/w.yaml: maxParallelTasks: must be -1 (no limit) or at least 1",
        "workloads/w.yaml: constraints.maxWallClockTime: must be a duration such as PT15M (ISO 8601) or 00:15:00",
        "workloads/w.yaml: constraints.maxTaskRetryCount: must be <= 100",
        "workloads/w.yaml: jobReleaseTask.maxWallClockTime: must be at most PT15M (the service's limit for job "
        "release tasks)",
        "workloads/w.yaml: tasks.list[0].id: must be 1-64 letters, digits, hyphens or underscores",
        "workloads/w.yaml: tasks.list[0].constraints.maxTaskRetryCount: must be >= -1",
        "workloads/w.yaml: tasks.list[0].requiredSlots: must be >= 1",
    ]


def test_cross_key_rules(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        metadata:
          batchforge-content-hash: mine
        jobPreparationTask:
          id: setup
          commandLine: echo prep
        tasks:
          list:
            - id: setup
              commandLine: echo
              exitConditions:
                exitCodes:
                  - {code: 3, jobAction: terminate}
            - id: mpi
              commandLine: mpirun
              requiredSlots: 2
              multiInstance:
                numberOfInstances: 2
                coordinationCommandLine: echo coordinate
        """
    ) == [
        "workloads/w.yaml: metadata: names starting with 'batchforge-' are reserved: batchforge-content-hash",
        "workloads/w.yaml: tasks.list[1]: requiredSlots cannot be set on a multi-instance task (the service "
        "rejects it)",
    ]
    assert problems_of(
        """
        id: w
        pool: cpu
        jobPreparationTask:
          id: setup
          commandLine: echo prep
        tasks:
          list:
            - id: setup
              commandLine: echo
              exitConditions:
                exitCodes:
                  - {code: 3, jobAction: terminate}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].exitConditions.exitCodes[0].jobAction: needs onTaskFailure: "
        "performexitoptionsjobaction (the service rejects it otherwise)",
        "workloads/w.yaml: tasks.list[0].id: task id 'setup' is already used by the job preparation task",
    ]


def test_local_files_must_exist_and_stay_in_the_repository(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          list:
            - id: a
              commandLine: python3 run.py
              resourceFiles:
                - source: workloads/scripts/missing.py
                - source: ../outside.py
                - sorce: x
          perFile:
            source: {localFolder: inputs, pattern: "*.parquet"}
            task:
              commandLine: wc -l {filePath}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].resourceFiles[1].source: must be a path inside this repository "
        "(relative, no '..')",
        "workloads/w.yaml: tasks.list[0].resourceFiles[2].source: is required",
        "workloads/w.yaml: tasks.list[0].resourceFiles[2].sorce: unknown key; did you mean 'source'?",
    ]
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          list:
            - id: a
              commandLine: python3 run.py
              resourceFiles:
                - source: workloads/scripts/missing.py
          perFile:
            source: {localFolder: inputs, pattern: "*.parquet"}
            task:
              commandLine: wc -l {filePath}
              resourceFiles:
                - source: inputs/{fileName}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].resourceFiles[0].source: no such file or folder in the repository: "
        "workloads/scripts/missing.py",
        "workloads/w.yaml: tasks.perFile.source.pattern: matches no file in inputs (pattern '*.parquet')",
        "workloads/w.yaml: tasks.perFile.task.resourceFiles[0].source: placeholders cannot pick local files (they "
        "are uploaded before tasks exist); use tasks.perFile for one task per file",
    ]


def test_syntax_errors_and_wrong_shapes(problems_of):
    assert problems_of("id: [unclosed\n") == [
        "workloads/w.yaml: line 2, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'"
    ]
    assert problems_of("") == ["workloads/w.yaml: is empty; a workload needs at least id, pool and tasks"]
    assert problems_of("- a\n") == ["workloads/w.yaml: must be a mapping with id, pool and tasks"]
    assert problems_of("id: w\npool: cpu\ntasks: {}\n") == [
        "workloads/w.yaml: tasks: needs at least one of list, sweep or perFile"
    ]


def test_load_workloads_reports_every_file(repo: Path, write_workload, monkeypatch):
    monkeypatch.chdir(repo)
    good = write_workload("good.yaml", "id: same\npool: cpu\ntasks: {list: [{id: a, commandLine: echo}]}\n")
    twin = write_workload("twin.yaml", "id: SAME\npool: cpu\ntasks: {list: [{id: a, commandLine: echo}]}\n")
    bad = write_workload("bad.yaml", "id: b\npool: cpu\nprio: 1\ntasks: {list: [{id: a}]}\n")
    with pytest.raises(InvalidInput) as caught:
        load_workloads([Path("workloads/good.yaml"), bad.relative_to(repo), twin])
    assert [str(p) for p in caught.value.problems] == [
        "workloads/bad.yaml: tasks.list[0].commandLine: is required",
        "workloads/bad.yaml: prio: unknown key; did you mean 'priority'?",
        "workloads/twin.yaml: id: workload id 'SAME' is also used by workloads/good.yaml",
    ]
    assert good.exists()


def test_unknown_pool_names_the_pools_of_the_stack(repo: Path, write_workload, target, monkeypatch):
    monkeypatch.chdir(repo)
    write_workload("w.yaml", "id: w\npool: cpus\ntasks: {list: [{id: a, commandLine: echo}]}\n")
    workload = load_workload(Path("workloads/w.yaml"))
    with pytest.raises(InvalidInput) as caught:
        plan_job(workload, target, repo_root=repo)
    assert str(caught.value) == "workloads/w.yaml: pool: unknown pool 'cpus'; the stack's pools are: cpu, gpu"


def test_missing_file_is_a_problem_not_a_traceback(tmp_path: Path):
    with pytest.raises(InvalidInput) as caught:
        load_workload(tmp_path / "nope.yaml", source="workloads/nope.yaml")
    assert str(caught.value) == "workloads/nope.yaml: file not found"


def test_dependency_cycles_are_found_through_ids_and_ranges(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          list:
            - {id: a, commandLine: echo, dependsOn: {ids: [b]}}
            - {id: b, commandLine: echo, dependsOn: {ids: [c]}}
            - {id: c, commandLine: echo, dependsOn: {ids: [a]}}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].dependsOn: dependency cycle: a -> b -> c -> a "
        "(these tasks would wait for each other forever)"
    ]
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters: [{name: i, range: {start: 1, stop: 4}}]
            task: {id: "{i}", commandLine: echo, dependsOn: {ids: [collect]}}
          list:
            - {id: collect, commandLine: echo, dependsOn: {ranges: [{start: 2, end: 3}]}}
        """
    ) == [
        "workloads/w.yaml: tasks.list[0].dependsOn: dependency cycle: collect -> 2 -> collect "
        "(these tasks would wait for each other forever)"
    ]


def test_a_sweep_too_large_to_submit_is_refused_without_expanding_it(problems_of):
    assert problems_of(
        """
        id: w
        pool: cpu
        tasks:
          sweep:
            parameters:
              - {name: a, range: {start: 1, stop: 100000}}
              - {name: b, range: {start: 1, stop: 100000}}
            task: {commandLine: "echo {a} {b}"}
        """
    ) == ["workloads/w.yaml: tasks.sweep.parameters: expands to 10,000,000,000 tasks; at most 1,000,000"]


def test_dependency_id_lists_longer_than_the_service_allows(problems_of):
    names = [f"task-with-a-long-name-{i:05d}" for i in range(2400)]
    listed = "\n".join(f"    - {{id: {name}, commandLine: echo}}" for name in names)
    last = f"    - {{id: last, commandLine: echo, dependsOn: {{ids: [{', '.join(names)}]}}}}"
    assert problems_of(f"id: w\npool: cpu\ntasks:\n  list:\n{listed}\n{last}\n") == [
        "workloads/w.yaml: tasks.list[2400].dependsOn.ids: task 'last' lists 64,800 characters of task ids; "
        "the service allows 64,000 (use ranges of integer ids instead)"
    ]
