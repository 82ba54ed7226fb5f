"""azure-batch models from the typed workload: the job, and one task per set of placeholder values.

Everything a task shares with its siblings (constraints, identities, constant resource files) is built
once with the SDK's public constructors and shared. The few per-task models are made from their wire-form
JSON with :func:`batchforge.submission.sdk_adapter.model_from_wire`, which skips the public constructor's
per-key cost; tests compare the two for every class used here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from azure.batch import models as bm

from batchforge.assets import LocalAsset
from batchforge.submission.sdk_adapter import model_from_wire as fast_model
from batchforge.submission.target import BatchTarget
from batchforge.workload.checks import DEFAULT_MANAGER_ID
from batchforge.workload.expansion import TaskGroup
from batchforge.workload.model import (
    AutoUser,
    ContainerFiles,
    ContainerSettings,
    ExitAction,
    ExitConditions,
    JobManagerTask,
    JobPreparationTask,
    JobReleaseTask,
    LocalOrUrlFile,
    ResourceFileSpec,
    TaskConstraints,
    UserIdentity,
    Workload,
)
from batchforge.workload.task_logs import log_output_file
from batchforge.workload.templates import Template, literal_template

Values = Mapping[str, object]


def blob_url(container_url: str, blob_name: str) -> str:
    return f"{container_url.rstrip('/')}/{blob_name}"


@dataclass(frozen=True)
class BuildContext:
    job_id: str
    target: BatchTarget
    # Repo-relative source (as written in the file) -> the uploaded files it stands for.
    local_assets: Mapping[str, Sequence[LocalAsset]]
    local_folders: frozenset[str]
    upload_logs: bool = True
    # The workload's job-level containerSettings: every task's unless it sets its own.
    container_settings: ContainerSettings | None = None

    @property
    def identity(self) -> bm.BatchNodeIdentityReference | None:
        resource_id = self.target.identity_resource_id
        return bm.BatchNodeIdentityReference(resource_id=resource_id) if resource_id else None


def environment_settings(environment: Mapping[str, str]) -> list[bm.EnvironmentSetting] | None:
    if not environment:
        return None
    return [bm.EnvironmentSetting(name=name, value=value) for name, value in environment.items()]


def task_constraints(constraints: TaskConstraints | None) -> bm.BatchTaskConstraints | None:
    if constraints is None:
        return None
    return bm.BatchTaskConstraints(
        max_wall_clock_time=constraints.max_wall_clock_time,
        retention_time=constraints.retention_time,
        max_task_retry_count=constraints.max_task_retry_count,
    )


def user_identity(identity: UserIdentity | None) -> bm.UserIdentity | None:
    if identity is None:
        return None
    auto: AutoUser = identity.auto_user
    return bm.UserIdentity(auto_user=bm.AutoUserSpecification(scope=auto.scope, elevation_level=auto.elevation_level))


def task_user_identity(identity: UserIdentity | None) -> bm.UserIdentity:
    """A workload task's user: as written, else a task-scoped non-admin auto-user of its own.

    Batch's own default is the pool-scoped auto-user, shared by every task on the node; it is never left to it.
    """
    auto = (identity or UserIdentity()).auto_user
    return bm.UserIdentity(auto_user=bm.AutoUserSpecification(scope=auto.scope, elevation_level=auto.elevation_level))


def container_settings(
    settings: ContainerSettings | None, context: BuildContext
) -> bm.BatchTaskContainerSettings | None:
    """Batch's task container settings; a registry is pulled with the node identity, never with a password."""
    chosen = settings if settings is not None else context.container_settings
    if chosen is None:
        return None
    registry = None
    if chosen.registry is not None:
        registry = bm.ContainerRegistryReference(
            registry_server=chosen.registry.registry_server, identity_reference=context.identity
        )
    mounts = None
    if chosen.container_host_batch_bind_mounts is not None:
        mounts = [
            bm.ContainerHostBatchBindMountEntry(source=mount.source, is_read_only=mount.is_read_only)
            for mount in chosen.container_host_batch_bind_mounts
        ]
    return bm.BatchTaskContainerSettings(
        image_name=chosen.image_name,
        registry=registry,
        container_run_options=chosen.container_run_options,
        working_directory=chosen.working_directory,
        container_host_batch_bind_mounts=mounts,
    )


