"""`python -m mpcsim ...`: the same command line as `mpcsim ...` (mpcsim.cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
