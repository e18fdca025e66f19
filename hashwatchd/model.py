"""Values that cross module boundaries: what we know about a file, a picture, a match.

All frozen: an index entry or a match result is a fact about one moment, and sharing it between
the pipeline, the store and the report must not let one of them change it under the others.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import NamedTuple


class FileStat(NamedTuple):
    """What we remember about a file to know, without reading it, whether it changed.

    A NamedTuple rather than a dataclass: a rescan builds and compares one per file, and tuple
    construction and equality run in C (measured: a third of a 100,000-file rescan went there).
    """

    size: int
    mtime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class Role(enum.Enum):
    """Which tree a file belongs to: the library (haystack) or a pile to check (needles)."""

    HAYSTACK = "haystack"
    NEEDLE = "needle"


class Tier(enum.IntEnum):
    """How close a needle is to a library file; higher is closer. Order matters: the best wins."""

    EDITED = 1
    SAME = 2
    IDENTICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The features of one picture, small and fixed-size so a million of them fit in memory.

    dhash/phash are 64-bit candidate keys; thumb (16x16 gray) and chroma (8x8 a*/b*) are what
    verification compares; width/height are the displayed size (after EXIF orientation);
    digest is the first 16 bytes of the file's SHA-256, for byte-identical detection.
    """

    dhash: int
    phash: int
    thumb: bytes
    chroma: bytes
    width: int
    height: int
    digest: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """One file as the index knows it: either a fingerprint or the reason it could not be read."""

    path: bytes
    role: Role
    stat: FileStat
    fingerprint: Fingerprint | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """A library file that a needle matched, at a tier, with the dHash distance between them."""

    path: bytes
    tier: Tier
    distance: int
