"""What the tests share: photo-like pictures made here (encoded with OpenCV and Pillow), files
written the way a copy writes them, the command run as a user runs it, and a running daemon
observed through its status file."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from daemonproc import READY, poll_status, read_status
from PIL import Image, ImageEnhance

from hashwatchd.model import FileStat, Fingerprint


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


def camera(seed: int, width: int = 3000, height: int = 2000) -> np.ndarray:
    """A camera-size photo: photo()'s structure enlarged (as a lens renders a scene, soft at the
    pixel level), finer detail at half size, and sensor noise (sigma 2.6) in every pixel."""
    img = cv2.resize(photo(seed, width // 8, height // 8), (width, height), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(photo(seed + 100, width // 2, height // 2), (width, height), interpolation=cv2.INTER_LINEAR)
    out = cv2.addWeighted(img, 0.85, fine, 0.15, 0.0, dtype=cv2.CV_16S)
    out += np.random.default_rng(seed).integers(-4, 5, out.shape, dtype=np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)


#: The size of frame(): odd, so DCT-scaled decodes end in a partial block, which a turn moves.
FRAME = (1601, 1203)


def frame(
    seed: int = 3, *, subject: tuple[float, float] | None = None, shake: tuple[float, float] = (0, 0)
) -> np.ndarray:
    """A frame of a burst of one scene (camera(seed) at FRAME): optionally a textured subject
    (1.5% of the frame) centred at `subject` (fractions of the frame), the whole frame shifted by
    `shake` pixels (a hand-held camera), and this frame's own sensor noise."""
    w, h = FRAME
    scene = camera(seed, w, h).astype(np.float32)
    if subject is not None:
        r = int((0.015 * w * h / np.pi) ** 0.5)
        patch = photo(seed + 50, 2 * r, 2 * r).astype(np.float32)
        mask = np.zeros((2 * r, 2 * r), np.float32)
        cv2.circle(mask, (r, r), r, 1.0, -1, cv2.LINE_AA)
        x, y = int(subject[0] * w) - r, int(subject[1] * h) - r
        area = scene[y : y + 2 * r, x : x + 2 * r]
        area[:] = area * (1 - mask[..., None]) + patch * mask[..., None]
    if shake != (0, 0):
        scene = cv2.warpAffine(
            scene, np.float32([[1, 0, shake[0]], [0, 1, shake[1]]]), (w, h), borderMode=cv2.BORDER_REFLECT
        )
    noise = np.random.default_rng([seed, *(int(100 * v) for v in (*(subject or (0, 0)), *shake))])
    return np.clip(scene + noise.integers(-4, 5, scene.shape), 0, 255).astype(np.uint8)


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


#: The edits of a camera photo that must stay `edited`, whichever file holds the edit.
EDITS = ("grayscale", "contrast", "brighter", "crop-5pct", "crop-8pct-asymmetric")


def edited(img: np.ndarray, kind: str) -> np.ndarray:
    """`img` as an editor exports it: grayscale, contrast cut, +30% brightness (Pillow's, which
    clips each channel), a crop of 5% per edge, or a crop of 8% from the left and top."""
    h, w = img.shape[:2]
    if kind == "grayscale":
        return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if kind == "contrast":
        return cv2.convertScaleAbs(img, alpha=0.85, beta=10)
    if kind == "brighter":
        rgb = ImageEnhance.Brightness(Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))).enhance(1.3)
        return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    if kind == "crop-5pct":
        return img[h * 5 // 100 : h - h * 5 // 100, w * 5 // 100 : w - w * 5 // 100]
    if kind == "crop-8pct-asymmetric":
        return img[h * 8 // 100 :, w * 8 // 100 :]
    raise ValueError(f"no edit called {kind!r}")


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
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run `python -m hashwatchd` as a user would, in a real process (under `prefix`, e.g. unshare)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "hashwatchd", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


class Daemon:
    """A running `hashwatchd run` and the status file it keeps, observed as a poller would."""

    def __init__(self, base: Path, config: Path, report: Path | None = None) -> None:
        self.base = base
        self.config = config
        self.report = report or base / "state/status.json"
        self.log = base / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(
        self,
        *,
        prefix: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        settle: str = "0.5",
        verbose: bool = True,
    ) -> None:
        """Start the daemon (under `prefix`, e.g. unshare) without waiting for it; with -vv unless
        not `verbose` (then it logs what it logs by default)."""
        args = [
            "--config",
            str(self.config),
            "--state-dir",
            str(self.base / "state"),
            "--settle",
            settle,
            "--workers",
            "2",
            *(["-vv"] if verbose else []),
        ]
        if self.report != self.base / "state/status.json":
            args += ["--report", str(self.report)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "hashwatchd", "run", *args],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )

    def start(self, **kwargs: Any) -> None:
        """Launch and wait until this process has hashed its start-up backlog: its log line, because a
        status file left by an earlier run says "watching" too (and a signal sent before the new
        process installs its handlers would kill it)."""
        before = self.watching_lines()
        self.launch(**kwargs)
        self.wait(lambda d: d["state"] == "watching" and self.watching_lines() > before, timeout=60)

    def watching_lines(self) -> int:
        if not self.log.exists():
            return 0
        return len(READY.findall(self.log.read_text(errors="replace")))

    def status(self) -> dict[str, Any] | None:
        return read_status(self.report)

    def wait(self, check: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        """Poll the status file until `check` holds; fail with the last status and the log."""

        def died() -> str | None:
            return None if self.proc is None or self.proc.poll() is None else self._tail()

        return poll_status(self.report, check, timeout, died, self._tail)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def folder(self, doc: dict[str, Any], path: str) -> dict[str, Any] | None:
        return next((f for f in doc["folders"] if f["path"] == path), None)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self.proc = None
        return code

    def hashed_count(self, name: str) -> int:
        return sum(
            1 for line in self.log.read_text(errors="replace").splitlines() if "hashed" in line and line.endswith(name)
        )


#: A fingerprint and a stat for store tests (also imported by the store tests' helper processes).
FP = Fingerprint(0x0123456789ABCDEF, 2**64 - 1, bytes(range(256)), bytes(128), 4032, 3024, b"\x01" * 16)
STAT = FileStat(1234, 1_700_000_000_123_456_789, 42, 2049, 1_700_000_001_000_000_000)
