"""Decoding bytes into a normalised picture, and every way that can fail."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from helpers import encode, exif_rotated_jpeg, photo, pillow_bytes
from PIL import Image

from hashwatchd.decode import MIN_SIDE, decode, exif_orientation, jpeg_exif
from hashwatchd.errors import PhotoError

IMG = photo(2, 400, 300)


def _close(a: np.ndarray, b: np.ndarray, tolerance: float = 12.0) -> bool:
    small = (32, 24) if a.shape[1] >= a.shape[0] else (24, 32)
    x = cv2.resize(a, small, interpolation=cv2.INTER_AREA).astype(float)
    y = cv2.resize(b, small, interpolation=cv2.INTER_AREA).astype(float)
    return float(np.abs(x - y).mean()) < tolerance


@pytest.mark.parametrize(
    "data",
    [
        encode(IMG, ".jpg"),
        encode(IMG, ".png"),
        encode(IMG, ".webp"),
        encode(IMG, ".tiff"),
        encode(IMG, ".bmp"),
        encode(IMG, ".avif"),
        pillow_bytes(IMG, "GIF"),
    ],
    ids=["jpeg", "png", "webp", "tiff", "bmp", "avif", "gif"],
)
def test_every_format_decodes_to_the_picture(data: bytes) -> None:
    """Each supported format yields 8-bit BGR pixels resembling the original and its full size."""
    pic = decode(data)
    assert pic.bgr.dtype == np.uint8
    assert pic.bgr.ndim == 3
    assert (pic.width, pic.height) == (400, 300)
    assert _close(pic.bgr, IMG, 20.0 if pic.format == "gif" else 12.0)


def test_large_jpeg_is_dct_scaled() -> None:
    """A 2048 x 1536 JPEG is decoded at 1/8 (256 x 192): no more pixels than the features need."""
    big = cv2.resize(IMG, (2048, 1536))
    pic = decode(encode(big, ".jpg"))
    assert pic.bgr.shape[:2] == (192, 256)
    assert min(pic.bgr.shape[:2]) >= MIN_SIDE
    assert (pic.width, pic.height) == (2048, 1536)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_to_jpeg(orientation: int) -> None:
    """A photo stored turned with its orientation tag decodes upright, with its displayed size,
    and says which orientation it applied (the confirmation's geometry needs it)."""
    stored = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_COUNTERCLOCKWISE, 8: cv2.ROTATE_90_CLOCKWISE}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    pic = decode(pillow_bytes(cv2.rotate(IMG, stored), "JPEG", exif=exif, quality=92))
    assert (pic.width, pic.height, pic.orientation) == (400, 300, orientation)
    assert _close(pic.bgr, IMG)
    assert decode(encode(IMG, ".jpg")).orientation == 1


