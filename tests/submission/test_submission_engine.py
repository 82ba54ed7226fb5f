"""The engine against an in-memory Batch client with scripted faults: exactly once, resumable, bounded."""

from __future__ import annotations

import json
import random
import time

import pytest
from azure.batch import models as batch_models
from submission_fakes import FakeBatchClient, planned_sweep, service_error

from batchforge.submission.chunking import MAX_REQUEST_BYTES, chunk_tasks
from batchforge.submission.engine import (
    CONTENT_HASH_METADATA_KEY,
    delete_job,
    job_task_counts,
    submit,
    submit_many,
    terminate_job,
)
from batchforge.submission.errors import JobConflictError, SubmissionError
from batchforge.submission.retrying import RetryPolicy, classify, parse_retry_after

FAST = RetryPolicy(max_attempts=6, base_delay_s=0.001, max_delay_s=0.01)


def test_a_1000_task_sweep_lands_exactly_once_in_chunks_of_at_most_100():
    fake = FakeBatchClient()
    planned = planned_sweep(1000)

    result = submit(planned, fake, concurrency=8, retry_policy=FAST)

    assert result.complete and result.job_created
    assert (result.tasks_added, result.tasks_already_present, result.failed) == (1000, 0, ())
    assert sorted(fake.jobs[planned.job_id].tasks) == [task.id for task in planned.tasks]
    assert max(fake.task_create_attempts.values()) == 1
    assert max(fake.collection_sizes) == 100 and fake.collection_calls == 10
    assert fake.jobs[planned.job_id].all_tasks_complete_mode == "terminatejob"
    assert result.completion_mode_set


def test_the_job_is_created_without_completion_mode_and_patched_only_after_the_last_task():
    fake = FakeBatchClient()
    planned = planned_sweep(250)
    planned.job.all_tasks_complete_mode = "terminatejob"  # even if a plan sets it, creation must not

    submit(planned, fake, retry_policy=FAST)

    created = fake.jobs[planned.job_id].options
    assert created.all_tasks_complete_mode is None
    assert {item.name: item.value for item in created.metadata} == {
        "batchforge-workload": "sweep",
        CONTENT_HASH_METADATA_KEY: planned.content_hash,
    }
    assert fake.calls[-1] == "update_job"
    assert planned.job.metadata[-1].name == "batchforge-workload", "the plan itself is not modified"


def test_rerunning_adds_nothing_and_sends_no_task_requests():
    fake = FakeBatchClient()
    planned = planned_sweep(300)
    submit(planned, fake, retry_policy=FAST)
    calls_before = fake.collection_calls

    again = submit(planned, fake, retry_policy=FAST)

    assert again.complete and not again.job_created
    assert (again.tasks_added, again.tasks_already_present) == (0, 300)
    assert fake.collection_calls == calls_before
    assert "list_tasks" in fake.calls


def test_a_run_killed_half_way_and_rerun_completes_exactly_once():
    fake = FakeBatchClient(crash_after_calls=4)
    planned = planned_sweep(1000)

    with pytest.raises(RuntimeError, match="simulated crash"):
        submit(planned, fake, concurrency=2, retry_policy=FAST)
    landed_first = len(fake.jobs[planned.job_id].tasks)
    assert 0 < landed_first < 1000
    assert fake.jobs[planned.job_id].all_tasks_complete_mode is None, "a half-submitted job must not complete"

    fake.crash_after_calls = None
    resumed = submit(planned, fake, concurrency=4, retry_policy=FAST)

    assert resumed.complete
    assert resumed.tasks_already_present == landed_first
    assert resumed.tasks_added == 1000 - landed_first
    assert len(fake.jobs[planned.job_id].tasks) == 1000
    assert max(fake.task_create_attempts.values()) == 1, "resuming re-sends no task that was already there"


@pytest.mark.parametrize("fault", ["503", "429", "500", "drop", "task-server-error"])
def test_transient_faults_are_retried_and_every_task_lands_once(fault):
    # One fewer fault than a request's attempts: even if every fault hits the same chunk (thread timing
    # decides), that chunk still lands, so the test shows recovery and never depends on interleaving.
    fake = FakeBatchClient(faults=[fault] * (FAST.max_attempts - 1))
    planned = planned_sweep(400)

    result = submit(planned, fake, concurrency=3, retry_policy=FAST, rng=random.Random(7))

    assert result.complete, result.summary()
    assert sorted(fake.jobs[planned.job_id].tasks) == [task.id for task in planned.tasks]
    assert result.tasks_added + result.tasks_already_present == 400
    assert result.retries >= 1
    if fault == "drop":
        # The dropped requests were applied; their retries came back TaskExists and count as already present.
        assert result.tasks_already_present > 0


