"""The folder report: what a poller needs to know, built from needle outcomes alone.

Pure: it takes outcomes, roots, counts and the time, and returns a Report whose `to_json()` is
the status file's document. Its shape is a public interface (README, "Status file"); bump
SCHEMA on any incompatible change.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hashwatchd import paths
from hashwatchd.model import Kind, Outcome, Problem, Status

SCHEMA = 2

#: (root, directory relative to it): one folder of the report.
FolderKey = tuple[bytes, bytes]


class State(enum.StrEnum):
    """What the writer of the status file is doing."""

    DONE = "done"  # a scan finished
    SCANNING = "scanning"  # the daemon's start-up reconcile or its backlog is not finished
    WATCHING = "watching"  # the daemon is idle or keeping up
    STOPPED = "stopped"  # the daemon exited cleanly


class FolderStatus(enum.StrEnum):
    """A folder's verdict, from its files' statuses."""

    IMPORTED = "imported"  # every file identical or same
    PARTIAL = "partial"
    NOT_IMPORTED = "not_imported"  # nothing imported
    EMPTY = "empty"  # no readable file

    @property
    def todo(self) -> bool:
        """Whether something in the folder still has to be imported."""
        return self in (FolderStatus.PARTIAL, FolderStatus.NOT_IMPORTED)


class Decided(Protocol):
    """What a person decided not to import (decisions.Decisions): whole folders, single files."""

    def folder(self, root: bytes, directory: bytes) -> bool: ...

    def file(self, root: bytes, path: bytes) -> bool: ...


class _NothingDecided:
    def folder(self, root: bytes, directory: bytes) -> bool:
        return False

    def file(self, root: bytes, path: bytes) -> bool:
        return False


NOTHING_DECIDED: Decided = _NothingDecided()


@dataclass
class FolderReport:
    """Counts for one directory that directly holds needle files."""

    root: bytes
    path: bytes
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    kinds: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))
    missing_paths: list[bytes] = field(default_factory=list)
    edited_paths: list[bytes] = field(default_factory=list)
    unreadable: list[tuple[bytes, Problem | None]] = field(default_factory=list)
    pending: int = 0
    online: bool = True
    ignored: bool = False  # a person decided not to import this folder
    ignored_files: int = 0  # files of it decided one by one, counted nowhere else
    first_seen: datetime | None = None
    updated_at: datetime | None = None

    @property
    def images(self) -> int:
        return sum(self.counts.values())

    @property
    def imported(self) -> int:
        return self.counts[Status.IDENTICAL] + self.counts[Status.SAME]

    @property
    def todo(self) -> bool:
        """Whether the folder belongs in "not yet imported": something in it is missing or
        edited, or could not be read (then it is not in the library either), and nobody decided
        not to import it."""
        return not self.ignored and (self.status.todo or self.counts[Status.UNREADABLE] > 0)

    @property
    def complete(self) -> bool:
        """Every file of the folder seen so far is settled and judged."""
        return self.pending == 0

    @property
    def status(self) -> FolderStatus:
        if self.images == self.counts[Status.UNREADABLE]:
            return FolderStatus.EMPTY
        if self.imported == self.images:
            return FolderStatus.IMPORTED
        return FolderStatus.NOT_IMPORTED if self.imported == 0 else FolderStatus.PARTIAL

    @property
    def directory(self) -> bytes:
        """The folder's absolute path."""
        return os.path.normpath(os.path.join(self.root, self.path))

    def add(self, out: Outcome) -> None:
        self.counts[out.status] += 1
        self.kinds[out.kind] += 1
        if out.status is Status.MISSING:
            self.missing_paths.append(out.path)
        elif out.status is Status.EDITED:
            self.edited_paths.append(out.path)
        elif out.status is Status.UNREADABLE:
            self.unreadable.append((out.path, out.problem))

    def result_digest(self) -> bytes:
        """A digest of what the folder's result says (verdicts, paths, decisions; not its clocks,
        its pending count or whether it is online): `updated_at` moves when it changes."""
        h = hashlib.blake2b(digest_size=16)
        numbers = (self.ignored, self.ignored_files, *self.counts.values(), *self.kinds.values())
        h.update(repr(numbers).encode())
        for group in (self.missing_paths, self.edited_paths, [p for p, _ in self.unreadable]):
            h.update(b"\0".join(sorted(group)) + b"\1")
        for _, problem in sorted(self.unreadable, key=_first):
            h.update(str(problem).encode() + b"\0")
        return h.digest()

    def to_json(self) -> dict[str, object]:
        return {
            "root": os.fsdecode(self.root),
            "path": os.fsdecode(self.path),
            "status": self.status.value,
            "complete": self.complete,
            "pending": self.pending,
            "images": self.images,
            **{f"{kind.label}s": n for kind, n in self.kinds.items()},
            **{status.value: n for status, n in self.counts.items()},
            "imported": self.imported,
            "missing_paths": sorted(os.fsdecode(p) for p in self.missing_paths),
            "edited_paths": sorted(os.fsdecode(p) for p in self.edited_paths),
            "unreadable_paths": [
                {"path": os.fsdecode(p), "error": str(e) if e else ""} for p, e in sorted(self.unreadable, key=_first)
            ],
            "online": self.online,
            "ignored": self.ignored,
            "ignored_files": self.ignored_files,
            "first_seen": _stamp(self.first_seen),
            "updated_at": _stamp(self.updated_at),
        }