def test_jpeg_exif_is_found_behind_other_segments() -> None:
    """The Exif segment is found after a JFIF and an XMP segment, and not inside the scan."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = exif_rotated_jpeg(IMG)
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"
    jfif = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    moved = data[:2] + jfif + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + data[2:]
    assert jpeg_exif(moved) == jpeg_exif(data) != b""
    assert exif_orientation(jpeg_exif(moved)) == 6
    assert jpeg_exif(encode(IMG, ".jpg")) == b""


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_exif_orientation_is_applied_to_other_formats(fmt: str) -> None:
    """PNG and WebP carry EXIF too; the orientation tag is honoured there as well."""
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = cv2.rotate(IMG, cv2.ROTATE_90_COUNTERCLOCKWISE)
    extra: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    pic = decode(pillow_bytes(stored, fmt, exif=exif, **extra))
    assert pic.bgr.shape[:2] == (300, 400)
    assert pic.orientation == 6
    assert _close(pic.bgr, IMG)


def test_alpha_is_composited_on_white() -> None:
    """Transparent pixels become white, opaque ones keep their colour."""
    rgba = np.zeros((50, 60, 4), np.uint8)
    rgba[:, :30] = (0, 0, 255, 255)
    pic = decode(encode(rgba, ".png"))
    assert tuple(pic.bgr[10, 10]) == (0, 0, 255)
    assert tuple(pic.bgr[10, 50]) == (255, 255, 255)


def test_sixteen_bit_is_scaled_to_eight() -> None:
    """A 16-bit PNG decodes to the 8-bit picture it represents."""
    deep = IMG.astype(np.uint16) * 257
    pic = decode(encode(deep, ".png"))
    assert np.abs(pic.bgr.astype(int) - IMG.astype(int)).max() <= 1


@pytest.mark.parametrize("mode", ["L", "P", "CMYK"])
def test_gray_palette_and_cmyk(mode: str) -> None:
    """Gray, palette and CMYK pictures become BGR close to what they show."""
    image = Image.fromarray(cv2.cvtColor(IMG, cv2.COLOR_BGR2RGB)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    pic = decode(buf.getvalue())
    shown = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    assert (pic.width, pic.height, pic.bgr.shape[2]) == (400, 300, 3)
    assert _close(pic.bgr, shown, 8.0)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated_jpeg_is_not_a_picture(fraction: float) -> None:
    """A JPEG cut short (OpenCV would return gray rows) is reported truncated, not hashed."""
    data = encode(IMG, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95)
    with pytest.raises(PhotoError) as err:
        decode(data[: int(len(data) * fraction)])
    assert err.value.code == "truncated"


def test_damaged_jpeg_data_is_corrupt() -> None:
    """Garbage in the middle of the entropy-coded data makes libjpeg warn; that is corrupt."""
    data = bytearray(encode(IMG, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff\xd0" * 32
    with pytest.raises(PhotoError) as err:
        decode(bytes(data))
    assert err.value.code in {"truncated", "corrupt"}


def test_truncated_png_is_corrupt() -> None:
    """A PNG cut in half is refused by its decoder and reported corrupt."""
    data = encode(IMG, ".png")
    with pytest.raises(PhotoError) as err:
        decode(data[: len(data) // 2])
    assert err.value.code == "corrupt"


def test_empty_file() -> None:
    """An empty file is reported as such."""
    with pytest.raises(PhotoError) as err:
        decode(b"")
    assert err.value.code == "empty"


def test_decompression_bomb_is_refused_from_its_header() -> None:
    """A 30000 x 30000 PNG is refused before decoding, naming its size."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * 30001 * 64)
    data = b"\x89PNG\r\n\x1a\n"
    for tag, body in ((b"IHDR", ihdr), (b"IDAT", raw), (b"IEND", b"")):
        data += struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    with pytest.raises(PhotoError) as err:
        decode(data)
    assert err.value.code == "too-large"
    assert "30000 x 30000" in str(err.value)


def test_pixel_limit_is_configurable() -> None:
    """A limit of 100,000 pixels refuses a 400 x 300 picture."""
    with pytest.raises(PhotoError) as err:
        decode(encode(IMG, ".png"), max_pixels=100_000)
    assert err.value.code == "too-large"


def test_heic_decodes() -> None:
    """A HEIC photo (encoded here with pillow-heif) decodes to the picture, with its size from the header."""
    import pillow_heif  # noqa: PLC0415

    rgb = cv2.cvtColor(IMG, cv2.COLOR_BGR2RGB)
    heif = pillow_heif.from_bytes(mode="RGB", size=(400, 300), data=rgb.tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=90)
    pic = decode(buf.getvalue())
    assert (pic.format, pic.width, pic.height) == ("heif", 400, 300)
    assert _close(pic.bgr, IMG)


def test_ten_bit_heic_is_scaled_to_eight() -> None:
    """A 10-bit HEIC (what HDR-capable cameras write) decodes to the 8-bit picture it shows."""
    import pillow_heif  # noqa: PLC0415

    rgb16 = cv2.cvtColor(IMG, cv2.COLOR_BGR2RGB).astype(np.uint16) * 257
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(400, 300), data=rgb16.tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=-1)
    pic = decode(buf.getvalue())
    assert (pic.format, pic.bgr.dtype, pic.bgr.shape) == ("heif", np.uint8, (300, 400, 3))
    assert _close(pic.bgr, IMG)
