"""Turn the bytes of an image file into a normalised picture, or say precisely why not.

A picture is an 8-bit BGR array in display orientation: EXIF orientation applied, alpha
composited on white (what most exporters flatten onto), 16-bit and float scaled to 8-bit,
gray/palette/CMYK expanded. JPEGs are decoded DCT-scaled (libjpeg's 1/2, 1/4, 1/8) so that a
12 MP photo costs what a 0.2 MP one does; the features only need a few hundred pixels a side.

This module takes bytes, never a path: cv2.imread segfaults on non-UTF-8 names and blocks on a
FIFO (shared/research/reliability.md, section 5). Reading files safely is files.py's job.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hashwatchd import formats
from hashwatchd.errors import PhotoError
from hashwatchd.formats import DEFAULT_MAX_PIXELS

#: The short side a DCT-scaled JPEG decode keeps at least. The features need 32 px;
#: four times that keeps area resampling of resized and re-encoded copies in step.
MIN_SIDE = 128

_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))

#: libjpeg warnings that leave every pixel decoded (junk after the last scan).
_BENIGN_JPEG_WARNINGS = (b"extraneous bytes before marker 0xd9",)


@dataclass(frozen=True, slots=True)
class Picture:
    """Decoded pixels (possibly DCT-reduced) plus the full displayed size, the format, and the
    EXIF orientation (1..8) that was applied to bring the stored pixels upright.

    The orientation says where a DCT-scaled decode's partial last block ended up (the stored
    picture's right column and bottom row, moved by the turn): the full-resolution confirmation
    (confirm.py) maps both pictures onto one grid exactly, and half a pixel off on a sharp
    texture looks like a subject that moved.
    """

    bgr: np.ndarray
    width: int
    height: int
    format: str
    orientation: int = 1


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE) -> Picture:
    """Decode `data` or raise PhotoError with a stable code and a human detail.

    A JPEG is DCT-scaled as far as keeps its short side at least `min_side` pixels.
    """
    if not data:
        raise PhotoError("empty", "the file is empty")
    fmt = formats.sniff(data)
    width, height = formats.dimensions(fmt, data)
    if width * height > max_pixels:
        raise PhotoError("too-large", f"too large: {width} x {height} pixels is over the limit of {max_pixels:,}")
    orientation = 1  # libheif applies a HEIF's own transforms; its EXIF must not be applied again
    try:
        if fmt == "jpeg":
            bgr = decode_jpeg(data, min(width, height), min_side)
            orientation = exif_orientation(jpeg_exif(data))  # what OpenCV applied
        elif fmt == "heif":
            bgr = _decode_heif(data, min_side)
        else:
            bgr, orientation = _decode_other(data, fmt)
    except cv2.error as exc:
        reason = str(exc).strip().splitlines()[-1][:200]
        raise PhotoError("corrupt", f"the {fmt.upper()} decoder failed: {reason}") from None
    h, w = bgr.shape[:2]
    if (w > h) != (width > height) and width != height:
        width, height = height, width  # rotated by its orientation tag
    return Picture(bgr, width, height, fmt, orientation)


def decode_jpeg(data: bytes, short_side: int, min_side: int, orientation: int | None = None) -> np.ndarray:
    """A JPEG DCT-scaled as far as keeps its short side at least `min_side`, in display orientation:
    its own EXIF orientation, or `orientation` when given (a raw file's preview is in sensor
    orientation and the raw's tag says how to turn it; the preview may carry a stale copy)."""
    flag = cv2.IMREAD_COLOR
    for factor, reduced in _REDUCED:
        if short_side // factor >= min_side:
            flag = reduced
            break
    if orientation is not None:
        flag |= cv2.IMREAD_IGNORE_ORIENTATION
    with stderr_lines() as lines:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    warnings = [w for w in lines if not any(b in w for b in _BENIGN_JPEG_WARNINGS)]
    ended = data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if (bgr is None or warnings) and (not ended or any(b"premature end" in w.lower() for w in warnings)):
        raise PhotoError("truncated", "the JPEG file ends before its picture does (cut short while copying?)")
    if warnings:
        # libjpeg fills what it could not read with gray and only warns: that is not the photo.
        raise PhotoError("corrupt", f"JPEG data is damaged ({warnings[0].decode('utf-8', 'replace')})")
    if bgr is None:
        raise PhotoError("corrupt", "the JPEG decoder could not read it")
    return bgr if orientation is None else orient(bgr, orientation)


def _decode_other(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    """The picture upright, and the EXIF orientation applied to it (OpenCV returns the EXIF block
    and leaves the turning to us with IMREAD_UNCHANGED)."""
    # flags by keyword: OpenCV 4.12-4.14 declare (buf[, metadata[, flags]]) and 5.0 (buf, flags[, metadata]),
    # so a positional flag is taken for `metadata` before 5.0 and every picture fails. 4.12 is the
    # first release with imdecodeWithMetadata at all (pyproject's floor).
    img, types, blobs = cv2.imdecodeWithMetadata(np.frombuffer(data, np.uint8), flags=cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise PhotoError("corrupt", f"the {fmt.upper()} decoder could not read it")
    bgr = _to_bgr8(img)
    orientation = 1
    for kind, blob in zip(types, blobs, strict=False):
        if kind == cv2.IMAGE_METADATA_EXIF and blob is not None:
            orientation = exif_orientation(bytes(blob.ravel()))
    return orient(bgr, orientation), orientation


def _decode_heif(data: bytes, min_side: int) -> np.ndarray:
    """A HEIC/HEIF picture, upright (libheif applies its irot/imir transforms; its EXIF still says
    the original orientation, which must not be applied again). A 12 MP HEIC takes seconds to
    decode where a JPEG takes milliseconds: when the file carries a thumbnail with a short side of
    at least `min_side` and the picture's shape, that is decoded instead."""
    import pillow_heif  # noqa: PLC0415 - loaded when a HEIF file appears

    pillow_heif.options.DECODE_THREADS = 1  # one decoder process, one thread: the pool is the parallelism
    try:
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        image = _heif_thumbnail(heif, min_side) or heif.to_pillow()
        rgb = np.asarray(image.convert("RGB"))
    except Exception as exc:  # pillow-heif raises ValueError/RuntimeError/OSError for bad data
        raise PhotoError("corrupt", f"the HEIF decoder failed: {exc}") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _heif_thumbnail(heif: Any, min_side: int) -> Any:
    """The smallest embedded thumbnail (as a Pillow image) that is large enough and has the
    picture's shape, or None."""
    width, height = heif.size
    sizes = heif.info.get("thumbnails") or []
    for index in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        thumb = heif[0].get_thumbnail(index)
        w, h = thumb.size
        if min(w, h) >= min_side and abs(w * height - h * width) <= 0.01 * width * height:
            return thumb.to_pillow()
    return None


def _to_bgr8(img: np.ndarray) -> np.ndarray:
    """8-bit BGR from whatever depth and channel count a decoder returned."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = (np.clip(np.nan_to_num(img), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise PhotoError("unsupported-format", f"pixel type {img.dtype} is not supported")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:
        img = cv2.merge([img[:, :, 0], img[:, :, 0], img[:, :, 0], img[:, :, 1]])
        channels = 4
    if channels == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        flat = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return (flat + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img[:, :, :3])


def jpeg_exif(data: bytes) -> bytes:
    """The TIFF-structured block of a JPEG's APP1 Exif segment, or b"" when it has none.

    Walks the marker segments before the first scan (a few, each skipped by its length), so it
    costs microseconds on a camera JPEG, whose Exif segment comes first.
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return b""
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return b""
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return data[pos + 10 : pos + 2 + length]
        pos += 2 + length
    return b""


def exif_orientation(exif: bytes) -> int:
    """The Orientation tag (1..8) of a TIFF-structured EXIF block; 1 when absent or unreadable."""
    if exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    end = {b"II": "<", b"MM": ">"}.get(exif[:2])
    if end is None:
        return 1
    try:
        (ifd,) = struct.unpack(end + "I", exif[4:8])
        (count,) = struct.unpack(end + "H", exif[ifd : ifd + 2])
        for k in range(count):
            off = ifd + 2 + 12 * k
            if struct.unpack(end + "H", exif[off : off + 2])[0] == 0x0112:
                value = struct.unpack(end + "H", exif[off + 8 : off + 10])[0]
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation so the array is as the photo is displayed."""
    if orientation in (2, 4, 5, 7):
        img = cv2.flip(img, 1)
    rotate = {
        3: cv2.ROTATE_180,
        4: cv2.ROTATE_180,
        5: cv2.ROTATE_90_COUNTERCLOCKWISE,
        6: cv2.ROTATE_90_CLOCKWISE,
        7: cv2.ROTATE_90_CLOCKWISE,
        8: cv2.ROTATE_90_COUNTERCLOCKWISE,
    }
    return cv2.rotate(img, rotate[orientation]) if orientation in rotate else img


@functools.cache
def _trap_fd() -> int:
    return os.memfd_create("hashwatchd-stderr", os.MFD_CLOEXEC)


@contextlib.contextmanager
def stderr_lines() -> Iterator[list[bytes]]:
    """Collect the lines native code writes to fd 2 while the block runs.

    libjpeg reports a truncated or damaged stream only as a warning on C stderr and returns a
    gray-filled image; reading those lines is the only way OpenCV lets us see it.
    """
    fd = _trap_fd()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    saved = os.dup(2)
    os.dup2(fd, 2)
    lines: list[bytes] = []
    try:
        yield lines
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.lseek(fd, 0, os.SEEK_SET)
        lines.extend(line for line in os.read(fd, 65536).splitlines() if line.strip())
