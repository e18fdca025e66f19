"""The watcher against watchdog itself, without the daemon: fast enough to run on the dependency floors.

watcher.py leans on watchdog behaviour that changed between releases: the event types it skips
("opened", "closed_no_write"), dest_path on every event, PollingObserverVFS with our lstat, and,
above all, the "Inotify queue overflowed" warning, which only watchdog 7.1 logs (7.0 and earlier
drop the overflow silently, and the files created meanwhile would never be hashed). These tests
show that the floor in pyproject.toml still gives all of that.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hashwatchd.watcher import Hint, Watcher


def _collect(hints: queue.SimpleQueue[Hint], done: Callable[[list[Hint]], bool], timeout: float = 10.0) -> list[Hint]:
    seen: list[Hint] = []
    deadline = time.monotonic() + timeout
    while not done(seen) and time.monotonic() < deadline:
        try:
            seen.append(hints.get(timeout=0.1))
        except queue.Empty:
            continue
    return seen


def _has(path: Path) -> Callable[[list[Hint]], bool]:
    return lambda seen: any(h.kind == "path" and h.path == os.fsencode(path) for h in seen)


def test_inotify_reports_new_and_moved_files(tmp_path: Path) -> None:
    """A file written and one renamed into place each become a hint for their path, in a sub-folder too."""
    (tmp_path / "sub").mkdir()
    hints: queue.SimpleQueue[Hint] = queue.SimpleQueue()
    watcher = Watcher(hints, poll_interval=0.2)
    try:
        assert watcher.watch(os.fsencode(tmp_path), "inotify") == "inotify"
        (tmp_path / "sub/a.jpg").write_bytes(b"x")
        assert _has(tmp_path / "sub/a.jpg")(_collect(hints, _has(tmp_path / "sub/a.jpg")))
        (tmp_path / "b.tmp").write_bytes(b"y")
        os.rename(tmp_path / "b.tmp", tmp_path / "sub/b.jpg")
        seen = _collect(hints, _has(tmp_path / "sub/b.jpg"))
        assert _has(tmp_path / "sub/b.jpg")(seen), seen
        assert all(h.path for h in seen), "an event without a dest_path gave an empty hint"
    finally:
        watcher.stop()


def test_poll_reports_new_files_without_following_symlinks(tmp_path: Path) -> None:
    """A polled root finds a new file by lstat; a link to an ancestor gives no aliases under it."""
    (tmp_path / "sub").mkdir()
    os.symlink("..", tmp_path / "sub/up")
    hints: queue.SimpleQueue[Hint] = queue.SimpleQueue()
    watcher = Watcher(hints, poll_interval=0.2)
    try:
        assert watcher.watch(os.fsencode(tmp_path), "poll") == "poll"
        time.sleep(0.3)  # the first poll takes the snapshot that the next one is compared with
        (tmp_path / "sub/a.jpg").write_bytes(b"x")
        seen = _collect(hints, _has(tmp_path / "sub/a.jpg"))
        assert _has(tmp_path / "sub/a.jpg")(seen), seen
        assert not any(b"/up/" in h.path for h in seen), seen
    finally:
        watcher.stop()


_CHILD = """
import os, queue, sys
from hashwatchd.watcher import Watcher
hints = queue.SimpleQueue()
watcher = Watcher(hints, poll_interval=60)
print(watcher.watch(os.fsencode(sys.argv[1]), "inotify"), flush=True)
while True:
    hint = hints.get()
    if hint.kind == "rescan":
        print("rescan", os.fsdecode(hint.path), flush=True)
        break
watcher.stop()
"""


def _wait_stopped(pid: int) -> None:
    """SIGSTOP takes effect when each thread next enters the kernel: on a loaded machine watchdog's
    reader thread can drain events for a while after the signal was sent, and then the queue
    never overflows. Every thread must show state T before the writes start."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                states.append(task.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state == "T" for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop within 30 s: thread states {states}")


def test_queue_overflow_becomes_a_rescan_hint(tmp_path: Path) -> None:
    """Provoked for real: the watching process is stopped while more events than the kernel queues
    arrive (writes to two files: creating thousands of files takes seconds on a slow disk).
    watchdog 7.1 logs the overflow, and the watcher turns that into a rescan of the root."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "inotify"
        child.send_signal(signal.SIGSTOP)
        _wait_stopped(child.pid)
        fds = [os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT) for name in ("a.txt", "b.txt")]
        try:
            # alternating, or the kernel merges repeated events into one; twice the queue, because
            # the kernel drops what does not fit and a reader still running would take a few
            for _ in range(limit):
                for fd in fds:
                    os.write(fd, b"x")
        finally:
            for fd in fds:
                os.close(fd)
        child.send_signal(signal.SIGCONT)
        # 16,000 events through watchdog: seconds when the machine is idle, minutes when it is loaded.
        out, err = child.communicate(timeout=240)
        assert out.strip() == f"rescan {tmp_path}", err[-2000:]
    finally:
        child.send_signal(signal.SIGCONT)
        child.kill()
        child.wait()
