"""Which exposure a file records, from its EXIF: negative evidence for the confirmation.

A camera writes, once per exposure, the time it was taken (DateTimeOriginal, to the second, and
SubSecTimeOriginal, its fraction), often an ImageUniqueID, and who took it (Make, Model,
BodySerialNumber); re-encoding, resizing, converting or exporting keeps them. Two frames of a
burst share every pixel-level trait a 16x16 thumbnail sees and differ there, in the sub-second at
least. So where *both* files carry a value and the values differ, they are two exposures, however
alike their pixels. Equal values prove nothing (a burst shares its second, an export its source's
values), and a missing value proves nothing either: stripped metadata leaves the pixels to decide.

Read through a Source, with bounded reads and no dependency: JPEG (the APP1 Exif segment), TIFF
and the raw files built on it (CR2, NEF, ARW, DNG, ORF, RW2...: the file is the TIFF), Fujifilm
RAF (the EXIF of its embedded JPEG), PNG (eXIf), WebP (EXIF) and HEIF/AVIF (the `Exif` item that
iinf names and iloc places). A file this cannot read carries no metadata as far as it is concerned.
Shutter counts are left out: they live in maker notes, one undocumented format per vendor (Sony's
enciphered), and capture time with sub-seconds or ImageUniqueID already tells burst frames apart
on the cameras that write them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, fields

from hashwatchd.decode import jpeg_exif
from hashwatchd.errors import PhotoError
from hashwatchd.raw import TiffReader
from hashwatchd.source import BytesSource, Source

_IFD0_TAGS = {0x010F: "make", 0x0110: "model"}
_EXIF_TAGS = {0x9003: "taken", 0x9291: "subsec", 0xA420: "unique_id", 0xA431: "body_serial"}
_EXIF_IFD = 0x8769
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"IIRO", b"IIRS", b"MMOR", b"IIU\x00")  # TIFF, ORF, RW2

#: Bytes read from the start of a JPEG for its Exif segment (at most 64 KiB, behind JFIF and the like).
_JPEG_HEAD = 128 << 10
#: Largest HEIF `meta` box and Exif item read; anything larger is not metadata a camera wrote.
_MAX_BOX = 1 << 20
_MAX_CHUNKS = 100_000


@dataclass(frozen=True, slots=True)
class ShotMeta:
    """What identifies one exposure, as far as a file says ("" where it says nothing)."""

    taken: str = ""  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
    subsec: str = ""  # SubSecTimeOriginal: digits of the fraction of that second
    unique_id: str = ""  # ImageUniqueID
    make: str = ""
    model: str = ""
    body_serial: str = ""


def shot_meta(src: Source) -> ShotMeta:
    """The shot identity a file records; empty when it carries no EXIF this can read."""
    try:
        tiff = _exif(src)
        return ShotMeta() if tiff is None else _identity(TiffReader(tiff))
    except (PhotoError, struct.error, IndexError, ValueError):
        return ShotMeta()


def different_shot(a: ShotMeta, b: ShotMeta) -> bool:
    """Whether the metadata proves two files are two exposures.

    True when both carry a value and it differs: the camera (make, model, body serial), the
    ImageUniqueID, the second of DateTimeOriginal, or, within the same second, the sub-second,
    compared at the coarser of the two precisions (an exporter that keeps 2 of 3 digits has not
    made another shot). Absent or equal values prove nothing.
    """
    for field in ("make", "model", "body_serial", "unique_id", "taken"):
        x, y = _norm(getattr(a, field)), _norm(getattr(b, field))
        if x and y and x != y:
            return True
    sa, sb = a.subsec.strip(), b.subsec.strip()
    if a.taken and b.taken and sa.isdigit() and sb.isdigit():
        n = min(len(sa), len(sb))
        return sa[:n] != sb[:n]
    return False


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _identity(tiff: TiffReader) -> ShotMeta:
    values: dict[str, str] = {}
    ifd0, _ = tiff.ifd(tiff.first)
    values.update(_texts(tiff, ifd0, _IFD0_TAGS))
    pointer = tiff.values(ifd0.get(_EXIF_IFD), 1)
    if pointer:
        exif, _ = tiff.ifd(pointer[0])
        values.update(_texts(tiff, exif, _EXIF_TAGS))
    return ShotMeta(**{f.name: values.get(f.name, "") for f in fields(ShotMeta)})


def _texts(tiff: TiffReader, entries: dict[int, tuple[int, int, bytes]], wanted: dict[int, str]) -> dict[str, str]:
    return {name: text for tag, name in wanted.items() if (text := tiff.text(entries.get(tag)))}


def _exif(src: Source) -> Source | None:
    """A Source over the file's TIFF-structured EXIF (the file itself for a TIFF), or None."""
    head = src.read(0, 100)
    if head[:4] in _TIFF_MAGIC:
        return src
    if head[:3] == b"\xff\xd8\xff":
        block = jpeg_exif(src.read(0, _JPEG_HEAD))
    elif head.startswith(b"FUJIFILMCCD-RAW") and len(head) >= 92:
        offset, length = struct.unpack(">II", head[84:92])
        block = jpeg_exif(src.read(offset, min(length, _JPEG_HEAD)))
    elif head[:8] == b"\x89PNG\r\n\x1a\n":
        block = _png_exif(src)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        block = _webp_exif(src)
    elif head[4:8] == b"ftyp":
        block = _heif_exif(src)
    else:
        return None
    return BytesSource(block) if block[:4] in _TIFF_MAGIC[:2] else None


