"""Pulumi's mocks held to the engine's contract: programs the real engine would refuse fail here too.

``pulumi.runtime.set_mocks`` accepts what ``pulumi preview`` / ``up`` refuse: two resources with the
same URN (mocks silently overwrite), a dependency on a URN never registered, and it shortens URNs to
the parent's last type. ``run_under_engine_contract`` runs a program under a ``MockMonitor`` subclass
that computes URNs as the engine does and reports, naming each resource:

- a URN registered twice, or an alias two resources claim (the engine refuses both before any step);
- a child of a ComponentResource whose name is not ``<component name>`` or ``<component name>-...``
  (Pulumi's convention: it is what keeps children of two instances of a component apart);
- a parent, ``depends_on``, property dependency or ``deleted_with`` on a URN never registered;
- a ComponentResource that never calls ``register_outputs`` (the engine leaves it "creating").

Each program runs as a preview (dry run: outputs the engine would compute are unknown) and as an
update, since code inside ``apply`` runs only in one of them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
Mode = Literal["preview", "update"]
BOTH_MODES: tuple[Mode, ...] = ("preview", "update")
M = TypeVar("M", bound=Mocks)


def engine_urn(stack: str, project: str, parent_urn: str, type_: str, name: str) -> str:
    """The URN the engine gives a resource: the parent's whole type chain, the root stack left out."""
    qualified = type_
    if parent_urn:
        parent_type = parent_urn.split("::")[2]
        if parent_type != ROOT_STACK_TYPE:
            qualified = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    # The URNs it depends on: the edges the engine orders creates by, and deletes in reverse.
    dependencies: frozenset[str] = frozenset()


class EngineContractViolation(Exception):
    """The program breaks the engine's contract; ``problems`` has one line per broken rule and resource."""

    def __init__(self, mode: Mode, problems: Sequence[str]) -> None:
        self.mode = mode
        self.problems = tuple(problems)
        super().__init__(f"the Pulumi engine would refuse this program ({mode}):\n" + "\n".join(self.problems))


def _described(registration: Registration) -> str:
    return f"{registration.type} '{registration.name}' ({registration.urn})"


class ContractMonitor(MockMonitor):
    """A ``MockMonitor`` that numbers URNs like the engine and records what the engine would refuse."""

    def __init__(self, mocks: Mocks, *, preview: bool) -> None:
        super().__init__(mocks)
        self.preview = preview
        self.registrations: dict[str, Registration] = {}
        self.problems: list[str] = []
        self._outputs_registered: set[str] = set()
        self._aliases: dict[str, str] = {}
        # The SDK sends registrations from a thread pool.
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(pulumi_settings.get_stack(), pulumi_settings.get_project(), parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        registration = Registration(
            urn, request.type, request.name, request.parent, bool(request.custom), frozenset(_dependencies(request))
        )
        with self._lock:
            self._check_registration(registration, request)
            self.registrations.setdefault(urn, registration)
        response = super().RegisterResource(request)
        if self.preview and registration.custom:
            # What a preview of a create returns: the checked inputs, no id, every other output unknown.
            return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=request.object)
        return response

    def ReadResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        registration = Registration(urn, request.type, request.name, request.parent, True)
        with self._lock:
            self._check_registration(registration, request)
            self.registrations.setdefault(urn, registration)
        return super().ReadResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        with self._lock:
            if request.urn not in self.registrations:
                self.problems.append(f"register_outputs for {request.urn}, which was never registered")
            self._outputs_registered.add(request.urn)
        return super().RegisterResourceOutputs(request)

    def _check_registration(self, registration: Registration, request: Any) -> None:
        what = _described(registration)
        if registration.urn in self.registrations:
            self.problems.append(f"{what}: URN registered twice; give each resource a unique name")
        parent = self.registrations.get(registration.parent)
        if registration.parent and parent is None:
            self.problems.append(f"{what}: parent {registration.parent} was never registered")
        if parent is not None and _breaks_naming_convention(registration, parent):
            self.problems.append(
                f"{what}: child of component {parent.type} '{parent.name}' must be named "
                f"'{parent.name}-<something>' (two instances of the component would collide)"
            )
        for dependency in sorted(set(_dependencies(request))):
            if dependency not in self.registrations:
                self.problems.append(f"{what}: depends on {dependency}, which was never registered")
        for alias in _alias_urns(registration, request):
            claimed_by = self._aliases.setdefault(alias, registration.urn)
            if claimed_by != registration.urn:
                self.problems.append(f"{what}: alias {alias} is also claimed by {claimed_by}")

    def contract_problems(self) -> list[str]:
        """Every problem found, with the components that never registered their outputs."""
        silent = [
            f"{_described(registration)}: component never calls register_outputs"
            for urn, registration in self.registrations.items()
            if not registration.custom and urn not in self._outputs_registered
        ]
        # Registrations arrive from a thread pool: sorted, the report is the same from run to run.
        return sorted([*self.problems, *silent])


