"""Raw files, videos and HEIC, decoded in-process from real files made here (tests/cards.py)."""

from __future__ import annotations

import cv2
import pytest
from cards import dng, heic, jpeg, mp4_claiming, random_after, raw_claiming, remux, scene, tiff_raw, truncated, video

from hashwatchd import media
from hashwatchd.errors import PhotoError
from hashwatchd.ignore import Rules
from hashwatchd.matching import classify
from hashwatchd.model import Fingerprint, Kind, Tier
from hashwatchd.source import BytesSource

MAX_PIXELS = 250_000_000
PIC = scene(3, (768, 512))


def fingerprint(data: bytes) -> Fingerprint:
    src = BytesSource(data)
    return media.fingerprint(src, media.kind_of(src), MAX_PIXELS)


@pytest.mark.parametrize("shape", ["cr2", "nef", "dng"])
def test_a_raw_is_told_from_a_tiff_and_read_through_its_preview(shape: str) -> None:
    """A raw file shaped like a CR2, a NEF or a DNG with a preview is a raw file by content; its
    picture is the embedded preview, read without reading the raw data (a bounded part of the file),
    and it is the same picture as the camera's JPEG."""
    data = tiff_raw(shape, PIC)
    src = BytesSource(data)
    assert media.kind_of(src) is Kind.RAW
    fp = media.fingerprint(src, Kind.RAW, MAX_PIXELS)
    assert fp.kind is Kind.RAW
    assert src.bytes_read < len(data) // 2
    assert classify(fingerprint(jpeg(PIC, 92)), fp) is Tier.SAME
    plain = cv2.imencode(".tiff", PIC)[1].tobytes()
    assert media.kind_of(BytesSource(plain)) is Kind.PHOTO


def test_a_raw_without_a_preview_is_demosaiced_by_libraw() -> None:
    """A DNG of Bayer data alone (pidng) is decoded at half size by LibRaw; its picture matches the
    photo it was made from (as an edit at worst: LibRaw's tone is not the camera's)."""
    fp = fingerprint(dng(PIC))
    assert (fp.kind, fp.width, fp.height) == (Kind.RAW, 768, 512)
    assert classify(fingerprint(jpeg(PIC, 92)), fp) in (Tier.SAME, Tier.EDITED)


def test_a_raw_is_turned_by_its_own_orientation_tag() -> None:
    """The preview is in sensor orientation; the raw's IFD0 tag turns it upright, as the camera
    JPEG (turned by its EXIF tag) is."""
    upright = cv2.rotate(PIC, cv2.ROTATE_90_CLOCKWISE)
    data = tiff_raw("cr2", PIC, orientation=6)
    fp = fingerprint(data)
    assert (fp.width, fp.height) == (512, 768)
    assert media.picture(BytesSource(data), Kind.RAW, MAX_PIXELS, 128).orientation == 6
    assert classify(fingerprint(jpeg(upright, 92)), fp) is Tier.SAME


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: truncated(tiff_raw("cr2", PIC), 0.5), "truncated"),
        (lambda: truncated(tiff_raw("nef", PIC), 0.99), "truncated"),
        (lambda: random_after(tiff_raw("nef", PIC), 16), "corrupt"),
        (lambda: raw_claiming(tiff_raw("cr2", PIC)), "too-large"),
        (lambda: truncated(dng(PIC), 0.5), "truncated"),
    ],
)
def test_hostile_raw_files_are_refused_with_a_reason(make: object, code: str) -> None:
    """A raw cut short (its preview may survive: the IFDs say where its data ends), random bytes
    after the magic, or a header claiming 60000 x 60000 pixels: a clean error, no crash."""
    with pytest.raises(PhotoError) as err:
        fingerprint(make())  # type: ignore[operator]
    assert err.value.code == code, err.value


def test_a_video_is_the_same_recording_in_another_container_and_not_another_clip() -> None:
    """An MP4 remuxed into a MOV, or with other metadata, is the same video; another clip of the
    same length, or the clip trimmed, is not; a still of it is no video."""
    clip = video("mp4", seed=1, frames=48)
    fp = fingerprint(clip)
    assert (fp.kind, len(fp.frames), fp.duration_ms) == (Kind.VIDEO, 3, 4000)
    assert classify(fingerprint(remux(clip, "mov")), fp) is Tier.SAME
    assert classify(fingerprint(remux(clip, "mp4", {"title": "holiday"})), fp) is Tier.SAME
    assert classify(fingerprint(video("mp4", seed=2, frames=48)), fp) is None
    assert classify(fingerprint(video("mp4", seed=1, frames=36)), fp) is None
    assert classify(fingerprint(jpeg(scene(1, (128, 96)))), fp) is None


def test_a_reencoded_video_is_the_same_recording() -> None:
    """Another codec in another container (MPEG-4 in AVI), sampled at the same instants."""
    clip = video("mp4", seed=4, frames=48)
    assert classify(fingerprint(video("avi", seed=4, frames=48)), fingerprint(clip)) is Tier.SAME


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: truncated(video("mp4", seed=5), 0.5), "truncated"),
        (lambda: random_after(video("mp4", seed=5), 32), "corrupt"),
        (lambda: mp4_claiming(video("mp4", seed=5)), "truncated"),
        (lambda: truncated(video("avi", seed=5), 0.5), "truncated"),
    ],
)
def test_hostile_videos_are_refused_with_a_reason(make: object, code: str) -> None:
    """A video cut short (index at either end), random bytes after its header, or a box claiming
    4 GB: a clean error from the container's own lengths, before FFmpeg guesses."""
    with pytest.raises(PhotoError) as err:
        fingerprint(make())  # type: ignore[operator]
    assert err.value.code == code, err.value


def test_heic_is_read_upright_through_its_thumbnail() -> None:
    """A rotated HEIC is upright once (libheif turns it; its EXIF tag is not applied again), and a
    thumbnail large enough gives the same picture as the full decode."""
    upright = cv2.rotate(PIC, cv2.ROTATE_90_CLOCKWISE)
    with_thumb = fingerprint(heic(PIC, orientation=6, thumbnail=320))
    without = fingerprint(heic(PIC, orientation=6))
    assert (with_thumb.width, with_thumb.height) == (512, 768)
    assert classify(with_thumb, without) is Tier.SAME
    assert classify(fingerprint(jpeg(upright, 92)), without) is Tier.SAME


def test_files_that_are_nothing_hashwatchd_reads() -> None:
    """Text, an empty file: clear problems (the worker says unsupported-format for a file not
    named like a photo)."""
    for data, code in ((b"hello, world\n" * 40, "not-an-image"), (b"", "empty")):
        with pytest.raises(PhotoError) as err:
            fingerprint(data)
        assert err.value.code == code


def test_the_default_ignore_list() -> None:
    """Sidecars and camera housekeeping folders are left out, at any depth and in any case; the
    clips of a Sony card and ordinary photos count; `defaults` can be extended."""
    rules = Rules.of(["defaults", "*.txt"])
    for name in (b"IMG_0001.CR2.xmp", b"MVI_0005.THM", b"IMG_0004.AAE", b"GL010001.LRV", b"NC_FLLST.DAT", b"x.txt"):
        assert rules.file(name), name
    for name in (b"IMG_0001.JPG", b"C0001.MP4", b"IMG_0001.CR2"):
        assert not rules.file(name), name
    assert rules.folder(b"PRIVATE/M4ROOT/THMBNL")
    assert rules.folder(b"card/DCIM/CANONMSC")
    assert not rules.folder(b"PRIVATE/M4ROOT/CLIP")
    assert not Rules.of([]).file(b"IMG_0001.CR2.xmp")
