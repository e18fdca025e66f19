"""Warm rescan: `hashwatchd scan` of an unchanged 100,000-file tree against walking and stat-ing it.

usage: python bench/warm.py [N] [WORKDIR]   (default 100000 files)

Builds N small JPEGs in 100 folders (the library), plus a needle folder of 10 files, runs one cold
scan to fill the index, then times in the same run: a plain os.scandir + stat walk of both trees,
and a second `hashwatchd scan` (process start included). The second scan must decode nothing and
take at most 2x the walk. Exits non-zero otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def build(n: int, work: Path) -> Path:
    base = work / f"warm-{n}"
    if (base / "done").exists():
        return base
    rng = np.random.default_rng(0)
    for k in range(n):
        folder = base / "lib" / f"{k % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        img = cv2.resize(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (32, 24), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"{k:06d}.jpg"), img)
    (base / "needles/card").mkdir(parents=True, exist_ok=True)
    for k in range(10):
        (base / "needles/card" / f"{k}.jpg").write_bytes((base / "lib/000" / f"{k * 100:06d}.jpg").read_bytes())
    (base / "done").touch()
    return base


def walk(top: str) -> int:
    count, stack = 0, [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += st.st_size > 0
    return count


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.gettempdir()) / "hashwatchd-bench"
    base = build(n, work)
    cmd = [
        "hashwatchd",
        "scan",
        "--haystack",
        str(base / "lib"),
        "--needles",
        str(base / "needles"),
        "--state-dir",
        str(base / "state"),
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    cold = time.perf_counter() - t
    walks, scans = [], []
    for _ in range(3):
        t = time.perf_counter()
        walk(str(base / "lib"))
        walk(str(base / "needles"))
        walks.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        scans.append(time.perf_counter() - t)
        assert "nothing decoded" in out, out
    w, s = min(walks), min(scans)
    print(f"warm rescan of {n} unchanged files ({os.cpu_count()} cores; best of 3; first cold scan {cold:.1f} s)")
    print("| what | seconds | ratio | floor |\n|---|---|---|---|")
    print(f"| os.scandir + stat walk | {w:.2f} | 1.00x | |")
    print(f"| hashwatchd scan, unchanged tree (decodes nothing) | {s:.2f} | {s / w:.2f}x | <= 2x |")
    return 0 if s <= 2 * w else 1


if __name__ == "__main__":
    sys.exit(main())