def _exit_options(action: ExitAction) -> bm.ExitOptions:
    return bm.ExitOptions(job_action=action.job_action, dependency_action=action.dependency_action)


def exit_conditions(conditions: ExitConditions | None) -> bm.ExitConditions | None:
    if conditions is None:
        return None
    return bm.ExitConditions(
        exit_codes=[bm.ExitCodeMapping(code=c.code, exit_options=_exit_options(c)) for c in conditions.exit_codes]
        or None,
        exit_code_ranges=[
            bm.ExitCodeRangeMapping(start=r.start, end=r.end, exit_options=_exit_options(r))
            for r in conditions.exit_code_ranges
        ]
        or None,
        pre_processing_error=_exit_options(conditions.pre_processing_error)
        if conditions.pre_processing_error
        else None,
        file_upload_error=_exit_options(conditions.file_upload_error) if conditions.file_upload_error else None,
        default=_exit_options(conditions.default) if conditions.default else None,
    )


ResourceFilesMaker = Callable[[Values], list[bm.ResourceFile]]


def _local_files(spec: LocalOrUrlFile, context: BuildContext) -> list[bm.ResourceFile]:
    files: list[bm.ResourceFile] = []
    is_folder = spec.source in context.local_folders
    for asset in context.local_assets[spec.source]:
        if spec.file_path is None:
            node_path = asset.node_path
        elif is_folder:
            node_path = f"{spec.file_path.rstrip('/')}/{asset.node_path.split('/', 1)[1]}"
        else:
            node_path = spec.file_path
        files.append(
            bm.ResourceFile(
                http_url=blob_url(context.target.resources_container_url, asset.blob_name),
                file_path=node_path,
                file_mode=spec.file_mode,
                identity_reference=context.identity,
            )
        )
    return files


def resource_files_maker(
    specs: Sequence[ResourceFileSpec], compile_text: Callable[[str], Template], context: BuildContext
) -> ResourceFilesMaker | None:
    """A function from placeholder values to the task's resource files (the same list when nothing varies)."""
    if not specs:
        return None
    constant: list[bm.ResourceFile] = []
    varying: list[Callable[[Values], bm.ResourceFile]] = []
    identity = context.identity
    for spec in specs:
        if isinstance(spec, LocalOrUrlFile) and not spec.is_url:
            constant.extend(_local_files(spec, context))
            continue
        if isinstance(spec, LocalOrUrlFile):
            url = compile_text(spec.source)
            path = compile_text(spec.file_path) if spec.file_path else None
            data_identity = identity if spec.use_identity else None
            entry = _url_file_builder(url, path, spec.file_mode, data_identity)
        else:
            entry = _container_builder(spec, compile_text, context)
        templated = any(not compile_text(text).is_constant for text in _spec_strings(spec))
        if templated:
            varying.append(entry)
        else:
            constant.append(entry({}))
    if not varying:
        return ConstantFiles(constant)
    return lambda values: [*constant, *(make(values) for make in varying)]


class ConstantFiles:
    """Resource files that are the same for every task: one list, shared by all of them."""

    def __init__(self, files: list[bm.ResourceFile]) -> None:
        self.files = files

    def __call__(self, values: Values) -> list[bm.ResourceFile]:
        return self.files


def _spec_strings(spec: ResourceFileSpec) -> list[str]:
    if isinstance(spec, LocalOrUrlFile):
        return [spec.source, *([spec.file_path] if spec.file_path else [])]
    return [text for text in (spec.storage_container_url, spec.blob_prefix, spec.file_path) if text is not None]


