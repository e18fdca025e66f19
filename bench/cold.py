"""Cold hashing throughput: `hashwatchd scan` against the decode-only limit, the seed and imagehash.

usage: python bench/cold.py [N] [WORKDIR]   (default 500 files; needs pip install -e '.[bench]')

Builds N camera-sized JPEGs (4032x3024, quality 90) from real photos (the public corpus sources in
WORKDIR/corpus/haystack if bench/accuracy.py built them there, else scikit-image's sample photos, else
synthetic ones), each upscaled with its own noise so no two files are alike. Then, in one run, on the same
files from the page cache:
  limit      DCT-scaled 1/8 grayscale decode of every file with OpenCV on all cores, nothing else;
  hashwatchd a cold `hashwatchd scan` of the files (fresh index, all cores, process start included);
  seed       the 2017 script's method: full colour decode, cvtColor, resize, one process;
  imagehash  imagehash.dhash with Pillow, one process.
Prints img/s and the ratios; exits non-zero if hashwatchd is under 0.8x the limit, 4x the seed or 6x imagehash.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import imagehash
import numpy as np
from PIL import Image

WIDTH, HEIGHT = 4032, 3024
#: `hashwatchd` as the interpreter running this bench has it (no activated venv needed).
HASHWATCHD = [sys.executable, "-m", "hashwatchd"]


def sources(work: Path) -> list[np.ndarray]:
    found = sorted((work / "corpus/haystack/library").glob("*.png"))
    if not found:
        try:
            import skimage.data  # noqa: PLC0415 - optional source of real photos

            return [
                skimage.data.astronaut()[:, :, ::-1],
                skimage.data.chelsea()[:, :, ::-1],
                skimage.data.coffee()[:, :, ::-1],
                skimage.data.rocket()[:, :, ::-1],
            ]
        except ImportError:
            rng = np.random.default_rng(0)
            return [cv2.resize(rng.random((24, 32, 3)).astype(np.float32) * 255, (640, 480)).astype(np.uint8)]
    return [cv2.imread(str(p)) for p in found]


def camera_picture(src: np.ndarray, seed: int) -> np.ndarray:
    """`src` at the camera's size with its own noise: no two pictures alike."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(src, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    big += rng.integers(-6, 7, big.shape, dtype=np.int16)
    return np.clip(big, 0, 255).astype(np.uint8)


def make(args: tuple[int, np.ndarray, Path]) -> None:
    i, src, out = args
    cv2.imwrite(str(out / f"IMG_{i:04d}.JPG"), camera_picture(src, i), [cv2.IMWRITE_JPEG_QUALITY, 90])


def build(n: int, work: Path) -> Path:
    out = work / f"camera-{n}"
    if len(list(out.glob("*.JPG"))) == n:
        return out
    out.mkdir(parents=True, exist_ok=True)
    src = sources(work)
    with multiprocessing.Pool() as pool:
        pool.map(make, [(i, src[i % len(src)], out) for i in range(n)])
    return out


def limit_one(path: str) -> int:
    with open(path, "rb") as f:
        data = f.read()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    return int(img.shape[0])


def seed_one(path: str) -> int:
    img = cv2.imread(path)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (9, 8))
    return int((small[:, 1:] > small[:, :-1]).sum())


def rate(n: int, seconds: float) -> float:
    return n / seconds


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.gettempdir()) / "hashwatchd-bench"
    folder = build(n, work)
    files = sorted(str(p) for p in folder.glob("*.JPG"))
    for p in files:  # into the page cache, so every method reads from memory
        Path(p).read_bytes()
    cv2.setNumThreads(1)
    t = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count()) as pool:
        pool.map(limit_one, files, chunksize=8)
    limit = rate(n, time.perf_counter() - t)

    state = Path(tempfile.mkdtemp(prefix="hashwatchd-cold-"))
    (state / "lib").mkdir()
    t = time.perf_counter()
    subprocess.run(
        [
            *HASHWATCHD,
            "scan",
            "--haystack",
            str(folder),
            "--needles",
            str(state / "lib"),
            "--state-dir",
            str(state / "s"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ours = rate(n, time.perf_counter() - t)
    shutil.rmtree(state)

    subset = files[: min(n, 100)]
    t = time.perf_counter()
    for p in subset:
        seed_one(p)
    seed = rate(len(subset), time.perf_counter() - t)
    t = time.perf_counter()
    for p in subset:
        with Image.open(p) as im:
            imagehash.dhash(im)
    ih = rate(len(subset), time.perf_counter() - t)

    print(f"cold hashing of {n} JPEGs {WIDTH}x{HEIGHT} q90, {os.cpu_count()} cores")
    print("| method | img/s | hashwatchd / method | floor |\n|---|---|---|---|")
    print(f"| decode-only limit (1/8 gray, all cores) | {limit:.1f} | {ours / limit:.2f}x | >= 0.8x |")
    print(f"| hashwatchd scan (cold, all cores) | {ours:.1f} | 1.00x | |")
    print(f"| seed method (full decode, one process) | {seed:.1f} | {ours / seed:.2f}x | >= 4x |")
    print(f"| imagehash.dhash + Pillow (one process) | {ih:.1f} | {ours / ih:.2f}x | >= 6x |")
    ok = ours >= 0.8 * limit and ours >= 4 * seed and ours >= 6 * ih
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
