"""The `hashwatchd` command and `python -m hashwatchd`.

This module imports nothing at the top: decoder processes are started with `spawn`, which
re-imports the parent's main script in each of them, and importing the command line (NumPy,
LMDB, YAML, the matcher) there delayed every decoder's first picture noticeably.
"""

import sys


def main() -> int:
    from hashwatchd.cli import main as run  # noqa: PLC0415 - see the module docstring

    return run()


if __name__ == "__main__":
    sys.exit(main())
