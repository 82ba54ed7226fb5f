"""The typed workload file: one Batch job and its tasks, as written in ``workloads/*.yaml``.

Keys are camelCase in YAML, fields snake_case here. Enum values are spelled as in the Batch REST API
(``terminatejob``, ``tasksuccess``, ``nonadmin``). Limits are the service's own, so a file that
validates here is not rejected by the service for a range or length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from batchforge.core.fields import FileMode

# The job id is "<workload id>-<10 hex chars>" and Batch allows 64 characters.
HASH_LENGTH = 10
MAX_WORKLOAD_ID_LENGTH = 64 - 1 - HASH_LENGTH
MAX_TASK_ID_LENGTH = 64
MAX_SWEEP_TASKS = 1_000_000
RESERVED_METADATA_PREFIX = "batchforge-"

_WORKLOAD_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_WORKLOAD_ID_LENGTH}}}$")
TASK_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_TASK_ID_LENGTH}}}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = TypeAdapter(timedelta)

TASK_ID_RULE = f"must be 1-{MAX_TASK_ID_LENGTH} letters, digits, hyphens or underscores"
# The service's integers are 32-bit (exit codes, slots, counts); sweep ranges are bounded before any expansion.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_RANGE_BOUND = 2**53
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


def _duration(value: object) -> object:
    """Accepts ISO 8601 (``PT15M``) or ``HH:MM:SS``; anything else gets one clear message."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = _DURATION.validate_python(value.strip())
        except ValidationError:
            pass
        else:
            if parsed > timedelta(0):
                return parsed
            raise ValueError("must be a duration longer than zero")
    raise ValueError("must be a duration such as PT15M (ISO 8601) or 00:15:00")


def _scalar_text(value: object) -> object:
    """YAML scalars as the text a user meant: ``1`` -> ``"1"``, ``true`` -> ``"true"`` (env and metadata values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


ScalarText = Annotated[str, BeforeValidator(_scalar_text)]
TextMap = dict[str, ScalarText]


def _check_environment(value: dict[str, str]) -> dict[str, str]:
    bad = [name for name in value if not _ENV_NAME.match(name)]
    if bad:
        raise ValueError(f"environment variable names must be letters, digits and '_': {', '.join(bad)}")
    return value


def _check_relative_node_path(value: str | None) -> str | None:
    if value is None:
        return value
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError("must be a path relative to the task's working directory (no leading '/', no '..')")
    return value


def _check_repo_path(value: str) -> str:
    if "://" in value:
        raise ValueError("must be a path in this repository or an http(s) URL")
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise ValueError("must be a path inside this repository (relative, no '..')")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Environment = Annotated[TextMap, AfterValidator(_check_environment)]
NodePath = Annotated[str, Field(min_length=1), AfterValidator(_check_relative_node_path)]
RepoPath = Annotated[str, Field(min_length=1), AfterValidator(_check_repo_path)]


# ----------------------------------------------------------------------------------------- shared pieces


class TaskConstraints(_Strict):
    """Per-task limits; unset values fall back to the job's constraints."""

    max_wall_clock_time: Duration | None = Field(default=None, description="e.g. PT30M; no limit when unset")
    retention_time: Duration | None = Field(default=None, description="How long the task folder is kept, e.g. P1D")
    max_task_retry_count: int | None = Field(
        default=None, ge=-1, le=100, description="Retries after a non-zero exit: 0 none, -1 without limit, at most 100"
    )


class JobConstraints(_Strict):
    max_wall_clock_time: Duration | None = Field(default=None, description="The job's time limit, e.g. PT2H")
    max_task_retry_count: int | None = Field(
        default=None, ge=-1, le=100, description="Default retries per task: 0 none, -1 without limit, at most 100"
    )