def test_retries_are_bounded_and_report_the_last_error():
    fake = FakeBatchClient(faults=["503"] * 100)
    planned = planned_sweep(150)

    result = submit(planned, fake, concurrency=2, retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.001))

    assert not result.complete
    assert len(result.failed) == 150 and {failure.code for failure in result.failed} == {"ServerBusy"}
    assert fake.collection_calls == 2 * 3
    assert not result.completion_mode_set and fake.jobs[planned.job_id].all_tasks_complete_mode is None


def test_a_refused_task_is_reported_with_the_service_reason_and_the_rest_land():
    fake = FakeBatchClient()
    planned = planned_sweep(20)
    planned.tasks[3].command_line = ""

    result = submit(planned, fake, retry_policy=FAST)

    assert [(failure.task_id, failure.code) for failure in result.failed] == [("task-00003", "InvalidPropertyValue")]
    assert result.tasks_added == 19 and not result.complete and not result.completion_mode_set


def test_a_job_this_run_created_is_deleted_when_the_service_refuses_a_task():
    fake = FakeBatchClient()
    planned = planned_sweep(20)
    planned.tasks[3].command_line = ""

    result = submit(planned, fake, retry_policy=FAST)

    assert result.refused and planned.job_id not in fake.jobs, "no half-submitted job may stay behind"
    assert not result.job_exists and result.cleanup.startswith("job deleted")
    assert "job deleted" in result.summary()


def test_a_job_that_existed_before_is_left_and_named_with_the_command_that_removes_it():
    fake = FakeBatchClient()
    planned = planned_sweep(20)
    planned.tasks[3].command_line = ""
    submit(planned_sweep(2), fake, retry_policy=FAST)  # the same job id: an earlier run created the job

    result = submit(planned, fake, retry_policy=FAST)

    assert result.refused and planned.job_id in fake.jobs and result.job_exists
    assert f"batchctl job delete {planned.job_id}" in result.summary()


def test_tasks_that_ran_out_of_retries_do_not_delete_the_job_a_rerun_resumes():
    fake = FakeBatchClient(faults=["503"] * 6)
    planned = planned_sweep(50)

    result = submit(planned, fake, concurrency=1, retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.001))

    assert result.failed and not result.refused and planned.job_id in fake.jobs and not result.cleanup


def test_the_deadline_stops_the_run_and_a_rerun_adds_exactly_the_rest():
    fake = FakeBatchClient()
    fake_slow = fake.create_task_collection

    def slow_collection(*args, **kwargs):
        time.sleep(0.25)
        return fake_slow(*args, **kwargs)

    fake.create_task_collection = slow_collection  # type: ignore[method-assign]
    planned = planned_sweep(2000)

    # 20 collections of 100 at 0.25 s each cannot fit in 1 s; 1 s (not less) so that the job's creation, before
    # the first collection, is not itself past the deadline on a loaded machine.
    partial = submit(planned, fake, deadline_s=1.0, concurrency=1, retry_policy=FAST)

    assert partial.deadline_exceeded and not partial.complete
    assert partial.tasks_pending == 2000 - partial.tasks_added
    fake.create_task_collection = fake_slow  # type: ignore[method-assign]
    rest = submit(planned, fake, retry_policy=FAST)
    assert rest.complete and rest.tasks_added == partial.tasks_pending
    assert len(fake.jobs[planned.job_id].tasks) == 2000


def test_a_changed_workload_is_a_new_job_and_a_reused_id_with_other_content_is_refused():
    fake = FakeBatchClient()
    first = planned_sweep(10, content_hash="aaaa1111")
    changed = planned_sweep(12, content_hash="bbbb2222")
    submit(first, fake, retry_policy=FAST)

    second = submit(changed, fake, retry_policy=FAST)

    assert second.job_created and second.job_id != first.job_id
    assert set(fake.jobs) == {first.job_id, changed.job_id}
    impostor = planned_sweep(10, content_hash="aaaa1111")
    impostor.job.metadata = []
    fake.jobs[first.job_id].options.metadata = [
        batch_models.BatchMetadataItem(name=CONTENT_HASH_METADATA_KEY, value="x")
    ]
    with pytest.raises(JobConflictError, match="already exists with content hash x"):
        submit(impostor, fake, retry_policy=FAST)