def _url_file_builder(
    url: Template, path: Template | None, file_mode: str | None, identity: bm.BatchNodeIdentityReference | None
) -> Callable[[Values], bm.ResourceFile]:
    def build(values: Values) -> bm.ResourceFile:
        http_url = url.render(values)
        file_path = path.render(values) if path else (PurePosixPath(urlparse(http_url).path).name or "download")
        data: dict[str, Any] = {"httpUrl": http_url, "filePath": file_path}
        if file_mode is not None:
            data["fileMode"] = file_mode
        if identity is not None:
            data["identityReference"] = identity
        return fast_model(bm.ResourceFile, data)

    return build


def _container_builder(
    spec: ContainerFiles, compile_text: Callable[[str], Template], context: BuildContext
) -> Callable[[Values], bm.ResourceFile]:
    url = compile_text(spec.storage_container_url) if spec.storage_container_url else None
    prefix = compile_text(spec.blob_prefix) if spec.blob_prefix else None
    path = compile_text(spec.file_path) if spec.file_path else None
    identity = context.identity if spec.use_identity else None
    job_outputs = url is None and spec.container == "outputs"
    default_url = context.target.outputs_container_url if job_outputs else context.target.resources_container_url

    def build(values: Values) -> bm.ResourceFile:
        data: dict[str, Any] = {"storageContainerUrl": url.render(values) if url else default_url}
        if job_outputs:
            data["blobPrefix"] = f"{context.job_id}/{prefix.render(values) if prefix else ''}"
        elif prefix is not None:
            data["blobPrefix"] = prefix.render(values)
        if path is not None:
            data["filePath"] = path.render(values)
        if spec.file_mode is not None:
            data["fileMode"] = spec.file_mode
        if identity is not None:
            data["identityReference"] = identity
        return fast_model(bm.ResourceFile, data)

    return build


