"""The daemon's status file: when to write it, what goes in it, and what systemd is told.

Written at most every `report_interval` while things change, and at once when the daemon is
idle, so a poller sees a new card within a second of the copy without the daemon rewriting the
file for every one of its thousand files. Each folder carries two clocks: when the daemon first
saw it, and when a result in it last changed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from hashwatchd import paths, publish, report, systemd
from hashwatchd.engine import Engine
from hashwatchd.errors import PublishError
from hashwatchd.logs import NOTICE
from hashwatchd.model import Role
from hashwatchd.report import FolderKey, Report, State
from hashwatchd.roots import RootSet
from hashwatchd.settle import Settler

log = logging.getLogger(__name__)

#: A status file that cannot be written is logged at most this often.
_ERROR_EVERY = 60.0


def now() -> datetime:
    """The local time with its offset, as the status file shows times."""
    return datetime.now(UTC).astimezone()


class StatusWriter:
    """Builds the report from the engine, the roots and the settler, and publishes it."""

    def __init__(
        self, path: Path, mode: int, interval: float, *, engine: Engine, roots: RootSet, settler: Settler
    ) -> None:
        self.path, self.mode, self.interval = path, mode, interval
        self._engine, self._roots, self._settler = engine, roots, settler
        self.clocks: dict[FolderKey, tuple[datetime, datetime]] = {}
        self._dirty = True
        self._seen_versions = (-1, -1, -1)
        self._last = -float("inf")
        self._error_logged = -_ERROR_EVERY
        self._announced: set[FolderKey] = set()

    def touch(self, needles: Iterable[bytes]) -> None:
        """Results changed for these needle files: their folders' `updated_at` is now."""
        roots = self._roots.of_role(Role.NEEDLE)
        stamp = now()
        for path in needles:
            key = paths.folder_key(path, roots)
            if key is not None:
                self.clocks[key] = (self.clocks.get(key, (stamp, stamp))[0], stamp)
            self._dirty = True

    def changed(self) -> None:
        """Something else in the document changed (the daemon's state, say)."""
        self._dirty = True

    def due(self, idle: bool) -> bool:
        """Whether the file should be written now: something changed, and either the daemon is
        idle or `interval` has passed since the last write."""
        if self._versions() != self._seen_versions:
            self._dirty = True
        return self._dirty and (idle or time.monotonic() - self._last >= self.interval)

    def _announce(self, doc: Report, state: State) -> None:
        """One line for each folder that appears while the daemon watches (a card copied in);
        those of the start-up backlog are not news."""
        for folder in doc.folders:
            key = (folder.root, folder.path)
            if key not in self._announced:
                self._announced.add(key)
                if state is State.WATCHING:
                    log.log(NOTICE, "new folder %s", os.fsdecode(folder.directory))

    def _versions(self) -> tuple[int, int, int]:
        return self._engine.version, self._settler.version, self._roots.version

    def publish(self, state: State) -> Report | None:
        """Write the status file; the report written, or None when writing failed (logged, retried)."""
        needle_roots = self._roots.of_role(Role.NEEDLE)
        pending = [p for p in self._settler.paths() if paths.root_of(p, needle_roots)]
        stamp = now()
        for p in pending:
            key = paths.folder_key(p, needle_roots)
            if key is not None and key not in self.clocks:
                self.clocks[key] = (stamp, stamp)
        doc = report.build(
            self._engine.outcomes.values(),
            needle_roots,
            self._engine.counts(Role.HAYSTACK),
            state=state,
            pending=pending,
            offline=self._roots.offline(),
            times=self.clocks,
            now=stamp,
        )
        self._last = time.monotonic()
        self._seen_versions = self._versions()
        try:
            publish.write_json(self.path, doc.to_json(), self.mode)
        except PublishError as exc:
            if self._last - self._error_logged >= _ERROR_EVERY:
                log.error("%s (retrying; logged once a minute)", exc)
                self._error_logged = self._last
            return None
        self._error_logged = -_ERROR_EVERY
        self._dirty = False
        self._announce(doc, state)
        library, _ = self._engine.counts(Role.HAYSTACK)
        systemd.notify(
            f"STATUS={state.value}: {len(self._engine.outcomes)} needle images, "
            f"{library} library images, {len(self._settler)} pending"
        )
        return doc
