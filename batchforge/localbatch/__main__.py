"""`python -m batchforge.localbatch`: the same as the `localbatch` console script."""

import sys

from batchforge.localbatch.command import main

if __name__ == "__main__":
    sys.exit(main())
