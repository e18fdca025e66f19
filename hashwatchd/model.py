"""Values that cross module boundaries: what we know about a file, a picture, a match, a verdict.

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

    ctime is in it because nothing in user space can set it: a rewrite that keeps the size and
    puts the mtime back (`cp --preserve=timestamps`, `rsync --inplace -t`, `exiftool -P`) and a
    chmod that makes an unreadable file readable both change it, and nothing else here.

    A NamedTuple rather than a dataclass: a rescan builds and compares one per file, and tuple
    construction and equality run in C.
    """

    size: int
    mtime_ns: int
    ino: int
    dev: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)


class Found(NamedTuple):
    """A file a walk found under a root; `regular` is False for FIFOs, sockets and devices."""

    path: bytes
    stat: FileStat
    regular: bool


class Role(enum.Enum):
    """Which tree a file belongs to: the library (haystack) or a pile to check (needles)."""

    HAYSTACK = "haystack"
    NEEDLE = "needle"


class Kind(enum.IntEnum):
    """What a file holds, as its content says (never its name)."""

    PHOTO = 0  # JPEG, PNG, HEIC, TIFF, WebP...
    RAW = 1  # a camera's raw sensor data (CR2, NEF, ARW, DNG...), matched through its picture
    VIDEO = 2
    OTHER = 3  # something hashwatchd cannot check

    @property
    def label(self) -> str:
        return self.name.lower()


class Tier(enum.IntEnum):
    """How close a needle is to a library file; higher is closer. Order matters: the best wins."""

    EDITED = 1
    SAME = 2
    IDENTICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(enum.StrEnum):
    """The one verdict every needle file gets (the README's table of statuses).

    A str enum: the value is the word the status file and `--json` print.
    """

    IDENTICAL = "identical"
    SAME = "same"
    EDITED = "edited"
    MISSING = "missing"
    UNREADABLE = "unreadable"

    @property
    def imported(self) -> bool:
        """Whether the library holds this picture, so the needle file may be wiped."""
        return self in (Status.IDENTICAL, Status.SAME)

    @classmethod
    def of(cls, tier: Tier) -> Status:
        return cls(tier.label)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a file has no fingerprint: `code` is a short stable word that tools match on
    (`corrupt`, `too-large`, `permission-denied`, ...), `detail` the human reason."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"

    @classmethod
    def parse(cls, text: str) -> Problem:
        """The inverse of str(): how the index stores a problem."""
        code, _, detail = text.partition(": ")
        return cls(code, detail)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The features of one picture, small and fixed-size so a million of them fit in memory.

    dhash/phash are 64-bit candidate keys; thumb (16x16 gray) and chroma (8x8 a*/b*) are what
    verification compares; width/height are the displayed size (after EXIF orientation).

    digest is 16 bytes of SHA-256: of the whole file for a photo, so equal digests mean
    byte-identical files; of the size, the first and the last 64 KiB for a raw file or a video
    (media.py), which are not read whole unless a library file looks identical to them.

    A video is fingerprinted by frames sampled at fixed fractions of its duration: the first
    frame's features are this fingerprint's, the others are in `frames`.
    """

    dhash: int
    phash: int
    thumb: bytes
    chroma: bytes
    width: int
    height: int
    digest: bytes
    kind: Kind = Kind.PHOTO
    duration_ms: int = 0
    frame_ms: int = 0  # the length of one frame, for comparing durations
    frames: tuple[Fingerprint, ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    """One file as the index knows it: either a fingerprint or the problem that prevents one."""

    path: bytes
    role: Role
    stat: FileStat
    fingerprint: Fingerprint | None
    problem: Problem | None = None
    kind: Kind = Kind.PHOTO


@dataclass(frozen=True, slots=True)
class Match:
    """A library file that a needle matched, at a tier, with the dHash distance between them."""

    path: bytes
    tier: Tier
    distance: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict for one needle file: its status, the library files behind it (best first),
    or the problem that left it unreadable."""

    path: bytes
    status: Status
    matches: tuple[Match, ...] = ()
    problem: Problem | None = None
    kind: Kind = Kind.PHOTO