class TaskBuilder:
    """Builds the ``BatchTaskCreateOptions`` of one group's tasks from their rows of placeholder values.

    Strings are rendered with ``str.format(*row)`` bound to positional format strings; a by-name dict
    is made only for the rarely templated parts (URL resource files, multi-instance settings).
    """

    def __init__(self, group: TaskGroup, context: BuildContext) -> None:
        template = group.template
        names = group.names()
        self._names = names

        def formatter(text: str) -> Callable[..., str]:
            return group.compile(text).row_formatter(names)

        self._files = group.files
        self._id = group.id_template().row_formatter(names)
        self._display_name = formatter(template.display_name) if template.display_name else None
        self._command_line = formatter(template.command_line)
        self._job_id = context.job_id
        self._identity = context.identity
        self._outputs_url = context.target.outputs_container_url
        self._resources_url = context.target.resources_container_url
        env_templates = [(name, group.compile(value)) for name, value in template.environment.items()]
        self._env_formatters = (
            [(name, t.row_formatter(names)) for name, t in env_templates]
            if any(not t.is_constant for _, t in env_templates)
            else None
        )
        self._env_constant = environment_settings(
            {name: t.render({}) for name, t in env_templates} if self._env_formatters is None else {}
        )
        self._resource_files = resource_files_maker(template.resource_files, group.compile, context)
        self._outputs = [
            (
                formatter(output.pattern),
                formatter(output.destination) if output.destination else None,
                bm.OutputFileUploadConfiguration(upload_condition=output.upload_condition),
            )
            for output in template.output_files
        ]
        self._output_cache: dict[tuple[str, str], bm.OutputFile] = {}
        self._upload_logs = context.upload_logs
        self._fixed: dict[str, Any] = {}
        constraints = task_constraints(template.constraints)
        if constraints is not None:
            self._fixed["constraints"] = constraints
        self._fixed["userIdentity"] = task_user_identity(template.user_identity)
        container = container_settings(template.container_settings, context)
        if container is not None:
            self._fixed["containerSettings"] = container
        if template.required_slots is not None:
            self._fixed["requiredSlots"] = template.required_slots
        conditions = exit_conditions(template.exit_conditions)
        if conditions is not None:
            self._fixed["exitConditions"] = conditions
        self._dependency_ids: list[Callable[..., str]] = []
        self._dependency_ranges: list[bm.BatchTaskIdRange] = []
        if template.depends_on is not None:
            self._dependency_ids = [formatter(text) for text in template.depends_on.ids]
            self._dependency_ranges = [
                bm.BatchTaskIdRange(start=span.start, end=span.end) for span in template.depends_on.ranges
            ]
        self._multi_instance: tuple[int, Template, ResourceFilesMaker | None] | None = None
        if template.multi_instance is not None:
            settings = template.multi_instance
            self._multi_instance = (
                settings.number_of_instances,
                group.compile(settings.coordination_command_line),
                resource_files_maker(settings.common_resource_files, group.compile, context),
            )
        self._needs_values = self._multi_instance is not None or (
            self._resource_files is not None and not isinstance(self._resource_files, ConstantFiles)
        )

    def build(self, row: tuple[object, ...]) -> bm.BatchTaskCreateOptions:
        task_id = self._id(*row)
        data: dict[str, Any] = {"id": task_id, "commandLine": self._command_line(*row)}
        if self._display_name is not None:
            data["displayName"] = self._display_name(*row)
        if self._env_formatters is not None:
            data["environmentSettings"] = [
                fast_model(bm.EnvironmentSetting, {"name": name, "value": format_value(*row)})
                for name, format_value in self._env_formatters
            ]
        elif self._env_constant is not None:
            data["environmentSettings"] = self._env_constant
        values: Values = dict(zip(self._names, row, strict=True)) if self._needs_values else {}
        files = self._resource_files(values) if self._resource_files is not None else []
        if self._files:
            item = self._files[row[0]]  # type: ignore[call-overload]  # per-file rows start with the index
            own = {"httpUrl": blob_url(self._resources_url, item.blob_name), "filePath": item.relative_path}
            if self._identity is not None:
                own["identityReference"] = self._identity
            files = [*files, fast_model(bm.ResourceFile, own)]
        if files:
            data["resourceFiles"] = files
        if self._outputs or self._upload_logs:
            outputs = [self._output_file(task_id, row, *output) for output in self._outputs]
            if self._upload_logs:
                outputs.append(log_output_file(self._outputs_url, self._job_id, task_id, self._identity))
            data["outputFiles"] = outputs
        if self._dependency_ids or self._dependency_ranges:
            dependencies: dict[str, Any] = {}
            if self._dependency_ids:
                dependencies["taskIds"] = [format_id(*row) for format_id in self._dependency_ids]
            if self._dependency_ranges:
                dependencies["taskIdRanges"] = self._dependency_ranges
            data["dependsOn"] = fast_model(bm.BatchTaskDependencies, dependencies)
        if self._multi_instance is not None:
            count, coordination, common = self._multi_instance
            settings: dict[str, Any] = {
                "numberOfInstances": count,
                "coordinationCommandLine": coordination.render(values),
            }
            if common is not None:
                settings["commonResourceFiles"] = common(values)
            data["multiInstanceSettings"] = fast_model(bm.MultiInstanceSettings, settings)
        data.update(self._fixed)
        return fast_model(bm.BatchTaskCreateOptions, data)

    def _output_file(
        self,
        task_id: str,
        row: tuple[object, ...],
        pattern: Callable[..., str],
        destination: Callable[..., str] | None,
        upload: bm.OutputFileUploadConfiguration,
    ) -> bm.OutputFile:
        pattern_text = pattern(*row)
        if destination is None:
            path = f"{self._job_id}/{task_id}"
        else:
            path = f"{self._job_id}/{destination(*row)}"
            # Tasks that upload to the same place share one (immutable) OutputFile.
            shared = self._output_cache.get((pattern_text, path))
            if shared is not None:
                return shared
        container: dict[str, Any] = {"containerUrl": self._outputs_url, "path": path}
        if self._identity is not None:
            container["identityReference"] = self._identity
        output = fast_model(
            bm.OutputFile,
            {
                "filePattern": pattern_text,
                "destination": fast_model(
                    bm.OutputFileDestination,
                    {"container": fast_model(bm.OutputFileBlobContainerDestination, container)},
                ),
                "uploadOptions": upload,
            },
        )
        if destination is not None:
            self._output_cache[(pattern_text, path)] = output
        return output