def test_a_completed_job_with_missing_tasks_is_an_error_not_a_silent_success():
    fake = FakeBatchClient(crash_after_calls=1)
    planned = planned_sweep(300)
    with pytest.raises(RuntimeError):
        submit(planned, fake, concurrency=1, retry_policy=FAST)
    fake.crash_after_calls = None
    terminate_job(fake, planned.job_id)

    with pytest.raises(SubmissionError, match="is completed and cannot take its 200 missing tasks"):
        submit(planned, fake, retry_policy=FAST)


def test_request_size_limit_splits_chunks_below_the_byte_budget():
    planned = planned_sweep(60, env_bytes=20_000)
    budget = 200_000

    chunking = chunk_tasks(planned.tasks, max_bytes=budget)

    assert [len(chunk) for chunk in chunking.chunks] == [9] * 6 + [6]
    for chunk in chunking.chunks:
        body = json.dumps(batch_models.BatchTaskGroup(task_values=chunk).as_dict(exclude_readonly=True))
        assert len(body.encode()) <= budget
    assert [task.id for chunk in chunking.chunks for task in chunk] == [task.id for task in planned.tasks]


def test_default_budget_stays_under_one_mebibyte_with_large_tasks():
    planned = planned_sweep(100, env_bytes=30_000)
    fake = FakeBatchClient()

    result = submit(planned, fake, retry_policy=FAST)

    assert result.complete and max(fake.collection_sizes) < 100
    assert MAX_REQUEST_BYTES < 1024 * 1024


def test_a_task_too_big_for_any_request_is_reported_and_nothing_is_created():
    planned = planned_sweep(3)
    planned.tasks[1].environment_settings = [batch_models.EnvironmentSetting(name="BIG", value="y" * 1_000_000)]
    fake = FakeBatchClient()

    result = submit(planned, fake, retry_policy=FAST)

    assert [(failure.task_id, failure.code) for failure in result.failed] == [("task-00001", "RequestBodyTooLarge")]
    assert fake.jobs == {} and fake.calls == [], "no job may be created for tasks the service would refuse"
    assert not result.complete and result.refused and not result.job_exists
    assert "not created" in result.summary() and "nothing was created" in result.summary()


def test_submit_many_submits_each_job_and_repeated_task_ids_are_rejected():
    fake = FakeBatchClient()
    results = submit_many([planned_sweep(5, workload="a"), planned_sweep(7, workload="b")], fake, retry_policy=FAST)
    assert [(r.job_id, r.tasks_added) for r in results] == [("a-c0ffee12", 5), ("b-c0ffee12", 7)]

    duplicated = planned_sweep(3, workload="dup")
    duplicated.tasks.append(duplicated.tasks[0])
    with pytest.raises(SubmissionError, match="repeats task ids"):
        submit(duplicated, fake, retry_policy=FAST)


def test_terminate_delete_and_counts_are_idempotent():
    fake = FakeBatchClient()
    planned = planned_sweep(4)
    submit(planned, fake, retry_policy=FAST)

    assert job_task_counts(fake, planned.job_id).total == 4
    assert terminate_job(fake, planned.job_id) is True
    assert terminate_job(fake, planned.job_id) is False
    assert delete_job(fake, planned.job_id) is True
    assert delete_job(fake, planned.job_id) is False
    assert terminate_job(fake, planned.job_id) is False


def test_classification_and_retry_after():
    throttled = classify(service_error(429, "TooManyRequests", headers={"Retry-After": "3"}))
    assert throttled.retryable and throttled.retry_after_s == 3.0 and throttled.code == "TooManyRequests"
    assert not classify(service_error(400, "InvalidPropertyValue")).retryable
    assert classify(service_error(503, "ServerBusy")).retryable
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=4.0)
    rng = random.Random(1)
    assert all(2.0 <= policy.backoff_s(attempt, 2.0, rng) <= 2.4 for attempt in range(1, 6))
    assert all(0.0 <= policy.backoff_s(attempt, None, rng) <= 4.0 for attempt in range(1, 9))
