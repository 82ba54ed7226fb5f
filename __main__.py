"""The Pulumi program: validate the stack's config, declare the platform and pools, export outputs."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from batchforge.config import NAMESPACE, check_pulumi_config
from batchforge.core import InvalidInput
from components.stack import build_stack

REPO_ROOT = Path(__file__).resolve().parent


def _batchforge_config() -> dict[str, str]:
    """Every ``batchforge:*`` value Pulumi passed in (environment first, explicitly set config on top)."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key: value for key, value in merged.items() if str(key).startswith(f"{NAMESPACE}:")}


def _require_installed_package() -> None:
    """The provider host unpickles the post-deploy hook from the *installed* package, not from this directory.

    ``pulumi install`` alone installs requirements.txt but not the package; the program would then run (this
    directory is on its path) and the hook fail later, inside ``up``. Refuse before anything is declared.
    """
    try:
        metadata.version("batchforge")
    except metadata.PackageNotFoundError:
        raise pulumi.RunError(
            "the batchforge package is not installed in the project's virtualenv: run scripts/setup "
            "(or `.venv/bin/pip install --no-deps -e .`), then run pulumi again"
        ) from None


def main() -> None:
    _require_installed_package()
    stack = pulumi.get_stack()
    try:
        loaded = check_pulumi_config(stack, _batchforge_config(), repo_root=REPO_ROOT)
        config = loaded.config
        outputs = build_stack(config, stack, REPO_ROOT)
    except InvalidInput as invalid:
        # Raised before anything is declared: the run fails with the list of problems and no traceback.
        raise pulumi.RunError(f"invalid stack config:\n{invalid}") from None
    # Valid today but due soon (a node agent's end of support): shown in every preview and up.
    for warning in loaded.warnings:
        pulumi.log.warn(str(warning))
    for name, value in outputs.items():
        pulumi.export(name, value)


main()
