"""A stand-in container runtime for tests: a docker-compatible CLI that records each call (argv, environment,
working directory) to ``calls.jsonl`` in its working directory and runs a ``run``'s command itself, so the
argument building is tested on every machine, with or without Docker or Podman."""

from __future__ import annotations

import sys
from pathlib import Path

STAND_IN = """#!{python}
import json, os, subprocess, sys

arguments = sys.argv[1:]
with open(os.path.join(os.getcwd(), "calls.jsonl"), "a") as calls:
    calls.write(json.dumps({{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}}) + "\\n")
if arguments[0] == "info":
    if {info_fails}:
        print("Cannot connect to the container daemon. Is it running?", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
if arguments[0] == "pull" and "missing" in arguments[1]:
    print("Error response from daemon: manifest unknown", file=sys.stderr)
    sys.exit(1)
if arguments[0] in ("pull", "rm"):
    sys.exit(0)
assert arguments[0] == "run", arguments
index, workdir, environment = 1, "/", {{"PATH": "/usr/local/bin:/usr/bin:/bin"}}
while arguments[index].startswith("-"):
    flag = arguments[index]
    if flag == "--rm":
        index += 1
        continue
    value = arguments[index + 1]
    index += 2
    if flag == "-e":
        name, equals, given = value.partition("=")
        environment[name] = given if equals else os.environ[name]
    elif flag == "-w":
        workdir = value
command = arguments[index + 1:]
sys.exit(subprocess.run(command, cwd=workdir, env=environment).returncode)
"""


def write_stand_in(folder: Path, *, info_fails: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "container-runtime"
    path.write_text(STAND_IN.format(python=sys.executable, info_fails=info_fails))
    path.chmod(0o755)
    return path
