"""Golden features of fixed pictures: a change in OpenCV's resampling, DCT or codecs must fail here.

Every index stores features computed by the OpenCV it was built with, and store.FEATURES is what
tells an index apart from one whose features would be computed differently. A new OpenCV whose
INTER_AREA, DCT, colour conversion or libjpeg gives other numbers changes nothing in that string,
so without these values an index built before the upgrade would silently be compared against
features of another kind, and matches would be lost without a word.

The pictures are made with integer NumPy arithmetic only (no random generator, no float
transcendental, no drawing call), so they are the same bytes on every NumPy; the pinned image
digests check that. They were chosen so that no feature sits near a tie: the closest dHash pair
differs by 0.22 gray levels, the closest pHash coefficient is 0.15 from the median, and no thumb
or chroma value is within 0.002 of a rounding boundary, far more than float32 noise between CPUs.

Pinned with opencv-python-headless 4.12.0.88, 4.13.0.90, 4.13.0.92, 4.14.0.94 and 5.0.0.93, on
NumPy 2.0.0 and 2.4.6: all give exactly these values.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import cv2
import numpy as np
import pytest

from hashwatchd.decode import Picture, decode
from hashwatchd.features import fingerprint, to_hex
from hashwatchd.model import Fingerprint


def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(w, dtype=np.int64)[None, :], np.arange(h, dtype=np.int64)[:, None]


def gradient(w: int = 300, h: int = 200) -> np.ndarray:
    """Colour ramps with a sloped disc and bar: smooth structure, a fractional 300x200 -> 64x64 ratio."""
    x, y = _grid(w, h)
    img = np.empty((h, w, 3), np.int64)
    img[..., 0] = (x * 255) // (w - 1)
    img[..., 1] = (y * 255) // (h - 1)
    img[..., 2] = ((x * 3 + y * 5) * 255) // (3 * (w - 1) + 5 * (h - 1))
    slope = np.stack(np.broadcast_arrays(40 + x // 3, 200 - y // 2, 230 - (x + y) // 5), axis=-1)
    disc = (x - 2 * w // 3) ** 2 + (y - h // 3) ** 2 < (h // 4) ** 2
    img = np.where(disc[..., None], slope, img)
    bar = (x >= w // 8) & (x < w // 3) & (y >= h // 2) & (y < h - h // 8)
    img = np.where(bar[..., None], 255 - slope, img)
    return img.astype(np.uint8)


def rings(w: int = 173, h: int = 97) -> np.ndarray:
    """Off-centre elliptic rings over a ramp, at a prime width: fine detail that bad resampling aliases."""
    x, y = _grid(w, h)
    d2 = (x - w // 3) ** 2 + 2 * (y - h // 2) ** 2
    v = (d2 // 89) % 2 * 160 + (x + 2 * y) * 95 // (w + 2 * h)
    return np.stack(np.broadcast_arrays(v, 255 - v, (v + x) % 256), axis=-1).astype(np.uint8)


def blocks(w: int = 640, h: int = 480) -> np.ndarray:
    """A 5x4 grid of flat colours, inverted below a diagonal: integer ratios (10x, 7.5x) and hard edges."""
    x, y = _grid(w, h)
    cell = (x * 5 // w) + 5 * (y * 4 // h)
    img = np.stack([(cell * 53) % 256, (cell * 97 + 40) % 256, (cell * 151 + 90) % 256], axis=-1)
    img = np.where((x * h < y * w)[..., None], 255 - img, img)
    return img.astype(np.uint8)


def big_blocks() -> np.ndarray:
    """blocks at 1280x960: a JPEG of this size is decoded DCT-scaled to 1/4."""
    return np.repeat(np.repeat(blocks(), 2, axis=0), 2, axis=1)


MAKERS = {"gradient": gradient, "rings": rings, "blocks": blocks, "big_blocks": big_blocks}


class Golden(NamedTuple):
    """Features as short strings: hashes in hex, thumb and chroma as the first 16 hex digits of SHA-256."""

    dhash: str
    phash: str
    thumb: str
    chroma: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _golden(fp: Fingerprint) -> Golden:
    return Golden(to_hex(fp.dhash), to_hex(fp.phash), _sha(fp.thumb), _sha(fp.chroma))


#: SHA-256 (16 hex digits) of each picture's pixels: guards the pictures themselves.
PIXELS = {
    "gradient": "cd5fad67e9cd98f8",
    "rings": "2d1a3c85b037ca32",
    "blocks": "0b42a703e0349735",
    "big_blocks": "f0fc4bd7f445fefc",
}

#: Features of the pixels as made (and, PNG being lossless, of their PNG decoded).
FEATURES = {
    "gradient": Golden("fdfcf8f87f3f3fff", "9a13626e606d6d6d", "5857d3cd932478e0", "9c296397740271bf"),
    "rings": Golden("cecfcfcddd9f9ebe", "e3c71caa4e82b5c6", "5bb181232089fa27", "61580512e5ad3969"),
    "blocks": Golden("73333333c3cbc3c3", "edbc8f030dfc1245", "41aac791b9674608", "3064954252d45663"),
}

#: JPEG at quality 90 by cv2.imencode: (digest of the file, digest of the decoded pixels, features).
#: blocks is decoded DCT-scaled to 1/2 (320x240) and big_blocks to 1/4, gradient and rings in full.
JPEG = {
    "gradient": (
        "0a002fe74f4c636f",
        "a7c49fc4d9e9689a",
        Golden("fdfcf8f87f3f3fff", "9a13626e606d6d6d", "23f484b183e47cfb", "c1b45f4e3acd0482"),
    ),
    "rings": (
        "ecda25bfa25e11d9",
        "f875a6e699727e2e",
        Golden("cecfcfcddd9f9ebe", "e3c71caa4e82b5c6", "2ee6be07e72dbeed", "e434d892711234a0"),
    ),
    "blocks": (
        "087ca0cffc86ea1c",
        "165ba318653edd27",
        Golden("73333333c3cbc3c3", "e9fc8f030dfc1245", "7e052b13b280df50", "7ff267e53e770928"),
    ),
    "big_blocks": (
        "4f4a9b9722026cd6",
        "964d78e74549cba6",
        Golden("73333333c3cbc3c3", "e9fc8f030dfc1245", "ec45ebd7a945d219", "d196e89be8534542"),
    ),
}


def _changed(what: str, got: object, pinned: object) -> str:
    return (
        f"{what} changed: got {got}, pinned {pinned}.\n"
        f"OpenCV {cv2.__version__} with NumPy {np.__version__} computes other features for the same picture "
        "than the versions these values were pinned with. Every index built before holds features of the old "
        "kind, and comparing them with new ones would silently lose matches. If the new values are right, bump "
        "FEATURES in hashwatchd/store.py (so existing indexes refuse to open and are rebuilt with "
        "`hashwatchd scan --rebuild`) and pin the new values here; if both versions stay allowed by "
        "pyproject.toml, FEATURES must also name which one built an index. Otherwise keep "
        "opencv-python-headless below this version."
    )


@pytest.mark.parametrize("name", list(PIXELS))
def test_the_pictures_themselves_are_stable(name: str) -> None:
    """Integer arithmetic gives the same pixels on every NumPy: a failure here is the picture, not OpenCV."""
    assert _sha(MAKERS[name]().tobytes()) == PIXELS[name], "the golden picture itself changed; fix the test"


@pytest.mark.parametrize("name", list(FEATURES))
def test_features_of_fixed_pictures_are_pinned(name: str) -> None:
    """dHash, pHash, thumb and chroma of a picture as decode would hand it over."""
    img = MAKERS[name]()
    got = _golden(fingerprint(Picture(img, img.shape[1], img.shape[0], "png"), b""))
    assert got == FEATURES[name], _changed(f"the features of {name}", got, FEATURES[name])


@pytest.mark.parametrize("name", list(FEATURES))
def test_png_round_trip_keeps_the_pinned_features(name: str) -> None:
    """A PNG goes through decode (imdecodeWithMetadata) unchanged, so its features are the pinned ones."""
    img = MAKERS[name]()
    ok, buf = cv2.imencode(".png", img)
    assert ok
    pic = decode(buf.tobytes())
    assert (pic.format, pic.width, pic.height) == ("png", img.shape[1], img.shape[0])
    assert np.array_equal(pic.bgr, img), "the PNG decoder no longer returns the pixels that were encoded"
    got = _golden(fingerprint(pic, buf.tobytes()))
    assert got == FEATURES[name], _changed(f"the features of {name} read from PNG", got, FEATURES[name])


@pytest.mark.parametrize("name", list(JPEG))
def test_jpeg_decode_is_pinned(name: str) -> None:
    """A JPEG's decoded pixels (full or DCT-scaled by libjpeg) and their features are pinned too: most
    photos are JPEGs, and OpenCV bundles its own libjpeg."""
    img = MAKERS[name]()
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    data = buf.tobytes()
    file_digest, pixels_digest, features = JPEG[name]
    assert _sha(data) == file_digest, (
        f"OpenCV {cv2.__version__}'s JPEG encoder writes other bytes for {name}: the decoder cannot be "
        "checked against the pinned pixels. That alone changes no index; compare this decoder with the old one "
        "on the old bytes before pinning new values here."
    )
    pic = decode(data)
    assert _sha(pic.bgr.tobytes()) == pixels_digest, _changed(
        f"the decoded pixels of {name}.jpg ({pic.bgr.shape[1]}x{pic.bgr.shape[0]})",
        _sha(pic.bgr.tobytes()),
        pixels_digest,
    )
    got = _golden(fingerprint(pic, data))
    assert got == features, _changed(f"the features of {name}.jpg", got, features)
