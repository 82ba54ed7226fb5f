"""Request validation as the Batch service does it, before any handler changes state.

The Batch REST API ("Batch status and error codes", common REST API error codes) answers a malformed
request with 400 and one of these codes, and the local service does the same:

- `InvalidRequestBody`: the body is not JSON, nests deeper than `MAX_JSON_DEPTH`, or a property has the
  wrong JSON type (a string where an object belongs, a list for a command line, a number outside Int32).
- `InvalidPropertyValue`: the type is right but the value is not (out of range, unknown enum value, a
  malformed duration, a path that leaves the task's folder, a NUL character).
- `MissingRequiredProperty`: a property the operation needs is absent (or null).
- `InvalidHeaderValue`: a header the service reads is malformed (`If-Modified-Since: garbage`).
- `InvalidUri`: the path holds a NUL or another control character.
- `RequestBodyTooLarge` (413): more than 1 MiB of body (checked in `common.read_json`).

The schemas below describe the request bodies of the operations that create or change pools, jobs and
tasks, as the REST reference defines them (api-version 2025-06-01). Properties the schemas do not name are
left alone (newer clients send them); `null` counts as absent, as in the service.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Protocol

from batchforge.localbatch.clock import parse_duration, parse_rfc1123
from batchforge.localbatch.errors import BatchApiError, invalid_body, invalid_property, missing_property

MAX_JSON_DEPTH = 64
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_DISPLAY_NAME = 1024
MAX_DURATION = timedelta(days=10675199, hours=2, minutes=48, seconds=5.4775807)
DATE_HEADERS = ("if-modified-since", "if-unmodified-since")

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING_LITERAL = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_OPENING = frozenset(b"[{")


# ---- JSON --------------------------------------------------------------------------------------


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit`, found without recursion (brackets in strings
    do not count)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Escapes occur only inside strings: without them every quote left delimits a string, and once all but
    # quotes and brackets are dropped, removing the strings leaves the brackets that structure the document.
    unescaped = _ESCAPE.sub(b"", raw) if b"\\" in raw else raw
    depth = 0
    for byte in _STRING_LITERAL.sub(b"", unescaped.translate(None, _NOT_STRUCTURE)):
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> object:
    """The body as JSON, or `InvalidRequestBody` (never a RecursionError: depth is checked first)."""
    if json_depth_exceeds(raw):
        raise invalid_body(f"The JSON nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise invalid_body(f"The body is not valid JSON: {err}") from None


# ---- headers and paths -------------------------------------------------------------------------


def invalid_header(name: str, value: str, reason: str) -> BatchApiError:
    return BatchApiError(
        400,
        "InvalidHeaderValue",
        "The value provided for one of the HTTP headers was not in the correct format.",
        {"HeaderName": name, "HeaderValue": value, "Reason": reason},
    )


def check_headers(headers: Mapping[str, str]) -> None:
    """The conditional date headers must be RFC 1123 dates; `headers` has lowercased names."""
    for name in DATE_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        try:
            parse_rfc1123(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise invalid_header(name, value, "The value is not an RFC 1123 date.") from None


def check_path(path: str) -> None:
    """A decoded request path with a NUL or another control character names no resource."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise BatchApiError(
            400,
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
            {"Reason": "The path contains a NUL or another control character."},
        )


# ---- body schemas ------------------------------------------------------------------------------


class Spec(Protocol):
    def check(self, value: object, path: str) -> None: ...


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _wrong_type(path: str, expected: str, value: object) -> BatchApiError:
    return invalid_body(f"The property '{path}' must be {expected}; the request has {_kind(value)}.")


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 256 else text[:256] + "..."


@dataclass(frozen=True)
class Str:
    max_length: int | None = None
    relative_path: bool = False  # a path below the task's folder: not absolute, no `..` leaving it

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, "a string", value)
        if "\x00" in value:
            raise invalid_property(path, _shown(value.replace("\x00", "\\0")), "The value contains a NUL character.")
        if self.max_length is not None and len(value) > self.max_length:
            raise invalid_property(path, _shown(value), f"The value is longer than {self.max_length} characters.")
        if self.relative_path and _leaves_folder(value):
            raise invalid_property(
                path, _shown(value), "The path must be relative and must not leave the task's working directory."
            )


