"""`localbatch serve|stop|info`: run the local Batch service (and Azurite) on this machine."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from batchforge.localbatch import config as config_module

DEFAULT_DATA_DIR = Path(".localbatch")
STARTUP_TIMEOUT_SECONDS = 60.0


def _print_info(data_dir: Path) -> None:
    info = config_module.read_service_file(data_dir) or {}
    print(f"endpoint:      {info.get('endpoint')}")
    print(f"account name:  {info.get('account_name')}")
    print(f"account key:   in {info.get('config_file')} (field account_key)")
    print(f"blob endpoint: {info.get('blob_endpoint')} (storage key in the same file, field storage)")
    print(f"pid:           {info.get('pid')}")


def _running_pid(data_dir: Path) -> int | None:
    info = config_module.read_service_file(data_dir)
    if not info:
        return None
    pid = int(info.get("pid") or 0)  # type: ignore[call-overload]
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return None
    return pid


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def clock_arguments(speed: float, test_clock: bool) -> list[str]:
    """The `serve` options that give a service started in the background the same clock."""
    return [*(["--clock-speed", repr(speed)] if speed != 1.0 else []), *(["--test-clock"] if test_clock else [])]


def container_arguments(runtime: str, run_on_host: bool) -> list[str]:
    """The `serve` options that give a service started in the background the same container runtime."""
    return [
        *(["--container-runtime", runtime] if runtime != "auto" else []),
        *(["--run-containers-on-host"] if run_on_host else []),
    ]


def cmd_serve(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    if args.allow_host_changes:  # read where the node sandbox is chosen; a background service inherits it
        from batchforge.localbatch.sandbox import ALLOW_HOST_CHANGES_VARIABLE

        os.environ[ALLOW_HOST_CHANGES_VARIABLE] = "1"
    if args.active_job_quota is not None:
        # Kept in localbatch.json, so a restart without the flag keeps the quota.
        config = config_module.load_or_create(data_dir)
        config.active_job_and_schedule_quota = args.active_job_quota
        config_module.save(data_dir, config)
    if _running_pid(data_dir):
        print(f"already running for {data_dir}:")
        _print_info(data_dir)
        return 0
    if args.background:
        config_module.private_dir(data_dir)
        with contextlib.suppress(FileNotFoundError):
            (data_dir / config_module.SERVICE_FILE).unlink()
        command = [
            sys.executable,
            "-m",
            "batchforge.localbatch",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(args.port),
            *clock_arguments(args.clock_speed, args.test_clock),
            *container_arguments(args.container_runtime, args.run_containers_on_host),
        ]
        with config_module.open_private_log(data_dir / "service.log") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if config_module.read_service_file(data_dir):
                _print_info(data_dir)
                return 0
            if process.poll() is not None:
                reason = _last_line(data_dir / "service.log")
                print(f"the service exited during startup: {reason} (see {data_dir / 'service.log'})", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print("the service did not start in time", file=sys.stderr)
        return 1
    from batchforge.localbatch.azurite import AzuriteError
    from batchforge.localbatch.service import serve

    print(f"local Batch service starting (data dir {data_dir}); Ctrl-C stops it", flush=True)
    try:
        serve(
            data_dir,
            port=args.port,
            with_azurite=not args.external_storage,
            clock_speed=args.clock_speed,
            test_clock=args.test_clock,
            container_runtime=args.container_runtime,
            run_containers_on_host=args.run_containers_on_host,
        )
    except AzuriteError as failed:
        print(f"{failed}".strip().splitlines()[0], file=sys.stderr, flush=True)
        return 1
    return 0


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    return lines[-1].strip() if lines else "no output"


def cmd_stop(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    pid = _running_pid(data_dir)
    if pid is None:
        print(f"no local Batch service running for {data_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("stopped")
            return 0
        time.sleep(0.1)
    print(f"process {pid} did not stop", file=sys.stderr)
    return 1


def cmd_info(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    if _running_pid(data_dir) is None:
        print(f"no local Batch service running for {data_dir}")
        return 1
    _print_info(data_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localbatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start Azurite and the local Batch service")
    serve.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--background", action="store_true", help="detach and return once it is serving")
    serve.add_argument(
        "--external-storage",
        action="store_true",
        help="do not start Azurite: use the storage account already set in the data dir's localbatch.json",
    )
    serve.add_argument(
        "--clock-speed",
        type=_positive_float,
        default=1.0,
        metavar="N",
        help="run the service's clock N times as fast as real time (job schedules, timestamps, time limits)",
    )
    serve.add_argument(
        "--test-clock",
        action="store_true",
        help="let POST /localbatch/clock/advance move the service's clock forward (for tests)",
    )
    serve.add_argument(
        "--active-job-quota",
        type=int,
        default=None,
        metavar="N",
        help="the account's quota of active jobs and job schedules (default 100, kept in localbatch.json); "
        "Job - Add beyond it answers 409 ActiveJobAndScheduleQuotaReached",
    )
    serve.add_argument(
        "--allow-host-changes",
        action="store_true",
        help="run nodes unsandboxed, directly on this machine, so that start tasks can install software on it",
    )
    serve.add_argument(
        "--container-runtime",
        default="auto",
        metavar="auto|docker|podman|PATH",
        help="what runs tasks that have containerSettings: the first of docker and podman whose `info` succeeds "
        "(auto, the default), that one, or a docker-compatible executable at PATH",
    )
    serve.add_argument(
        "--run-containers-on-host",
        action="store_true",
        help="where no container runtime is usable, run container tasks' command lines directly on the node "
        "(each such task says so in its stderr.txt) instead of failing them with ContainerRuntimeUnavailable",
    )
    serve.set_defaults(func=cmd_serve)
    for name, func, text in (("stop", cmd_stop, "stop a background service"), ("info", cmd_info, "show endpoint")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
        command.set_defaults(func=func)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
