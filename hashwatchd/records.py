"""The binary layout of one index entry: the only place that knows it.

The store writes and reads entries in this layout, and matching reads fingerprint records as
NumPy rows of FP_DTYPE straight from the same bytes, so the two must never disagree. A value is

    head     flags (1 byte: HAS_FINGERPRINT, and the file's Kind in bits 1-2), the stat (size,
             mtime_ns, ino, dev, ctime_ns: 40 bytes), 1 reserved byte
    record   the fingerprint, FP_DTYPE (432 bytes), present when flags has HAS_FINGERPRINT
    frames   for a video, `frames` more sampled frames of FRAME_DTYPE (400 bytes each)
    problem  2-byte little-endian length, then `code: detail` as UTF-8 (surrogateescape)
    path     the rest of the value: the file's path bytes

A change here changes what every stored entry means: bump store.SCHEMA with it.
"""

from __future__ import annotations

import struct

import numpy as np

from hashwatchd.model import Entry, FileStat, Fingerprint, Kind, Problem, Role

HAS_FINGERPRINT = 1
_KIND_SHIFT = 1

_HEAD = struct.Struct("<BqqQQqB")
_STAT = struct.Struct("<qqQQq")
_STAT_AT = 1  # the stat inside the head
_PROBLEM_LEN = struct.Struct("<H")

#: One stored fingerprint as a NumPy record.
FP_DTYPE = np.dtype(
    [
        ("dhash", "<u8"),
        ("phash", "<u8"),
        ("width", "<u4"),
        ("height", "<u4"),
        ("digest", "V16"),  # not S16: NumPy strips trailing zero bytes of strings
        ("thumb", "V256"),
        ("chroma", "V128"),
        ("kind", "u1"),
        ("frames", "u1"),  # videos: sampled frames stored after the record
        ("frame_ms", "<u2"),
        ("duration_ms", "<u4"),
    ]
)

#: The leading fields of FP_DTYPE: what candidate search reads of every entry.
KEYS_DTYPE = np.dtype(FP_DTYPE.descr[:5])

#: One more sampled frame of a video.
FRAME_DTYPE = np.dtype([("dhash", "<u8"), ("phash", "<u8"), ("thumb", "V256"), ("chroma", "V128")])

_FP = struct.Struct("<QQII16s256s128sBBHI")
_FRAME = struct.Struct("<QQ256s128s")
assert _FP.size == FP_DTYPE.itemsize and _FRAME.size == FRAME_DTYPE.itemsize

#: Where the fingerprint record starts and ends in a value that has one.
RECORD_AT = _HEAD.size
RECORD_END = _HEAD.size + _FP.size
_KEYS_END = _HEAD.size + KEYS_DTYPE.itemsize
_FRAMES_AT = RECORD_AT + struct.calcsize("<QQII16s256s128sB")  # the record's `frames` byte

STAT_SIZE = _STAT.size

#: A FileStat `fs` packed as the index stores it: pack_stat(*fs). A bound method rather than a
#: wrapper, because a rescan calls it for every file.
pack_stat = _STAT.pack


def encode(entry: Entry) -> bytes:
    """The stored value of an entry."""
    st, fp = entry.stat, entry.fingerprint
    flags = (HAS_FINGERPRINT if fp else 0) | entry.kind << _KIND_SHIFT
    parts = [_HEAD.pack(flags, *st, 0)]
    if fp is not None:
        parts.append(
            _FP.pack(
                fp.dhash,
                fp.phash,
                fp.width,
                fp.height,
                fp.digest,
                fp.thumb,
                fp.chroma,
                fp.kind,
                len(fp.frames),
                fp.frame_ms,
                fp.duration_ms,
            )
        )
        parts += [_FRAME.pack(f.dhash, f.phash, f.thumb, f.chroma) for f in fp.frames]
    problem = str(entry.problem).encode("utf-8", "surrogateescape") if entry.problem else b""
    parts += [_PROBLEM_LEN.pack(len(problem)), problem, entry.path]
    return b"".join(parts)


def decode(role: Role, value: bytes) -> Entry:
    """The entry a stored value holds."""
    flags, size, mtime_ns, ino, dev, ctime_ns, _ = _HEAD.unpack_from(value)
    at = _HEAD.size
    fp = None
    if flags & HAS_FINGERPRINT:
        fp = fingerprint(value)
        at = RECORD_END + _FRAME.size * len(fp.frames)
    (length,) = _PROBLEM_LEN.unpack_from(value, at)
    at += _PROBLEM_LEN.size
    text = value[at : at + length].decode("utf-8", "surrogateescape")
    problem = Problem.parse(text) if text else None
    kind = Kind(flags >> _KIND_SHIFT & 3)
    return Entry(value[at + length :], role, FileStat(size, mtime_ns, ino, dev, ctime_ns), fp, problem, kind)


def fingerprint(value: bytes) -> Fingerprint:
    """The whole fingerprint of a stored value that has one, a video's frames included."""
    dh, ph, w, h, digest, thumb, chroma, kind, n, frame_ms, duration_ms = _FP.unpack_from(value, RECORD_AT)
    frames = tuple(
        Fingerprint(fdh, fph, fthumb, fchroma, w, h, b"", Kind(kind))
        for fdh, fph, fthumb, fchroma in (_FRAME.unpack_from(value, RECORD_END + _FRAME.size * k) for k in range(n))
    )
    return Fingerprint(dh, ph, thumb, chroma, w, h, digest, Kind(kind), duration_ms, frame_ms, frames)


def split(value: bytes) -> tuple[bytes, bytes | None, bytes]:
    """(packed stat, search keys or None, path) of a stored value, without building an Entry:
    one call per entry for a pass over a million of them."""
    if value[0] & HAS_FINGERPRINT:
        keys: bytes | None = value[RECORD_AT:_KEYS_END]
        at = RECORD_END + _FRAME.size * value[_FRAMES_AT]
    else:
        keys, at = None, _HEAD.size
    return value[_STAT_AT : _STAT_AT + _STAT.size], keys, value[at + 2 + value[at] + (value[at + 1] << 8) :]


def record(value: bytes, path: bytes) -> bytes | None:
    """The fingerprint record (FP_DTYPE bytes) of a stored value, if it has one and is `path`'s."""
    if not value[0] & HAS_FINGERPRINT or not value.endswith(path):
        return None
    return value[RECORD_AT:RECORD_END]


def to_fingerprint(row: np.void) -> Fingerprint:
    """A Fingerprint from one FP_DTYPE row (a video's other frames are not in the row)."""
    return Fingerprint(
        int(row["dhash"]),
        int(row["phash"]),
        bytes(row["thumb"]),
        bytes(row["chroma"]),
        int(row["width"]),
        int(row["height"]),
        bytes(row["digest"]),
        Kind(int(row["kind"])),
        int(row["duration_ms"]),
        int(row["frame_ms"]),
    )
