"""Camera raw files: know them by content, find the camera's own JPEG rendering inside them with a
few bounded reads, and decode them to a picture (that preview, or a half-size LibRaw demosaic).

* Content decides the format, as for every picture here. A CR2, NEF, ARW, DNG, PEF, SRW, 3FR,
  IIQ... is a TIFF file; what tells a raw from a plain TIFF is inside its IFDs: a DNGVersion tag,
  a colour-filter-array or linear-raw image (PhotometricInterpretation 32803 / 34892), a vendor
  raw compression, or a vendor header (CR2's 'CR' at byte 8, ORF's 'IIRO', RW2's 'IIU').
* A raw file is 20-60 MB; its embedded full-size JPEG preview is 1-5 MB and is the camera's own
  rendering, the same picture as the camera JPEG beside it. Walking the IFD chain and SubIFDs
  costs a few 4 KiB pages, so indexing a raw reads its preview, not the file. rawpy cannot do
  that: it reads the whole file before LibRaw sees a byte, and its `extract_thumb` after an
  unpack frees a buffer LibRaw still uses (a crash), so previews are found here, never by LibRaw.
* LibRaw (rawpy) decodes raws without a usable preview (many phone DNGs) and the formats whose
  preview sits in maker notes or boxes (CR3, ORF, PEF...), at half size.
* A copy cut short still holds its preview (it is near the start): before a preview is used, every
  strip, tile and JPEG the IFDs point to must lie inside the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import cv2
import numpy as np

from hashwatchd.decode import Picture, decode_jpeg, stderr_lines
from hashwatchd.errors import PhotoError
from hashwatchd.source import Source

#: LibRaw's `sizes.flip` (dcraw's convention) as an EXIF orientation.
FLIP_TO_EXIF = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}

#: A preview whose short side is below this is a thumbnail: the raw itself is decoded instead.
MIN_PREVIEW_SIDE = 256

_MAKES = (
    ("NIKON", "nef"),
    ("SONY", "arw"),
    ("PENTAX", "pef"),
    ("RICOH", "pef"),
    ("SAMSUNG", "srw"),
    ("HASSELBLAD", "3fr"),
    ("KODAK", "dcr"),
    ("EASTMAN KODAK", "dcr"),
    ("MAMIYA", "mef"),
    ("LEAF", "mos"),
    ("PHASE ONE", "iiq"),
    ("CANON", "cr2"),
)

#: TIFF compressions only raw files use (vendor codecs); 32773 PackBits is plain TIFF's.
_RAW_COMPRESSIONS = {32767, 32769, 32770, 32772, 34316, 34713, 65000, 65535}
_CFA, _LINEAR_RAW = 32803, 34892
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_TYPE_FORMAT = {1: "B", 3: "H", 4: "I", 6: "b", 7: "B", 8: "h", 9: "i", 13: "I"}
_MAX_IFDS = 64
_MAX_ENTRIES = 1024
_MAX_PREVIEW_BYTES = 64 << 20

Entries = dict[int, tuple[int, int, bytes]]


def sniff_head(head: bytes) -> str | None:
    """A raw format known from the first 32 bytes alone; 'tiff?' when only the IFDs can tell a raw
    from a plain TIFF; None when this is no raw file."""
    if head[4:8] == b"ftyp" and b"crx " in _ftyp_brands(head):
        return "cr3"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "raf"
    if head.startswith(b"FOVb"):
        return "x3f"
    if head.startswith(b"\x00MRM"):
        return "mrw"
    if head[:2] in (b"II", b"MM") and head[6:14] == b"HEAPCCDR":
        return "crw"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "orf"
    if head[:4] == b"IIU\x00":
        return "rw2"
    if b"IIII" in head[:32] or b"MMMM" in head[:32]:
        return "iiq"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "cr2" if head[8:10] == b"CR" else "tiff?"
    return None


def _ftyp_brands(head: bytes) -> set[bytes]:
    size = struct.unpack(">I", head[:4])[0]
    end = min(max(size, 16), len(head), 256)
    return {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}


@dataclass(frozen=True, slots=True)
class Preview:
    """An embedded JPEG: where it is, and its pixel size from its own SOF marker."""

    offset: int
    length: int
    width: int
    height: int


@dataclass(slots=True)
class RawInfo:
    """What the header says, found with bounded reads."""

    format: str
    make: str = ""
    orientation: int = 1  # EXIF 1..8 from the raw's own IFD0
    previews: list[Preview] = field(default_factory=list)
    raw_size: tuple[int, int] | None = None  # the CFA or linear image an IFD describes
    data_end: int = 0  # end of the furthest strip, tile or JPEG an IFD points to (0: unknown)

    def best_preview(self) -> Preview | None:
        return max(self.previews, key=lambda p: (p.width * p.height, p.length), default=None)


class TiffReader:
    """A bounded, loop-safe reader of TIFF IFDs over a Source: a raw file's structure here, and
    the EXIF of any picture in shotmeta.py (EXIF is a TIFF structure too)."""

    def __init__(self, src: Source) -> None:
        self.src = src
        head = src.read(0, 8)
        self.e = "<" if head[:2] == b"II" else ">"
        self.first = struct.unpack(self.e + "I", head[4:8])[0]
        self.seen: set[int] = set()

    def ifd(self, off: int) -> tuple[Entries, int]:
        """{tag: (type, count, 4 value bytes)} and the next IFD's offset."""
        if off in self.seen or len(self.seen) >= _MAX_IFDS:
            raise PhotoError("corrupt", "the raw file's IFDs loop or are too many")
        self.seen.add(off)
        raw = self.src.read(off, 2)
        if len(raw) < 2:
            if len(self.seen) == 1 and self.src.size >= 65536:
                # cameras put IFD0 in the first kilobytes: a far-away one is garbage, not a cut copy
                raise PhotoError("corrupt", "the first IFD lies outside the file")
            raise PhotoError("truncated", "an IFD lies past the end of the file")
        (n,) = struct.unpack(self.e + "H", raw)
        if n == 0 or n > _MAX_ENTRIES:
            raise PhotoError("corrupt", f"an IFD claims {n} entries")
        body = self.src.read(off + 2, 12 * n + 4)
        if len(body) < 12 * n + 4:
            raise PhotoError("truncated", "an IFD lies past the end of the file")
        entries = {}
        for k in range(n):
            tag, typ, count = struct.unpack(self.e + "HHI", body[12 * k : 12 * k + 8])
            entries[tag] = (typ, count, body[12 * k + 8 : 12 * k + 12])
        (nxt,) = struct.unpack(self.e + "I", body[12 * n : 12 * n + 4])
        return entries, nxt

    def values(self, entry: tuple[int, int, bytes] | None, limit: int = 256) -> list[int]:
        """The integer values of an entry (at most `limit`); [] when absent or of another type."""
        if entry is None:
            return []
        typ, count, inline = entry
        size, fmt = _TYPE_SIZE.get(typ, 0), _TYPE_FORMAT.get(typ)
        if not size or fmt is None or count == 0 or count > limit:
            return []
        total = size * count
        data = inline[:total] if total <= 4 else self.src.read(struct.unpack(self.e + "I", inline)[0], total)
        if len(data) < total:
            return []
        return list(struct.unpack(self.e + fmt * count, data))

    def text(self, entry: tuple[int, int, bytes] | None) -> str:
        if entry is None or entry[0] != 2 or not 0 < entry[1] <= 256:
            return ""
        _, count, inline = entry
        data = inline[:count] if count <= 4 else self.src.read(struct.unpack(self.e + "I", inline)[0], count)
        return data.split(b"\x00", 1)[0].decode("latin-1").strip()

    def walk(self) -> Iterator[tuple[int, Entries]]:
        """Every IFD as (depth, entries): the chain from IFD0, SubIFDs two levels deep, the EXIF IFD."""
        chain: list[int] = []
        off = self.first
        while off and len(chain) < _MAX_IFDS:
            chain.append(off)
            try:
                _, off = self.ifd(off)
            except PhotoError:
                if len(chain) == 1:
                    raise
                chain.pop()
                break
        self.seen.clear()
        todo = [(0, off) for off in chain]
        done: set[int] = set()
        while todo:
            depth, off = todo.pop(0)
            if off in done:
                continue
            done.add(off)
            entries, _ = self.ifd(off)
            yield depth, entries
            if depth < 2:
                todo += [(depth + 1, sub) for sub in self.values(entries.get(0x14A), 32)]
            if depth == 0:
                todo += [(1, sub) for sub in self.values(entries.get(0x8769), 1)]


