"""The daemon's intake: file-system hints in, settled files hashed into the engine.

Every hint is only a reason to look again (shared/research/reliability.md, section 2): the
path is lstat-ed and the disk decides. A directory is reconciled (walked and diffed with the
index); a file whose stat differs from the index's waits in the settler until it has stopped
changing for `settle` seconds (never half a copy), is checked once more on disk, and is
hashed in a batch through the engine.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import time
from collections.abc import Callable

from hashwatchd import files, paths
from hashwatchd.engine import Engine
from hashwatchd.model import FileStat, Found
from hashwatchd.records import pack_stat
from hashwatchd.roots import Root, RootSet
from hashwatchd.settle import Settler
from hashwatchd.watcher import Hint

log = logging.getLogger(__name__)

#: Files hashed per batch: the engine judges and the status file can be written between two.
BATCH = 64


class Intake:
    """Turns hints into index changes through the settler and the engine (whose excludes and
    symlink rule it follows)."""

    def __init__(
        self,
        engine: Engine,
        roots: RootSet,
        settler: Settler,
        hints: queue.SimpleQueue[Hint],
        *,
        heartbeat: Callable[[], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.engine, self.roots, self.settler, self.hints = engine, roots, settler, hints
        self._gone: list[bytes] = []  # vanished paths, forgotten together when the drain ends
        self._beat = heartbeat
        self._stopping = stopping
        self.roots_changed = False  # a "roots" hint came: the daemon checks its roots

    def drain(self, timeout: float) -> None:
        """Handle every hint waiting, after waiting up to `timeout` for the first one.

        Duplicates (a copy produces several events per file) are handled once.
        """
        try:
            hint = self.hints.get(timeout=timeout)
        except queue.Empty:
            return
        seen: set[Hint] = set()
        try:
            while True:
                if hint not in seen:
                    seen.add(hint)
                    if hint.kind == "rescan":
                        root = self.roots.roots.get(hint.path)
                        if root is not None and root.online:
                            log.info("rescanning %s", os.fsdecode(hint.path))
                            self.reconcile(hint.path, root)
                    elif hint.kind == "roots":
                        self.roots_changed = True
                    elif hint.kind == "path":
                        self.look(hint.path)
                    self._beat()  # an rm -r of thousands of files is a long drain
                if self._stopping():
                    return
                try:
                    hint = self.hints.get_nowait()
                except queue.Empty:
                    return
        finally:
            self._forget_gone()

    def _forget_gone(self) -> None:
        self.engine.vanish(self._gone)
        self._gone.clear()

    def look(self, path: bytes) -> None:
        """Act on what the disk says about `path` now."""
        root = self.roots.of(path)
        if root is None:
            return
        if paths.hidden_below(path, root.path) or paths.excluded(path, self.engine.excludes):
            return
        try:
            st = os.lstat(path)
            if self.engine.follow_symlinks and stat.S_ISLNK(st.st_mode):
                st = os.stat(path)
        except OSError as exc:
            if files.gone(exc):
                self._vanished(root, path)
            return  # there but cannot be looked at: kept, looked at again when its attributes change
        known = self.engine.known[root.role]
        if stat.S_ISDIR(st.st_mode):
            self.reconcile(path, root)
        elif not stat.S_ISLNK(st.st_mode) and self.engine.selected(root.path, root.role, path):
            fs = FileStat.of(st)
            if known.get(path) != pack_stat(*fs):
                self.settler.observe(path, fs, time.monotonic())
        elif path in known:
            self.engine.apply(root.role, [], [path])

    def _vanished(self, root: Root, path: bytes) -> None:
        if not self.roots.present(root):
            return  # the whole root went away: offline, not deleted (found by the root check)
        self.settler.forget(path)
        self.settler.forget_under(path)
        self._gone.append(path)

    def reconcile(self, top: bytes, root: Root | None = None) -> None:
        """Make the index of everything under `top` agree with the disk: gone files are
        forgotten, new and changed ones wait in the settler (already settled if their mtime is
        older than the settle time)."""
        root = root or self.roots.roots[top]
        self._forget_gone()  # the deletions seen before this walk come first
        diff = self.engine.survey(top)
        self.engine.apply(root.role, [], diff.gone)
        now, wall = time.monotonic(), time.time_ns()
        settle = self.settler.settle
        for found in diff.stale:
            old = wall - found.stat.mtime_ns > settle * 1e9
            self.settler.observe(found.path, found.stat, now - (settle if old else 0.0))

    def hash_ripe(self) -> None:
        """Hash every file that stopped changing, re-checking each on disk first."""
        while not self._stopping():
            now = time.monotonic()
            batch: list[Found] = []
            for path, seen in self.settler.ripe(now):
                root = self.roots.of(path)
                if root is None:
                    self.settler.forget(path)
                    continue
                try:
                    st = os.lstat(path)
                except OSError as exc:
                    self.settler.forget(path)
                    if files.gone(exc):
                        self._vanished(root, path)
                    continue
                fs = FileStat.of(st)
                if fs != seen:
                    self.settler.observe(path, fs, now)
                    continue
                self.settler.take(path)
                batch.append(Found(path, fs, stat.S_ISREG(st.st_mode)))
                if len(batch) >= BATCH:
                    break
            self._forget_gone()
            if not batch:
                return
            done = self.engine.index(batch, stop=self._stopping)
            for path in done.retry:
                self.hints.put(Hint("path", path))  # moved, deleted or rewritten meanwhile: look again
            for found in done.unfinished:
                self.settler.observe(found.path, found.stat, time.monotonic())
