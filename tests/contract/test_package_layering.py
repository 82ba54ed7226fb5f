"""Dependencies inside the package point one way: models at the bottom, Pulumi providers and the CLI on top.

The local Batch service is a subsystem of its own: nothing else in the package imports it except its
launcher (``batchforge.localbatch.launcher``: start, stop, find a running service, node folders); inside,
only the launcher's ``target()`` helper reaches out (for ``BatchTarget``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "batchforge"

# Each area may import itself and the areas listed for it (directly or through the ones below it).
LAYERS: dict[str, set[str]] = {
    "project": set(),
    "core": {"project"},
    "config": {"core", "assets", "project"},
    "assets": {"core", "project"},
    "workload": {"config", "assets", "core", "project", "submission"},
    "submission": {"core", "project", "assets"},
    "contract": {"core", "project"},
    "policy": {"contract", "core", "config", "project"},
    "providers": {"submission", "workload", "assets", "config", "core", "project"},
    "jobs": {"workload", "config", "submission", "assets", "core", "project"},
    "promotion": {"contract", "policy", "workload", "config", "core", "submission", "assets", "project"},
    "localrun": {"jobs", "workload", "submission", "config", "assets", "core", "project", "localbatch.launcher"},
    "cli": {
        "localrun",
        "promotion",
        "jobs",
        "policy",
        "workload",
        "submission",
        "config",
        "assets",
        "core",
        "project",
        "localbatch.launcher",
    },
    "localbatch": {"project"},
}


# The launcher builds a BatchTarget for its callers (tests, the local run): the one way out of the subsystem.
MODULE_EXCEPTIONS: dict[str, set[str]] = {"localbatch/testing.py": {"submission"}}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "project"


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name == "batchforge" or name.startswith("batchforge.")]


def _files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _violations(path: Path) -> list[str]:
    relative = path.relative_to(PACKAGE)
    own = relative.parts[0] if len(relative.parts) > 1 else relative.stem
    own = "project" if own in ("__init__", "project") else own
    allowed = LAYERS[own] | MODULE_EXCEPTIONS.get(relative.as_posix(), set())
    problems = []
    for line, module in _imports(path):
        if module == "batchforge":
            continue
        target = _area(module)
        if target == own or target in allowed or ".".join(module.split(".")[1:3]) in allowed:
            continue
        problems.append(f"batchforge/{relative}:{line}: {own} imports {module}")
    return problems


def test_every_area_is_in_the_layer_table():
    areas = {path.relative_to(PACKAGE).parts[0] for path in _files() if len(path.relative_to(PACKAGE).parts) > 1}
    assert areas <= set(LAYERS), f"new package areas need a row in LAYERS: {sorted(areas - set(LAYERS))}"


def test_dependencies_point_one_way():
    problems = [problem for path in _files() for problem in _violations(path)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lower", ["core", "config", "workload", "submission"])
def test_the_bottom_layers_have_no_pulumi_inside(lower):
    for path in (PACKAGE / lower).rglob("*.py"):
        for _, name in [
            (n.lineno, n.module or "")
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.ImportFrom)
        ] + [
            (n.lineno, a.name)
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Import)
            for a in n.names
        ]:
            assert not name.startswith("pulumi"), f"{path.relative_to(PACKAGE)} imports {name}"