def _leaves_folder(value: str) -> bool:
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith(("/", "\\")):
        return True
    depth = 0
    for part in re.split(r"[/\\]", value):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


@dataclass(frozen=True)
class Int:
    minimum: int = INT32_MIN
    maximum: int = INT32_MAX
    also: tuple[int, ...] = ()  # values allowed outside the range (-1 for "no limit")
    reason: str = ""

    def check(self, value: object, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(path, "a 32-bit integer", value)
        if not INT32_MIN <= value <= INT32_MAX:
            raise invalid_body(f"The property '{path}' must be a 32-bit integer; {value} is out of its range.")
        if value in self.also:
            return
        if not self.minimum <= value <= self.maximum:
            reason = self.reason or f"The value must be between {self.minimum} and {self.maximum}."
            raise invalid_property(path, value, reason)


@dataclass(frozen=True)
class Bool:
    def check(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            raise _wrong_type(path, "a boolean", value)


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, "a string", value)
        if value.lower() not in {v.lower() for v in self.values}:
            raise invalid_property(path, _shown(value), f"The value must be one of: {', '.join(self.values)}.")


@dataclass(frozen=True)
class Duration:
    def check(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, "an ISO 8601 duration string", value)
        try:
            duration = parse_duration(value)
        except (ValueError, OverflowError):
            raise invalid_property(path, _shown(value), "The value is not a valid ISO 8601 duration.") from None
        if duration > MAX_DURATION or duration < timedelta(0):
            raise invalid_property(path, _shown(value), "The duration is out of range.")


@dataclass(frozen=True)
class Arr:
    item: Spec
    max_items: int | None = None

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            raise _wrong_type(path, "an array", value)
        if self.max_items is not None and len(value) > self.max_items:
            raise invalid_property(path, len(value), f"At most {self.max_items} items are allowed.")
        for index, item in enumerate(value):
            if item is None:
                raise invalid_body(f"The property '{path}[{index}]' must not be null.")
            self.item.check(item, f"{path}[{index}]")


@dataclass(frozen=True)
class StrMap:
    """An object whose values are all strings (`resourceTags`)."""

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, "an object", value)
        for key, item in value.items():
            Str().check(item, f"{path}.{key}")


@dataclass(frozen=True)
class Anything:
    """Any JSON value (checked later, e.g. each task of a collection on its own)."""

    def check(self, value: object, path: str) -> None:
        return None


