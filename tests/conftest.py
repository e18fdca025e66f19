"""Shared fixtures: photo-like pictures made here, encoded with OpenCV and Pillow."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image


def photo(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A BGR picture with structure at several scales, like a photo and unlike a test pattern."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((4, 1.0), (16, 0.5), (64, 0.25)):
        noise = rng.random((max(2, height // scale), max(2, width // scale), 3)).astype(np.float32)
        out += weight * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    out -= out.min()
    out *= 255.0 / out.max()
    for _ in range(6):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(out, centre, int(rng.integers(height // 20, height // 5)), colour, -1)
    return np.clip(out, 0, 255).astype(np.uint8)


def encode(img: np.ndarray, ext: str = ".jpg", *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def pillow_bytes(img: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    """Encode a BGR (or gray) array with Pillow; kwargs go to Image.save (exif=, mode...)."""
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else img
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def exif_rotated_jpeg(img: np.ndarray, orientation: int = 6) -> bytes:
    """Stored rotated 90 degrees counter-clockwise, with the tag that turns it upright."""
    stored = cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return pillow_bytes(stored, "JPEG", exif=exif, quality=92)


def write(path: Path | bytes, data: bytes) -> None:
    path = os.fsencode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def run_cli(
    *args: str | os.PathLike[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m hashwatchd` as a user would, in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "hashwatchd", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config or state."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
