"""`on_folder_complete`: a command run when a needle folder's analysis completes.

A folder is *busy* once a file in it waits to be hashed while the daemon is watching (not for
every folder of the start-up backlog), and the hook runs when a published report shows it
complete, unless a person decided not to import that folder (`hashwatchd ignore`): the hook is
typically an import script. No shell ever sees a path: the command is a list of words, and the folder reaches it
only through environment variables. A hook that fails is logged; one that hangs is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence

from hashwatchd.report import FolderKey, FolderReport, Report

log = logging.getLogger(__name__)

TIMEOUT = 60.0


class Hooks:
    """Runs the configured command for each busy folder that completes, and reaps it."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = tuple(argv)
        self._busy: set[FolderKey] = set()
        self._running: list[tuple[subprocess.Popen[bytes], float]] = []

    @property
    def running(self) -> bool:
        """Whether a hook is running (to be reaped, or killed at its deadline)."""
        return bool(self._running)

    def busy(self, key: FolderKey) -> None:
        """A file of this folder waits: run the hook when the folder is complete again."""
        self._busy.add(key)

    def fire(self, doc: Report) -> list[FolderReport]:
        """Run the hook for each busy folder that `doc` shows complete; return those folders."""
        done = []
        for folder in doc.folders:
            key = (folder.root, folder.path)
            if key in self._busy and folder.complete:
                self._busy.discard(key)
                if not folder.ignored:
                    self._run(folder)
                done.append(folder)
        return done

    def _run(self, folder: FolderReport) -> None:
        if not self.argv:
            return
        env = dict(os.environ)
        env.update(
            {
                "HASHWATCHD_ROOT": os.fsdecode(folder.root),
                "HASHWATCHD_FOLDER": os.fsdecode(folder.path),
                "HASHWATCHD_PATH": os.fsdecode(folder.directory),
                "HASHWATCHD_STATUS": folder.status.value,
                "HASHWATCHD_IMAGES": str(folder.images),
                "HASHWATCHD_IMPORTED": str(folder.imported),
                # files decided not to import one by one: not in IMAGES, and not in the library either
                "HASHWATCHD_IGNORED_FILES": str(folder.ignored_files),
                **{f"HASHWATCHD_{status.name}": str(n) for status, n in folder.counts.items()},
            }
        )
        try:
            proc = subprocess.Popen(  # its own session: a kill reaches what it started too
                list(self.argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as exc:
            log.error("on_folder_complete: cannot run %s: %s", self.argv[0], exc.strerror)
            return
        self._running.append((proc, time.monotonic() + TIMEOUT))

    def reap(self, *, wait: bool = False) -> None:
        """Collect finished hooks, log failures, kill those past their time (all of them when `wait`)."""
        keep = []
        for proc, deadline in self._running:
            code = proc.poll()
            if code is None and (wait or time.monotonic() > deadline):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):  # a hook stuck in the kernel: not waited for
                    code = proc.wait(timeout=1)
                why = "the daemon stopped" if wait else f"after {TIMEOUT:g} s"
                log.error("on_folder_complete: %s killed (%s)", proc.args, why)
                continue
            if code is None:
                keep.append((proc, deadline))
            elif code != 0:
                log.error("on_folder_complete: %s exited with %d", proc.args, code)
        self._running = keep