Rule = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class Obj:
    fields: Mapping[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    rule: Rule | None = None

    def check(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path or "the body", "an object", value)
        for name in self.required:
            if value.get(name) is None:
                raise missing_property(_join(path, name))
        for name, spec in self.fields.items():
            item = value.get(name)
            if item is not None:
                spec.check(item, _join(path, name))
        if self.rule is not None:
            self.rule(value, path)

    def extended(self, fields: Mapping[str, Spec], required: tuple[str, ...] = ()) -> Obj:
        return Obj({**self.fields, **fields}, (*self.required, *required), self.rule)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def checked(spec: Obj, body: dict[str, Any]) -> dict[str, Any]:
    """`body` once `spec` accepts it; otherwise the service's 400 error."""
    spec.check(body, "")
    return body


# ---- the pieces of Batch request bodies ----------------------------------------------------------


def _one_source(value: dict[str, Any], path: str) -> None:
    sources = [n for n in ("autoStorageContainerName", "storageContainerUrl", "httpUrl") if value.get(n) is not None]
    if not sources:
        raise missing_property(_join(path, "httpUrl"))
    if len(sources) > 1:
        raise invalid_property(
            _join(path, sources[1]),
            _shown(value[sources[1]]),
            "autoStorageContainerName, storageContainerUrl and httpUrl are mutually exclusive.",
        )
    if value.get("blobPrefix") is not None and sources[0] == "httpUrl":
        raise invalid_property(_join(path, "blobPrefix"), _shown(value["blobPrefix"]), "blobPrefix needs a container.")


def _range_in_order(value: dict[str, Any], path: str) -> None:
    if value["start"] > value["end"]:
        raise invalid_property(_join(path, "start"), value["start"], "start must not exceed end.")


def _not_both_users(value: dict[str, Any], path: str) -> None:
    if value.get("username") is not None and value.get("autoUser") is not None:
        raise invalid_property(
            _join(path, "username"), _shown(value["username"]), "username and autoUser are mutually exclusive."
        )


NAME_VALUE = Obj({"name": Str(), "value": Str()}, required=("name", "value"))
ENVIRONMENT = Arr(Obj({"name": Str(), "value": Str()}, required=("name",)))
METADATA = Arr(NAME_VALUE)
IDENTITY_REFERENCE = Obj({"resourceId": Str()})
RESOURCE_FILE = Obj(
    {
        "autoStorageContainerName": Str(),
        "storageContainerUrl": Str(),
        "httpUrl": Str(),
        "blobPrefix": Str(),
        "filePath": Str(relative_path=True),
        "fileMode": Str(),
        "identityReference": IDENTITY_REFERENCE,
    },
    rule=_one_source,
)
RESOURCE_FILES = Arr(RESOURCE_FILE)
OUTPUT_FILE = Obj(
    {
        "filePattern": Str(),
        "destination": Obj(
            {
                "container": Obj(
                    {
                        "path": Str(),
                        "containerUrl": Str(),
                        "identityReference": IDENTITY_REFERENCE,
                        "uploadHeaders": Arr(Obj({"name": Str(), "value": Str()}, required=("name",))),
                    },
                    required=("containerUrl",),
                )
            }
        ),
        "uploadOptions": Obj(
            {"uploadCondition": Enum(("tasksuccess", "taskfailure", "taskcompletion"))}, required=("uploadCondition",)
        ),
    },
    required=("filePattern", "destination", "uploadOptions"),
)
USER_IDENTITY = Obj(
    {
        "username": Str(),
        "autoUser": Obj({"scope": Enum(("task", "pool")), "elevationLevel": Enum(("nonadmin", "admin"))}),
    },
    rule=_not_both_users,
)
CONTAINER_REGISTRY = Obj(
    {
        "username": Str(),
        "password": Str(),
        "registryServer": Str(),
        "identityReference": Obj({"resourceId": Str()}),
    }
)
CONTAINER_SETTINGS = Obj(
    {
        "containerRunOptions": Str(),
        "imageName": Str(),
        "registry": CONTAINER_REGISTRY,
        "workingDirectory": Enum(("taskWorkingDirectory", "containerImageDefault")),
        "containerHostBatchBindMounts": Arr(
            Obj(
                {
                    "source": Enum(("Shared", "Startup", "VfsMounts", "Task", "JobPrep", "Applications")),
                    "isReadOnly": Bool(),
                }
            )
        ),
    },
    required=("imageName",),
)
CONTAINER_CONFIGURATION = Obj(
    {
        "type": Enum(("dockerCompatible", "criCompatible")),
        "containerImageNames": Arr(Str()),
        "containerRegistries": Arr(CONTAINER_REGISTRY),
    },
    required=("type",),
)
APPLICATION_PACKAGES = Arr(Obj({"applicationId": Str(), "version": Str()}, required=("applicationId",)))
RETRY_COUNT = Int(minimum=-1, reason="The value must be -1 (retry without limit) or at least 0.")
TASK_CONSTRAINTS = Obj({"maxWallClockTime": Duration(), "retentionTime": Duration(), "maxTaskRetryCount": RETRY_COUNT})
EXIT_OPTIONS = Obj(
    {"jobAction": Enum(("none", "disable", "terminate")), "dependencyAction": Enum(("satisfy", "block"))}
)
EXIT_CONDITIONS = Obj(
    {
        "exitCodes": Arr(Obj({"code": Int(), "exitOptions": EXIT_OPTIONS}, required=("code", "exitOptions"))),
        "exitCodeRanges": Arr(
            Obj(
                {"start": Int(), "end": Int(), "exitOptions": EXIT_OPTIONS},
                required=("start", "end", "exitOptions"),
                rule=_range_in_order,
            )
        ),
        "preProcessingError": EXIT_OPTIONS,
        "fileUploadError": EXIT_OPTIONS,
        "default": EXIT_OPTIONS,
    }
)
COMMAND_LINE = Str()
DISPLAY_NAME = Str(max_length=MAX_DISPLAY_NAME)
AUTH_TOKEN_SETTINGS = Obj({"access": Arr(Enum(("job",)))})

TASK_ADD = Obj(
    {
        "id": Str(),
        "displayName": DISPLAY_NAME,
        "commandLine": COMMAND_LINE,
        "exitConditions": EXIT_CONDITIONS,
        "containerSettings": CONTAINER_SETTINGS,
        "resourceFiles": RESOURCE_FILES,
        "outputFiles": Arr(OUTPUT_FILE),
        "environmentSettings": ENVIRONMENT,
        "affinityInfo": Obj({"affinityId": Str()}, required=("affinityId",)),
        "constraints": TASK_CONSTRAINTS,
        "requiredSlots": Int(minimum=1),
        "userIdentity": USER_IDENTITY,
        "multiInstanceSettings": Obj(
            {
                "numberOfInstances": Int(minimum=1),
                "coordinationCommandLine": Str(),
                "commonResourceFiles": RESOURCE_FILES,
            }
        ),
        "dependsOn": Obj(
            {
                "taskIds": Arr(Str()),
                "taskIdRanges": Arr(Obj({"start": Int(), "end": Int()}, ("start", "end"), _range_in_order)),
            }
        ),
        "applicationPackageReferences": APPLICATION_PACKAGES,
        "authenticationTokenSettings": AUTH_TOKEN_SETTINGS,
    },
    required=("id", "commandLine"),
)
TASK_UPDATE = Obj({"constraints": TASK_CONSTRAINTS})
TASK_COLLECTION = Obj({"value": Arr(Anything(), max_items=None)}, required=("value",))

START_TASK = Obj(
    {
        "commandLine": COMMAND_LINE,
        "containerSettings": CONTAINER_SETTINGS,
        "resourceFiles": RESOURCE_FILES,
        "environmentSettings": ENVIRONMENT,
        "userIdentity": USER_IDENTITY,
        "maxTaskRetryCount": RETRY_COUNT,
        "waitForSuccess": Bool(),
    },
    required=("commandLine",),
)
IMAGE_REFERENCE = Obj(
    {
        "publisher": Str(),
        "offer": Str(),
        "sku": Str(),
        "version": Str(),
        "virtualMachineImageId": Str(),
        "sharedGalleryImageId": Str(),
        "communityGalleryImageId": Str(),
    }
)
VIRTUAL_MACHINE_CONFIGURATION = Obj(
    {
        "imageReference": IMAGE_REFERENCE,
        "nodeAgentSKUId": Str(),
        "windowsConfiguration": Obj({"enableAutomaticUpdates": Bool()}),
        "dataDisks": Arr(Obj({"lun": Int(), "diskSizeGB": Int(minimum=1)})),
        "licenseType": Str(),
        "containerConfiguration": CONTAINER_CONFIGURATION,
        "diskEncryptionConfiguration": Obj(),
        "nodePlacementConfiguration": Obj(),
        "extensions": Arr(Obj()),
        "osDisk": Obj(),
        "securityProfile": Obj(),
        "serviceArtifactReference": Obj(),
    },
    required=("imageReference", "nodeAgentSKUId"),
)
USER_ACCOUNT = Obj(
    {
        "name": Str(),
        "password": Str(),
        "elevationLevel": Enum(("nonadmin", "admin")),
        "linuxUserConfiguration": Obj({"uid": Int(), "gid": Int(), "sshPrivateKey": Str()}),
        "windowsUserConfiguration": Obj({"loginMode": Enum(("batch", "interactive"))}),
    },
    required=("name", "password"),
)
NODE_COUNT = Int(minimum=0)
POOL_FIELDS: dict[str, Spec] = {
    "displayName": DISPLAY_NAME,
    "vmSize": Str(),
    "virtualMachineConfiguration": VIRTUAL_MACHINE_CONFIGURATION,
    "resizeTimeout": Duration(),
    "resourceTags": StrMap(),
    "targetDedicatedNodes": NODE_COUNT,
    "targetLowPriorityNodes": NODE_COUNT,
    "enableAutoScale": Bool(),
    "autoScaleFormula": Str(),
    "autoScaleEvaluationInterval": Duration(),
    "enableInterNodeCommunication": Bool(),
    "networkConfiguration": Obj(),
    "startTask": START_TASK,
    "certificateReferences": Arr(Obj()),
    "applicationPackageReferences": APPLICATION_PACKAGES,
    "taskSlotsPerNode": Int(minimum=1, maximum=256),
    "taskSchedulingPolicy": Obj({"nodeFillType": Enum(("spread", "pack"))}, required=("nodeFillType",)),
    "userAccounts": Arr(USER_ACCOUNT),
    "metadata": METADATA,
    "mountConfiguration": Arr(Obj()),
    "targetNodeCommunicationMode": Enum(("default", "classic", "simplified")),
    "upgradePolicy": Obj({"mode": Enum(("automatic", "manual", "rolling"))}),
}
POOL_ADD = Obj({"id": Str(), **POOL_FIELDS}, required=("id", "vmSize"))
POOL_PATCH = Obj(POOL_FIELDS)
POOL_PROPERTIES = Obj(
    {
        "startTask": START_TASK,
        "applicationPackageReferences": APPLICATION_PACKAGES,
        "metadata": METADATA,
        "targetNodeCommunicationMode": POOL_FIELDS["targetNodeCommunicationMode"],
    }
)
DEALLOCATION = Enum(("requeue", "terminate", "taskcompletion", "retaineddata"))
POOL_RESIZE = Obj(
    {
        "targetDedicatedNodes": NODE_COUNT,
        "targetLowPriorityNodes": NODE_COUNT,
        "resizeTimeout": Duration(),
        "nodeDeallocationOption": DEALLOCATION,
    }
)
REMOVE_NODES = Obj(
    {"nodeList": Arr(Str()), "resizeTimeout": Duration(), "nodeDeallocationOption": DEALLOCATION},
    required=("nodeList",),
)
NODE_REBOOT = Obj({"nodeRebootOption": DEALLOCATION})
NODE_DISABLE_SCHEDULING = Obj({"nodeDisableSchedulingOption": Enum(("requeue", "terminate", "taskcompletion"))})

JOB_CONSTRAINTS = Obj({"maxWallClockTime": Duration(), "maxTaskRetryCount": RETRY_COUNT})
POOL_INFO = Obj(
    {
        "poolId": Str(),
        "autoPoolSpecification": Obj(
            {
                "autoPoolIdPrefix": Str(max_length=20),
                "poolLifetimeOption": Enum(("jobschedule", "job")),
                "keepAlive": Bool(),
                "pool": Obj(POOL_FIELDS),
            }
        ),
    }
)
JOB_MANAGER_TASK = Obj(
    {
        "id": Str(),
        "displayName": DISPLAY_NAME,
        "commandLine": COMMAND_LINE,
        "containerSettings": CONTAINER_SETTINGS,
        "resourceFiles": RESOURCE_FILES,
        "outputFiles": Arr(OUTPUT_FILE),
        "environmentSettings": ENVIRONMENT,
        "constraints": TASK_CONSTRAINTS,
        "requiredSlots": Int(minimum=1),
        "killJobOnCompletion": Bool(),
        "userIdentity": USER_IDENTITY,
        "runExclusive": Bool(),
        "applicationPackageReferences": APPLICATION_PACKAGES,
        "authenticationTokenSettings": AUTH_TOKEN_SETTINGS,
        "allowLowPriorityNode": Bool(),
    }
)
JOB_PREPARATION_TASK = Obj(
    {
        "id": Str(),
        "commandLine": COMMAND_LINE,
        "containerSettings": CONTAINER_SETTINGS,
        "resourceFiles": RESOURCE_FILES,
        "environmentSettings": ENVIRONMENT,
        "constraints": TASK_CONSTRAINTS,
        "waitForSuccess": Bool(),
        "userIdentity": USER_IDENTITY,
        "rerunOnNodeRebootAfterSuccess": Bool(),
    },
    required=("commandLine",),
)
JOB_RELEASE_TASK = Obj(
    {
        "id": Str(),
        "commandLine": COMMAND_LINE,
        "containerSettings": CONTAINER_SETTINGS,
        "resourceFiles": RESOURCE_FILES,
        "environmentSettings": ENVIRONMENT,
        "maxWallClockTime": Duration(),
        "retentionTime": Duration(),
        "userIdentity": USER_IDENTITY,
    },
    required=("commandLine",),
)
JOB_FIELDS: dict[str, Spec] = {
    "priority": Int(minimum=-1000, maximum=1000),
    "allowTaskPreemption": Bool(),
    "maxParallelTasks": Int(minimum=1, also=(-1,), reason="The value must be -1 (no limit) or at least 1."),
    "constraints": JOB_CONSTRAINTS,
    "poolInfo": POOL_INFO,
    "onAllTasksComplete": Enum(("noaction", "terminatejob")),
    "onTaskFailure": Enum(("noaction", "performexitoptionsjobaction")),
    "metadata": METADATA,
    "networkConfiguration": Obj({"subnetId": Str(), "skipWithdrawFromVNet": Bool()}),
}
JOB_ADD = Obj(
    {
        "id": Str(),
        "displayName": DISPLAY_NAME,
        "usesTaskDependencies": Bool(),
        "jobManagerTask": JOB_MANAGER_TASK,
        "jobPreparationTask": JOB_PREPARATION_TASK,
        "jobReleaseTask": JOB_RELEASE_TASK,
        "commonEnvironmentSettings": ENVIRONMENT,
        **JOB_FIELDS,
    },
    required=("id", "poolInfo"),
)
JOB_UPDATE = Obj(JOB_FIELDS)
JOB_DISABLE = Obj({"disableTasks": Enum(("requeue", "terminate", "wait"))}, required=("disableTasks",))
JOB_TERMINATE = Obj({"terminateReason": Str()})
AUTOSCALE_ENABLE = Obj({"autoScaleFormula": Str(), "autoScaleEvaluationInterval": Duration()})
AUTOSCALE_EVALUATE = Obj({"autoScaleFormula": Str()})

POOL = "/pools/{pool_id}"
NODE = POOL + "/nodes/{node_id}"
JOB = "/jobs/{job_id}"
BODY_SPECS: dict[tuple[str, str], Obj] = {
    ("POST", "/pools"): POOL_ADD,
    ("PATCH", POOL): POOL_PATCH,
    ("POST", POOL + "/updateproperties"): POOL_PROPERTIES,
    ("POST", POOL + "/resize"): POOL_RESIZE,
    ("POST", POOL + "/enableautoscale"): AUTOSCALE_ENABLE,
    ("POST", POOL + "/evaluateautoscale"): AUTOSCALE_EVALUATE,
    ("POST", POOL + "/removenodes"): REMOVE_NODES,
    ("POST", NODE + "/reboot"): NODE_REBOOT,
    ("POST", NODE + "/disablescheduling"): NODE_DISABLE_SCHEDULING,
    ("POST", "/jobs"): JOB_ADD,
    ("PATCH", JOB): JOB_UPDATE,
    ("PUT", JOB): JOB_UPDATE,
    ("POST", JOB + "/disable"): JOB_DISABLE,
    ("POST", JOB + "/terminate"): JOB_TERMINATE,
    ("POST", JOB + "/tasks"): TASK_ADD,
    ("POST", JOB + "/addtaskcollection"): TASK_COLLECTION,
    ("PUT", JOB + "/tasks/{task_id}"): TASK_UPDATE,
}


def check_body(method: str, route_path: str, body: dict[str, Any]) -> None:
    """Check a parsed body against the schema of its operation (`common.read_json` calls this)."""
    spec = BODY_SPECS.get((method, route_path))
    if spec is not None:
        spec.check(body, "")
