"""What an idle daemon costs: wake-ups, CPU and memory with nothing to do, and the first file after.

usage: python bench/idle.py [SECONDS] [WORKDIR]   (default 90 s: longer than decoder_idle_exit, 60 s)

Starts `hashwatchd run` on a small library and needle tree, waits until it is watching and has
published, lets it sit for SECONDS with nothing changing, and measures over that window, for the
daemon and every process it started (its decoders):
  wake-ups   context switches of every thread (voluntary and involuntary, /proc/PID/task/*/status):
             each is one time a thread ran; the floor is one every 5 s on average, all threads
             together (watchdog's observer and every decoder included);
  CPU        user + system time (/proc/PID/stat), seconds per minute;
  RSS        of all the processes together at the end of the window (/proc/PID/status VmRSS);
then copies one photo into the needle tree and times until the status file reports it: the latency
of the first file after an idle period (the decoders may have to start again), beside the same after
a file a second earlier (a warm daemon), measured in the same run.
Exits non-zero when a floor is missed: <= 12 wake-ups a minute, <= 80 MB of RSS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

WAKEUPS_PER_MINUTE = 12.0
RSS_MB = 80.0


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC)
    for _ in range(8):
        centre = (int(rng.integers(0, 640)), int(rng.integers(0, 480)))
        cv2.circle(img, centre, int(rng.integers(20, 90)), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def switches(pids: list[int]) -> dict[tuple[int, int], int]:
    """Context switches so far of every thread of `pids`, by (pid, tid)."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                continue
            out[(pid, int(tid))] = int(fields["voluntary_ctxt_switches"]) + int(fields["nonvoluntary_ctxt_switches"])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of `pids`, including that of their children that ended (a decoder that exited
    while idle): a reaped child's time moves into its parent's cutime and cstime."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def status(report: Path) -> dict[str, object] | None:
    try:
        return json.loads(report.read_bytes())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def wait_for(report: Path, check: object, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        doc = status(report)
        if doc is not None and check(doc):  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.01)
    raise SystemExit("the daemon never reported what the bench waited for")


def images(doc: dict[str, object]) -> int:
    return sum(f["images"] for f in doc["folders"])  # type: ignore[attr-defined, index, misc]


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 90.0
    work = Path(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="hashwatchd-idle-")).resolve()
    for i in range(20):
        (work / "lib").mkdir(parents=True, exist_ok=True)
        (work / f"lib/{i}.jpg").write_bytes(photo(i))
    (work / "needles/card").mkdir(parents=True, exist_ok=True)
    for i in range(10):
        (work / f"needles/card/{i}.jpg").write_bytes(photo(i))
    report = work / "state/status.json"
    args = [
        "run",
        "--haystack",
        str(work / "lib"),
        "--needles",
        str(work / "needles"),
        "--state-dir",
        str(work / "state"),
    ]
    with open(work / "daemon.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hashwatchd", *args], stderr=log, stdout=subprocess.DEVNULL)
    try:
        wait_for(report, lambda d: d["state"] == "watching" and images(d) == 10)
        time.sleep(3.0)  # the last status write and whatever settles after it
        pids = tree(proc.pid)
        before, cpu0 = switches(pids), cpu_seconds(pids)
        time.sleep(seconds)
        pids = tree(proc.pid)
        after, cpu1 = switches(pids), cpu_seconds(pids)
        memory = rss_mb(pids)
        wakeups = sum(n - before.get(key, 0) for key, n in after.items())
        per_minute = wakeups * 60.0 / seconds
        busiest = sorted(((n - before.get(k, 0), k) for k, n in after.items()), reverse=True)[:4]
        (work / "needles/card/idle.jpg").write_bytes(photo(100))
        first = wait_for(report, lambda d: images(d) == 11)
        (work / "needles/card/warm.jpg").write_bytes(photo(101))
        warm = wait_for(report, lambda d: images(d) == 12)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print(f"idle daemon over {seconds:.0f} s ({len(pids)} processes at the end: the daemon and what it started)")
    print("| figure | measured | floor |\n|---|---|---|")
    print(f"| wake-ups of all threads | {per_minute:.1f} a minute | <= {WAKEUPS_PER_MINUTE:.0f} a minute |")
    print(f"| CPU | {(cpu1 - cpu0) * 60.0 / seconds:.3f} s a minute | |")
    print(f"| RSS of all processes | {memory:.0f} MB | <= {RSS_MB:.0f} MB |")
    print(f"| first file after the idle period, until the status file shows it | {first:.2f} s | |")
    print(f"| a file one second later (warm) | {warm:.2f} s | |")
    print("busiest threads (wake-ups, (pid, tid)):", busiest)
    return 0 if per_minute <= WAKEUPS_PER_MINUTE and memory <= RSS_MB else 1


if __name__ == "__main__":
    sys.exit(main())
