"""Deleting many library files at once (issue 9, bug 3): a 10,000-file `rm -r` in a library of 10^6.

usage: python bench/delete.py [LIBRARY] [DELETED] [WORKDIR] [TIMEOUT]   (defaults 1000000 10000, 3600 s)

The daemon's library holds LIBRARY entries. DELETED + 100 of them are real (small) files under an
online root, `live/trip/NNN/` (folders of 100) and `live/keep/`, written to the index with their real
stats so the daemon has nothing to hash. The others are bench/scale.py's synthetic entries, under a
second library root that does not exist: they are kept and never walked, as an offline share's are.

It starts `hashwatchd run` with a fake $NOTIFY_SOCKET that this script reads (WATCHDOG_USEC 2 s: the
daemon means to ping every second), waits until it is watching, runs `rm -r live/trip`, and times
until the status file's library count has dropped by DELETED. The same is done, in the same run,
with a reference library holding only the files on disk. Prints, side by side: `rm -r` itself, the
time until the status file shows it, the ratio to the reference, the longest time the daemon went
without a WATCHDOG=1 ping after READY=1 (its start-up reconcile included) and after the start of
rm -r, and its RSS before and after.

Exits non-zero when, after rm -r, a gap exceeds 10 s (systemd restarts the daemon after
WatchdogSec=, 120 s in the shipped unit); when a gap after READY=1 exceeds 30 s (the start-up
reconcile's first PathMap.under sorts the library's paths in one call, 3-5 s of CPU at 10^6: a
quarter of WatchdogSec leaves room for a loaded machine); or when the large library makes the same
`rm -r` take more than twice the reference's time: the work per deleted file is a lookup and an index
commit (one per file, which is most of the reference's time) whatever the library's size, so the
ratio should stay near 1; the machine is shared and noisy, and the first removal builds the
library's path index once (~1 s at 10^6).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from scale import library_path, memory, write_library

from hashwatchd import store
from hashwatchd.model import FileStat

KEEP = 100  # files that stay: the root still lists files afterwards
PER_FOLDER = 100
WATCHDOG_USEC = 2_000_000
GAP_FLOOR = 10.0  # after rm -r
START_GAP_FLOOR = 30.0  # after READY=1
RATIO_FLOOR = 2.0


@dataclass
class Run:
    entries: int
    rm: float  # seconds of `rm -r` itself
    seen: float | None  # seconds from the start of rm -r to the status file showing it; None: timed out
    gap: float  # the longest time without WATCHDOG=1 after READY=1 (start-up reconcile included)
    gap_rm: float  # the same, from the start of rm -r on
    rss: tuple[dict[str, float], dict[str, float]]  # MiB, when watching and once the deletion is reported


def make_files(work: Path, n_deleted: int) -> list[tuple[bytes, FileStat]]:
    """The real files, created afresh (new inodes: the index is given their stats each time)."""
    shutil.rmtree(work / "live", ignore_errors=True)
    paths = [f"{work}/live/trip/{i // PER_FOLDER:03d}/IMG_{i:05d}.JPG" for i in range(n_deleted)]
    paths += [f"{work}/live/keep/IMG_{i:05d}.JPG" for i in range(KEEP)]
    out = []
    for path in paths:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"\xff\xd8 not decoded: its stat is in the index\n")
        out.append((path.encode(), FileStat.of(os.lstat(path))))
    return out


def write_files(state: Path, files: list[tuple[bytes, FileStat]]) -> None:
    with store.Store.open(state) as st:
        write_library(st, len(files), lambda i: files[i][0], lambda i: files[i][1], seed=10**8)


def status(report: Path) -> dict[str, object]:
    try:
        doc = json.loads(report.read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def library_count(doc: dict[str, object]) -> int | None:
    haystack = doc.get("haystack")
    return haystack.get("images") if isinstance(haystack, dict) else None


def run_daemon(work: Path, state: Path, entries: int, n_deleted: int, timeout: float) -> Run:
    """Start the daemon on `state`, rm -r the trip folder once it watches, and time it (killing
    the daemon if it has not reported the deletion after `timeout` seconds)."""
    report = work / "status.json"
    report.unlink(missing_ok=True)
    config = work / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "haystack": [f"{work}/live", f"{work}/Photos Library"],
                "needles": [f"{work}/card"],
                "state_dir": str(state),
                "report": str(report),
                "workers": 1,
            }
        )
    )
    (work / "card").mkdir(exist_ok=True)
    sock_path = work / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.1)
    messages: list[tuple[float, list[str]]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            messages.append((time.monotonic(), data.decode(errors="replace").split("\n")))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    env.pop("WATCHDOG_PID", None)
    with open(work / "daemon.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hashwatchd", "run", "--config", str(config)], env=env, stderr=log
        )
    seen: float | None = None
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited with {proc.returncode}; see {work / 'daemon.log'}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the daemon was not watching after {timeout:.0f} s")
            doc = status(report)
            if doc.get("state") == "watching" and library_count(doc) == entries:
                break
            time.sleep(0.05)
        rss_before = memory(proc.pid)
        start = time.monotonic()
        subprocess.run(["rm", "-r", str(work / "live/trip")], check=True)
        rm = time.monotonic() - start
        while time.monotonic() - start < timeout:
            if library_count(status(report)) == entries - n_deleted:
                seen = time.monotonic() - start
                break
            time.sleep(0.02)
        end = time.monotonic()
        rss_after = memory(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM if seen is not None else signal.SIGKILL)
        proc.wait()
        done.set()
        listener.join()
        sock.close()
    ready = next(t for t, fields in messages if "READY=1" in fields)
    pings = [ready, *(t for t, fields in messages if "WATCHDOG=1" in fields and ready < t < end), end]
    gap = max(b - a for a, b in itertools.pairwise(pings))
    during = [start, *(t for t in pings if start < t < end), end]
    gap_rm = max(b - a for a, b in itertools.pairwise(during))
    return Run(entries, rm, seen, gap, gap_rm, (rss_before, rss_after))


def mib(m: dict[str, float]) -> str:
    return f"{m['VmRSS']:.0f} MiB ({m['RssAnon']:.0f}; {m['RssFile']:.0f})"


def main() -> int:
    n_lib = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_deleted = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    work = Path(sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="hashwatchd-delete-")).resolve()
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 3600.0
    work.mkdir(parents=True, exist_ok=True)
    n_offline = n_lib - n_deleted - KEEP
    state = work / f"state-{n_lib}"
    if not (state / f"built-{n_offline}").exists():  # the synthetic entries, written once per workdir
        shutil.rmtree(state, ignore_errors=True)
        with store.Store.open(state) as st:
            write_library(st, n_offline, lambda i: library_path(work, i))
        (state / f"built-{n_offline}").touch()
    reference = work / "state-reference"
    shutil.rmtree(reference, ignore_errors=True)
    write_files(reference, make_files(work, n_deleted))
    ref = run_daemon(work, reference, n_deleted + KEEP, n_deleted, timeout)
    files = make_files(work, n_deleted)
    write_files(state, files)
    big = run_daemon(work, state, n_lib, n_deleted, timeout)
    print(f"`rm -r` of {n_deleted:,} library files in {n_deleted // PER_FOLDER} folders ({os.cpu_count()} cores)")
    print(
        "| library | rm -r itself | until the status file shows it | ratio "
        "| longest gap between pings: after READY=1, after rm -r "
        "| RSS before -> after (anonymous; LMDB and other files) |"
    )
    print("|---|---|---|---|---|---|")
    ok = True
    for name, run in (("reference: only the files on disk", ref), ("the large library", big)):
        if run.seen is None:
            seen, ratio = f"not after {timeout:.0f} s", "-"
            ok = False
        else:
            seen = f"{run.seen:.1f} s"
            ratio = f"{run.seen / ref.seen:.2f}x" if ref.seen else "-"
        print(
            f"| {name}, {run.entries:,} entries | {run.rm:.2f} s | {seen} | {ratio} "
            f"| {run.gap:.1f} s, {run.gap_rm:.1f} s | {' -> '.join(map(mib, run.rss))} |"
        )
    print(
        f"floors: longest gap <= {START_GAP_FLOOR:.0f} s after READY=1 and <= {GAP_FLOOR:.0f} s after rm -r; "
        f"large library <= {RATIO_FLOOR:.0f}x the reference"
    )
    ok = ok and max(ref.gap, big.gap) <= START_GAP_FLOOR and max(ref.gap_rm, big.gap_rm) <= GAP_FLOOR
    ok = ok and ref.seen is not None and big.seen is not None and big.seen <= RATIO_FLOOR * ref.seen
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
