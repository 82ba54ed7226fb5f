"""Where the project's files are: the directory with ``Pulumi.yaml``, ``workloads/`` and ``node_modules/``.

The package is installed (editable, by ``scripts/setup``) so its console scripts run from any directory.
The project directory is then, in order: ``BATCHFORGE_PROJECT_DIR``; the nearest directory at or above the
current one that holds a batchforge ``Pulumi.yaml``; the checkout this package was installed from.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR_ENV = "BATCHFORGE_PROJECT_DIR"
PROJECT_NAME = "batchforge"
# Editable installs and source checkouts: batchforge/ sits in the project directory.
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def is_project_dir(path: Path) -> bool:
    """Whether ``path`` holds this project's Pulumi.yaml (``name: batchforge``)."""
    pulumi_yaml = path / "Pulumi.yaml"
    if not pulumi_yaml.is_file():
        return False
    try:
        first_lines = pulumi_yaml.read_text(encoding="utf-8").splitlines()[:5]
    except OSError:
        return False
    return any(line.strip() == f"name: {PROJECT_NAME}" for line in first_lines)


def project_root(start: Path | None = None) -> Path:
    """The project directory (see the module docstring); the checkout root when nothing else matches."""
    override = os.environ.get(PROJECT_DIR_ENV)
    if override:
        return Path(override).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if is_project_dir(candidate):
            return candidate
    return CHECKOUT_ROOT


def node_bin(name: str, root: Path | None = None) -> Path:
    """An npm-installed executable (Azurite) of the project: ``node_modules/.bin/<name>``."""
    for base in dict.fromkeys((root or project_root(), CHECKOUT_ROOT)):
        candidate = base / "node_modules" / ".bin" / name
        if candidate.exists():
            return candidate
    return (root or project_root()) / "node_modules" / ".bin" / name
