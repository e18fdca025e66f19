"""Recognise an image format by its first bytes, and read its pixel size from the header.

Both happen before any decoder sees the bytes: OpenCV picks its decoder by signature, so a file
named `.jpg` holding SunRaster or Radiance HDR bytes would reach decoders with a history of
heap overflows; and a 400 KB PNG can claim 20000 x 20000 pixels. Only the formats listed in
FORMATS are ever decoded, and only after their header says they are small enough.
"""

from __future__ import annotations

import struct

from hashwatchd.errors import PhotoError

#: Pictures whose header claims more pixels than this are refused before decoding (config: max_pixels).
DEFAULT_MAX_PIXELS = 250_000_000

FORMATS = ("jpeg", "png", "gif", "bmp", "tiff", "webp", "avif", "heif")

#: Photo file-name suffixes. Names only pre-filter a library's files; content decides the format.
PHOTO_SUFFIXES = frozenset(
    b".jpg .jpeg .jpe .jfif .png .gif .bmp .dib .tif .tiff .webp .avif .heic .heif .hif .mpo".split()
)
#: Camera raw suffixes (what dedicated card importers read, and what LibRaw reads).
RAW_SUFFIXES = frozenset(
    b".3fr .ari .arw .bay .cr2 .cr3 .crw .dcr .dng .erf .fff .iiq .k25 .kdc .mef .mos .mrw .nef .nrw "
    b".orf .pef .raf .raw .rw2 .rwl .sr2 .srf .srw .x3f".split()
)
#: Video suffixes.
VIDEO_SUFFIXES = frozenset(
    b".3gp .3g2 .avi .m2t .m2ts .m4v .mkv .mod .mov .mp4 .mpeg .mpg .mts .tod .webm .insv".split()
)
MEDIA_SUFFIXES = PHOTO_SUFFIXES | RAW_SUFFIXES | VIDEO_SUFFIXES

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def suffix(name: bytes) -> bytes:
    """A file name's suffix, lower case with its dot (b"" when it has none)."""
    dot = name.rfind(b".")
    return name[dot:].lower() if dot > 0 else b""


def sniff(data: bytes) -> str:
    """The format name of `data`, or PhotoError('unsupported-format' / 'not-an-image')."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        brands = _ftyp_brands(data)
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & (_HEIF_BRANDS | {b"mif1", b"msf1"}):
            return "heif"
    if _looks_like_other_image(data):
        raise PhotoError("unsupported-format", "an image format hashwatchd does not read")
    raise PhotoError("not-an-image", "content is not a recognised image format")


def _ftyp_brands(data: bytes) -> set[bytes]:
    size = struct.unpack(">I", data[:4])[0]
    end = min(max(size, 16), len(data), 256)
    return {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}


_REFUSED_PREFIXES = (
    b"\x59\xa6\x6a\x95",  # Sun raster
    b"#?RADIANCE",
    b"#?RGBE",  # Radiance HDR
    b"\x00\x00\x00\x0cjP  ",
    b"\xff\x4f\xff\x51",  # JPEG 2000
    b"\x76\x2f\x31\x01",  # OpenEXR
    b"\xff\x0a",  # JPEG XL
    b"II+\x00",
    b"MM\x00+",  # BigTIFF
)


def _looks_like_other_image(data: bytes) -> bool:
    """Signatures OpenCV would decode but we refuse (so the reason says so, not 'not an image')."""
    if data.startswith(_REFUSED_PREFIXES):
        return True
    netpbm = data[:1] == b"P" and data[1:2] in b"1234567fF" and data[2:3] in (b"\n", b" ", b"\r", b"\t")
    return netpbm and len(data) > 3


def dimensions(fmt: str, data: bytes) -> tuple[int, int]:
    """(width, height) from the header, without decoding; PhotoError('corrupt') if unreadable."""
    try:
        dims = _READERS[fmt](data)
    except (struct.error, IndexError, ValueError):
        dims = None
    if not dims or dims[0] <= 0 or dims[1] <= 0:
        raise PhotoError("corrupt", f"no valid {fmt.upper()} header")
    return dims


def _png(d: bytes) -> tuple[int, int] | None:
    if d[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", d[16:24])
    return w, h


def _gif(d: bytes) -> tuple[int, int]:
    w, h = struct.unpack("<HH", d[6:10])
    return w, h


def _bmp(d: bytes) -> tuple[int, int]:
    if struct.unpack("<I", d[14:18])[0] == 12:
        w, h = struct.unpack("<HH", d[18:22])
        return w, h
    wi, hi = struct.unpack("<ii", d[18:26])
    return abs(wi), abs(hi)


def _webp(d: bytes) -> tuple[int, int] | None:
    chunk = d[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", d[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        bits = struct.unpack("<I", d[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(d[24:27], "little") + 1
        h = int.from_bytes(d[27:30], "little") + 1
        return w, h
    return None


def _jpeg(d: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(d)
    while i + 9 < n:
        if d[i] != 0xFF:
            return None
        marker = d[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", d[i + 2 : i + 4])[0]
        if marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", d[i + 5 : i + 9])
            return w, h
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def _tiff(d: bytes) -> tuple[int, int] | None:
    end = "<" if d[:2] == b"II" else ">"
    (ifd,) = struct.unpack(end + "I", d[4:8])
    (count,) = struct.unpack(end + "H", d[ifd : ifd + 2])
    found: dict[int, int] = {}
    for k in range(count):
        off = ifd + 2 + 12 * k
        tag, typ = struct.unpack(end + "HH", d[off : off + 4])
        if tag in (256, 257):
            fmt = end + ("H" if typ == 3 else "I")
            found[tag] = struct.unpack(fmt, d[off + 8 : off + 8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _isobmff(d: bytes) -> tuple[int, int] | None:
    """Largest `ispe` (image spatial extent) box: a grid image's whole size, not a tile's."""
    best: tuple[int, int] | None = None
    start = 0
    while (at := d.find(b"ispe", start, 1 << 20)) >= 0:
        w, h = struct.unpack(">II", d[at + 8 : at + 16])
        if best is None or w * h > best[0] * best[1]:
            best = (w, h)
        start = at + 4
    return best


_READERS = {
    "jpeg": _jpeg,
    "png": _png,
    "gif": _gif,
    "bmp": _bmp,
    "tiff": _tiff,
    "webp": _webp,
    "avif": _isobmff,
    "heif": _isobmff,
}
