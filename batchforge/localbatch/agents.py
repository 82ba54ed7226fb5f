"""Node agents: worker processes that run tasks for the service, like the agent on a Batch node.

The service's own process answers the API and keeps the books; starting processes, preparing task
folders and moving files costs Python time per task, so it happens in a few agent processes that use
the other cores. Each agent runs `batchforge.localbatch.execution.run_task` on its own event loop and talks to the
service over a pipe: ("node", ref, node) once per node, then ("run", id, ref, run, limit) and
("cancel", id) in; ("done", id, outcome fields), ("cancelled", id, None) once a cancelled run's process
is dead, or ("error", id, text) out. An agent that dies fails only its own runs (`AgentCrashed`) and is
replaced. Messages are kept small
because both ends pickle and unpickle one pair per task. An agent whose pipe closes (the service died)
cancels its runs and exits, which kills their processes.

In a sandbox (`localbatch.sandbox`), each node has an agent of its own, started inside the node's sandbox
once, when the node first runs something; without one, a few agents share the nodes round-robin.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import subprocess
import sys
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, TaskRun
from batchforge.localbatch.sandbox import Sandbox

DEFAULT_AGENTS = max(1, min(4, os.cpu_count() or 1))
AGENTS_VARIABLE = "LOCALBATCH_NODE_AGENTS"


def agent_count() -> int:
    """How many agent processes to start; 0 runs tasks on the service's own event loop."""
    text = os.environ.get(AGENTS_VARIABLE, "")
    return int(text) if text.strip().isdigit() else DEFAULT_AGENTS


_STOP_TIMEOUT_SECONDS = 10.0
# How long a cancelled run waits for its agent to confirm the process is gone (kill and reap take ms).
_CANCEL_ACK_SECONDS = 10.0
# Nodes an agent remembers before the service tells it to forget them all (nodes come and go with resizes).
_KNOWN_NODES_LIMIT = 256
# Sandboxed agents kept for nodes that ran something; beyond this, idle ones of departed nodes are stopped.
_SANDBOXED_AGENTS_LIMIT = 64


class AgentError(RuntimeError):
    """A run failed inside an agent for a reason other than the task itself."""


class AgentCrashed(AgentError):
    """The agent running this run died; the run's process may be orphaned and has to be cleaned up."""


