"""Features of a picture: two 64-bit hashes to find candidates, and what verification compares.

dhash is the seed's difference hash (9x8 gray, one bit per left/right pair, row-major, first
pixel the most significant bit, as imagehash), but resampled by area averaging: the seed's
bilinear resize reads 2 pixels of each 8 and aliases, so a re-encode could flip many bits.
phash (DCT of a 32x32 gray image, 8x8 lowest frequencies against their median) is an
independent key, so a needle that drifts on one hash is still found by the other.
thumb (16x16 gray) and chroma (8x8 of Lab a*/b*) carry enough of the picture to tell a
re-encode from a neighbouring shot, a colour variant or a flat image, at 384 bytes.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from hashwatchd.decode import Picture
from hashwatchd.model import Fingerprint, Kind

THUMB = 16
CHROMA = 8


#: Every feature is computed from one 64x64 area-averaged copy: 32x32, 16x16 and 8x8 are exact
#: 2x, 4x and 8x box reductions of it (the same averages as resampling the picture directly),
#: and one resize of the decoded picture costs far less than four (OpenCV's area resampling is
#: slow at large ratios).
BASE = 64


def fingerprint(picture: Picture, data: bytes) -> Fingerprint:
    """All features of one decoded photo; `data` are the file bytes it came from."""
    return describe(picture, digest(data))


def describe(picture: Picture, digest: bytes, kind: Kind = Kind.PHOTO) -> Fingerprint:
    """All features of one decoded picture, with the file's `digest` (media.py says which)."""
    base = cv2.resize(picture.bgr.astype(np.float32), (BASE, BASE), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
    colour8 = np.clip(_box(base, BASE // CHROMA) + 0.5, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(colour8, cv2.COLOR_BGR2LAB)
    return Fingerprint(
        dhash=dhash(gray),
        phash=_phash32(_box(gray, BASE // 32)),
        thumb=np.clip(_box(gray, BASE // THUMB) + 0.5, 0, 255).astype(np.uint8).tobytes(),
        chroma=np.ascontiguousarray(lab[:, :, 1:]).tobytes(),
        width=picture.width,
        height=picture.height,
        digest=digest,
        kind=kind,
    )


def _box(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each factor x factor block (exact area reduction by an integer factor)."""
    h, w = img.shape[:2]
    return img.reshape(h // factor, factor, w // factor, factor, *img.shape[2:]).mean(axis=(1, 3))


def digest(data: bytes) -> bytes:
    """The first 16 bytes of the file's SHA-256: equal digests mean byte-identical files.

    SHA-256 rather than BLAKE2b: OpenSSL runs it on the CPU's SHA instructions (x86 since
    Goldmont and Zen, ARMv8 with the crypto extension), about three times as fast as BLAKE2b,
    which had been a noticeable part of a camera picture's hashing time (README, "Benchmarks").
    Truncated to 128 bits it is as collision-resistant as the BLAKE2b-128 it replaces.
    """
    return hashlib.sha256(data).digest()[:16]


def dhash(gray: np.ndarray) -> int:
    """64-bit difference hash: bit set where a pixel is brighter than its left neighbour."""
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA)
    return _pack(small[:, 1:] > small[:, :-1])


def phash(gray: np.ndarray) -> int:
    """64-bit DCT hash: the 8x8 lowest frequencies of a 32x32 image against their median."""
    return _phash32(cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA))


def _phash32(small: np.ndarray) -> int:
    low = cv2.dct(small.astype(np.float32))[:8, :8]
    return _pack(low > np.median(low))


def _pack(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big")


def to_hex(value: int) -> str:
    """A 64-bit hash as 16 hex digits, the form imagehash prints."""
    return f"{value:016x}"