class AutoUser(_Strict):
    """The auto-user a task runs as. ``task`` (the default): a user of its own, so no other task on the node can
    read or change its folder; ``pool``: the one user every task on the node shares, only with a ``reason``."""

    scope: Literal["task", "pool"] = Field(
        default="task", description="task: a user of its own; pool: one auto-user shared by all tasks (needs reason)"
    )
    elevation_level: Literal["nonadmin", "admin"] = "nonadmin"
    reason: str | None = Field(
        default=None, min_length=1, description="Why the task needs the shared pool-scoped user (scope: pool only)"
    )

    @model_validator(mode="after")
    def _pool_scope_says_why(self) -> Self:
        if self.scope == "pool" and self.reason is None:
            raise ValueError(
                "scope pool runs the task as the user every task on the node shares (it can read and change other "
                "tasks' and jobs' files there); set reason to say why this workload needs it, or use scope task"
            )
        if self.scope == "task" and self.reason is not None:
            raise ValueError("reason is for scope pool only (task scope is the default and needs none)")
        return self


class UserIdentity(_Strict):
    auto_user: AutoUser = Field(default_factory=AutoUser)


class LocalOrUrlFile(_Strict):
    """A repository file or folder (uploaded to the resources container first) or an http(s) URL."""

    source: str = Field(min_length=1, description="Repo-relative file or folder, or an http(s) URL")
    file_path: NodePath | None = Field(default=None, description="Where it lands, relative to the working directory")
    file_mode: FileMode | None = Field(default=None, description="Octal mode on Linux nodes, e.g. '0755'")
    use_identity: bool | None = Field(
        default=None,
        description="Download a URL with the pools' managed identity (default: only for local files, which live "
        "in the resources container)",
    )

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value.startswith(("http://", "https://")):
            return value
        return _check_repo_path(value)


class ContainerFiles(_Strict):
    """Every blob under a prefix of a blob container: the stack's resources container, this job's outputs
    (``container: outputs``, e.g. what earlier tasks uploaded), or any container by URL."""

    storage_container_url: str | None = Field(
        default=None, description="https URL of a blob container; default: the stack container named by 'container'"
    )
    container: Literal["resources", "outputs"] = Field(
        default="resources",
        description="Without storageContainerUrl: the resources container, or this job's folder ('<job id>/') "
        "in the outputs container",
    )
    blob_prefix: str | None = Field(default=None, min_length=1, description="Only blobs whose names start with this")
    file_path: NodePath | None = Field(
        default=None, description="Folder the blobs land in, relative to the working dir"
    )
    file_mode: FileMode | None = None
    use_identity: bool = Field(default=True, description="Read the container with the pools' managed identity")

    @field_validator("storage_container_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL of a blob container")
        return value

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.storage_container_url is not None and "container" in self.model_fields_set:
            raise ValueError("set either storageContainerUrl or container, not both")
        if self.storage_container_url is None and self.blob_prefix is None and self.container == "resources":
            raise ValueError(
                "needs storageContainerUrl, blobPrefix or container: outputs (not the whole resources container)"
            )
        return self


def _resource_file_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        # Without container keys it is meant as a file, so a misspelt 'source' gets a did-you-mean.
        if "source" not in value and ({"storageContainerUrl", "blobPrefix", "container"} & value.keys()):
            return "ContainerFiles"
        return "LocalOrUrlFile"
    if isinstance(value, LocalOrUrlFile):
        return "LocalOrUrlFile"
    if isinstance(value, ContainerFiles):
        return "ContainerFiles"
    return None


ResourceFileSpec = Annotated[
    Annotated[LocalOrUrlFile, Tag("LocalOrUrlFile")] | Annotated[ContainerFiles, Tag("ContainerFiles")],
    Discriminator(
        _resource_file_kind,
        custom_error_type="resource_file_kind",
        custom_error_message="must have 'source' (repo path or URL), or 'storageContainerUrl'/'container'/'blobPrefix'",
    ),
]