class _Agent:
    """One agent process and what the service has sent it."""

    def __init__(self, sandbox: Sandbox | None = None, node_root: Path | None = None) -> None:
        ours, theirs = multiprocessing.Pipe()
        entry = f"from batchforge.localbatch.agents import agent_main; agent_main({theirs.fileno()})"
        program = [sys.executable, "-c", entry]
        if sandbox is not None and node_root is not None:
            program = sandbox.command(node_root, program)
        try:
            self.process = subprocess.Popen(program, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self.connection: Connection = ours
        self.known_nodes: dict[NodeContext, int] = {}
        self.pending: dict[int, asyncio.Future[ExecutionOutcome | None]] = {}


class NodeAgents:
    def __init__(self, count: int = DEFAULT_AGENTS, *, sandbox: Sandbox | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count()
        self._turn = itertools.count()
        self._closing = False
        self._sandbox = sandbox
        self._agents: list[_Agent] = [] if sandbox else [self._start() for _ in range(count)]
        self._node_agents: dict[Path, _Agent] = {}  # sandboxed: one per node root, most recently used last
        self.restarts = 0

    def _start(self, node_root: Path | None = None) -> _Agent:
        agent = _Agent(self._sandbox, node_root)
        self._loop.add_reader(agent.connection.fileno(), self._receive, agent)
        return agent

    def pids(self) -> list[int]:
        return [int(agent.process.pid or 0) for agent in self._agents]

    def _agent_for(self, node: NodeContext) -> _Agent:
        if self._sandbox is None:
            return self._agents[next(self._turn) % len(self._agents)]
        agent = self._node_agents.pop(node.node_root, None)
        if agent is None:
            for root, idle in list(self._node_agents.items()):
                if len(self._node_agents) < _SANDBOXED_AGENTS_LIMIT:
                    break
                if not idle.pending:
                    self._stop(self._node_agents.pop(root))
            agent = self._start(node.node_root)
            self._agents.append(agent)
        self._node_agents[node.node_root] = agent
        return agent

    def _stop(self, agent: _Agent) -> None:
        self._agents.remove(agent)
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(agent.connection.fileno())
            agent.connection.send(("stop", -1, None))
        agent.connection.close()
        self._loop.run_in_executor(None, agent.process.wait)

    async def run(self, node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
        request = next(self._ids)
        agent = self._agent_for(node)
        future: asyncio.Future[ExecutionOutcome | None] = self._loop.create_future()
        agent.pending[request] = future
        try:
            connection = agent.connection
            known = agent.known_nodes
            reference = known.get(node)
            if reference is None:
                if len(known) >= _KNOWN_NODES_LIMIT:
                    known.clear()
                    connection.send(("forget", -1))
                reference = known[node] = len(known)
                connection.send(("node", reference, node))
            connection.send(("run", request, reference, run, limit))
        except OSError as err:  # the pipe broke: the agent is gone, its reader will restart it
            agent.pending.pop(request, None)
            raise AgentCrashed(f"a node agent exited: {err}") from err
        try:
            # Shielded, so that a cancel leaves the future to receive the agent's confirmation below.
            outcome = await asyncio.shield(future)
        except asyncio.CancelledError:
            # Answer only once the agent says the process is dead and reaped, so that what follows a kill
            # (job release after a terminate, a slot reused) never overlaps it.
            with contextlib.suppress(OSError):
                agent.connection.send(("cancel", request))
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(future), _CANCEL_ACK_SECONDS)
            raise
        finally:
            agent.pending.pop(request, None)
        assert outcome is not None
        return outcome

    def _receive(self, agent: _Agent) -> None:
        # One message per call: the loop calls again while the pipe stays readable, and Connection.poll
        # would build a selector each time it is asked.
        try:
            kind, request, payload = agent.connection.recv()
        except (EOFError, OSError):
            self._lost(agent)
            return
        future = agent.pending.get(request)
        if future is None or future.done():
            return
        if kind == "done":
            future.set_result(_outcome_from_fields(payload))
        elif kind == "cancelled":
            future.set_result(None)
        else:
            future.set_exception(AgentError(str(payload)))

    def _lost(self, agent: _Agent) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(agent.connection.fileno())
        for future in agent.pending.values():
            if not future.done():
                future.set_exception(AgentCrashed("a node agent exited"))
        agent.pending.clear()
        if self._closing or agent not in self._agents:
            return
        # Only this agent's runs are lost; a replacement takes its turn in the rotation (or its node's runs).
        agent.connection.close()
        self._loop.run_in_executor(None, agent.process.wait)
        index = self._agents.index(agent)
        roots = [root for root, known in self._node_agents.items() if known is agent]
        self._agents[index] = self._start(roots[0] if roots else None)
        for root in roots:
            self._node_agents[root] = self._agents[index]
        self.restarts += 1

    async def close(self) -> None:
        self._closing = True
        for agent in self._agents:
            with contextlib.suppress(OSError, ValueError):
                self._loop.remove_reader(agent.connection.fileno())
                agent.connection.send(("stop", -1, None))
        for agent in self._agents:
            try:
                await asyncio.to_thread(agent.process.wait, _STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                agent.process.kill()
                await asyncio.to_thread(agent.process.wait)
        for agent in self._agents:
            agent.connection.close()


def agent_main(fd: int) -> None:
    """The agent process's entry: serves the service on the connection inherited as `fd`."""
    from batchforge.localbatch.workers import install_child_watcher

    install_child_watcher()
    asyncio.run(_serve(Connection(fd)))


async def _serve(connection: Connection) -> None:
    from batchforge.localbatch.execution import prepare_node, run_task, users

    loop = asyncio.get_running_loop()
    runs: dict[int, asyncio.Task[None]] = {}
    nodes: dict[int, NodeContext] = {}
    stopped = asyncio.Event()

    async def one(request: int, node: NodeContext, run: TaskRun, limit: timedelta | None) -> None:
        try:
            outcome = await run_task(node, run, max_wall_clock=limit)
            reply: tuple[str, int, Any] = ("done", request, _outcome_fields(outcome))
        except asyncio.CancelledError:
            # run_task has killed and reaped the process by now; the service waits for this word.
            reply = ("cancelled", request, None)
        except Exception as err:  # reported to the service, which records it as a server error
            reply = ("error", request, f"{type(err).__name__}: {err}")
        finally:
            runs.pop(request, None)
        with contextlib.suppress(OSError):
            connection.send(reply)

    def receive() -> None:
        try:  # one message per call, as in NodeAgents._receive
            kind, request, *payload = connection.recv()
            if kind == "run":
                reference, run, limit = payload
                runs[request] = loop.create_task(one(request, nodes[reference], run, limit))
            elif kind == "node":
                nodes[request] = payload[0]
                if users.enabled():  # the shared dir becomes writable for every task user of the node
                    prepare_node(payload[0])
            elif kind == "forget":
                nodes.clear()
            elif kind == "cancel" and request in runs:
                runs[request].cancel()
            elif kind == "stop":
                stopped.set()
        except (EOFError, OSError):
            stopped.set()

    loop.add_reader(connection.fileno(), receive)
    await stopped.wait()
    loop.remove_reader(connection.fileno())
    pending = list(runs.values())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _outcome_fields(outcome: ExecutionOutcome) -> tuple[Any, ...]:
    # Plain values pickle several times faster than the dataclass with its Path.
    return (
        outcome.exit_code,
        outcome.result,
        None if outcome.failure_info is None else dict(outcome.failure_info),
        outcome.start_time,
        outcome.end_time,
        str(outcome.task_dir),
        outcome.timed_out,
    )


def _outcome_from_fields(fields: tuple[Any, ...]) -> ExecutionOutcome:
    exit_code, result, failure_info, start_time, end_time, task_dir, timed_out = fields
    return ExecutionOutcome(
        exit_code=exit_code,
        result=result,
        failure_info=failure_info,
        start_time=start_time,
        end_time=end_time,
        task_dir=Path(task_dir),
        timed_out=timed_out,
    )
