"""Job schedules against the local service with the unmodified azure-batch 15.x SDK: every operation, the
documented errors, ETags, the recurrence rules on the test clock, and a day of hourly runs whose job
manager adds tasks that each run once per job.
"""

from __future__ import annotations

import itertools
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError

from batchforge.localbatch import command
from batchforge.localbatch.sandbox import ALLOW_HOST_CHANGES_VARIABLE
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from tests.localbatch.test_localbatch_auth import LAST_14X_API_VERSION, RawBatch, RawResponse

MANAGER_SCRIPT = Path(__file__).with_name("schedule_manager_script.py")
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBatch]:
    # The job managers write their runs to a log in the data dir, which sandboxed nodes cannot see; what is under
    # test here is the schedule, so these nodes run on the host (tests/localbatch/test_localbatch_sandbox.py).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ALLOW_HOST_CHANGES_VARIABLE, "1")
        with LocalBatch.start(tmp_path_factory.mktemp("localbatch-schedules"), test_clock=True) as service:
            yield service


@pytest.fixture(scope="module")
def client(batch: LocalBatch) -> BatchClient:
    return batch.batch_client()


@pytest.fixture(scope="module")
def pool_id(client: BatchClient) -> str:
    pool = "schedules-pool"
    client.create_pool(
        m.BatchPoolCreateOptions(id=pool, vm_size="standard_d2s_v3", target_dedicated_nodes=2, task_slots_per_node=4)
    )
    wait_for_idle_nodes(client, pool, 2)
    return pool


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def spec(pool_id: str, **fields: Any) -> m.BatchJobSpecification:
    return m.BatchJobSpecification(pool_info=m.BatchPoolInfo(pool_id=pool_id), **fields)


def create(
    client: BatchClient, schedule_id: str, job_spec: m.BatchJobSpecification, **schedule: Any
) -> m.BatchJobSchedule:
    client.create_job_schedule(
        m.BatchJobScheduleCreateOptions(
            id=schedule_id, schedule=m.BatchJobScheduleConfiguration(**schedule), job_specification=job_spec
        )
    )
    return client.get_job_schedule(schedule_id)


def service_now(batch: LocalBatch) -> datetime:
    return datetime.fromisoformat(str(batch.clock()["now"]).replace("Z", "+00:00"))


def jobs_of(client: BatchClient, schedule_id: str) -> list[m.BatchJob]:
    return sorted(client.list_jobs_from_schedule(schedule_id), key=lambda job: int(job.id.rsplit("-", 1)[1]))


def error_code(err: HttpResponseError) -> str:
    return str(err.error.code) if err.error is not None else ""


def wait_job_completed(client: BatchClient, job_id: str, timeout: float = 30) -> m.BatchJob:
    return wait_for(
        lambda: job if (job := client.get_job(job_id)).state == m.BatchJobState.COMPLETED else None,
        timeout=timeout,
        what=f"job {job_id} to complete",
    )


# ---- add, get, exists, list, delete ---------------------------------------------------------------


