"""Runs the dynamic providers where ``pulumi up`` runs them: ``python -m pulumi.dynamic``, driven over gRPC.

What the engine does, and what this module does in its place:
- it starts the ``pulumi-resource-pulumi-python`` launcher with one argument, the engine's gRPC address, in
  the environment of the ``pulumi`` process plus ``PULUMI_RUNTIME_<OPTION>`` for every runtime option of
  ``Pulumi.yaml`` (``virtualenv``, ``toolchain``), ``PULUMI_PROJECT`` and ``PULUMI_CONFIG``; the launcher runs
  ``<virtualenv>/bin/python -u -m pulumi.dynamic <engine address>`` with the virtualenv's ``bin`` first on
  ``PATH`` and ``PYTHONHOME`` unset (`launcher_command`);
- it reads the port the host prints on its first stdout line and calls the ``ResourceProvider`` service
  (`ProviderHost`), marshalling properties the way ``provider_plugin.go`` does: unknowns are kept only where
  the engine keeps them (Check and Diff in a preview, Create/Update previews), and secrets are stripped
  because the host's ``Configure`` answers ``acceptSecrets: false``;
- the ``__provider`` input is the one the program produced: `register_under_mocks` runs the resource classes
  under Pulumi mocks and hands back each resource's inputs as the engine would see them.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import pulumi
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, provider_pb2, provider_pb2_grpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "batchforge"
STACK = "dev"
PROVIDER_KEY = "__provider"
STARTUP_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 120.0


# ---------------------------------------------------------------- the program side: inputs under mocks


@dataclass
class Registration:
    """One resource the program registered: its type token, name and inputs as the engine holds them."""

    typ: str
    name: str
    inputs: dict[str, Any]

    @property
    def urn(self) -> str:
        return f"urn:pulumi:{STACK}::{PROJECT}::{self.typ}::{self.name}"


class NotYetCreated(pulumi.CustomResource):
    """Plays the Batch platform: its ``batchTarget`` output is unknown in a preview of a new stack."""

    batchTarget: pulumi.Output[Any]

    def __init__(self, name: str) -> None:
        super().__init__("test:index:NotYetCreated", name, {"batchTarget": None})


class _CapturingMocks(pulumi.runtime.Mocks):
    def __init__(self, batch_target: Mapping[str, Any] | None, preview: bool) -> None:
        self.batch_target = batch_target
        self.preview = preview
        self.registrations: list[Registration] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "test:index:NotYetCreated":
            # Leaving the output out of the state is how a preview's not-yet-created values stay unknown.
            state = {} if self.preview else {"batchTarget": dict(self.batch_target or {})}
            return f"{args.name}-id", state
        self.registrations.append(Registration(args.typ, args.name, engine_view(dict(args.inputs))))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise AssertionError(f"unexpected invoke {args.token}")


def register_under_mocks(
    declare: Callable[[NotYetCreated], None],
    *,
    batch_target: Mapping[str, Any] | None = None,
    preview: bool = False,
) -> list[Registration]:
    """Runs ``declare`` as a program (``pulumi up``, or ``pulumi preview`` of a new stack) and records inputs.

    ``declare`` gets a `NotYetCreated` whose ``batchTarget`` output is ``batch_target`` (unknown in a preview).
    """
    mocks = _CapturingMocks(batch_target, preview)
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=preview)
    _forget_pending_work()
    try:
        _sync_await(run_pulumi_func(lambda: declare(NotYetCreated("platform"))))
    finally:
        _forget_pending_work()
    return [registration for registration in mocks.registrations if registration.typ.startswith("pulumi-python:")]


def _forget_pending_work() -> None:
    # The mock runtime's pending outputs are process-wide; a failure left there would resurface in the next run.
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()


def engine_view(value: Any) -> Any:
    """A property value as the engine sends it to a provider that does not accept secrets: secrets unwrapped."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: engine_view(item) for key, item in value.items()}
    if isinstance(value, list):
        return [engine_view(item) for item in value]
    return value


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown) or value == rpc.UNKNOWN