class OutputFileSpec(_Strict):
    """Files the task leaves behind, uploaded to the outputs container under ``<job id>/``."""

    pattern: str = Field(
        min_length=1, description="Glob relative to the working directory, e.g. '*.csv', 'out/**/*', '../stdout.txt'"
    )
    destination: str | None = Field(
        default=None,
        min_length=1,
        description="Blob path under '<job id>/'. A pattern with a wildcard uploads into this folder "
        "('out/*.json' + 'results' -> '<job id>/results/a.json'); a pattern without one uploads one file and this "
        "is its blob name ('answer.txt' + 'answers/{index}.txt'), so it must differ per task; default: the task id",
    )
    upload_condition: Literal["tasksuccess", "taskfailure", "taskcompletion"] = "taskcompletion"


class TaskIdRange(_Strict):
    """Tasks with the integer ids start..end, both included (Batch task id ranges)."""

    start: int = Field(ge=0, le=2**31 - 1)
    end: int = Field(ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("end must be >= start")
        return self


class DependsOn(_Strict):
    ids: list[str] = Field(default_factory=list, description="Task ids that must succeed first")
    ranges: list[TaskIdRange] = Field(default_factory=list, description="Integer task id ranges that must succeed")


class ExitAction(_Strict):
    job_action: Literal["none", "disable", "terminate"] | None = Field(
        default=None, description="Needs onTaskFailure: performexitoptionsjobaction"
    )
    dependency_action: Literal["satisfy", "block"] | None = None


class ExitCodeAction(ExitAction):
    code: Int32


class ExitCodeRangeAction(ExitAction):
    start: Int32
    end: Int32

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("end must be >= start")
        return self


class ExitConditions(_Strict):
    exit_codes: list[ExitCodeAction] = Field(default_factory=list)
    exit_code_ranges: list[ExitCodeRangeAction] = Field(default_factory=list)
    pre_processing_error: ExitAction | None = None
    file_upload_error: ExitAction | None = None
    default: ExitAction | None = None

    def actions(self) -> list[ExitAction]:
        found: list[ExitAction] = [*self.exit_codes, *self.exit_code_ranges]
        found.extend(a for a in (self.pre_processing_error, self.file_upload_error, self.default) if a is not None)
        return found


class MultiInstance(_Strict):
    """MPI-style work: one task on several nodes; the coordination command runs on all of them first."""

    number_of_instances: int = Field(default=1, ge=1, le=INT32_MAX, description="Compute nodes the task needs")
    coordination_command_line: str = Field(min_length=1)
    common_resource_files: list[ResourceFileSpec] = Field(default_factory=list)


class ContainerRegistry(_Strict):
    """The registry an image comes from, pulled with the pool's managed identity (``identityReference``); Batch's
    username/password are deliberately not accepted, so no password is ever written in a workload."""

    registry_server: str = Field(min_length=1, description="Login server, e.g. myregistry.azurecr.io")


class ContainerHostBatchBindMount(_Strict):
    """A Batch folder of the node mounted into the container (Batch's containerHostBatchBindMounts entry)."""

    source: Literal["Shared", "Startup", "VfsMounts", "Task", "JobPrep", "Applications"] = Field(
        description="Which node folder: Shared, Startup, VfsMounts, Task, JobPrep or Applications"
    )
    is_read_only: bool | None = Field(default=None, description="Mount it read-only (Batch's default: read-write)")


class ContainerSettings(_Strict):
    """The container a task runs in (Batch's TaskContainerSettings); the pool needs a container configuration."""

    image_name: str = Field(min_length=1, description="Full image reference, e.g. docker.io/library/python:3.12-slim")
    registry: ContainerRegistry | None = Field(
        default=None, description="Private registry of the image, pulled with the pool's managed identity"
    )
    container_run_options: str | None = Field(
        default=None, min_length=1, description="Extra options for the container create command, e.g. '--rm'"
    )
    working_directory: Literal["taskWorkingDirectory", "containerImageDefault"] | None = Field(
        default=None, description="taskWorkingDirectory (Batch's default) or the image's own working directory"
    )
    container_host_batch_bind_mounts: list[ContainerHostBatchBindMount] | None = Field(
        default=None, description="Node folders mounted into the container; default: Batch's (the whole node root)"
    )

    def registry_server(self) -> str:
        """The login server the image is pulled from: the registry's, else the image's host (docker.io by default)."""
        if self.registry is not None:
            return self.registry.registry_server
        return image_registry(self.image_name)


def image_registry(image_name: str) -> str:
    """The registry host of an image reference (``docker.io`` when the first part is not a host)."""
    first, _, rest = image_name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


# ----------------------------------------------------------------------------------------------- tasks


class TaskTemplate(_Strict):
    """One task. In factories every string may use ``{placeholder}``s (``${VAR}`` stays a shell variable)."""

    id: str | None = Field(default=None, min_length=1, description="Task id (factories: a template)")
    display_name: str | None = Field(default=None, max_length=1024)
    command_line: str = Field(min_length=1, description="Not run in a shell: use /bin/sh -c '...' for shell features")
    resource_files: list[ResourceFileSpec] = Field(default_factory=list)
    output_files: list[OutputFileSpec] = Field(default_factory=list)
    environment: Environment = Field(default_factory=dict)
    constraints: TaskConstraints | None = None
    user_identity: UserIdentity | None = None
    required_slots: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Scheduling slots the task occupies"
    )
    depends_on: DependsOn | None = None
    multi_instance: MultiInstance | None = None
    exit_conditions: ExitConditions | None = None
    container_settings: ContainerSettings | None = Field(
        default=None, description="The container the task runs in; default: the job's containerSettings"
    )

    @model_validator(mode="after")
    def _multi_instance_rules(self) -> Self:
        if self.multi_instance is not None and self.required_slots is not None:
            raise ValueError("requiredSlots cannot be set on a multi-instance task (the service rejects it)")
        return self