def _first(pair: tuple[bytes, object]) -> bytes:
    return pair[0]


def _stamp(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


@dataclass
class Report:
    """The status document: the writer's state, the library's size, and every needle folder."""

    generated_at: datetime
    state: State
    pending: int
    haystack: tuple[int, int]  # (files, unreadable)
    folders: list[FolderReport]

    def to_json(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "state": self.state.value,
            "pending": self.pending,
            "haystack": {"images": self.haystack[0], "unreadable": self.haystack[1]},
            "needles": {
                "images": sum(f.images for f in self.folders),
                "unreadable": sum(f.counts[Status.UNREADABLE] for f in self.folders),
            },
            "folders": [f.to_json() for f in self.folders],
        }


def folders(
    outcomes: Iterable[Outcome],
    roots: Sequence[bytes],
    pending: Iterable[bytes] = (),
    decided: Decided = NOTHING_DECIDED,
) -> list[FolderReport]:
    """Group outcomes by folder (paths.folder_key), sorted by root then path.

    `pending` are needle files seen but not judged yet: they make their folder incomplete (and
    make a folder appear as soon as a new dump starts arriving). A folder `decided` keeps its
    counts and is marked ignored; a file decided by itself counts only as ignored, and a folder
    whose every file was decided so is an ignored folder with its counts.
    """
    by_key: dict[FolderKey, FolderReport] = {}

    def folder(path: bytes) -> FolderReport | None:
        key = paths.folder_key(path, roots)
        if key is None:
            return None
        if key not in by_key:
            by_key[key] = f = FolderReport(*key)
            f.ignored = decided.folder(f.root, f.directory)
        return by_key[key]

    set_aside: dict[FolderKey, list[Outcome]] = {}
    for out in outcomes:
        if f := folder(out.path):
            if not f.ignored and decided.file(f.root, out.path):
                f.ignored_files += 1
                set_aside.setdefault((f.root, f.path), []).append(out)
            else:
                f.add(out)
    for path in pending:
        if f := folder(path):
            f.pending += 1
    for key, outs in set_aside.items():
        f = by_key[key]
        if f.images == 0 and f.pending == 0:  # every file decided one by one: the folder is, with its counts
            f.ignored, f.ignored_files = True, 0
            for out in outs:
                f.add(out)
    return [by_key[k] for k in sorted(by_key)]


def build(
    outcomes: Iterable[Outcome],
    roots: Sequence[bytes],
    haystack: tuple[int, int],
    *,
    state: State,
    pending: Collection[bytes] = (),
    offline: Collection[bytes] = (),
    decided: Decided = NOTHING_DECIDED,
    now: datetime,
) -> Report:
    """The status report. `haystack` is (files, unreadable) of the library. Every folder was
    first seen and updated `now` until clocks.Clocks says otherwise."""
    found = folders(outcomes, roots, pending, decided)
    for f in found:
        f.first_seen = f.updated_at = now
        f.online = f.root not in offline
    return Report(now, state, len(pending), haystack, found)
