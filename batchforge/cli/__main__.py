"""`python -m batchforge.cli`: the same as the `batchctl` console script."""

from batchforge.cli.app import main

if __name__ == "__main__":
    main()