class ListedTask(TaskTemplate):
    id: str = Field(min_length=1, description="Task id: letters, digits, '-' and '_', at most 64")  # type: ignore[assignment]

    @field_validator("id")
    @classmethod
    def _task_id(cls, value: str) -> str:
        if not TASK_ID.match(value):
            raise ValueError(TASK_ID_RULE)
        return value


class IntRange(_Strict):
    """start, start+step, ... up to and including stop when reached."""

    start: int = Field(ge=-MAX_RANGE_BOUND, le=MAX_RANGE_BOUND)
    stop: int = Field(ge=-MAX_RANGE_BOUND, le=MAX_RANGE_BOUND)
    step: int = Field(default=1, gt=0, le=MAX_RANGE_BOUND)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.stop < self.start:
            raise ValueError("stop must be >= start")
        return self

    def __len__(self) -> int:
        return (self.stop - self.start) // self.step + 1

    def as_range(self) -> range:
        return range(self.start, self.stop + 1, self.step)


class SweepParameter(_Strict):
    name: str = Field(description="Used as {name} in the task template")
    range: IntRange | None = None
    values: list[str | int | float | bool] | None = Field(default=None, min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _PARAMETER_NAME.match(value):
            raise ValueError("must be a name of letters, digits and '_' not starting with a digit")
        if value in SWEEP_BUILTINS:
            raise ValueError(f"'{value}' is reserved (it is the task's position in the sweep)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.range is None) == (self.values is None):
            raise ValueError("needs exactly one of range or values")
        return self

    def sequence(self) -> range | list[str | int | float | bool]:
        if self.range is not None:
            return self.range.as_range()
        return list(self.values or [])

    def size(self) -> int:
        """How many values the parameter takes, without building them (``len(range)`` overflows past 2**63)."""
        return len(self.range) if self.range is not None else len(self.values or [])


SWEEP_BUILTINS = ("index",)
PER_FILE_PLACEHOLDERS = ("index", "filePath", "fileName", "fileStem")


class Sweep(_Strict):
    """A parametric sweep: one task per combination of the parameters' values (cartesian product)."""

    parameters: list[SweepParameter] = Field(min_length=1)
    task: TaskTemplate

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique: {', '.join(duplicates)}")
        return self

    def count(self) -> int:
        total = 1
        for parameter in self.parameters:
            total *= parameter.size()
        return total


class LocalFolderSource(_Strict):
    local_folder: RepoPath = Field(description="Repo-relative folder; every matching file is uploaded")
    pattern: str = Field(default="*", description="Glob matched against paths inside the folder (* spans '/')")


class BlobPrefixSource(_Strict):
    blob_prefix: str = Field(min_length=1, description="Blobs of the resources container whose names start with this")
    pattern: str = Field(default="*", description="Glob matched against blob names after the prefix (* spans '/')")


def _per_file_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "localFolder" in value and "blobPrefix" in value:
            return None
        return "BlobPrefixSource" if "blobPrefix" in value else "LocalFolderSource"
    return type(value).__name__ if isinstance(value, LocalFolderSource | BlobPrefixSource) else None


PerFileSource = Annotated[
    Annotated[LocalFolderSource, Tag("LocalFolderSource")] | Annotated[BlobPrefixSource, Tag("BlobPrefixSource")],
    Discriminator(
        _per_file_kind,
        custom_error_type="per_file_source_kind",
        custom_error_message="needs exactly one of localFolder (a repo folder) or blobPrefix (resources container)",
    ),
]


class PerFile(_Strict):
    """One task per input file; the file is downloaded to ``{filePath}`` in the task's working directory."""

    source: PerFileSource
    task: TaskTemplate


class Tasks(_Strict):
    listed: list[ListedTask] = Field(default_factory=lambda: [], alias="list", description="Tasks written one by one")
    sweep: Sweep | None = None
    per_file: PerFile | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.listed and self.sweep is None and self.per_file is None:
            raise ValueError("needs at least one of list, sweep or perFile")
        return self


# ------------------------------------------------------------------------------------------------- job


def _optional_task_id(value: str | None) -> str | None:
    if value is not None and not TASK_ID.match(value):
        raise ValueError(TASK_ID_RULE)
    return value


OptionalTaskId = Annotated[str | None, AfterValidator(_optional_task_id)]


class JobPreparationTask(_Strict):
    """Runs on each node before the job's first task there (installs, downloads shared data)."""

    id: OptionalTaskId = Field(default=None, description="Default 'jobpreparation'")
    command_line: str = Field(min_length=1)
    resource_files: list[ResourceFileSpec] = Field(default_factory=list)
    environment: Environment = Field(default_factory=dict)
    constraints: TaskConstraints | None = None
    wait_for_success: bool = True
    rerun_on_node_reboot_after_success: bool = True
    user_identity: UserIdentity | None = None
    container_settings: ContainerSettings | None = Field(
        default=None, description="The container it runs in; default: the job's containerSettings"
    )


class JobReleaseTask(_Strict):
    """Runs on each node that ran the job's tasks when the job ends (clean-up)."""

    id: OptionalTaskId = Field(default=None, description="Default 'jobrelease'")
    command_line: str = Field(min_length=1)
    resource_files: list[ResourceFileSpec] = Field(default_factory=list)
    environment: Environment = Field(default_factory=dict)
    max_wall_clock_time: Duration | None = Field(default=None, description="At most PT15M (the service's limit)")
    retention_time: Duration | None = None
    user_identity: UserIdentity | None = None
    container_settings: ContainerSettings | None = Field(
        default=None, description="The container it runs in; default: the job's containerSettings"
    )

    @field_validator("max_wall_clock_time")
    @classmethod
    def _at_most_15_minutes(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value > timedelta(minutes=15):
            raise ValueError("must be at most PT15M (the service's limit for job release tasks)")
        return value


# Batch's limits for a job schedule (Batch REST API, BatchJobScheduleConfiguration): recurrenceInterval
# "The minimum value is 1 minute" and startWindow "The minimum value is 1 minute"; a lower value is refused
# with 400 Bad Request.
MIN_RECURRENCE_INTERVAL = timedelta(minutes=1)
MIN_START_WINDOW = timedelta(minutes=1)


def _aware_datetime(value: object) -> object:
    """An ISO 8601 date and time with its time zone (``2027-01-01T02:00:00Z``); Batch's times are UTC."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("must include a time zone, e.g. 2027-01-01T02:00:00Z (Batch schedules run on UTC)")
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                raise ValueError("must include a time zone, e.g. 2027-01-01T02:00:00Z (Batch schedules run on UTC)")
            return parsed
    raise ValueError("must be an ISO 8601 date and time with a time zone, e.g. 2027-01-01T02:00:00Z")


AwareDateTime = Annotated[datetime, BeforeValidator(_aware_datetime)]


class Schedule(_Strict):
    """When the workload's jobs are created: a Batch job schedule (times in UTC, durations ISO 8601).

    Empty, it creates one job now. A job that is due while the previous one still runs waits for it (a schedule
    has at most one active job) and is skipped if it cannot start within ``startWindow``.
    """

    recurrence_interval: Duration | None = Field(
        default=None, description="Time between the starts of two jobs, e.g. P1D or PT1H; at least PT1M; unset: once"
    )
    do_not_run_until: AwareDateTime | None = Field(
        default=None, description="No job before this time, e.g. 2027-01-01T02:00:00Z (the first run is then)"
    )
    do_not_run_after: AwareDateTime | None = Field(
        default=None, description="No job at or after this time; the schedule then completes"
    )
    start_window: Duration | None = Field(
        default=None, description="How late a due job may still start, e.g. PT2H; at least PT1M; default: no limit"
    )

    @field_validator("recurrence_interval")
    @classmethod
    def _interval(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_RECURRENCE_INTERVAL:
            raise ValueError("must be at least PT1M (Batch's minimum recurrence interval)")
        return value

    @field_validator("start_window")
    @classmethod
    def _window(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_START_WINDOW:
            raise ValueError("must be at least PT1M (Batch's minimum start window)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (
            self.do_not_run_until is not None
            and self.do_not_run_after is not None
            and self.do_not_run_after <= self.do_not_run_until
        ):
            raise ValueError("doNotRunAfter must be later than doNotRunUntil")
        return self


class JobManagerTask(_Strict):
    """The job's first task (Batch's job manager): it starts with the job, before the job's other tasks."""

    id: OptionalTaskId = Field(default=None, description="Default 'jobmanager'")
    display_name: str | None = Field(default=None, max_length=1024)
    command_line: str = Field(min_length=1, description="Not run in a shell: use /bin/sh -c '...' for shell features")
    resource_files: list[ResourceFileSpec] = Field(default_factory=list)
    environment: Environment = Field(default_factory=dict)
    constraints: TaskConstraints | None = None
    user_identity: UserIdentity | None = None
    required_slots: int | None = Field(default=None, ge=1, le=INT32_MAX, description="Scheduling slots it occupies")
    kill_job_on_completion: bool = Field(
        default=True, description="The job ends (terminated) when the job manager completes, as Batch's default"
    )
    run_exclusive: bool = Field(default=True, description="No other task runs on its node while it runs")
    allow_low_priority_node: bool = Field(default=True, description="May run on a spot/low-priority node")


class Workload(_Strict):
    """A Batch job and its tasks."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        title="batchforge workload",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            # 'x-...' keys hold YAML anchors to reuse with '<<: *name'.
            "patternProperties": {"^x-": {}},
        },
    )

    id: str = Field(description=f"Job id prefix: letters, digits, '-' and '_', at most {MAX_WORKLOAD_ID_LENGTH}")
    display_name: str | None = Field(default=None, max_length=1024)
    pool: str = Field(min_length=1, description="Pool id as written in the stack config (batchforge:pools[].id)")
    priority: int = Field(default=0, ge=-1000, le=1000)
    max_parallel_tasks: int | None = Field(default=None, le=INT32_MAX, description="-1 (no limit) or at least 1")
    constraints: JobConstraints | None = None
    environment: Environment = Field(default_factory=dict, description="Set for every task of the job")
    metadata: TextMap = Field(default_factory=dict)
    container_settings: ContainerSettings | None = Field(
        default=None,
        description="The container every task runs in (job preparation/release included) unless it sets its own",
    )
    job_preparation_task: JobPreparationTask | None = None
    job_release_task: JobReleaseTask | None = None
    on_all_tasks_complete: Literal["noaction", "terminatejob"] = Field(
        default="terminatejob", description="terminatejob: the job completes once every task has"
    )
    on_task_failure: Literal["noaction", "performexitoptionsjobaction"] = "noaction"
    # None (not False) by default keeps the key out of the content hash, so existing job ids stay the same.
    upload_logs: bool | None = Field(
        default=None,
        description="Upload every task's stdout.txt and stderr.txt to the outputs container "
        "('<job id>/logs/<task id>/') when it completes, so they outlive the node (default: true)",
    )
    supersede: Literal["drain", "terminate", "keep"] = Field(
        default="drain",
        description="What happens to this workload's previous job once a changed one is submitted: drain (no new "
        "tasks start, running ones finish, then it is terminated), terminate (running tasks are stopped) or keep",
    )
    job_manager_task: JobManagerTask | None = Field(
        default=None, description="A task of your own that starts with the job, before its other tasks"
    )
    schedule: Schedule | None = Field(
        default=None,
        description="Makes the workload a Batch job schedule: a job with these tasks on every recurrence",
    )
    tasks: Tasks

    _source: str = PrivateAttr(default="workload")
    # Set by loading once ids and dependencies of every task were checked, so planning need not repeat it.
    _tasks_checked: bool = PrivateAttr(default=False)

    @property
    def source(self) -> str:
        """The file label problems are reported with, e.g. ``workloads/sweep.yaml``."""
        return self._source

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, data: Any) -> Any:
        # Top-level 'x-...' keys hold YAML anchors for reuse ('<<: *defaults'); they are not workload content.
        if isinstance(data, dict) and any(isinstance(key, str) and key.startswith("x-") for key in data):
            return {key: value for key, value in data.items() if not (isinstance(key, str) and key.startswith("x-"))}
        return data

    @field_validator("id")
    @classmethod
    def _workload_id(cls, value: str) -> str:
        if not _WORKLOAD_ID.match(value):
            raise ValueError(
                f"must be 1-{MAX_WORKLOAD_ID_LENGTH} letters, digits, hyphens or underscores "
                f"(the job id adds '-' and a {HASH_LENGTH}-character content hash; Batch allows 64)"
            )
        return value

    @field_validator("max_parallel_tasks")
    @classmethod
    def _parallel(cls, value: int | None) -> int | None:
        if value is not None and value != -1 and value < 1:
            raise ValueError("must be -1 (no limit) or at least 1")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = [name for name in value if name.lower().startswith(RESERVED_METADATA_PREFIX)]
        if reserved:
            raise ValueError(f"names starting with '{RESERVED_METADATA_PREFIX}' are reserved: {', '.join(reserved)}")
        return value


def task_templates(workload: Workload) -> Iterator[tuple[str, TaskTemplate]]:
    """(key path, template) of every task template: listed tasks, the sweep's and the per-file task."""
    for index, task in enumerate(workload.tasks.listed):
        yield f"tasks.list[{index}]", task
    if workload.tasks.sweep is not None:
        yield "tasks.sweep.task", workload.tasks.sweep.task
    if workload.tasks.per_file is not None:
        yield "tasks.perFile.task", workload.tasks.per_file.task
