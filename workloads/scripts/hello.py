"""Prints what a Batch task sees: its AZ_BATCH_* variables and the node's folder layout."""

import os
from pathlib import Path


def show_tree(root: Path, depth: int, indent: str = "  ") -> None:
    if depth < 0 or not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        print(f"{indent}{entry.name}{'/' if entry.is_dir() else ''}")
        if entry.is_dir():
            show_tree(entry, depth - 1, indent + "  ")


def main() -> None:
    print("AZ_BATCH_* variables:")
    for name in sorted(key for key in os.environ if key.startswith("AZ_BATCH_")):
        print(f"  {name}={os.environ[name]}")
    print(f"working directory: {Path.cwd()}")
    for label in ("AZ_BATCH_NODE_ROOT_DIR", "AZ_BATCH_TASK_DIR"):
        folder = os.environ.get(label)
        if folder:
            print(f"{label} ({folder}):")
            show_tree(Path(folder), depth=2)


if __name__ == "__main__":
    main()