def _png_exif(src: Source) -> bytes:
    """The eXIf chunk (a TIFF structure) of a PNG; chunk headers are read, their data skipped."""
    pos = 8
    for _ in range(_MAX_CHUNKS):
        head = src.read(pos, 8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            return src.read(pos + 8, min(length, _MAX_BOX))
        if kind == b"IEND":
            break
        pos += 12 + length
    return b""


def _webp_exif(src: Source) -> bytes:
    """The EXIF chunk of a WebP (some writers keep the JPEG's "Exif" prefix in it)."""
    pos = 12
    for _ in range(_MAX_CHUNKS):
        head = src.read(pos, 8)
        if len(head) < 8:
            break
        kind, length = struct.unpack("<4sI", head)
        if kind == b"EXIF":
            block = src.read(pos + 8, min(length, _MAX_BOX))
            return block.removeprefix(b"Exif\x00\x00")
        pos += 8 + length + (length & 1)
    return b""


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the ISOBMFF boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            head = 16
        elif size == 0:
            size = end - pos
        if size < head:
            return
        yield kind, pos + head, min(pos + size, end)
        pos += size


def _heif_exif(src: Source) -> bytes:
    """The Exif item of a HEIF/AVIF file: the top-level `meta` box is read (bounded), its `iinf`
    names the item of type Exif, its `iloc` says where in the file that item lies."""
    pos, meta = 0, b""
    for _ in range(64):
        head = src.read(pos, 16)
        if len(head) < 8:
            return b""
        size, kind = struct.unpack(">I4s", head[:8])
        if size == 1:
            (size,) = struct.unpack(">Q", head[8:16])
        if kind == b"meta":
            meta = src.read(pos, size) if 16 <= size <= _MAX_BOX else b""
            break
        if size < 8:
            return b""
        pos += size
    if not meta:
        return b""
    children = {kind: (start, end) for kind, start, end in _boxes(meta, 12, len(meta))}  # meta is a full box
    if b"iinf" not in children or b"iloc" not in children:
        return b""
    item = _exif_item(meta, *children[b"iinf"])
    extent = None if item is None else _item_extent(meta, *children[b"iloc"], item)
    if extent is None:
        return b""
    offset, length = extent
    blob = src.read(offset, min(length, _MAX_BOX))
    (skip,) = struct.unpack(">I", blob[:4])  # exif_tiff_header_offset
    return blob[4 + skip :].removeprefix(b"Exif\x00\x00")


def _exif_item(meta: bytes, start: int, end: int) -> int | None:
    """The item ID of the Exif item listed in an `iinf` box (its infe entries, version 2 or 3)."""
    version = meta[start]
    for kind, s, _ in _boxes(meta, start + (6 if version == 0 else 8), end):
        if kind != b"infe" or meta[s] < 2:
            continue
        wide = meta[s] >= 3
        item = struct.unpack(">I" if wide else ">H", meta[s + 4 : s + (8 if wide else 6)])[0]
        at = s + (10 if wide else 8)  # after the item ID and item_protection_index
        if meta[at : at + 4] == b"Exif":
            return int(item)
    return None


def _item_extent(meta: bytes, start: int, end: int, wanted: int) -> tuple[int, int] | None:
    """(file offset, length) of the first extent of item `wanted` in an `iloc` box; None when it
    is not there or not stored at a file offset (construction method 0)."""
    version = meta[start]
    pos = start + 4

    def number(size: int) -> int:
        nonlocal pos
        value = int.from_bytes(meta[pos : pos + size], "big")
        pos += size
        return value

    sizes = number(2)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    for _ in range(number(2 if version < 2 else 4)):
        item = number(2 if version < 2 else 4)
        method = number(2) & 15 if version in (1, 2) else 0
        number(2)  # data_reference_index
        base = number(base_size)
        extents = []
        for _ in range(number(2)):
            number(index_size)
            extents.append((base + number(offset_size), number(length_size)))
        if pos > end:
            return None
        if item == wanted:
            return extents[0] if extents and method == 0 else None
    return None
