"""Previews for the visual report: made by the decoder from the picture it holds, cached by
content digest in the state directory, made on demand for what the page shows and the cache
lacks, and swept when nothing needs them."""

from __future__ import annotations

import os
from pathlib import Path

import cards
import cv2
import numpy as np
from helpers import encode, exif_rotated_jpeg, photo, write

from hashwatchd import features, thumbnail
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.thumbcache import ThumbCache
from hashwatchd.workers import hash_one, preview_one


def _decoded(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_a_hashed_picture_comes_with_its_preview_when_asked(tmp_path: Path) -> None:
    """The preview is a JPEG of at most 256 pixels on the long side (made from the DCT-scaled
    picture the hash was computed from: a 1600x1200 JPEG is held at 200x150), upright (EXIF
    applied), never enlarged, and a few kilobytes; without asking there is none."""
    write(tmp_path / "camera.jpg", encode(photo(1, 4032, 3024), ".jpg"))
    write(tmp_path / "mid.jpg", encode(photo(1, 1600, 1200), ".jpg"))
    write(tmp_path / "rotated.jpg", exif_rotated_jpeg(photo(2, 2048, 1536)))
    write(tmp_path / "small.png", encode(photo(3, 200, 150), ".png"))
    camera = hash_one(os.fsencode(tmp_path / "camera.jpg"), DEFAULT_MAX_PIXELS, preview=True)
    assert camera.preview is not None and len(camera.preview) <= thumbnail.MAX_BYTES
    assert _decoded(camera.preview).shape[:2] == (192, 256)
    mid = hash_one(os.fsencode(tmp_path / "mid.jpg"), DEFAULT_MAX_PIXELS, preview=True)
    assert mid.preview is not None and _decoded(mid.preview).shape[:2] == (150, 200)
    rotated = hash_one(os.fsencode(tmp_path / "rotated.jpg"), DEFAULT_MAX_PIXELS, preview=True)
    assert rotated.preview is not None and _decoded(rotated.preview).shape[:2] == (192, 256)
    small = hash_one(os.fsencode(tmp_path / "small.png"), DEFAULT_MAX_PIXELS, preview=True)
    assert small.preview is not None and _decoded(small.preview).shape[:2] == (150, 200)
    assert hash_one(os.fsencode(tmp_path / "mid.jpg"), DEFAULT_MAX_PIXELS).preview is None


def test_raw_files_and_videos_get_a_preview_too(tmp_path: Path) -> None:
    """A raw file's preview is made from the picture hashed (its embedded JPEG), a video's from its
    first sampled frame: upright, at most 256 pixels on the long side."""
    write(tmp_path / "IMG_0001.CR2", cards.tiff_raw("cr2", cards.scene(1, (600, 400))))
    write(tmp_path / "MVI_0001.MP4", cards.video("mp4", size=(128, 96)))
    for name, ratio in (("IMG_0001.CR2", 1.5), ("MVI_0001.MP4", 128 / 96)):
        hashed = hash_one(os.fsencode(tmp_path / name), DEFAULT_MAX_PIXELS, preview=True)
        assert hashed.fingerprint is not None and hashed.preview is not None, hashed.problem
        h, w = _decoded(hashed.preview).shape[:2]
        assert max(h, w) <= 256 and abs(w / h - ratio) < 0.05, (name, w, h)


def test_a_preview_on_demand_carries_the_digest_of_what_was_read(tmp_path: Path) -> None:
    """preview_one: the preview and the content digest it belongs to; a reason when unreadable."""
    data = encode(photo(4, 320, 240), ".jpg")
    write(tmp_path / "a.jpg", data)
    made = preview_one(os.fsencode(tmp_path / "a.jpg"), DEFAULT_MAX_PIXELS)
    assert made.digest == features.digest(data) and made.jpeg is not None
    gone = preview_one(os.fsencode(tmp_path / "gone.jpg"), DEFAULT_MAX_PIXELS)
    assert (gone.jpeg, gone.problem and gone.problem.code) == (None, "vanished")


def test_the_cache_keeps_one_file_per_content_and_sweeps_only_its_own(tmp_path: Path) -> None:
    """put writes once; copy links from another cache; sweep removes previews not kept, empty
    ones (what a crash can leave) and temp files, and leaves files of other names alone."""
    cache = ThumbCache(tmp_path / "thumbs")
    a, b, c = b"\xaa" * 16, b"\xbb" * 16, b"\xcc" * 16
    assert cache.put(a, b"jpeg-a") and cache.put(a, b"other bytes")
    assert cache.path(a).read_bytes() == b"jpeg-a"
    cache.put(b, b"jpeg-b")
    cache.path(c).write_bytes(b"")  # left empty by a crash: absent
    assert not cache.has(c)
    (tmp_path / "thumbs" / f".{c.hex()}.jpg.123.tmp").write_bytes(b"half")
    (tmp_path / "thumbs" / "holiday.jpg").write_bytes(b"not ours")
    elsewhere = ThumbCache(tmp_path / "page/thumbs")
    assert elsewhere.copy(a, cache) and not elsewhere.copy(c, cache)
    assert elsewhere.path(a).read_bytes() == b"jpeg-a"
    assert cache.sweep({a, c}) == 3  # b, the empty c and the temp file
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == [f"{a.hex()}.jpg", "holiday.jpg"]
