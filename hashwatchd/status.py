"""The daemon's status file: when to write it, what goes in it, and what systemd is told.

Written at most every `report_interval` while things change, and at once when the daemon is
idle, so a poller sees a new card within a second of the copy without the daemon rewriting the
file for every one of its thousand files; a file that cannot be written is tried again a
second later at the soonest. The visual report follows each write at its own pace (visual.py).
Each folder carries two clocks (clocks.py), and what a person decided not to import
(decisions.py) is read again whenever `hashwatchd ignore` changes it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from hashwatchd import decisions, paths, publish, report, systemd, visual
from hashwatchd.clocks import Clocks, now
from hashwatchd.decisions import Decisions
from hashwatchd.engine import Engine
from hashwatchd.errors import ConfigError, PublishError
from hashwatchd.logs import NOTICE
from hashwatchd.model import Role
from hashwatchd.report import FolderKey, Report, State
from hashwatchd.roots import RootSet
from hashwatchd.settle import Settler

log = logging.getLogger(__name__)

#: A status file that cannot be written is logged at most this often.
_ERROR_EVERY = 60.0
#: Seconds at least between two attempts at a status file that could not be written.
_RETRY_MIN = 1.0


class StatusWriter:
    """Builds the report from the engine, the roots and the settler, and publishes it."""

    def __init__(
        self, path: Path, mode: int, interval: float, *, engine: Engine, roots: RootSet, settler: Settler
    ) -> None:
        self.path, self.mode, self.interval = path, mode, interval
        self.page: visual.PageWriter | None = None  # the visual report, written beside the status file after it
        self._engine, self._roots, self._settler = engine, roots, settler
        self.clocks = Clocks(engine.store)
        self.decisions = Decisions()
        self._decisions_from: tuple[Path, tuple[str, ...]] | None = None
        self._decisions_stamp: tuple[int, int, int] | None = None
        self._dirty = True
        self._seen_versions = (-1, -1, -1)
        self._last = -float("inf")
        self._error_logged = -_ERROR_EVERY
        self._retry_at = -float("inf")
        self._written: Report | None = None  # the last status document written
        self._news: set[FolderKey] = set()  # folders first seen while watching, to announce once written

    def read_decisions(self, state_dir: Path, globs: Sequence[str]) -> None:
        """Read what a person decided if the file (or the config's globs) changed since the last
        read. A file that cannot be used is logged and changes nothing: the daemon goes on with
        what it had (at worst a folder shows as not imported, never the other way round)."""
        stamp = decisions.stamp(state_dir)
        source = (state_dir, tuple(globs))
        if source == self._decisions_from and stamp == self._decisions_stamp:
            return
        try:
            new = decisions.load(state_dir, globs)
        except ConfigError as exc:
            log.error("%s", exc)
        else:
            log.info("%d decisions and %d glob(s) of folders not to import", len(new.ignored), len(globs))
            if self._decisions_from is not None:
                _say_decided(self.decisions, new)
            self.decisions = new
        self._decisions_from, self._decisions_stamp = source, stamp
        self._dirty = True

    def changed(self) -> None:
        """Something else in the document changed (the daemon's state, say)."""
        self._dirty = True

    def due(self, idle: bool) -> bool:
        """Whether the file should be written now: something changed, and either the daemon is
        idle or `interval` has passed since the last write; never before a failed write's retry
        time (a full disk must not make the loop spin)."""
        if self._versions() != self._seen_versions:
            self._dirty = True
        now = time.monotonic()
        return self._dirty and now >= self._retry_at and (idle or now - self._last >= self.interval)

    def next_write(self) -> float | None:
        """When (time.monotonic) a change held back by the interval or by a failed write, or a page
        put off, is due, if one waits."""
        waits = []
        if self._dirty or self._versions() != self._seen_versions:
            waits.append(max(self._last + self.interval, self._retry_at))
        if self.page is not None and (owed := self.page.owed_at()) is not None:
            waits.append(owed)
        return min(waits, default=None)

    def write_owed_page(self) -> None:
        """Write the visual report of the last status file written, if a write of it was put off
        (it costs too much to follow every status write) or left previews to make."""
        if self.page is not None and self._written is not None and self.page.due():
            self.page.try_write(self._written, visual.page_path(self.path), self.mode)

    def _announce(self, doc: Report) -> None:
        """One line for each folder first seen while the daemon watches (a card copied in): not for
        those of the start-up backlog, nor for those its clocks knew before a restart."""
        for folder in doc.folders:
            if (folder.root, folder.path) in self._news:
                log.log(NOTICE, "new folder %s", os.fsdecode(folder.directory))
        self._news.clear()

    def _versions(self) -> tuple[int, int, int]:
        return self._engine.version, self._settler.version, self._roots.version

    def publish(self, state: State) -> Report | None:
        """Write the status file; the report written, or None when writing failed (logged, retried)."""
        needle_roots = self._roots.of_role(Role.NEEDLE)
        pending = [p for p in self._settler.paths() if paths.root_of(p, needle_roots)]
        stamp = now()
        doc = report.build(
            self._engine.outcomes.values(),
            needle_roots,
            self._engine.counts(Role.HAYSTACK),
            state=state,
            pending=pending,
            offline=self._roots.offline(),
            decided=self.decisions,
            now=stamp,
        )
        new = self.clocks.stamp(doc.folders, stamp)
        if state is State.WATCHING:
            self._news.update(new)
        # Once caught up, a folder the report no longer has is gone: a card copied there again is new.
        self.clocks.save({(f.root, f.path) for f in doc.folders} if state is State.WATCHING else None)
        self._last = time.monotonic()
        self._seen_versions = self._versions()
        try:
            publish.write_json(self.path, doc.to_json(), self.mode)
        except PublishError as exc:
            self._retry_at = self._last + max(self.interval, _RETRY_MIN)
            if self._last - self._error_logged >= _ERROR_EVERY:
                log.error("%s (retrying; logged once a minute)", exc)
                self._error_logged = self._last
            return None
        self._error_logged = -_ERROR_EVERY
        self._retry_at = -float("inf")
        self._dirty = False
        self._written = doc
        self._announce(doc)
        if self.page is not None:
            self.page.try_write(doc, visual.page_path(self.path), self.mode)
        library, _ = self._engine.counts(Role.HAYSTACK)
        systemd.notify(
            f"STATUS={state.value}: {len(self._engine.outcomes)} needle images, "
            f"{library} library images, {len(self._settler)} pending"
        )
        return doc


def _say_decided(old: Decisions, new: Decisions) -> None:
    """One line when what a person decided changed while the daemon runs (`hashwatchd ignore`,
    `unignore`, or `ignore_folders` reloaded): what the status file now leaves out or counts again."""
    now = sorted(os.fsdecode(p) for p in new.ignored - old.ignored) + [repr(g) for g in new.globs if g not in old.globs]
    back = sorted(os.fsdecode(p) for p in old.ignored - new.ignored) + [
        repr(g) for g in old.globs if g not in new.globs
    ]
    said = ([f"now ignored: {_some(now)}"] if now else []) + ([f"no longer ignored: {_some(back)}"] if back else [])
    if said:
        log.log(NOTICE, "%s", "; ".join(said))


def _some(names: list[str], most: int = 3) -> str:
    """The first few names and how many more: one log line stays short however many folders a
    person decides at once (`hashwatchd matches` or the status file lists them all)."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more
