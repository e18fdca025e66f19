"""The full-resolution confirmation on camera-like frames: copies of a shot stay `same`, another
moment of the scene does not, and real edits are `edited`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import EDITS, FRAME, camera, edited, encode, exif_rotated_jpeg, frame, photo, pillow_bytes
from PIL import Image

from hashwatchd import features
from hashwatchd.confirm import confirm
from hashwatchd.confirmation import cache_key, decode_side
from hashwatchd.decode import decode
from hashwatchd.features import fingerprint
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.model import Kind, Tier
from hashwatchd.workers import PixelTask, check_pair

W, H = FRAME


def jpeg(img: np.ndarray, quality: int = 92) -> bytes:
    return encode(img, ".jpg", cv2.IMWRITE_JPEG_QUALITY, quality)


def tier(needle: bytes, library: bytes, claim: Tier = Tier.SAME) -> Tier | None:
    """What the confirmation says of two files, each decoded as the engine decodes them."""
    side = decode_side(_size(needle), _size(library))
    return confirm(decode(needle, min_side=side), decode(library, min_side=side), claim).tier


def _size(data: bytes) -> tuple[int, int]:
    pic = decode(data)
    return pic.width, pic.height


@pytest.fixture(scope="module")
def shot() -> np.ndarray:
    return frame(3, subject=(0.6, 0.4))


@pytest.fixture(scope="module")
def library(shot: np.ndarray) -> bytes:
    return jpeg(shot)


def test_copies_of_the_shot_are_the_same(shot: np.ndarray, library: bytes) -> None:
    """Re-encoded, resized (down and up), converted, and stored turned with an orientation tag
    (90 degrees and 180: the partial last block of a DCT-scaled decode moves with the turn)."""
    copies = {
        "q70": jpeg(shot, 70),
        "half": jpeg(cv2.resize(shot, (W // 2, H // 2), interpolation=cv2.INTER_AREA)),
        "upscaled": jpeg(cv2.resize(shot, (W * 3 // 2, H * 3 // 2), interpolation=cv2.INTER_LANCZOS4)),
        "webp": encode(shot, ".webp", cv2.IMWRITE_WEBP_QUALITY, 90),
        "rotated-6": exif_rotated_jpeg(shot, 6),
    }
    exif = Image.Exif()
    exif[0x0112] = 3
    copies["rotated-3"] = pillow_bytes(cv2.rotate(shot, cv2.ROTATE_180), "JPEG", exif=exif, quality=92)
    assert {name: tier(data, library) for name, data in copies.items()} == dict.fromkeys(copies, Tier.SAME)


def test_a_handheld_burst_neighbour_is_another_picture(library: bytes) -> None:
    """The next frame of a hand-held burst: the subject moved by a tenth of its size, the camera
    by 3 pixels. At 16x16 it is the same picture; on pixels it is no copy and no edit."""
    neighbour = jpeg(frame(3, subject=(0.615, 0.41), shake=(3, 2)))
    assert tier(neighbour, library) is None


def test_a_subject_that_moved_on_a_still_scene_is_never_the_same(library: bytes) -> None:
    """From a tripod, only the subject moved: one compact change, which pixels cannot tell from
    a retouch (so at most `edited`; capture metadata tells the two shots apart where both carry
    it). Not even a subject that moved by a tenth of its size passes as the same shot."""
    assert tier(jpeg(frame(3, subject=(0.615, 0.41))), library) is not Tier.SAME
    assert tier(jpeg(frame(3, subject=(0.7, 0.45))), library) is not Tier.SAME


def _darker(img: np.ndarray, k: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * k, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("k", [0.3, 0.15, 0.08])
def test_a_burst_of_a_dark_scene_is_never_the_same(k: float) -> None:
    """A night shot, a dim room: the subject that moved leaves a residual in proportion to the
    scene's contrast, which in gray levels is below what a re-encode leaves on a bright picture.
    Found by review: a scene at 15% brightness and its next frame were confirmed `same`. Copies
    of a dim scene stay `same`; one too dark to tell its moments apart is nobody's `same` (at
    most `edited`, never counted as imported)."""
    shot = _darker(frame(3, subject=(0.6, 0.4)), k)
    neighbour = _darker(frame(3, subject=(0.615, 0.41)), k)
    assert tier(jpeg(neighbour), jpeg(shot)) is not Tier.SAME
    copy = tier(jpeg(shot, 75), jpeg(shot))
    assert (copy is Tier.SAME) == (k >= 0.3), copy


def test_another_render_is_not_the_same() -> None:
    """A higher-resolution render of the same artwork (its own grain, edges a pixel apart) looks
    identical at 16x16 but is another picture (wallpaper packages ship one per screen size)."""

    def render(width: int, grain: int, shift: float = 0.0) -> np.ndarray:
        img = cv2.resize(photo(21, 200, 150), (width, width * 3 // 4), interpolation=cv2.INTER_CUBIC)
        s = width / 800
        for x, y, r in ((200, 150, 60), (520, 380, 90), (640, 120, 40)):
            cv2.circle(img, (int((x + shift) * s), int(y * s)), int(r * s), (250, 250, 250), -1, cv2.LINE_AA)
        return np.clip(img + np.random.default_rng(grain).normal(0, 8, img.shape), 0, 255).astype(np.uint8)

    assert tier(encode(render(1200, 2, shift=1.5), ".png"), encode(render(800, 1), ".png")) is not Tier.SAME


def test_a_caption_is_an_edit(shot: np.ndarray, library: bytes) -> None:
    """A caption too small to change the 16x16 thumbnail: one compact change, the rest clean."""
    captioned = shot.copy()
    cv2.putText(captioned, "2016 (c)", (80, H - 80), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
    assert tier(jpeg(captioned), library) is Tier.EDITED


@pytest.mark.parametrize("library_holds", ["original", "edit"])
@pytest.mark.parametrize("edit", EDITS)
def test_real_edits_are_edits(edit: str, library_holds: str) -> None:
    """At camera size (3000 x 2000), each edit of helpers.edited either way round: an edit on the
    card of a library original, and the card's original of an edit (an export) the library
    holds, which is the usual case (a card keeps what the camera wrote)."""
    img = camera(6)
    changed = edited(img, edit)
    needle, library = (changed, img) if library_holds == "original" else (img, changed)
    assert tier(jpeg(needle), jpeg(library), Tier.EDITED) is Tier.EDITED


def test_an_edit_is_never_confirmed_as_the_same(shot: np.ndarray, library: bytes) -> None:
    """The confirmation never raises a claim: a copy claimed `edited` stays `edited`."""
    assert tier(jpeg(shot, 70), library, Tier.EDITED) is Tier.EDITED


def test_the_cache_key_is_the_contents_the_claim_and_the_decoders(library: bytes) -> None:
    """A photo is keyed by its digest; a raw file, whose digest leaves out its middle (where its
    preview is), by its digest and its fingerprint; the claim and the decoders' versions are
    part of the key."""
    a = fingerprint(decode(library), library)
    b = fingerprint(decode(jpeg(frame(4))), b"other")
    now = b"opencv-python-headless 5.0.0.93"
    assert cache_key(a, b, Tier.SAME, now) != cache_key(a, b, Tier.EDITED, now)
    assert cache_key(a, b, Tier.SAME, now) != cache_key(b, a, Tier.SAME, now)
    assert cache_key(a, b, Tier.SAME, now) != cache_key(a, b, Tier.SAME, b"opencv-python-headless 4.13.0.90")
    assert cache_key(a, b, Tier.SAME, now)[2:18] == a.digest
    raw = dataclasses.replace(a, kind=Kind.RAW)
    other_preview = dataclasses.replace(raw, thumb=bytes(256))  # the same digest: size, head and tail
    assert cache_key(raw, b, Tier.SAME, now) != cache_key(other_preview, b, Tier.SAME, now)


def test_decode_side_keeps_camera_jpegs_at_a_quarter() -> None:
    """12 and 24 MP camera JPEGs are decoded at 1/4 (not 1/8, whose unfiltered block averages
    alias differently in two differently stored copies); a small copy sets the working size."""
    assert decode_side((4032, 3024), (4032, 3024)) == 730
    assert 3024 // 8 < 730 <= 3024 // 4 and 4000 // 8 < 730 <= 4000 // 4
    assert decode_side((4032, 3024), (200, 150)) == 285


def test_a_comparison_that_fails_costs_the_pair_not_the_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, library: bytes
) -> None:
    """An OpenCV error on an odd pair (or OpenCV's own allocation failure under the decoders'
    memory cap, which is a cv2.error, not a MemoryError) would have killed the decoder process:
    it is that pair's problem, and the match stays unconfirmed."""

    def fails(*args: object) -> None:
        raise cv2.error("OpenCV(5.0.0) error: (-4:Insufficient memory) Failed to allocate 99 bytes")

    monkeypatch.setattr("hashwatchd.confirm.confirm", fails)
    paths = []
    for name in ("needle.jpg", "library.jpg"):
        (tmp_path / name).write_bytes(library)
        paths.append(os.fsencode(tmp_path / name))
    digest = features.digest(library)
    task = PixelTask(paths[0], paths[1], Tier.SAME, 256, (digest, digest))
    result = check_pair(task, DEFAULT_MAX_PIXELS)
    assert result.tier is None and result.problem is not None
    assert result.problem.code == "confirm-failed" and "Insufficient memory" in result.problem.detail
