"""``python -m batchctl``: the one entry point of the operator CLI."""

from batchctl.app import main

if __name__ == "__main__":
    main()