def test_add_creates_the_first_job_at_once_named_after_the_schedule(client: BatchClient, pool_id: str) -> None:
    schedule_id = unique("first")
    job_spec = spec(pool_id, job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"))
    schedule = create(client, schedule_id, job_spec, recurrence_interval=HOUR)
    assert schedule.state == m.BatchJobScheduleState.ACTIVE
    assert schedule.url.endswith(f"/jobschedules/{schedule_id}") and schedule.etag and schedule.creation_time
    assert schedule.schedule is not None and schedule.schedule.recurrence_interval == HOUR
    jobs = jobs_of(client, schedule_id)
    assert [job.id for job in jobs] == [f"{schedule_id}:job-1"]
    assert schedule.execution_info.recent_job is not None and schedule.execution_info.recent_job.id == jobs[0].id
    # The next run is an hour after the first (which ran at creation).
    assert schedule.execution_info.next_run_time == schedule.creation_time + HOUR
    job = wait_job_completed(client, jobs[0].id)
    assert job.execution_info is not None and job.execution_info.termination_reason == "JMComplete"
    assert job.pool_info.pool_id == pool_id
    assert client.get_task(job.id, "jm").execution_info.result == m.BatchTaskExecutionResult.SUCCESS
    assert client.job_schedule_exists(schedule_id) is True
    assert schedule_id in [s.id for s in client.list_job_schedules()]
    assert [job.id for job in client.list_jobs(filter=f"id eq '{schedule_id}:job-1'")] == [f"{schedule_id}:job-1"]


def test_exists_and_get_of_an_unknown_schedule_are_not_found(client: BatchClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        client.job_schedule_exists("no-such-schedule")
    with pytest.raises(ResourceNotFoundError) as caught:
        client.get_job_schedule("no-such-schedule")
    assert error_code(caught.value) == "JobScheduleNotFound"
    with pytest.raises(ResourceNotFoundError) as caught:
        list(client.list_jobs_from_schedule("no-such-schedule"))
    assert error_code(caught.value) == "JobScheduleNotFound"


def test_adding_a_schedule_twice_is_job_schedule_exists(client: BatchClient, pool_id: str) -> None:
    schedule_id = unique("twice")
    create(client, schedule_id, spec(pool_id), do_not_run_until=datetime.now(UTC) + timedelta(days=30))
    with pytest.raises(HttpResponseError) as caught:
        create(client, schedule_id.upper(), spec(pool_id))  # ids are case-insensitive
    assert caught.value.status_code == 409 and error_code(caught.value) == "JobScheduleExists"


@pytest.mark.parametrize(
    ("schedule", "property_name"),
    [
        ({"recurrence_interval": timedelta(seconds=59)}, "schedule.recurrenceInterval"),
        ({"start_window": timedelta(seconds=30)}, "schedule.startWindow"),
        (
            {
                "do_not_run_until": datetime(2030, 1, 2, tzinfo=UTC),
                "do_not_run_after": datetime(2030, 1, 1, tzinfo=UTC),
            },
            "schedule.doNotRunAfter",
        ),
    ],
)
def test_schedule_limits_are_invalid_property_values(
    client: BatchClient, pool_id: str, schedule: dict[str, Any], property_name: str
) -> None:
    schedule_id = unique("limits")
    with pytest.raises(HttpResponseError) as caught:
        create(client, schedule_id, spec(pool_id), **schedule)
    assert caught.value.status_code == 400 and error_code(caught.value) == "InvalidPropertyValue"
    assert caught.value.error is not None
    details = {d.code: d.message for d in caught.value.error.details or []}
    assert details["PropertyName"] == property_name
    with pytest.raises(ResourceNotFoundError):
        client.get_job_schedule(schedule_id)


def test_a_job_specification_job_add_would_refuse_is_refused_with_the_schedule(client: BatchClient) -> None:
    schedule_id = unique("badspec")
    with pytest.raises(HttpResponseError) as caught:
        create(client, schedule_id, m.BatchJobSpecification(pool_info=m.BatchPoolInfo()))
    assert caught.value.status_code == 400 and error_code(caught.value) == "MissingRequiredProperty"
    manager = m.BatchJobManagerTask(id="bad id!", command_line="true")
    with pytest.raises(HttpResponseError) as caught:
        create(client, schedule_id, spec("any", job_manager_task=manager))
    assert error_code(caught.value) == "InvalidPropertyValue"
    with pytest.raises(ResourceNotFoundError):
        client.get_job_schedule(schedule_id)


def test_delete_deletes_the_schedule_and_all_its_jobs(client: BatchClient, pool_id: str, batch: LocalBatch) -> None:
    schedule_id = unique("delete")
    long_running = m.BatchJobManagerTask(id="jm", command_line="/bin/sh -c 'sleep 60'")
    create(client, schedule_id, spec(pool_id, job_manager_task=long_running), recurrence_interval=HOUR)
    job_id = f"{schedule_id}:job-1"
    wait_for(lambda: client.get_task(job_id, "jm").state == m.BatchTaskState.RUNNING, what="the manager to run")
    client.begin_delete_job_schedule(schedule_id, polling_interval=0).result()
    with pytest.raises(ResourceNotFoundError):
        client.get_job_schedule(schedule_id)
    with pytest.raises(ResourceNotFoundError):
        client.get_job(job_id)


# ---- update, disable, enable, terminate ---------------------------------------------------------------


def test_patch_changes_only_what_it_names_and_put_replaces(client: BatchClient, pool_id: str) -> None:
    schedule_id = unique("update")
    until = datetime.now(UTC) + timedelta(days=30)
    first = create(client, schedule_id, spec(pool_id, priority=5), do_not_run_until=until, recurrence_interval=HOUR)
    client.update_job_schedule(
        schedule_id, m.BatchJobScheduleUpdateOptions(metadata=[m.BatchMetadataItem(name="team", value="data")])
    )
    patched = client.get_job_schedule(schedule_id)
    assert patched.metadata is not None and [(i.name, i.value) for i in patched.metadata] == [("team", "data")]
    assert patched.job_specification.priority == 5 and patched.schedule.recurrence_interval == HOUR
    assert patched.etag != first.etag and patched.last_modified >= first.last_modified
    client.update_job_schedule(
        schedule_id,
        m.BatchJobScheduleUpdateOptions(
            schedule=m.BatchJobScheduleConfiguration(do_not_run_until=until, recurrence_interval=timedelta(hours=2))
        ),
    )
    regridded = client.get_job_schedule(schedule_id)
    assert regridded.schedule.recurrence_interval == timedelta(hours=2)
    assert regridded.execution_info.next_run_time == until
    replacement = m.BatchJobSchedule(
        schedule=m.BatchJobScheduleConfiguration(do_not_run_until=until), job_specification=spec(pool_id)
    )
    client.replace_job_schedule(schedule_id, replacement)
    replaced = client.get_job_schedule(schedule_id)
    assert replaced.metadata in (None, [])  # PUT without metadata removes it
    assert replaced.schedule.recurrence_interval is None and replaced.job_specification.priority in (None, 0)


def test_if_match_with_a_stale_etag_is_condition_not_met(client: BatchClient, pool_id: str) -> None:
    schedule_id = unique("etag")
    first = create(client, schedule_id, spec(pool_id), do_not_run_until=datetime.now(UTC) + timedelta(days=30))
    client.disable_job_schedule(schedule_id, etag=first.etag, match_condition=MatchConditions.IfNotModified)
    with pytest.raises(ResourceModifiedError) as caught:
        client.enable_job_schedule(schedule_id, etag=first.etag, match_condition=MatchConditions.IfNotModified)
    assert caught.value.status_code == 412 and error_code(caught.value) == "ConditionNotMet"
    current = client.get_job_schedule(schedule_id)
    assert current.state == m.BatchJobScheduleState.DISABLED
    client.enable_job_schedule(schedule_id, etag=current.etag, match_condition=MatchConditions.IfNotModified)
    assert client.get_job_schedule(schedule_id).state == m.BatchJobScheduleState.ACTIVE


def test_terminate_ends_the_active_job_and_completes_the_schedule(client: BatchClient, pool_id: str) -> None:
    schedule_id = unique("terminate")
    long_running = m.BatchJobManagerTask(id="jm", command_line="/bin/sh -c 'sleep 60'")
    create(client, schedule_id, spec(pool_id, job_manager_task=long_running), recurrence_interval=HOUR)
    job_id = f"{schedule_id}:job-1"
    wait_for(lambda: client.get_task(job_id, "jm").state == m.BatchTaskState.RUNNING, what="the manager to run")
    client.begin_terminate_job_schedule(schedule_id, polling_interval=0).result()
    schedule = client.get_job_schedule(schedule_id)
    assert schedule.state == m.BatchJobScheduleState.COMPLETED
    assert schedule.execution_info.end_time is not None and schedule.execution_info.next_run_time is None
    job = client.get_job(job_id)
    assert job.state == m.BatchJobState.COMPLETED and job.execution_info.termination_reason == "TerminateJobSchedule"
    for operation, code in (
        (lambda: client.update_job_schedule(schedule_id, m.BatchJobScheduleUpdateOptions()), "JobScheduleCompleted"),
        (lambda: client.disable_job_schedule(schedule_id), "JobScheduleCompleted"),
        (lambda: client.begin_terminate_job_schedule(schedule_id, polling_interval=0).result(), "JobScheduleCompleted"),
    ):
        with pytest.raises(HttpResponseError) as caught:
            operation()
        assert caught.value.status_code == 409 and error_code(caught.value) == code


def test_list_filters_selects_and_expands_stats(client: BatchClient, pool_id: str) -> None:
    schedule_id = unique("listed")
    create(client, schedule_id, spec(pool_id, job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true")))
    wait_job_completed(client, f"{schedule_id}:job-1")
    listed = list(client.list_job_schedules(filter=f"id eq '{schedule_id}'", select=["id", "state"]))
    assert [(s.id, s.job_specification) for s in listed] == [(schedule_id, None)]
    # Without a recurrence the schedule completes once its one job has.
    wait_for(lambda: client.get_job_schedule(schedule_id).state == m.BatchJobScheduleState.COMPLETED)
    expanded = client.get_job_schedule(schedule_id, expand=["stats"])
    stats = expanded.job_schedule_statistics
    assert stats is not None and stats.succeeded_tasks_count == 1 and stats.failed_tasks_count == 0
    assert client.get_job_schedule(schedule_id).job_schedule_statistics is None
    paged = client.list_job_schedules(max_results=1)
    assert len(list(paged)) == len(list(client.list_job_schedules()))


# ---- the schedule's clock --------------------------------------------------------------------------


def test_do_not_run_until_and_after_bound_the_runs(client: BatchClient, pool_id: str, batch: LocalBatch) -> None:
    schedule_id = unique("window")
    start = service_now(batch) + timedelta(minutes=30)
    job_spec = spec(pool_id, job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"))
    schedule = create(
        client,
        schedule_id,
        job_spec,
        do_not_run_until=start,
        do_not_run_after=start + timedelta(minutes=90),
        recurrence_interval=HOUR,
    )
    assert schedule.execution_info.next_run_time == start and jobs_of(client, schedule_id) == []
    batch.advance_clock(30 * 60)
    wait_for(lambda: len(jobs_of(client, schedule_id)) == 1, what="the first run")
    wait_job_completed(client, f"{schedule_id}:job-1")
    batch.advance_clock(3600)
    wait_for(lambda: len(jobs_of(client, schedule_id)) == 2, what="the second run")
    wait_job_completed(client, f"{schedule_id}:job-2")
    assert client.get_job_schedule(schedule_id).execution_info.next_run_time is None  # the next is after the end
    batch.advance_clock(3600)
    wait_for(lambda: client.get_job_schedule(schedule_id).state == m.BatchJobScheduleState.COMPLETED)
    assert len(jobs_of(client, schedule_id)) == 2


def test_a_recurrence_waits_for_the_running_job_and_is_lost_after_its_start_window(
    client: BatchClient, pool_id: str, batch: LocalBatch
) -> None:
    schedule_id = unique("overlap")
    marker = Path(batch.data_dir) / f"{schedule_id}.release"
    manager = m.BatchJobManagerTask(
        id="jm", command_line=f"/bin/sh -c 'while [ ! -e {marker} ]; do sleep 0.05; done'", run_exclusive=False
    )
    create(
        client,
        schedule_id,
        spec(pool_id, job_manager_task=manager),
        recurrence_interval=HOUR,
        start_window=timedelta(minutes=10),
    )
    wait_for(lambda: client.get_task(f"{schedule_id}:job-1", "jm").state == m.BatchTaskState.RUNNING)
    batch.advance_clock(3600)  # due, but job-1 still runs: at most one active job
    schedule = client.get_job_schedule(schedule_id)
    assert len(jobs_of(client, schedule_id)) == 1
    batch.advance_clock(15 * 60)  # past the start window of that recurrence: it is lost
    marker.write_text("go")
    wait_job_completed(client, f"{schedule_id}:job-1")
    wait_for(lambda: client.get_job_schedule(schedule_id).execution_info.next_run_time > schedule.creation_time + HOUR)
    assert len(jobs_of(client, schedule_id)) == 1
    batch.advance_clock(45 * 60)  # the next recurrence, with nothing running, creates job-2
    wait_for(lambda: len(jobs_of(client, schedule_id)) == 2, what="the next run")
    marker.unlink()
    client.begin_terminate_job_schedule(schedule_id, polling_interval=0).result()


def test_a_disabled_schedule_creates_no_job_until_enabled(client: BatchClient, pool_id: str, batch: LocalBatch) -> None:
    schedule_id = unique("disabled")
    start = service_now(batch) + timedelta(minutes=5)
    job_spec = spec(pool_id, job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"))
    create(client, schedule_id, job_spec, do_not_run_until=start, recurrence_interval=HOUR)
    client.disable_job_schedule(schedule_id)
    batch.advance_clock(10 * 60)
    assert jobs_of(client, schedule_id) == []
    assert client.get_job_schedule(schedule_id).execution_info.next_run_time == start
    client.enable_job_schedule(schedule_id)  # the recurrence's start window is infinite: it runs now
    wait_for(lambda: len(jobs_of(client, schedule_id)) == 1, what="the run once enabled")
    client.begin_terminate_job_schedule(schedule_id, polling_interval=0).result()


def test_a_day_of_hourly_runs_each_with_all_its_tasks_once(
    client: BatchClient, pool_id: str, batch: LocalBatch
) -> None:
    schedule_id = unique("hourly")
    run_log = Path(batch.data_dir) / f"{schedule_id}.log"
    task_count = 4
    manager = m.BatchJobManagerTask(
        id="manager",
        command_line=f"{sys.executable} {MANAGER_SCRIPT}",
        kill_job_on_completion=False,
        run_exclusive=False,
        environment_settings=[
            m.EnvironmentSetting(name="LOCALBATCH_ACCOUNT_NAME", value=batch.account_name),
            m.EnvironmentSetting(name="LOCALBATCH_ACCOUNT_KEY", value=batch.account_key),
            m.EnvironmentSetting(name="RUN_LOG", value=str(run_log)),
            m.EnvironmentSetting(name="TASK_COUNT", value=str(task_count)),
        ],
    )
    job_spec = spec(
        pool_id, job_manager_task=manager, all_tasks_complete_mode=m.BatchAllTasksCompleteMode.TERMINATE_JOB
    )
    first = create(client, schedule_id, job_spec, recurrence_interval=HOUR)
    for run in range(1, 25):
        job = wait_job_completed(client, f"{schedule_id}:job-{run}")
        assert job.execution_info.termination_reason == "AllTasksComplete"
        if run < 24:
            batch.advance_clock(3600)
    jobs = jobs_of(client, schedule_id)
    assert [job.id for job in jobs] == [f"{schedule_id}:job-{n}" for n in range(1, 25)]
    runs = Counter(run_log.read_text().split("\n")[:-1])
    expected = {f"{job.id} work-{n}" for job in jobs for n in range(task_count)}
    assert set(runs) == expected and set(runs.values()) == {1}
    for job in jobs:
        counts = client.get_job_task_counts(job.id).task_counts
        assert (counts.completed, counts.succeeded) == (task_count + 1, task_count + 1)
    # The jobs were created an hour apart on the service's clock.
    created = [job.creation_time for job in jobs]
    assert all(
        timedelta(minutes=59) < later - earlier < timedelta(minutes=61)
        for earlier, later in itertools.pairwise(created)
    )
    schedule = client.get_job_schedule(schedule_id)
    assert schedule.execution_info.recent_job.id == f"{schedule_id}:job-24"
    assert schedule.execution_info.next_run_time == first.creation_time + 24 * HOUR
    client.begin_terminate_job_schedule(schedule_id, polling_interval=0).result()


# ---- auto pools, a fast clock and restarts ---------------------------------------------------------


def test_a_job_schedule_lifetime_auto_pool_is_shared_by_its_jobs_and_deleted_with_it(
    client: BatchClient, batch: LocalBatch
) -> None:
    schedule_id = unique("autopool")
    auto_pool = m.BatchAutoPoolSpecification(
        auto_pool_id_prefix="sched",
        pool_lifetime_option=m.BatchPoolLifetimeOption.JOB_SCHEDULE,
        pool=m.BatchPoolSpecification(vm_size="standard_d2s_v3", target_dedicated_nodes=1),
    )
    job_spec = m.BatchJobSpecification(
        pool_info=m.BatchPoolInfo(auto_pool_specification=auto_pool),
        job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"),
    )
    create(client, schedule_id, job_spec, recurrence_interval=HOUR)
    first = wait_job_completed(client, f"{schedule_id}:job-1")
    pool_id = first.execution_info.pool_id
    assert pool_id and pool_id.startswith("sched_") and first.pool_info.pool_id is None
    batch.advance_clock(3600)
    second = wait_job_completed(client, f"{schedule_id}:job-2")
    assert second.execution_info.pool_id == pool_id  # the schedule's pool outlives each job
    assert client.get_pool(pool_id).state == m.BatchPoolState.ACTIVE
    client.begin_terminate_job_schedule(schedule_id, polling_interval=0).result()
    wait_for(lambda: pool_id not in [p.id for p in client.list_pools()], what="the schedule's pool to go")


def test_a_job_lifetime_auto_pool_is_made_and_deleted_per_job(client: BatchClient) -> None:
    schedule_id = unique("jobpool")
    auto_pool = m.BatchAutoPoolSpecification(
        pool_lifetime_option=m.BatchPoolLifetimeOption.JOB,
        pool=m.BatchPoolSpecification(vm_size="standard_d2s_v3", target_dedicated_nodes=1),
    )
    job_spec = m.BatchJobSpecification(
        pool_info=m.BatchPoolInfo(auto_pool_specification=auto_pool),
        job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"),
    )
    create(client, schedule_id, job_spec)
    job = wait_job_completed(client, f"{schedule_id}:job-1")
    pool_id = job.execution_info.pool_id
    wait_for(lambda: pool_id not in [p.id for p in client.list_pools()], what="the job's pool to go")


def test_a_fast_clock_runs_recurrences_by_itself_and_goes_on_after_a_restart(tmp_path: Path) -> None:
    with LocalBatch.start(tmp_path / "fast", clock_speed=600, test_clock=True) as fast:  # ten minutes a second
        client = fast.batch_client()
        assert fast.clock()["speed"] == 600
        client.create_pool(m.BatchPoolCreateOptions(id="fast", vm_size="standard_d2s_v3", target_dedicated_nodes=1))
        job_spec = spec("fast", job_manager_task=m.BatchJobManagerTask(id="jm", command_line="true"))
        schedule_id = unique("fast")
        create(client, schedule_id, job_spec, recurrence_interval=timedelta(minutes=5))
        wait_for(lambda: len(jobs_of(client, schedule_id)) >= 3, timeout=20, what="three recurrences")
        fast.advance_clock(86400)  # a day on: the restart must keep that too
        before = service_now(fast)
        fast.restart()
        client = fast.batch_client()
        assert service_now(fast) >= before  # the service's time does not go back across the restart
        count = len(jobs_of(client, schedule_id))
        wait_for(lambda: len(jobs_of(client, schedule_id)) >= count + 2, timeout=20, what="runs after the restart")
        jobs = jobs_of(client, schedule_id)
        assert [job.id for job in jobs] == [f"{schedule_id}:job-{n}" for n in range(1, len(jobs) + 1)]
        # At most one job per recurrence: a job created late (its predecessor still active when it fell due) may
        # follow the previous one closely, as on Batch, but never two jobs in the same 5-minute slot.
        anchor = client.get_job_schedule(schedule_id).creation_time
        slots = [(job.creation_time - anchor) // timedelta(minutes=5) for job in jobs]
        assert all(earlier < later for earlier, later in itertools.pairwise(slots)), slots


def test_the_clock_moves_only_with_a_test_clock(local_batch: LocalBatch) -> None:
    assert local_batch.clock()["testClock"] is False
    with pytest.raises(Exception, match="TestClockNotEnabled"):
        local_batch.advance_clock(60)


# ---- raw requests at the api-version the last azure-batch 14.x sends --------------------------------


@pytest.fixture(scope="module")
def raw(batch: LocalBatch) -> RawBatch:
    return RawBatch(batch, api_version=LAST_14X_API_VERSION)


def _code(response: RawResponse) -> str:
    return str(response.json()["code"])


def test_every_operation_as_a_14x_client_sends_it(raw: RawBatch, pool_id: str, batch: LocalBatch) -> None:
    schedule_id = unique("raw")
    path = f"/jobschedules/{schedule_id}"
    body = {
        "id": schedule_id,
        "displayName": "nightly",
        "schedule": {"recurrenceInterval": "PT1H", "startWindow": "PT30M"},
        "jobSpecification": {
            "poolInfo": {"poolId": pool_id},
            "jobManagerTask": {"id": "jm", "commandLine": "true"},
            "onAllTasksComplete": "terminatejob",
        },
        "metadata": [{"name": "owner", "value": "data"}],
    }
    added = raw.request("POST", "/jobschedules", body=body)
    assert added.status_code == 201, added.text
    assert added.headers["location"].endswith(path) and added.headers["etag"]
    got = raw.request("GET", path)
    assert got.status_code == 200 and got.json()["odata.metadata"].endswith("#jobschedules/@Element")
    document = got.json()
    assert (document["state"], document["displayName"], document["schedule"]["startWindow"]) == (
        "active",
        "nightly",
        "PT30M",
    )
    assert document["executionInfo"]["recentJob"]["id"] == f"{schedule_id}:job-1"
    assert document["eTag"] == got.headers["etag"]
    assert raw.request("HEAD", path).status_code == 200
    assert raw.request("HEAD", "/jobschedules/absent").status_code == 404
    listed = raw.request("GET", "/jobschedules", query=[("$filter", f"id eq '{schedule_id}'")])
    assert [s["id"] for s in listed.json()["value"]] == [schedule_id]
    jobs = raw.request("GET", f"{path}/jobs")
    assert [job["id"] for job in jobs.json()["value"]] == [f"{schedule_id}:job-1"]
    stale = raw.request("PATCH", path, body={"metadata": []}, headers={"If-Match": '"0x1"'})
    assert stale.status_code == 412 and _code(stale) == "ConditionNotMet"
    patched = raw.request("PATCH", path, body={"schedule": {"recurrenceInterval": "PT2H"}})
    assert patched.status_code == 200 and patched.headers["etag"] != got.headers["etag"]
    assert raw.request("GET", path).json()["schedule"] == {"recurrenceInterval": "PT2H"}
    replaced = raw.request(
        "PUT", path, body={"schedule": {"recurrenceInterval": "PT3H"}, "jobSpecification": body["jobSpecification"]}
    )
    assert replaced.status_code == 200, replaced.text
    assert "metadata" not in raw.request("GET", path).json()
    assert raw.request("POST", f"{path}/disable").status_code == 204
    assert raw.request("GET", path).json()["state"] == "disabled"
    assert raw.request("POST", f"{path}/enable").status_code == 204
    assert raw.request("POST", f"{path}/terminate").status_code == 202
    wait_for(lambda: raw.request("GET", path).json()["state"] == "completed", what="the schedule to complete")
    assert raw.request("DELETE", path).status_code == 202
    wait_for(lambda: raw.request("GET", path).status_code == 404, what="the schedule to go")


@pytest.mark.parametrize(
    ("body", "status", "code", "property_name"),
    [
        ({"jobSpecification": {"poolInfo": {"poolId": "p"}}}, 400, "MissingRequiredProperty", "schedule"),
        ({"schedule": {}}, 400, "MissingRequiredProperty", "jobSpecification"),
        ({"schedule": {}, "jobSpecification": {}}, 400, "MissingRequiredProperty", "jobSpecification.poolInfo"),
        (
            {"schedule": {"recurrenceInterval": 3600}, "jobSpecification": {"poolInfo": {"poolId": "p"}}},
            400,
            "InvalidRequestBody",
            None,
        ),
        (
            {"schedule": {"recurrenceInterval": "PT30S"}, "jobSpecification": {"poolInfo": {"poolId": "p"}}},
            400,
            "InvalidPropertyValue",
            "schedule.recurrenceInterval",
        ),
        (
            {"schedule": {"startWindow": "soon"}, "jobSpecification": {"poolInfo": {"poolId": "p"}}},
            400,
            "InvalidPropertyValue",
            "schedule.startWindow",
        ),
        (
            {"schedule": {"doNotRunUntil": "tomorrow"}, "jobSpecification": {"poolInfo": {"poolId": "p"}}},
            400,
            "InvalidPropertyValue",
            "schedule.doNotRunUntil",
        ),
        (
            {
                "schedule": {},
                "jobSpecification": {
                    "poolInfo": {"autoPoolSpecification": {"poolLifetimeOption": "forever", "pool": {"vmSize": "s"}}}
                },
            },
            400,
            "InvalidPropertyValue",
            "jobSpecification.poolInfo.autoPoolSpecification.poolLifetimeOption",
        ),
        (
            {"schedule": {}, "jobSpecification": {"poolInfo": {"poolId": "p"}, "priority": 5000}},
            400,
            "InvalidPropertyValue",
            "jobSpecification.priority",
        ),
    ],
)
def test_malformed_adds_get_the_documented_errors(
    raw: RawBatch, body: dict[str, Any], status: int, code: str, property_name: str | None
) -> None:
    schedule_id = unique("malformed")
    response = raw.request("POST", "/jobschedules", body={"id": schedule_id, **body})
    assert (response.status_code, _code(response)) == (status, code), response.text
    if property_name is not None:
        values = {v["key"]: v["value"] for v in response.json().get("values", [])}
        assert values["PropertyName"] == property_name
    assert raw.request("GET", f"/jobschedules/{schedule_id}").status_code == 404


def test_operations_on_a_schedule_being_deleted_or_terminated_are_refused(
    raw: RawBatch, pool_id: str, batch: LocalBatch
) -> None:
    schedule_id = unique("ending")
    path = f"/jobschedules/{schedule_id}"
    marker = Path(batch.data_dir) / f"{schedule_id}.release"
    # The job release task holds the job (so the schedule) in terminating, then deleting, until the marker.
    release = f"/bin/sh -c 'i=0; while [ ! -e {marker} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done'"
    job_spec = {
        "poolInfo": {"poolId": pool_id},
        "jobManagerTask": {"id": "jm", "commandLine": "/bin/sh -c 'sleep 60'", "runExclusive": False},
        "jobPreparationTask": {"commandLine": "true"},
        "jobReleaseTask": {"commandLine": release},
    }
    body = {"id": schedule_id, "schedule": {}, "jobSpecification": job_spec}
    assert raw.request("POST", "/jobschedules", body=body).status_code == 201
    task_path = f"/jobs/{schedule_id}:job-1/tasks/jm"
    wait_for(lambda: raw.request("GET", task_path).json().get("state") == "running", what="the manager to run")
    assert raw.request("POST", f"{path}/terminate").status_code == 202
    assert raw.request("GET", path).json()["state"] == "terminating"
    for method, suffix, request_body in (("PATCH", "", {"metadata": []}), ("POST", "/disable", None)):
        refused = raw.request(method, path + suffix, body=request_body)
        assert (refused.status_code, _code(refused)) == (409, "JobScheduleBeingTerminated"), refused.text
    assert raw.request("POST", f"{path}/terminate").status_code == 202  # terminating again is no change
    assert raw.request("DELETE", path).status_code == 202
    assert raw.request("GET", path).json()["state"] == "deleting"
    for method, suffix, request_body in (("POST", "", body), ("POST", "/terminate", None), ("POST", "/enable", None)):
        target = "/jobschedules" if suffix == "" else path + suffix
        refused = raw.request(method, target, body=request_body)
        assert (refused.status_code, _code(refused)) == (409, "JobScheduleBeingDeleted"), refused.text
    marker.write_text("go")
    wait_for(lambda: raw.request("GET", path).status_code == 404, what="the schedule to go")
    assert _code(raw.request("GET", path)) == "JobScheduleNotFound"
    assert raw.request("GET", f"/jobs/{schedule_id}:job-1").status_code == 404


def test_times_without_a_zone_are_utc_and_served_in_one_form(raw: RawBatch, pool_id: str) -> None:
    schedule_id = unique("naive")
    schedule = {"doNotRunUntil": "2030-01-01T00:00:00", "doNotRunAfter": "2030-01-02T01:00:00+01:00"}
    body = {"id": schedule_id, "schedule": schedule, "jobSpecification": {"poolInfo": {"poolId": pool_id}}}
    assert raw.request("POST", "/jobschedules", body=body).status_code == 201
    document = raw.request("GET", f"/jobschedules/{schedule_id}").json()
    assert document["schedule"]["doNotRunUntil"] == "2030-01-01T00:00:00.000000Z"
    assert document["schedule"]["doNotRunAfter"] == "2030-01-02T00:00:00.000000Z"
    assert document["executionInfo"]["nextRunTime"] == "2030-01-01T00:00:00.000000Z"
    assert raw.request("DELETE", f"/jobschedules/{schedule_id}").status_code == 202


def test_serve_refuses_a_clock_speed_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        command.main(["serve", "--clock-speed", "0"])
    assert exited.value.code == 2 and "--clock-speed: must be greater than 0" in capsys.readouterr().err
    assert command.clock_arguments(600.0, True) == ["--clock-speed", "600.0", "--test-clock"]
    assert command.clock_arguments(1.0, False) == []
