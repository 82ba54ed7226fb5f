"""Job schedules: the account's `jobschedules` and the jobs they create on the service's clock.

A schedule's recurrences lie on a grid: the first at `doNotRunUntil` (or when the schedule was created),
then one every `recurrenceInterval`. A schedule has at most one active job; a recurrence that falls due
while the previous job still runs waits for it, and is lost if that job does not end within the
recurrence's `startWindow` (never carried into the next interval, so a window longer than the interval
is the same as an infinite one). Without a `recurrenceInterval` the schedule creates one job and completes
when that job ends. No job is created at or after `doNotRunAfter`; the schedule completes once that time
has passed and its last job has ended.

Jobs are created by `Account.create_job`, the path `POST /jobs` takes, with the id
`<schedule id>:job-<n>`. Terminating a schedule terminates its active job (reason `TerminateJobSchedule`);
deleting it deletes all its jobs, then the schedule. An auto pool with the `jobSchedule` lifetime is made
with the first job, shared by the schedule's jobs and deleted (unless `keepAlive`) when the schedule
completes or is deleted.

All of this runs on the service's event loop; `ScheduleBook.run` is the timer that creates due jobs
and notices jobs that ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from batchforge.localbatch import autopools, clock, jobmanager
from batchforge.localbatch.account import Account, require_id, set_state
from batchforge.localbatch.clock import iso, iso_now, new_etag, now, parse_duration, parse_iso, real_seconds
from batchforge.localbatch.entities import Entity, Job, key_of
from batchforge.localbatch.errors import BatchApiError, already_exists, invalid_property, missing_property, not_found
from batchforge.localbatch.store import FlushError

log = logging.getLogger("batchforge.localbatch.schedules")

KIND = "jobschedule"
MIN_INTERVAL = timedelta(minutes=1)
# The id a schedule's jobs get: `<schedule id>:job-<n>`, n counting from 1.
JOB_ID_SEPARATOR = ":job-"
# On a job's body: the key of the schedule that created it.
SCHEDULE_KEY = "_jobScheduleKey"
# Bookkeeping on a schedule's body (never served).
NEXT_DUE = "_nextDue"  # iso time of the earliest recurrence not yet run or lost; absent when none is left
ACTIVE_JOB = "_activeJob"  # key of the job that is the schedule's active one
JOB_COUNT = "_jobCount"
# How often, in real seconds, the timer looks at schedules that wait on a running job at most.
POLL_SECONDS = 0.1
IDLE_SECONDS = 5.0
JOB_SPEC_FIELDS = (
    "priority",
    "allowTaskPreemption",
    "maxParallelTasks",
    "displayName",
    "usesTaskDependencies",
    "onAllTasksComplete",
    "onTaskFailure",
    "networkConfiguration",
    "constraints",
    "jobManagerTask",
    "jobPreparationTask",
    "jobReleaseTask",
    "commonEnvironmentSettings",
    "poolInfo",
    "metadata",
)


def being_deleted() -> BatchApiError:
    return BatchApiError(409, "JobScheduleBeingDeleted", "The specified job schedule has been marked for deletion.")


def being_terminated() -> BatchApiError:
    return BatchApiError(409, "JobScheduleBeingTerminated", "The specified job schedule is being terminated.")


def completed() -> BatchApiError:
    return BatchApiError(409, "JobScheduleCompleted", "The specified job schedule is already in a completed state.")


@dataclass(eq=False)
class JobSchedule(Entity):
    def add_urls(self, out: dict[str, Any], base_url: str) -> None:
        out["url"] = f"{base_url}/jobschedules/{quote(self.id, safe='')}"
        if isinstance(out.get("stats"), dict):
            out["stats"] = {"url": out["url"] + "/stats", **out["stats"]}
        info = out.get("executionInfo")
        recent = info.get("recentJob") if isinstance(info, dict) else None
        if isinstance(recent, dict) and recent.get("id"):
            # A copy: `public` copies only the top level and the stored body must stay free of URLs.
            out["executionInfo"] = {**info, "recentJob": {**recent, "url": f"{base_url}/jobs/{quote(recent['id'])}"}}


# ---- checking request bodies ---------------------------------------------------------------------


def _duration(name: str, value: object) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(str(value))
    except ValueError:
        raise invalid_property(name, value, "Not a valid ISO 8601 duration.") from None


def _time(name: str, value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parse_iso(str(value))
    except ValueError:
        raise invalid_property(name, value, "Not a valid ISO 8601 date and time.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)  # Batch's times are UTC


def check_schedule(schedule: object) -> dict[str, Any]:
    """The `schedule` of an add or update; 400 for an interval or window under a minute or a bad time."""
    if schedule is None:
        return {}
    if not isinstance(schedule, dict):
        raise invalid_property("schedule", schedule, "Must be an object.")
    for name in ("recurrenceInterval", "startWindow"):
        value = _duration(f"schedule.{name}", schedule.get(name))
        if value is not None and value < MIN_INTERVAL:
            raise invalid_property(f"schedule.{name}", schedule[name], "The minimum value is 1 minute.")
    until = _time("schedule.doNotRunUntil", schedule.get("doNotRunUntil"))
    after = _time("schedule.doNotRunAfter", schedule.get("doNotRunAfter"))
    if until is not None and after is not None and after < until:
        raise invalid_property(
            "schedule.doNotRunAfter", schedule["doNotRunAfter"], "doNotRunAfter must not be before doNotRunUntil."
        )
    checked = copy.deepcopy(schedule)
    for name, value in (("doNotRunUntil", until), ("doNotRunAfter", after)):
        if value is not None:
            checked[name] = iso(value)  # one form (UTC, Z) for the comparisons the timer makes
    return checked


def check_job_specification(spec: object) -> dict[str, Any]:
    """What Job - Add would refuse in the specification of the jobs, refused when the schedule is added."""
    if spec is None:
        raise missing_property("jobSpecification")
    if not isinstance(spec, dict):
        raise invalid_property("jobSpecification", spec, "Must be an object.")
    autopools.auto_pool_spec(spec.get("poolInfo"), schedule=True)
    if spec.get("jobManagerTask") is not None:
        jobmanager.checked_spec(spec["jobManagerTask"])
    for name in ("jobPreparationTask", "jobReleaseTask"):
        task = spec.get(name)
        if task is not None and not task.get("commandLine"):
            raise missing_property(f"jobSpecification.{name}.commandLine")
    if spec.get("jobReleaseTask") and not spec.get("jobPreparationTask"):
        raise invalid_property(
            "jobSpecification.jobReleaseTask", "...", "A job release task requires a job preparation task."
        )
    constraints = spec.get("constraints") or {}
    _duration("jobSpecification.constraints.maxWallClockTime", constraints.get("maxWallClockTime"))
    return copy.deepcopy(spec)


# ---- the book of schedules -----------------------------------------------------------------------


class ScheduleBook:
    """The account's job schedules, in memory and in the store (kind `jobschedule`)."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.schedules: dict[str, JobSchedule] = {}
        self._changed = asyncio.Event()

    # ---- persistence ---------------------------------------------------------------------------
    def load(self) -> None:
        for key, seq, body in self.account.store.load(KIND):
            self.schedules[key] = JobSchedule(key=key, seq=seq, body=body)

    def save(self, schedule: JobSchedule, *, modified: bool) -> None:
        """`modified`: a change to the schedule itself (new ETag and lastModified); the jobs it runs are not."""
        if modified:
            schedule.body["eTag"] = new_etag()
            schedule.body["lastModified"] = iso_now()
        self.account.store.put(KIND, schedule.key, schedule.seq, schedule.body)

    def poke(self) -> None:
        """Have the timer look at the schedules now (after a request or a clock change)."""
        self._changed.set()

    # ---- lookups -------------------------------------------------------------------------------
    def get(self, schedule_id: str) -> JobSchedule:
        schedule = self.schedules.get(key_of(schedule_id))
        if schedule is None:
            raise not_found("JobSchedule", "job schedule")
        return schedule

    def jobs_of(self, schedule: JobSchedule) -> list[Job]:
        return [job for job in self.account.jobs.values() if job.body.get(SCHEDULE_KEY) == schedule.key]

    def statistics(self, schedule: JobSchedule) -> dict[str, Any]:
        """`stats` (`$expand=stats`), summed over the tasks of the schedule's jobs that still exist. Local
        nodes measure no CPU time or disk I/O: those are zero."""
        succeeded = failed = retries = 0
        wall = wait = timedelta(0)
        for job in self.jobs_of(schedule):
            for task in job.tasks.values():
                info = task.body.get("executionInfo") or {}
                retries += int(info.get("retryCount") or 0)
                started = info.get("startTime")
                if started:
                    wait += max(timedelta(0), parse_iso(started) - parse_iso(task.body["creationTime"]))
                if task.state != "completed":
                    continue
                if info.get("result") == "success":
                    succeeded += 1
                else:
                    failed += 1
                if started and info.get("endTime"):
                    wall += max(timedelta(0), parse_iso(info["endTime"]) - parse_iso(started))
        return {
            "startTime": schedule.body["creationTime"],
            "lastUpdateTime": iso_now(),
            "userCPUTime": "PT0S",
            "kernelCPUTime": "PT0S",
            "wallClockTime": _iso_duration(wall),
            "readIOps": 0,
            "writeIOps": 0,
            "readIOGiB": 0.0,
            "writeIOGiB": 0.0,
            "numSucceededTasks": succeeded,
            "numFailedTasks": failed,
            "numTaskRetries": retries,
            "waitTime": _iso_duration(wait),
        }

    # ---- operations ----------------------------------------------------------------------------
    def add(self, body: dict[str, Any]) -> JobSchedule:
        schedule_id = require_id(body)
        existing = self.schedules.get(key_of(schedule_id))
        if existing is not None:
            raise being_deleted() if existing.state == "deleting" else already_exists("JobSchedule", "job schedule")
        # Schedules count against the account's quota of active jobs and job schedules (job_rules.ActiveQuota).
        self.account.quota.check_room()
        if "schedule" not in body or body["schedule"] is None:
            raise missing_property("schedule")
        schedule_part = check_schedule(body["schedule"])
        spec = check_job_specification(body.get("jobSpecification"))
        current = iso_now()
        stored: dict[str, Any] = {
            "id": schedule_id,
            **({"displayName": body["displayName"]} if body.get("displayName") is not None else {}),
            "creationTime": current,
            "state": "active",
            "stateTransitionTime": current,
            "schedule": schedule_part,
            "jobSpecification": spec,
            "executionInfo": {},
            JOB_COUNT: 0,
        }
        if body.get("metadata") is not None:
            stored["metadata"] = copy.deepcopy(body["metadata"])
        stored[NEXT_DUE] = iso(self._anchor(stored))
        schedule = JobSchedule(key=key_of(schedule_id), seq=self.account.next_seq(), body=stored)
        self._publish_next_run(schedule)
        self.schedules[schedule.key] = schedule
        self.save(schedule, modified=True)
        self.step(schedule)
        self.poke()
        return schedule

    def update(self, schedule_id: str, body: dict[str, Any], *, replace: bool) -> JobSchedule:
        """PATCH changes what the body names; PUT replaces schedule, job specification and metadata
        (a missing schedule is the default one: a single job now; missing metadata is none)."""
        schedule = self.get(schedule_id)
        self._refuse_if_ended(schedule)
        if replace and body.get("jobSpecification") is None:
            raise missing_property("jobSpecification")
        new_schedule = check_schedule(body.get("schedule")) if (replace or body.get("schedule") is not None) else None
        new_spec = check_job_specification(body["jobSpecification"]) if body.get("jobSpecification") else None
        if new_schedule is not None:
            schedule.body["schedule"] = new_schedule
            self._regrid(schedule)
        if new_spec is not None:
            # Only jobs created from now on see it; the active job keeps the specification it was made with.
            schedule.body["jobSpecification"] = new_spec
        if body.get("metadata") is not None:
            schedule.body["metadata"] = copy.deepcopy(body["metadata"])
        elif replace:
            schedule.body.pop("metadata", None)
        self._publish_next_run(schedule)
        self.save(schedule, modified=True)
        self.step(schedule)
        self.poke()
        return schedule

    def disable(self, schedule_id: str) -> JobSchedule:
        schedule = self.get(schedule_id)
        self._refuse_if_ended(schedule)
        if schedule.state == "active":
            set_state(schedule.body, "disabled")
            self.save(schedule, modified=True)
        return schedule

    def enable(self, schedule_id: str) -> JobSchedule:
        schedule = self.get(schedule_id)
        self._refuse_if_ended(schedule)
        if schedule.state == "disabled":
            set_state(schedule.body, "active")
            self.save(schedule, modified=True)
            self.step(schedule)
            self.poke()
        return schedule

    def terminate(self, schedule_id: str) -> JobSchedule:
        schedule = self.get(schedule_id)
        if schedule.state == "deleting":
            raise being_deleted()
        if schedule.state == "completed":
            raise completed()
        if schedule.state != "terminating":
            set_state(schedule.body, "terminating")
            self.save(schedule, modified=True)
            self.step(schedule)
            self.poke()
        return schedule

    def delete(self, schedule_id: str) -> None:
        schedule = self.get(schedule_id)
        if schedule.state != "deleting":
            set_state(schedule.body, "deleting")
            self.save(schedule, modified=True)
            self.step(schedule)
            self.poke()

    def _refuse_if_ended(self, schedule: JobSchedule) -> None:
        if schedule.state == "deleting":
            raise being_deleted()
        if schedule.state == "terminating":
            raise being_terminated()
        if schedule.state == "completed":
            raise completed()

    # ---- time ----------------------------------------------------------------------------------
    @staticmethod
    def _anchor(body: dict[str, Any]) -> datetime:
        until = (body.get("schedule") or {}).get("doNotRunUntil")
        return parse_iso(until) if until else parse_iso(body["creationTime"])

    @staticmethod
    def _interval(body: dict[str, Any]) -> timedelta | None:
        value = (body.get("schedule") or {}).get("recurrenceInterval")
        return parse_duration(value) if value else None

    def _regrid(self, schedule: JobSchedule) -> None:
        """After the schedule changed: the first recurrence on the new grid after the last job's creation."""
        body = schedule.body
        anchor = self._anchor(body)
        interval = self._interval(body)
        last = body.get("_lastRun")
        if last is None:
            body[NEXT_DUE] = iso(anchor)
            return
        last_run = parse_iso(last)
        if interval is None:
            if anchor > last_run:
                body[NEXT_DUE] = iso(anchor)
            else:
                body.pop(NEXT_DUE, None)
            return
        if anchor > last_run:
            body[NEXT_DUE] = iso(anchor)
            return
        steps = (last_run - anchor) // interval + 1
        body[NEXT_DUE] = iso(anchor + steps * interval)

    def _publish_next_run(self, schedule: JobSchedule) -> None:
        info = schedule.body.setdefault("executionInfo", {})
        due = schedule.body.get(NEXT_DUE)
        after = (schedule.body.get("schedule") or {}).get("doNotRunAfter")
        if due and schedule.state in ("active", "disabled") and (after is None or parse_iso(due) < parse_iso(after)):
            info["nextRunTime"] = due
        else:
            info.pop("nextRunTime", None)

    # ---- the timer -----------------------------------------------------------------------------
    def active_job(self, schedule: JobSchedule) -> Job | None:
        key = schedule.body.get(ACTIVE_JOB)
        job = self.account.jobs.get(key) if key else None
        if job is None or job.state == "completed":
            return None
        return job

    def step(self, schedule: JobSchedule) -> None:
        """Bring one schedule up to date with the clock and its jobs."""
        state = schedule.state
        if state == "deleting":
            self._wind_down_deleting(schedule)
            return
        job = self.active_job(schedule)
        if job is None and schedule.body.get(ACTIVE_JOB):
            schedule.body.pop(ACTIVE_JOB, None)
            self.save(schedule, modified=False)
        if state == "terminating":
            if job is not None:
                self.account.begin_terminate(job, "TerminateJobSchedule")
            else:
                self._complete(schedule)
            return
        if state not in ("active", "disabled"):
            return
        current = now()
        due_text = schedule.body.get(NEXT_DUE)
        after_text = (schedule.body.get("schedule") or {}).get("doNotRunAfter")
        after = parse_iso(after_text) if after_text else None
        if due_text is not None:
            due = self._latest_due(schedule, parse_iso(due_text), current)
            if due is not None:
                self._consider(schedule, due, current, after, job, run=state == "active")
        if (
            self.active_job(schedule) is None
            and state == "active"
            and (schedule.body.get(NEXT_DUE) is None or (after is not None and current >= after))
        ):
            self._complete(schedule)

    def _latest_due(self, schedule: JobSchedule, next_due: datetime, current: datetime) -> datetime | None:
        """The latest recurrence on the grid at or before now, not before the next one due; None if not yet."""
        if next_due > current:
            return None
        interval = self._interval(schedule.body)
        if interval is None:
            return next_due
        return next_due + ((current - next_due) // interval) * interval

    def _consider(
        self,
        schedule: JobSchedule,
        due: datetime,
        current: datetime,
        after: datetime | None,
        job: Job | None,
        *,
        run: bool,
    ) -> None:
        body = schedule.body
        interval = self._interval(body)
        window = _duration("schedule.startWindow", (body.get("schedule") or {}).get("startWindow"))
        following = due + interval if interval is not None else None
        lost = (window is not None and current >= due + window) or (after is not None and due >= after)
        if not lost and (job is not None or not run):
            # Waits for the running job (or for the schedule to be enabled); the grid stays where it is.
            if body.get(NEXT_DUE) != iso(due):
                body[NEXT_DUE] = iso(due)
                self._publish_next_run(schedule)
                self.save(schedule, modified=False)
            return
        if following is None:
            body.pop(NEXT_DUE, None)
        else:
            body[NEXT_DUE] = iso(following)
        if not lost and (after is None or current < after):
            self._create_job(schedule, current)
        self._publish_next_run(schedule)
        self.save(schedule, modified=False)

    def _create_job(self, schedule: JobSchedule, current: datetime) -> None:
        body = schedule.body
        number = int(body.get(JOB_COUNT, 0)) + 1
        body[JOB_COUNT] = number
        body["_lastRun"] = iso(current)
        job_body = copy.deepcopy(body["jobSpecification"])
        job_body["id"] = f"{schedule.id}{JOB_ID_SEPARATOR}{number}"
        try:
            job = self.account.create_job(job_body, job_schedule=body)
        except BatchApiError as err:
            # A job of that id made by hand, or a pool that cannot be made: the recurrence is lost, as in Batch.
            log.warning("job schedule %s: job %s not created: %s", schedule.id, job_body["id"], err)
            return
        job.body[SCHEDULE_KEY] = schedule.key
        self.account.save(job, modified=False)
        body[ACTIVE_JOB] = job.key
        body.setdefault("executionInfo", {})["recentJob"] = {"id": job.id}

    def _complete(self, schedule: JobSchedule) -> None:
        set_state(schedule.body, "completed")
        schedule.body.pop(NEXT_DUE, None)
        info = schedule.body.setdefault("executionInfo", {})
        info["endTime"] = iso_now()
        self._publish_next_run(schedule)
        self.save(schedule, modified=False)
        autopools.schedule_ended(self.account, schedule.body)

    def _wind_down_deleting(self, schedule: JobSchedule) -> None:
        jobs = self.jobs_of(schedule)
        for job in jobs:
            if job.state != "deleting":
                self.account.delete_job(job.id)
        if jobs:
            return
        self.schedules.pop(schedule.key, None)
        self.account.store.delete(KIND, schedule.key)
        autopools.schedule_ended(self.account, schedule.body)

    def step_all(self) -> None:
        if clock.speed() != 1.0:
            # A fast clock's lead grows by itself; kept so that a restart goes on from the same time.
            self.account.store.set_counter(clock.LEAD_COUNTER, int(clock.lead().total_seconds() * 1000))
        for schedule in list(self.schedules.values()):
            try:
                self.step(schedule)
            except Exception:
                log.exception("job schedule %s failed; skipped in this pass", schedule.id)
        with contextlib.suppress(FlushError):  # logged by the store; kept for the next flush
            self.account.store.flush()

    def _sleep_seconds(self) -> float:
        """Real seconds until the timer must look again: the next due recurrence, or soon if a schedule waits
        on a job that may end any time."""
        wait = IDLE_SECONDS
        current = now()
        for schedule in self.schedules.values():
            if schedule.state in ("terminating", "deleting") or schedule.body.get(ACTIVE_JOB):
                return POLL_SECONDS
            due = schedule.body.get(NEXT_DUE)
            if due is not None and schedule.state == "active":
                wait = min(wait, max(0.0, real_seconds(parse_iso(due) - current)))
        return max(wait, 0.01)

    async def run(self) -> None:
        while True:
            self.step_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._sleep_seconds())
            self._changed.clear()


def _iso_duration(value: timedelta) -> str:
    return f"PT{value.total_seconds():.3f}S"