def _literal(text: str) -> Template:
    return literal_template(text)


def preparation_task(task: JobPreparationTask, context: BuildContext) -> bm.BatchJobPreparationTask:
    files = resource_files_maker(task.resource_files, _literal, context)
    return bm.BatchJobPreparationTask(
        id=task.id,
        command_line=task.command_line,
        resource_files=files({}) if files else None,
        environment_settings=environment_settings(task.environment),
        constraints=task_constraints(task.constraints),
        wait_for_success=task.wait_for_success,
        rerun_on_node_reboot_after_success=task.rerun_on_node_reboot_after_success,
        user_identity=user_identity(task.user_identity),
        container_settings=container_settings(task.container_settings, context),
    )


def release_task(task: JobReleaseTask, context: BuildContext) -> bm.BatchJobReleaseTask:
    files = resource_files_maker(task.resource_files, _literal, context)
    return bm.BatchJobReleaseTask(
        id=task.id,
        command_line=task.command_line,
        resource_files=files({}) if files else None,
        environment_settings=environment_settings(task.environment),
        max_wall_clock_time=task.max_wall_clock_time,
        retention_time=task.retention_time,
        user_identity=user_identity(task.user_identity),
        container_settings=container_settings(task.container_settings, context),
    )


def manager_task(task: JobManagerTask, context: BuildContext) -> bm.BatchJobManagerTask:
    """The workload's own job manager; its user is a task-scoped non-admin auto-user unless it says otherwise."""
    files = resource_files_maker(task.resource_files, _literal, context)
    return bm.BatchJobManagerTask(
        id=task.id or DEFAULT_MANAGER_ID,
        display_name=task.display_name,
        command_line=task.command_line,
        resource_files=files({}) if files else None,
        environment_settings=environment_settings(task.environment),
        constraints=task_constraints(task.constraints),
        required_slots=task.required_slots,
        kill_job_on_completion=task.kill_job_on_completion,
        user_identity=task_user_identity(task.user_identity),
        run_exclusive=task.run_exclusive,
        allow_low_priority_node=task.allow_low_priority_node,
    )


def job_options(
    workload: Workload, context: BuildContext, pool_id: str, metadata: Mapping[str, str], uses_dependencies: bool
) -> bm.BatchJobCreateOptions:
    constraints = None
    if workload.constraints is not None:
        constraints = bm.BatchJobConstraints(
            max_wall_clock_time=workload.constraints.max_wall_clock_time,
            max_task_retry_count=workload.constraints.max_task_retry_count,
        )
    return bm.BatchJobCreateOptions(
        id=context.job_id,
        display_name=workload.display_name,
        priority=workload.priority,
        max_parallel_tasks=workload.max_parallel_tasks,
        constraints=constraints,
        job_preparation_task=preparation_task(workload.job_preparation_task, context)
        if workload.job_preparation_task
        else None,
        job_release_task=release_task(workload.job_release_task, context) if workload.job_release_task else None,
        job_manager_task=manager_task(workload.job_manager_task, context) if workload.job_manager_task else None,
        common_environment_settings=environment_settings(workload.environment),
        pool_info=bm.BatchPoolInfo(pool_id=pool_id),
        task_failure_mode=workload.on_task_failure,
        uses_task_dependencies=uses_dependencies or None,
        metadata=[bm.BatchMetadataItem(name=name, value=value) for name, value in metadata.items()],
    )
