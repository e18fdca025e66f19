"""Shot identity from EXIF in every container a camera, a phone or an exporter writes it in."""

from __future__ import annotations

import io
import struct

import pytest
from cards import heic, scene, tiff_raw
from helpers import pillow_bytes
from PIL import Image

from hashwatchd.shotmeta import ShotMeta, different_shot, shot_meta
from hashwatchd.source import BytesSource

PIC = scene(4, (320, 240))
SHOT = ShotMeta(
    taken="2024:05:01 10:00:00",
    subsec="123",
    unique_id="0123456789abcdef0123456789abcdef",
    make="Canon",
    model="Canon EOS R5",
    body_serial="0421",
)


def _exif(shot: ShotMeta = SHOT) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = shot.make, shot.model, 1
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003], ifd[0x9291], ifd[0xA420], ifd[0xA431] = shot.taken, shot.subsec, shot.unique_id, shot.body_serial
    return exif


def _heif(fmt: str) -> bytes:
    import pillow_heif  # noqa: PLC0415

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(PIC[:, :, ::-1]).save(buf, format=fmt, exif=_exif().tobytes(), quality=50)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF", "AVIF"])
def test_every_container_gives_the_shot(fmt: str) -> None:
    """The same EXIF in a JPEG's APP1, a PNG's eXIf, a WebP's EXIF chunk and a HEIF or AVIF Exif
    item (written by libheif) reads back whole."""
    data = _heif(fmt) if fmt in ("HEIF", "AVIF") else pillow_bytes(PIC, fmt, exif=_exif())
    assert shot_meta(BytesSource(data)) == SHOT


@pytest.mark.parametrize("shape", ["cr2", "nef", "dng"])
def test_a_raw_file_is_its_own_exif(shape: str) -> None:
    """A raw file built on TIFF (little- and big-endian) carries IFD0's camera and the Exif IFD's
    capture time, read with a few bounded reads."""
    data = tiff_raw(shape, PIC, exif={0x9003: "2024:03:10 09:00:00", 0x9291: "25"})
    src = BytesSource(data)
    meta = shot_meta(src)
    assert (meta.taken, meta.subsec) == ("2024:03:10 09:00:00", "25")
    assert meta.make in ("Canon", "NIKON CORPORATION", "Google")
    assert src.bytes_read < 16 << 10


def test_files_without_exif_or_with_broken_exif_say_nothing() -> None:
    """No EXIF, a cut EXIF block and bytes that are no picture all read as no metadata."""
    plain = pillow_bytes(PIC, "JPEG")
    assert shot_meta(BytesSource(plain)) == ShotMeta()
    data = pillow_bytes(PIC, "JPEG", exif=_exif())
    at = data.index(b"Exif\x00\x00") + 6  # the TIFF header; IFD0's offset follows its 4 bytes
    far = data[: at + 4] + struct.pack("<I", 0xFFFFFF) + data[at + 8 :]
    for damaged in (data[: at + 30], far, b"not a picture at all", b"\xff\xd8\xff", heic(PIC)[:40]):
        assert shot_meta(BytesSource(damaged)) == ShotMeta()


def test_a_different_subsecond_is_a_different_shot() -> None:
    """Burst frames share the second and differ in its fraction; an export that kept fewer digits
    of the same fraction is the same shot."""
    burst = ShotMeta(taken=SHOT.taken, subsec="456")
    assert different_shot(ShotMeta(taken=SHOT.taken, subsec="123"), burst)
    assert not different_shot(ShotMeta(taken=SHOT.taken, subsec="12"), ShotMeta(taken=SHOT.taken, subsec="123"))
    assert different_shot(ShotMeta(taken=SHOT.taken, subsec="13"), ShotMeta(taken=SHOT.taken, subsec="123"))


@pytest.mark.parametrize(
    "other",
    [
        ShotMeta(taken="2024:05:01 10:00:01", subsec="123"),
        ShotMeta(unique_id="ffffffffffffffffffffffffffffffff"),
        ShotMeta(make="Nikon"),
        ShotMeta(model="Canon EOS R6"),
        ShotMeta(body_serial="0422"),
    ],
)
def test_a_value_both_carry_that_differs_is_a_different_shot(other: ShotMeta) -> None:
    """Another second, another unique ID, another camera body: two exposures."""
    assert different_shot(SHOT, other)
    assert different_shot(other, SHOT)


def test_equal_or_missing_values_prove_nothing() -> None:
    """Stripped metadata, one side without a sub-second, or equal values (spaces and case aside)
    never make two shots."""
    assert not different_shot(SHOT, ShotMeta())
    assert not different_shot(ShotMeta(), ShotMeta())
    assert not different_shot(SHOT, ShotMeta(taken=SHOT.taken))
    assert not different_shot(SHOT, ShotMeta(make="CANON ", model="canon  eos r5", subsec="123"))
    assert not different_shot(ShotMeta(subsec="1"), ShotMeta(subsec="2"))  # a fraction of which second?
