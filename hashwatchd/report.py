"""The folder report: what a poller needs to know, built from needle outcomes alone.

Pure: it takes outcomes, roots, counts and the time, and returns the JSON-ready dict that
publish.py writes as the status file. Its shape is a public interface (README, "Status file");
bump SCHEMA on any incompatible change.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hashwatchd.matching import Outcome

SCHEMA = 1

IMPORTED = frozenset({"identical", "same"})


@dataclass
class Folder:
    """Counts for one directory that directly holds needle images."""

    root: bytes
    path: bytes
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("identical", "same", "edited", "missing", "unreadable"), 0)
    )
    missing_paths: list[bytes] = field(default_factory=list)
    edited_paths: list[bytes] = field(default_factory=list)
    unreadable: list[tuple[bytes, str]] = field(default_factory=list)
    pending: int = 0

    @property
    def images(self) -> int:
        return sum(self.counts.values())

    @property
    def imported(self) -> int:
        return self.counts["identical"] + self.counts["same"]

    @property
    def status(self) -> str:
        if self.images == self.counts["unreadable"]:
            return "empty"
        if self.imported == self.images:
            return "imported"
        return "not_imported" if self.imported == 0 else "partial"

    def add(self, out: Outcome) -> None:
        self.counts[out.status] += 1
        if out.status == "missing":
            self.missing_paths.append(out.path)
        elif out.status == "edited":
            self.edited_paths.append(out.path)
        elif out.status == "unreadable":
            self.unreadable.append((out.path, out.error or ""))

    def to_dict(self) -> dict[str, object]:
        return {
            "root": os.fsdecode(self.root),
            "path": os.fsdecode(self.path),
            "status": self.status,
            "complete": self.pending == 0,
            "pending": self.pending,
            "images": self.images,
            **self.counts,
            "imported": self.imported,
            "missing_paths": sorted(os.fsdecode(p) for p in self.missing_paths),
            "edited_paths": sorted(os.fsdecode(p) for p in self.edited_paths),
            "unreadable_paths": [{"path": os.fsdecode(p), "error": e} for p, e in sorted(self.unreadable)],
        }


def root_of(path: bytes, roots: Sequence[bytes]) -> bytes | None:
    """The longest root that `path` lies under, or None."""
    best = None
    for root in roots:
        if path.startswith(root.rstrip(b"/") + b"/") and (best is None or len(root) > len(best)):
            best = root
    return best


def folders(outcomes: Iterable[Outcome], roots: Sequence[bytes], pending: Iterable[bytes] = ()) -> list[Folder]:
    """Group outcomes by (root, directory relative to it); `2019/Misc` and `2020/Misc` differ.

    `pending` are needle files seen but not hashed yet: they make their folder incomplete (and
    make a folder appear as soon as a new dump starts arriving).
    """
    by_key: dict[tuple[bytes, bytes], Folder] = {}

    def folder(path: bytes) -> Folder | None:
        root = root_of(path, roots)
        if root is None:
            return None
        key = (root, os.path.relpath(os.path.dirname(path), root))
        if key not in by_key:
            by_key[key] = Folder(*key)
        return by_key[key]

    for out in outcomes:
        if f := folder(out.path):
            f.add(out)
    for path in pending:
        if f := folder(path):
            f.pending += 1
    return [by_key[k] for k in sorted(by_key)]


def build(
    outcomes: Iterable[Outcome],
    roots: Sequence[bytes],
    haystack: tuple[int, int],
    *,
    state: str,
    pending: Collection[bytes] = (),
    offline: Collection[bytes] = (),
    times: Mapping[tuple[bytes, bytes], tuple[datetime, datetime]] | None = None,
    now: datetime,
) -> dict[str, object]:
    """The status document. `haystack` is (images, unreadable) of the library; `times` gives a
    folder's (first_seen, updated_at), `now` for folders it does not know."""
    found = folders(outcomes, roots, pending)
    docs = []
    for f in found:
        first, updated = (times or {}).get((f.root, f.path), (now, now))
        docs.append(
            {
                **f.to_dict(),
                "online": f.root not in offline,
                "first_seen": first.isoformat(timespec="seconds"),
                "updated_at": updated.isoformat(timespec="seconds"),
            }
        )
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(timespec="seconds"),
        "state": state,
        "pending": len(pending),
        "haystack": {"images": haystack[0], "unreadable": haystack[1]},
        "needles": {
            "images": sum(f.images for f in found),
            "unreadable": sum(f.counts["unreadable"] for f in found),
        },
        "folders": docs,
    }
