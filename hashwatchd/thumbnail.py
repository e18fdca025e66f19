"""A small JPEG preview of a decoded picture, for the visual report (page.py).

Made in the decoder process from the picture it already decoded for the features, so a
preview costs a resize and an encode (1.5-2 ms against the 30 ms of hashing a camera JPEG), not
a second decode. At most SIZE pixels on the long side, never enlarged, in display orientation
(decode.py applied the EXIF tag). A JPEG is held DCT-scaled, at least decode.MIN_SIDE pixels on
the short side: a camera picture gives a full-size preview, a 1600x1200 one a 200x150 preview.
A preview of pure noise that comes out larger than MAX_BYTES is encoded again at a lower
quality, so the cache of previews stays at a few kilobytes per picture.
"""

from __future__ import annotations

import cv2
import numpy as np

from hashwatchd.decode import Picture

#: Long side of a preview, in pixels: sharp in a 160-pixel box on a 1.5x screen.
SIZE = 256
QUALITY = 75
#: A preview larger than this is encoded again at FALLBACK_QUALITY.
MAX_BYTES = 32 << 10
FALLBACK_QUALITY = 50


def encode(picture: Picture) -> bytes:
    """The JPEG bytes of `picture`'s preview."""
    img = picture.bgr
    h, w = img.shape[:2]
    scale = SIZE / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    data = _jpeg(img, QUALITY)
    if len(data) > MAX_BYTES:
        data = _jpeg(img, FALLBACK_QUALITY)
    return data


def _jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # OpenCV's JPEG encoder does not fail on an 8-bit BGR array; be explicit if it ever does
        raise ValueError("the JPEG encoder refused the preview")
    return bytes(buf)