def _jpeg_size(src: Source, offset: int, length: int) -> tuple[int, int] | None:
    """(width, height) from an embedded JPEG's SOF, walking its markers with small reads (an EXIF
    segment is skipped, not read). None for no JPEG, or a lossless or 12-bit one (raw data)."""
    if src.read(offset, 2) != b"\xff\xd8":
        return None
    pos, end = offset + 2, offset + length
    for _ in range(64):
        head = src.read(pos, 4)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xC0, 0xC1, 0xC2):
            sof = src.read(pos + 4, 5)
            if len(sof) < 5 or sof[0] != 8:
                return None
            h, w = struct.unpack(">HH", sof[1:5])
            return (w, h) if w and h else None
        if (0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xDA:
            return None
        pos += 2 + struct.unpack(">H", head[2:4])[0]
        if pos >= end:
            return None
    return None


def inspect(src: Source) -> RawInfo | None:
    """RawInfo when `src` holds a raw file, None when it does not (a plain TIFF included).

    Reads headers only. Raises PhotoError ('corrupt', 'truncated') when a raw's structure is broken.
    """
    kind = sniff_head(src.read(0, 32))
    if kind is None:
        return None
    if kind == "raf":
        return _inspect_raf(src)
    if kind in ("cr3", "x3f", "mrw", "crw", "iiq"):
        return RawInfo(kind)  # previews in boxes or blocks: LibRaw decodes these
    tiff = TiffReader(src)
    info = RawInfo(kind)
    raw = kind != "tiff?"
    for depth, entries in tiff.walk():
        if depth == 0 and not info.make:
            info.make = tiff.text(entries.get(0x10F))
            orientation = tiff.values(entries.get(0x112), 1)
            info.orientation = orientation[0] if orientation and 1 <= orientation[0] <= 8 else 1
        if 0xC612 in entries:  # DNGVersion
            info.format, raw = "dng", True
        compression = (tiff.values(entries.get(0x103), 1) or [1])[0]
        photometric = (tiff.values(entries.get(0x106), 1) or [-1])[0]
        if photometric in (_CFA, _LINEAR_RAW) or compression in _RAW_COMPRESSIONS:
            raw = True
            w, h = tiff.values(entries.get(0x100), 1), tiff.values(entries.get(0x101), 1)
            if w and h and (info.raw_size is None or w[0] * h[0] > info.raw_size[0] * info.raw_size[1]):
                info.raw_size = (w[0], h[0])
        _find_previews(tiff, entries, compression, photometric, info)
        for off_tag, len_tag in ((0x111, 0x117), (0x144, 0x145), (0x201, 0x202)):
            offsets, lengths = tiff.values(entries.get(off_tag), 65536), tiff.values(entries.get(len_tag), 65536)
            if offsets and len(offsets) == len(lengths):
                info.data_end = max(info.data_end, *(o + n for o, n in zip(offsets, lengths, strict=True)))
    if not raw:
        return None  # a plain TIFF: decode.py's
    if info.format == "tiff?":
        make = info.make.upper()
        info.format = next((fmt for prefix, fmt in _MAKES if make.startswith(prefix)), "tiff-raw")
    return info


def _find_previews(tiff: TiffReader, entries: Entries, compression: int, photometric: int, info: RawInfo) -> None:
    spots: list[tuple[int, int]] = []
    offset, length = tiff.values(entries.get(0x201), 1), tiff.values(entries.get(0x202), 1)
    if offset and length:  # JPEGInterchangeFormat / Length
        spots.append((offset[0], length[0]))
    if compression in (6, 7) and photometric not in (_CFA, _LINEAR_RAW):
        offset, length = tiff.values(entries.get(0x111), 2), tiff.values(entries.get(0x117), 2)
        if len(offset) == 1 and len(length) == 1:  # one strip: a whole JPEG stream
            spots.append((offset[0], length[0]))
    if 0x2E in entries and entries[0x2E][0] == 7:  # Panasonic JpgFromRaw (its count is its length)
        spots.append((struct.unpack(tiff.e + "I", entries[0x2E][2])[0], entries[0x2E][1]))
    for off, n in spots:
        if 128 <= n <= _MAX_PREVIEW_BYTES and off + n <= tiff.src.size and all(p.offset != off for p in info.previews):
            size = _jpeg_size(tiff.src, off, n)
            if size:
                info.previews.append(Preview(off, n, *size))


def _inspect_raf(src: Source) -> RawInfo:
    """Fujifilm RAF: the JPEG's offset and length are big-endian words at bytes 84 and 88."""
    head = src.read(0, 100)
    if len(head) < 100:
        raise PhotoError("truncated", "the RAF header is cut short")
    off, length = struct.unpack(">II", head[84:92])
    info = RawInfo("raf", make="FUJIFILM")
    if 0 < length <= _MAX_PREVIEW_BYTES and off + length <= src.size and (size := _jpeg_size(src, off, length)):
        info.previews.append(Preview(off, length, *size))
    return info


def decode(src: Source, max_pixels: int, min_side: int) -> Picture:
    """A raw file as a picture in display orientation: its largest embedded JPEG preview when that
    has a short side of at least MIN_PREVIEW_SIDE (bounded reads), else a half-size LibRaw decode
    (which reads the whole file). Raises PhotoError."""
    info = inspect(src)
    if info is None:
        raise PhotoError("not-an-image", "not a raw file")
    if info.data_end > src.size:
        raise PhotoError("truncated", f"the raw file ends at {src.size:,} bytes, its data at {info.data_end:,}")
    if info.raw_size and info.raw_size[0] * info.raw_size[1] > max_pixels:
        raise PhotoError("too-large", f"too large: {info.raw_size[0]} x {info.raw_size[1]} raw pixels")
    best = info.best_preview()
    if best is not None and min(best.width, best.height) >= MIN_PREVIEW_SIDE:
        if best.width * best.height > max_pixels:
            raise PhotoError("too-large", f"too large: a preview of {best.width} x {best.height} pixels")
        jpeg = src.read(best.offset, best.length)
        try:
            bgr = decode_jpeg(jpeg, min(best.width, best.height), min_side, orientation=info.orientation)
        except PhotoError as exc:
            raise PhotoError("corrupt", f"the embedded JPEG preview is damaged ({exc.detail})") from None
        w, h = (best.height, best.width) if info.orientation >= 5 else (best.width, best.height)
        return Picture(bgr, w, h, info.format, info.orientation)
    data = src.read_all()
    if len(data) < src.size:
        raise PhotoError("changed", "the raw file shrank while it was read")
    bgr, w, h, orientation = _libraw(data, max_pixels)
    return Picture(bgr, w, h, info.format, orientation)


#: Half-size demosaic: camera white balance, 8 bits, sRGB gamma and no auto-brightening, the
#: rendering closest to a camera's JPEG of the same shot (measured on DNGs against their JPEGs).
_HALF_SIZE: dict[str, Any] = {
    "half_size": True,
    "use_camera_wb": True,
    "output_bps": 8,
    "gamma": (2.4, 12.92),
    "no_auto_bright": True,
}


def _libraw(data: bytes, max_pixels: int) -> tuple[np.ndarray, int, int, int]:
    """(BGR in display orientation, full displayed width, height, the EXIF orientation LibRaw
    applied) of a whole raw file in memory; the header's size is checked against max_pixels
    before anything is unpacked."""
    import rawpy  # noqa: PLC0415 - decoder processes only

    try:
        with stderr_lines(), rawpy.imread(cast(BinaryIO, _Reader(data))) as raw:
            s = raw.sizes
            if s.raw_width * s.raw_height > max_pixels:
                raise PhotoError("too-large", f"too large: {s.raw_width} x {s.raw_height} raw pixels")
            if not s.width or not s.height:
                raise PhotoError("corrupt", "LibRaw found no image size in the raw header")
            rgb = raw.postprocess(**_HALF_SIZE)
            orientation = FLIP_TO_EXIF.get(s.flip, 1)
            w, h = (s.height, s.width) if orientation >= 5 else (s.width, s.height)
    except PhotoError:
        raise
    except Exception as exc:  # every LibRaw failure becomes a stable code
        raise libraw_error(exc) from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), w, h, orientation


class _Reader:
    """The file object rawpy reads (it calls read() once, for everything). It hands rawpy our own
    bytes, which we hold while LibRaw works: rawpy drops its reference after unpacking, while
    LibRaw may still point into the buffer."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        return self._data


def libraw_error(exc: BaseException) -> PhotoError:
    """A stable code for what LibRaw raised: `unsupported-format` for a raw it does not know (a
    camera newer than LibRaw: retried when the decoders change), `truncated` for a file that ends
    early, `too-large` for sizes it refuses, `corrupt` for the rest."""
    import rawpy  # noqa: PLC0415

    text = str(exc) or type(exc).__name__
    big = (rawpy.LibRawTooBigError, rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawMemPoolOverflowError)
    if isinstance(exc, (MemoryError, *big)):
        return PhotoError("too-large", f"LibRaw ran out of memory or refused the size ({text})")
    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        return PhotoError("unsupported-format", f"LibRaw cannot read this raw file ({text})")
    if isinstance(exc, rawpy.LibRawIOError):
        return PhotoError("truncated", f"the raw data ends before the file says it does ({text})")
    if isinstance(exc, OSError):
        return PhotoError("io-error", text)
    return PhotoError("corrupt", f"the raw data is damaged ({type(exc).__name__}: {text})")
