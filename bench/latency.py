"""Daemon latency: from a change finishing on disk to the status file showing it.

usage: python bench/latency.py [ROUNDS]   (default 10 rounds; run from an installed checkout)

Starts `hashwatchd run --settle 0.5` on temp dirs and, each round, makes one change of each kind
(a single file copied in, a `cp -r` dump of 20 files, an rsync-style temp+rename, a folder `mv`-ed
in, a library file added, a library file deleted), timing until a poller of the status file sees
the result. Prints p50/p95 per kind and exits non-zero when a p95 exceeds 3 s (issue 3) or, for a
single file, settle + 1 s (issue 4).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SETTLE = 0.5


def picture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.random((12, 16, 3)).astype(np.float32), (640, 480), interpolation=cv2.INTER_CUBIC)
    return (img * 255).astype(np.uint8)


def jpeg(seed: int) -> bytes:
    return cv2.imencode(".jpg", picture(seed), [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()


def status(report: Path) -> dict[str, Any]:
    while True:
        try:
            return json.loads(report.read_bytes())
        except (OSError, ValueError):
            time.sleep(0.005)


def wait(report: Path, check: Callable[[dict[str, Any]], bool], start: float) -> float:
    while time.monotonic() - start < 30:
        doc = status(report)
        if check(doc):
            return time.monotonic() - start
        time.sleep(0.01)
    raise SystemExit("timed out waiting for the status file")


def folder(doc: dict[str, Any], path: str) -> dict[str, Any] | None:
    return next((f for f in doc["folders"] if f["path"] == path), None)


def done(path: str, images: int) -> Callable[[dict[str, Any]], bool]:
    return lambda d: (f := folder(d, path)) is not None and f["complete"] and f["images"] == images


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    base = Path(tempfile.mkdtemp(prefix="hashwatchd-latency-"))
    lib, needles, stage, report = base / "lib", base / "needles", base / "stage", base / "state/status.json"
    for d in (lib, needles, stage):
        d.mkdir()
    for i in range(50):
        (lib / f"{i}.jpg").write_bytes(jpeg(i))
    proc = subprocess.Popen(
        [
            "hashwatchd",
            "run",
            "--haystack",
            str(lib),
            "--needles",
            str(needles),
            "--state-dir",
            str(base / "state"),
            "--settle",
            str(SETTLE),
        ],
        stderr=subprocess.DEVNULL,
    )
    times: dict[str, list[float]] = {
        k: []
        for k in ("single file", "cp -r 20 files", "rsync temp+rename", "mv folder", "library add", "library delete")
    }
    try:
        start = time.monotonic()
        wait(report, lambda d: d["state"] == "watching", start)
        for r in range(rounds):
            seed = 1000 + 100 * r
            (stage / "one.jpg").write_bytes(jpeg(seed))
            shutil.copy(stage / "one.jpg", needles / f"single{r}.jpg")
            times["single file"].append(wait(report, done(".", r + 1), time.monotonic()))

            dump = stage / f"dump{r}"
            dump.mkdir()
            for k in range(20):
                (dump / f"IMG_{k}.JPG").write_bytes(jpeg(seed + k))
            t0 = time.monotonic()
            subprocess.run(["cp", "-r", str(dump), str(needles)], check=True)
            times["cp -r 20 files"].append(wait(report, done(f"dump{r}", 20), t0))

            (needles / f"rs{r}").mkdir()
            tmp = needles / f"rs{r}/.IMG.JPG.x{r}"
            tmp.write_bytes(jpeg(seed + 50))
            t0 = time.monotonic()
            os.rename(tmp, needles / f"rs{r}/IMG.JPG")
            times["rsync temp+rename"].append(wait(report, done(f"rs{r}", 1), t0))

            mv = stage / f"mv{r}"
            mv.mkdir()
            for k in range(5):
                (mv / f"{k}.jpg").write_bytes(jpeg(seed + 60 + k))
            t0 = time.monotonic()
            os.rename(mv, needles / f"mv{r}")
            times["mv folder"].append(wait(report, done(f"mv{r}", 5), t0))

            t0 = time.monotonic()
            shutil.copy(needles / f"mv{r}/0.jpg", lib / f"added{r}.jpg")
            times["library add"].append(wait(report, lambda d, r=r: folder(d, f"mv{r}")["imported"] == 1, t0))
            t0 = time.monotonic()
            os.unlink(lib / f"added{r}.jpg")
            times["library delete"].append(wait(report, lambda d, r=r: folder(d, f"mv{r}")["imported"] == 0, t0))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(base)
    failed = False
    print(f"latency from the change to the status file (settle {SETTLE} s, {rounds} rounds, {os.cpu_count()} cores)")
    print("| change | p50 (s) | p95 (s) | floor (s) |\n|---|---|---|---|")
    for kind, values in times.items():
        p50 = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
        floor = SETTLE + 1.0 if kind == "single file" else 3.0
        failed |= p95 > floor
        print(f"| {kind} | {p50:.2f} | {p95:.2f} | {floor:.1f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
