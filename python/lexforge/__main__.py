"""``python -m lexforge``: the ``lexforge`` command."""

import sys

from lexforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