# ---------------------------------------------------------------- the engine side: a stand-in Engine service


@dataclass
class StandInEngine(engine_pb2_grpc.EngineServicer):
    """The Engine service a provider may call back (logs, root resource); records what it receives."""

    logs: list[tuple[int, str]] = field(default_factory=list)

    def Log(self, request: engine_pb2.LogRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.logs.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(
        self, request: engine_pb2.GetRootResourceRequest, context: grpc.ServicerContext
    ) -> engine_pb2.GetRootResourceResponse:
        return engine_pb2.GetRootResourceResponse(urn=f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::x")

    def SetRootResource(
        self, request: engine_pb2.SetRootResourceRequest, context: grpc.ServicerContext
    ) -> engine_pb2.SetRootResourceResponse:
        return engine_pb2.SetRootResourceResponse()


@contextmanager
def stand_in_engine() -> Iterator[tuple[StandInEngine, str]]:
    engine = StandInEngine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield engine, f"127.0.0.1:{port}"
    finally:
        server.stop(0)


# ---------------------------------------------------------------- launching the host


def runtime_option_env(project_dir: Path = REPO_ROOT) -> dict[str, str]:
    """``PULUMI_RUNTIME_<OPTION>`` for each runtime option of ``Pulumi.yaml``, as the engine sets them.

    The engine starts providers in the program directory, where a relative ``virtualenv`` resolves; the host
    here runs elsewhere, so the path is resolved against the project directory first.
    """
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    options = dict((project.get("runtime") or {}).get("options") or {})
    env = {f"PULUMI_RUNTIME_{key.upper()}": str(value) for key, value in options.items()}
    if "PULUMI_RUNTIME_VIRTUALENV" in env:
        env["PULUMI_RUNTIME_VIRTUALENV"] = str((project_dir / env["PULUMI_RUNTIME_VIRTUALENV"]).resolve())
    env["PULUMI_PROJECT"] = project["name"]
    return env


def launcher_command(env: Mapping[str, str], engine_address: str, cwd: Path) -> tuple[list[str], dict[str, str]]:
    """What ``pulumi-resource-pulumi-python`` execs, for a virtualenv project (the only kind this one is)."""
    virtualenv = Path(env["PULUMI_RUNTIME_VIRTUALENV"].rstrip("/"))
    if not virtualenv.is_absolute():
        virtualenv = cwd / virtualenv
    python = virtualenv / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(f"{virtualenv} does not look like a virtual environment (no bin/python)")
    launched = {key: value for key, value in env.items() if key != "PYTHONHOME"}
    launched["PATH"] = f"{virtualenv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return [str(python), "-u", "-m", "pulumi.dynamic", engine_address], launched


def host_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """A ``pulumi`` process's environment, kept minimal so nothing from the test run (PYTHONPATH) leaks in."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(runtime_option_env())
    env["PULUMI_CONFIG"] = json.dumps({})
    env.update(extra)
    return env


# ---------------------------------------------------------------- talking to the host


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()  # a private loop: the test thread's current loop is left alone
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))


def without_unknowns(props: Mapping[str, Any]) -> dict[str, Any]:
    """What the engine sends where it does not keep unknowns: they are not values yet, so they are left out."""
    return {key: value for key, value in props.items() if not is_unknown(value)}


@dataclass
class Checked:
    inputs: dict[str, Any]
    failures: list[tuple[str, str]]


class ProviderHost:
    """One ``python -m pulumi.dynamic`` process, started in ``cwd`` as the engine starts it."""

    def __init__(self, cwd: Path, env: Mapping[str, str], log_path: Path) -> None:
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.engine: StandInEngine | None = None
        self._engine_cm: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: provider_pb2_grpc.ResourceProviderStub | None = None

    def __enter__(self) -> ProviderHost:
        self._engine_cm = stand_in_engine()
        self.engine, engine_address = self._engine_cm.__enter__()
        argv, env = launcher_command(self.env, engine_address, self.cwd)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
            )
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self._channel).result(timeout=STARTUP_TIMEOUT_S)
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        return self

    def _read_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(STARTUP_TIMEOUT_S):
                raise TimeoutError(f"the provider host printed no port in {STARTUP_TIMEOUT_S}s: {self.log_tail()}")
        line = self._process.stdout.readline().decode().strip()
        if not line.isdigit():
            raise RuntimeError(f"the provider host printed {line!r} instead of a port: {self.log_tail()}")
        return int(line)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
        if self._engine_cm is not None:
            self._engine_cm.__exit__(exc_type, exc, tb)

    @property
    def stub(self) -> provider_pb2_grpc.ResourceProviderStub:
        assert self._stub is not None, "use ProviderHost as a context manager"
        return self._stub

    # -- the calls, shaped as provider_plugin.go makes them
    def handshake(self, engine_address: str = "") -> provider_pb2.ProviderHandshakeResponse:
        return self.stub.Handshake(
            provider_pb2.ProviderHandshakeRequest(engine_address=engine_address), timeout=CALL_TIMEOUT_S
        )

    def configure(self) -> provider_pb2.ConfigureResponse:
        return self.stub.Configure(
            provider_pb2.ConfigureRequest(
                acceptSecrets=True,
                acceptResources=True,
                sends_old_inputs=True,
                sends_old_inputs_to_delete=True,
                variables={},
                args=to_struct({}),
            ),
            timeout=CALL_TIMEOUT_S,
        )

    def check(self, reg: Registration, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Checked:
        response = self.stub.Check(
            provider_pb2.CheckRequest(
                urn=reg.urn, name=reg.name, type=reg.typ, olds=to_struct(olds), news=to_struct(news)
            ),
            timeout=CALL_TIMEOUT_S,
        )
        return Checked(from_struct(response.inputs), [(f.property, f.reason) for f in response.failures])

    def diff(
        self,
        reg: Registration,
        id_: str,
        old_inputs: Mapping[str, Any],
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
    ) -> provider_pb2.DiffResponse:
        return self.stub.Diff(
            provider_pb2.DiffRequest(
                id=id_,
                urn=reg.urn,
                name=reg.name,
                type=reg.typ,
                old_inputs=to_struct(old_inputs),
                olds=to_struct(olds),
                news=to_struct(news),
            ),
            timeout=CALL_TIMEOUT_S,
        )

    def create(self, reg: Registration, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self.stub.Create(
            provider_pb2.CreateRequest(urn=reg.urn, name=reg.name, type=reg.typ, properties=to_struct(props)),
            timeout=CALL_TIMEOUT_S,
        )
        return response.id, from_struct(response.properties)

    def read(
        self, reg: Registration, id_: str, state: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        response = self.stub.Read(
            provider_pb2.ReadRequest(
                id=id_, urn=reg.urn, name=reg.name, type=reg.typ, properties=to_struct(state), inputs=to_struct(inputs)
            ),
            timeout=CALL_TIMEOUT_S,
        )
        return response.id, from_struct(response.properties)

    def update(
        self,
        reg: Registration,
        id_: str,
        old_inputs: Mapping[str, Any],
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
    ) -> dict[str, Any]:
        response = self.stub.Update(
            provider_pb2.UpdateRequest(
                id=id_,
                urn=reg.urn,
                name=reg.name,
                type=reg.typ,
                olds=to_struct(olds),
                news=to_struct(news),
                old_inputs=to_struct(old_inputs),
            ),
            timeout=CALL_TIMEOUT_S,
        )
        return from_struct(response.properties)

    def delete(self, reg: Registration, id_: str, state: Mapping[str, Any], old_inputs: Mapping[str, Any]) -> None:
        self.stub.Delete(
            provider_pb2.DeleteRequest(
                id=id_,
                urn=reg.urn,
                name=reg.name,
                type=reg.typ,
                properties=to_struct(state),
                old_inputs=to_struct(old_inputs),
            ),
            timeout=CALL_TIMEOUT_S,
        )
