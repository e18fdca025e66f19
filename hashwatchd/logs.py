"""Logging setup: one stderr handler; by default only what a person wants to know.

stdout carries command output and --json only. Under systemd ($JOURNAL_STREAM names our
stderr) the journal adds timestamps itself, so lines carry none. -vv turns on hashwatchd's own
debug lines only: watchdog's debug output (one line per inotify event) would drown them.

NOTICE sits between INFO and WARNING (as syslog's notice, which the journal shows as such): the
few lines worth reading when nothing is wrong, shown by default. The daemon is ready, what its
start-up hashed, and where its status file is; a card's folder appeared; a folder's analysis is
complete, with its result; a decision of `hashwatchd ignore` changed what is reported; a root came
back; the daemon stopped. Never one line per file: those are INFO (-v). README, "The daemon",
lists them.
"""

from __future__ import annotations

import logging
import os
import sys

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")


def setup(verbosity: int) -> None:
    """NOTICE by default, INFO with -v, hashwatchd's DEBUG with -vv."""
    handler = logging.StreamHandler(sys.stderr)
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    handler.setFormatter(logging.Formatter(stamp + "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(NOTICE if verbosity <= 0 else logging.INFO)
    logging.getLogger("hashwatchd").setLevel(logging.DEBUG if verbosity >= 2 else logging.NOTSET)
