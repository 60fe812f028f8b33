"""``python -m lexforge.cli``: the ``lexforge`` command (as torchrun launches it)."""

import sys

from lexforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
