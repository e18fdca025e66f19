"""Format sniffing by content and header sizes, before any decoder runs."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from helpers import encode, photo, pillow_bytes

from hashwatchd import formats
from hashwatchd.errors import PhotoError

IMG = photo(1, 300, 200)


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("jpeg", encode(IMG, ".jpg")),
        ("png", encode(IMG, ".png")),
        ("webp", encode(IMG, ".webp")),
        ("tiff", encode(IMG, ".tiff")),
        ("bmp", encode(IMG, ".bmp")),
        ("gif", pillow_bytes(IMG, "GIF")),
        ("avif", encode(IMG, ".avif")),
        ("webp", pillow_bytes(IMG, "WEBP", lossless=True)),
        ("tiff", pillow_bytes(IMG, "TIFF")),
    ],
)
def test_sniff_and_dimensions(fmt: str, data: bytes) -> None:
    """Each supported format is recognised by content and its header gives 300 x 200."""
    assert formats.sniff(data) == fmt
    assert formats.dimensions(fmt, data) == (300, 200)


def test_webp_extended_header() -> None:
    """A VP8X WebP (what an EXIF-carrying WebP uses) has its size read from the extended header."""
    data = pillow_bytes(IMG, "WEBP", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    assert data[12:16] == b"VP8X"
    assert formats.dimensions("webp", data) == (300, 200)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x59\xa6\x6a\x95" + bytes(64), "unsupported-format"),  # Sun raster
        (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + bytes(16), "unsupported-format"),
        (b"PF\n2 2\n-1.0\n" + bytes(48), "unsupported-format"),
        (b"P6\n2 2\n255\n" + bytes(12), "unsupported-format"),
        (np.random.default_rng(0).bytes(4096), "not-an-image"),
        (b"hello, this is a text file\n" * 10, "not-an-image"),
    ],
)
def test_refused_content(data: bytes, code: str) -> None:
    """Formats outside the allow-list, random bytes and text are refused with a specific code."""
    with pytest.raises(PhotoError) as err:
        formats.sniff(data)
    assert err.value.code == code


def test_png_bomb_header_read_without_decoding() -> None:
    """A 74-byte PNG claiming 30000 x 30000 pixels reports that size from its header."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    data += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    assert formats.dimensions(formats.sniff(data), data) == (30000, 30000)


def test_suffix_prefilter_is_case_insensitive() -> None:
    """IMG_0001.JPG, photo.HeIc, a .CR2 and a .MOV pass the library's name filter; notes.txt and a
    bare '.jpg' do not."""
    for name in (b"IMG_0001.JPG", b"photo.HeIc", b"IMG_0002.CR2", b"MVI_0003.MOV"):
        assert formats.suffix(name) in formats.MEDIA_SUFFIXES, name
    assert formats.suffix(b"notes.txt") not in formats.MEDIA_SUFFIXES
    assert formats.suffix(b".jpg") == b""
