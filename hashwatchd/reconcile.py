"""Compare what the index knows with what a walk of the disk found: the one diff that a scan and
the daemon's reconcile both run.

Pure: the caller walks the tree and looks the found files up in the index; this decides. The
index is a cache of the disk, not a log of events, so a file is stale when its stat differs
from the stored one (or it has none), and an indexed path the walk did not find is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hashwatchd.model import Found
from hashwatchd.records import pack_stat


@dataclass
class Diff:
    """What has to change in the index for a tree to agree with the disk."""

    found: int = 0  # files the walk found
    stale: list[Found] = field(default_factory=list)  # new or changed: to be hashed
    gone: list[bytes] = field(default_factory=list)  # indexed, but not on disk any more


def stale(found: Sequence[Found], indexed: Sequence[bytes | None]) -> list[Found]:
    """The found files whose stat differs from the stored one; `indexed[i]` is the packed stat
    the index holds for `found[i]`, None when it holds none."""
    return [f for f, old in zip(found, indexed, strict=True) if old != pack_stat(*f.stat)]


def gone(on_disk: set[bytes], indexed: Iterable[bytes]) -> list[bytes]:
    """The indexed paths (under the walked tree) that the walk did not find."""
    return [p for p in indexed if p not in on_disk]
