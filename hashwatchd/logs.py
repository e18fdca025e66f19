"""Logging setup: one stderr handler, quiet by default.

stdout carries command output and --json only. Under systemd ($JOURNAL_STREAM names our
stderr) the journal adds timestamps itself, so lines carry none. -vv turns on hashwatchd's own
debug lines only: watchdog's debug output (one line per inotify event) would drown them.
"""

from __future__ import annotations

import logging
import os
import sys


def setup(verbosity: int) -> None:
    """WARNING by default, INFO with -v, hashwatchd's DEBUG with -vv."""
    handler = logging.StreamHandler(sys.stderr)
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    handler.setFormatter(logging.Formatter(stamp + "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbosity <= 0 else logging.INFO)
    logging.getLogger("hashwatchd").setLevel(logging.DEBUG if verbosity >= 2 else logging.NOTSET)