def _breaks_naming_convention(child: Registration, parent: Registration) -> bool:
    if parent.custom or parent.type == ROOT_STACK_TYPE:
        return False
    return child.name != parent.name and not child.name.startswith(f"{parent.name}-")


def _dependencies(request: Any) -> Iterable[str]:
    yield from request.dependencies
    for dependencies in request.propertyDependencies.values():
        yield from dependencies.urns
    deleted_with = getattr(request, "deletedWith", "")
    if deleted_with:
        yield deleted_with


def _alias_urns(registration: Registration, request: Any) -> list[str]:
    """The URNs a resource's aliases stand for, resolved the way the engine fills an alias spec."""
    urns: list[str] = []
    for alias in getattr(request, "aliases", ()):
        if alias.HasField("urn"):
            urns.append(alias.urn)
            continue
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or registration.parent)
        urns.append(
            engine_urn(
                spec.stack or pulumi_settings.get_stack(),
                spec.project or pulumi_settings.get_project(),
                parent,
                spec.type or registration.type,
                spec.name or registration.name,
            )
        )
    return urns


@dataclass
class ProgramResult(Generic[M]):
    """One run: the mocks (with whatever they recorded), every registration, the exported outputs."""

    mode: Mode
    mocks: M
    registrations: dict[str, Registration]
    outputs: dict[str, Any]


def _event_loop() -> asyncio.AbstractEventLoop:
    # The SDK binds its futures to the thread's current loop (the root stack is built in set_mocks), so
    # the program must run on that same loop.
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


def _forget_pending_work() -> None:
    # The runtime's pending RPCs and outputs are process-wide: a failed apply left there by an earlier run
    # would be re-raised by the next run's wait for quiescence.
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()


def _run_once(
    mocks: M,
    program: Callable[[], Mapping[str, Any] | None],
    *,
    mode: Mode,
    project: str,
    stack: str,
    config: Mapping[str, str],
) -> ProgramResult[M]:
    loop = _event_loop()
    monitor = ContractMonitor(mocks, preview=mode == "preview")
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=mode == "preview", monitor=monitor)
    _forget_pending_work()
    pulumi.runtime.set_all_config(dict(config))
    returned: dict[str, Any] = {}

    def run() -> None:
        returned.update(program() or {})

    try:
        loop.run_until_complete(run_pulumi_func(run))
        root = pulumi_settings.get_root_resource()
        exported = {**(dict(root.outputs) if root is not None else {}), **returned}
        # In a preview an unknown output makes the whole map unknown: there is nothing to return then.
        outputs = loop.run_until_complete(pulumi.Output.from_input(exported).future()) or {}
    finally:
        pulumi.runtime.set_all_config({})
        _forget_pending_work()
    problems = monitor.contract_problems()
    if problems:
        raise EngineContractViolation(mode, problems)
    return ProgramResult(mode, mocks, dict(monitor.registrations), dict(outputs))


def run_under_engine_contract(
    new_mocks: Callable[[], M],
    program: Callable[[], Mapping[str, Any] | None],
    *,
    stack: str,
    project: str = "batchforge",
    config: Mapping[str, str] | None = None,
    modes: Sequence[Mode] = BOTH_MODES,
) -> ProgramResult[M]:
    """Runs ``program`` once per mode with fresh mocks; returns the last run (the update, by default).

    ``program`` declares resources and may return outputs (merged over what it ``pulumi.export``-ed).
    Raises ``EngineContractViolation`` listing every problem of the first mode that has any, and
    whatever the program itself raises.
    """
    if not modes:
        raise ValueError("at least one mode")
    result: ProgramResult[M] | None = None
    for mode in modes:
        result = _run_once(new_mocks(), program, mode=mode, project=project, stack=stack, config=config or {})
    assert result is not None
    return result
