"""``python -m lib.run 01 ...``: the chapter runner, kept at its documented address.

The runner lives in ``lib.reporting.run``; see its docstring for the options.
"""

import sys

from .reporting.run import main

if __name__ == "__main__":
    sys.exit(main())
