"""Soak: does the daemon's memory stay flat while files come and go?

usage: python bench/soak.py [CYCLES] [FILES]   (default 10 cycles of 5,000 files: 50,000 added and deleted)

Starts `hashwatchd run` on temp dirs (settle 0.2 s), then each cycle copies FILES small JPEGs into a
needle folder, waits until the status file reports them all, deletes them, and waits until they are
gone. Prints the daemon's resident memory (VmRSS of the main process) after start-up and after
every cycle; exits non-zero if it grew by more than 20 % from the first cycle to the last.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def images(report: Path) -> int:
    while True:
        try:
            doc = json.loads(report.read_bytes())
            return int(doc["needles"]["images"]) if doc["pending"] == 0 else -1
        except (OSError, ValueError):
            time.sleep(0.01)


def wait_for(report: Path, count: int) -> None:
    deadline = time.monotonic() + 600
    while images(report) != count:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {count} images")
        time.sleep(0.1)


def main() -> int:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    base = Path(tempfile.mkdtemp(prefix="hashwatchd-soak-"))
    for d in ("lib", "needles", "stage"):
        (base / d).mkdir()
    rng = np.random.default_rng(0)
    for k in range(count):
        img = cv2.resize(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (64, 48), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(base / "stage" / f"{k:05d}.jpg"), img)
    report = base / "state/status.json"
    proc = subprocess.Popen(
        [
            "hashwatchd",
            "run",
            "--haystack",
            str(base / "lib"),
            "--needles",
            str(base / "needles"),
            "--state-dir",
            str(base / "state"),
            "--settle",
            "0.2",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(report, 0)
        readings = [rss_mib(proc.pid)]
        print(f"after start: {readings[0]:.0f} MiB")
        for cycle in range(cycles):
            shutil.copytree(base / "stage", base / "needles/dump")
            wait_for(report, count)
            shutil.rmtree(base / "needles/dump")
            wait_for(report, 0)
            readings.append(rss_mib(proc.pid))
            print(f"after cycle {cycle + 1} ({(cycle + 1) * count:,} files added and deleted): {readings[-1]:.0f} MiB")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(base)
    growth = readings[-1] / readings[1]
    print(f"RSS growth from the first cycle to the last: {growth:.2f}x (floor: <= 1.2x)")
    return 0 if growth <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
