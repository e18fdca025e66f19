"""Decide when a file has stopped changing, so a copy in progress is never hashed.

Pure: the caller passes the time and what `lstat` said. A file is due once its (size,
mtime_ns, inode, ctime) has not changed for `settle` seconds; any change restarts its clock. A file
seen many times (created, modified, closed, moved...) is still one entry: it is hashed once
per change, however many events it produced.

Folders are forgotten without a pass over every waiting file: while a 100,000-file copy waits,
deleting 10,000 of its files took 320 s that way (each deletion asks for what is under it).
"""

from __future__ import annotations

from dataclasses import dataclass

from hashwatchd.model import FileStat
from hashwatchd.pathmap import SortedPaths, directory


@dataclass
class _Watch:
    stat: FileStat
    since: float


class Settler:
    """Files waiting to stop changing."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._files: dict[bytes, _Watch] = {}
        self._order = SortedPaths(self._files)  # for forget_under
        self.version = 0  # changes whenever the set of waiting files does

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        return path in self._files

    def observe(self, path: bytes, stat: FileStat, now: float) -> None:
        """Record what the disk says about `path` now; a different stat restarts its clock."""
        held = self._files.get(path)
        if held is None:
            self.version += 1
        if held is None or held.stat != stat:
            self._files[path] = _Watch(stat, now)
        if held is None:
            self._order.added(path)

    def forget(self, path: bytes) -> None:
        """Stop waiting for `path` (it was deleted or moved away)."""
        if self._files.pop(path, None) is not None:
            self._order.removed(path)
            self.version += 1

    def forget_under(self, prefix: bytes) -> None:
        """Stop waiting for everything under a directory (O(log n + k) for k files there)."""
        for path in self._order.pop_under(directory(prefix)):
            del self._files[path]
            self.version += 1

    def paths(self) -> list[bytes]:
        """Every file waiting."""
        return list(self._files)

    def ripe(self, now: float) -> list[tuple[bytes, FileStat]]:
        """Files unchanged for `settle` seconds by the last observation; the caller re-checks
        each on disk and calls `observe` (changed: clock restarts) or `take` (unchanged)."""
        return [(p, w.stat) for p, w in self._files.items() if now - w.since >= self.settle]

    def take(self, path: bytes) -> None:
        """`path` is settled and handed on for hashing."""
        self.forget(path)

    def next_due(self, now: float) -> float | None:
        """Seconds until the earliest file may be ripe, or None when nothing waits."""
        if not self._files:
            return None
        return max(0.0, min(w.since for w in self._files.values()) + self.settle - now)
