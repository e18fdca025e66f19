"""What a daemon leaves behind when it is killed or stopped, and what it writes into its log
(issue 12, cases 7-10): real processes, real signals, real files."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
from daemonproc import DaemonProc, log_problems
from helpers import encode, photo, write

from hashwatchd import features
from hashwatchd.decode import decode
from hashwatchd.features import fingerprint
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.matching import DEFAULT_POLICY, classify
from hashwatchd.model import Tier
from hashwatchd.watcher import STOP_TIMEOUT, Watcher
from hashwatchd.workers import CLOSE_GRACE, HashTask, PixelTask, Pool

PNG = [encode(photo(seed, 480, 360), ".png", cv2.IMWRITE_PNG_COMPRESSION, 1) for seed in range(4)]


def _config(tmp_path: Path, extra: str = "") -> Path:
    write(tmp_path / "lib/0.png", encode(photo(100, 160, 120), ".png"))
    (tmp_path / "needles").mkdir(exist_ok=True)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\nreport_interval: 0.2\n{extra}")
    return cfg


def _hashed(d: DaemonProc) -> int:
    return d.log_text().count("hashed needle")


def test_decoders_of_a_killed_daemon_exit_quietly(tmp_path: Path) -> None:
    """kill -9 of the daemon while its decoders work: each decoder notices its parent is gone and
    exits without a traceback (case 7: BrokenPipeError in conn.send, ConnectionResetError in
    conn.recv printed 'Process hashwatchd-decoder: Traceback' into the log)."""
    for k in range(160):
        write(tmp_path / f"needles/d{k % 4}/{k:03d}.png", PNG[k % 4] + k.to_bytes(2, "big"))
    d = DaemonProc(tmp_path, _config(tmp_path), settle=0, workers=2)
    rng = random.Random(7)
    for round_ in range(6):
        now = time.time_ns() + round_ * 1_000_000_000
        for p in (tmp_path / "needles").rglob("*.png"):
            os.utime(p, ns=(now, now))  # everything changed: the next start hashes it all again
        before = _hashed(d)
        d.launch()
        deadline = time.monotonic() + 60
        while _hashed(d) <= before + 2:  # the decoders are in the middle of the backlog
            assert d.alive(), d.log_tail()
            assert time.monotonic() < deadline, d.log_tail()
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        left = d.kill9(timeout=30)
        assert not left, f"decoders still running 30 s after their daemon was killed: {left}"
    problems = log_problems(d.log_text())
    assert not problems, "\n".join(problems) + "\n" + d.log_tail()


def test_sigterm_to_the_whole_group_records_no_decoder_crash(tmp_path: Path) -> None:
    """systemd's default KillMode sends SIGTERM to every process of the unit, decoders included
    (Ctrl-C does the same with SIGINT). The decoders must leave their stop to the daemon: one that
    died of the signal mid-file made the daemon record that file `decoder-crashed`, for good (it is
    not retried until its stat changes), where a scan says what the picture is."""
    for k in range(160):
        write(tmp_path / f"needles/d{k % 4}/{k:03d}.png", PNG[k % 4] + k.to_bytes(2, "big"))
    d = DaemonProc(tmp_path, _config(tmp_path), settle=0, workers=2)
    for round_ in range(3):
        now = time.time_ns() + round_ * 1_000_000_000
        for p in (tmp_path / "needles").rglob("*.png"):
            os.utime(p, ns=(now, now))
        before = _hashed(d)
        d.launch()
        deadline = time.monotonic() + 60
        while _hashed(d) < before + 20:
            assert d.alive() and time.monotonic() < deadline, d.log_tail()
            time.sleep(0.02)
        assert d.proc is not None
        os.killpg(d.proc.pid, signal.SIGTERM)
        assert d.proc.wait(timeout=30) == 0
        d.proc = None
    rows = subprocess.run(
        [sys.executable, "-m", "hashwatchd", "matches", "--state-dir", str(d.state), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "decoder-crashed" not in rows
    problems = log_problems(d.log_text())
    assert not problems, "\n".join(problems)
    assert "decoder-crashed" not in d.log_text()


def test_stale_status_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    """A temp file a killed writer left beside the status file is removed when the daemon starts
    (case 8); a name the daemon would not create, and a temp file a live writer holds, are kept."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    stale = [".status.json.k3j_9xq2.tmp", ".status.json.00000000.tmp"]
    foreign = [
        ".status.json.KEEP1234.tmp",  # upper case: not tempfile's alphabet
        ".status.json.abc.tmp",  # not eight characters
        ".status.json.abcdefgh.tmp.bak",
        ".other.json.abcdefgh.tmp",  # another file's temp
        "notes.tmp",
    ]
    for name in stale + foreign:
        (state / name).write_bytes(b'{"half": ')
    held = state / ".status.json.live1234.tmp"
    held.write_bytes(b"{")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'rb'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(60)",
            str(held),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        d = DaemonProc(tmp_path, _config(tmp_path))
        d.start()
        d.wait(lambda doc: doc["state"] == "watching")
        left = sorted(p.name for p in state.iterdir() if p.name.endswith((".tmp", ".bak")))
        assert left == sorted([*foreign, held.name])
        code, _ = d.stop()
        assert code == 0
        assert "removed 2 temp files a killed writer left beside" in d.log_text()
    finally:
        holder.kill()
        holder.wait()


def test_folder_moved_out_and_back_keeps_the_log_short(tmp_path: Path) -> None:
    """Moving a folder out of a root and back in re-registers watchdog's watch on it; watchdog
    then warned 'Callback with id ... already exists ... It will be Overwritten' with its whole
    watch table in one line (case 9). The log stays free of it, every line under 500 characters,
    and the folder is reported again."""
    for k in range(3):
        write(tmp_path / f"needles/trip/sub{k}/a{k}.png", PNG[k])
    d = DaemonProc(tmp_path, _config(tmp_path))
    d.start()
    outside = tmp_path / "outside"
    outside.mkdir()
    for _ in range(3):
        os.rename(tmp_path / "needles/trip", outside / "trip")
        d.wait(lambda doc: not doc["folders"])
        time.sleep(0.7)  # longer than watchdog holds a move to pair it: a move out, then a move in
        os.rename(outside / "trip", tmp_path / "needles/trip")
        d.wait(lambda doc: len(doc["folders"]) == 3 and all(f["complete"] for f in doc["folders"]))
    write(tmp_path / "needles/trip/sub0/late.png", PNG[3])  # still watched after all that
    d.wait(lambda doc: sum(f["images"] for f in doc["folders"]) == 4 and doc["pending"] == 0)
    code, _ = d.stop()
    assert code == 0
    text = d.log_text()
    assert "already exists" not in text
    problems = log_problems(text)
    assert not problems, "\n".join(problems)


def test_cancel_ends_a_map_stuck_on_a_hung_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """case 10: a stop must not wait for a decoder (up to decode_timeout, 120 s by default).
    Pool.cancel(), safe in a signal handler, ends the map at once; close() then takes its grace
    period for all decoders together, not per decoder."""
    monkeypatch.setenv("HASHWATCHD_FAULT_HANG", "hang-me")
    paths = []
    for k in range(4):
        write(tmp_path / f"hang-me-{k}.png", PNG[k])
        paths.append(os.fsencode(tmp_path / f"hang-me-{k}.png"))
    pool = Pool(2, DEFAULT_MAX_PIXELS, timeout=60)
    got: list[object] = []
    runner = threading.Thread(target=lambda: got.extend(pool.map(paths)))
    runner.start()
    deadline = time.monotonic() + 30
    while len(pool._workers) < 2 or not all(w.tasks for w in pool._workers):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(2.0)  # both decoders have imported OpenCV and are stuck in their file
    start = time.monotonic()
    pool.cancel()
    runner.join(5)
    assert not runner.is_alive()
    assert time.monotonic() - start < 10  # bounded: the hung decoders would hold it for decode_timeout (60 s)
    assert got == []
    assert list(pool.map(paths)) == []  # cancelled for good: a stopping daemon starts nothing new
    start = time.monotonic()
    pool.close()
    assert time.monotonic() - start < 10  # the hung decoders were killed by cancel already


def test_close_waits_for_all_decoders_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close() with two decoders stuck in a file: one grace period for both, then SIGKILL (it
    waited 2 s for each, one after the other)."""
    monkeypatch.setenv("HASHWATCHD_FAULT_HANG", "hang-me")
    paths = []
    for k in range(4):
        write(tmp_path / f"hang-me-{k}.png", PNG[k])
        paths.append(os.fsencode(tmp_path / f"hang-me-{k}.png"))
    pool = Pool(4, DEFAULT_MAX_PIXELS, timeout=60)
    pool.start()
    for w, p in zip(pool._workers, paths, strict=True):
        pool._send(w, HashTask(p))
    time.sleep(2.0)
    start = time.monotonic()
    pool.close()
    took = time.monotonic() - start
    assert took < 3 * CLOSE_GRACE, f"{took:.1f} s: one grace period after another would be {4 * CLOSE_GRACE:.0f} s"
    assert not any(w.process.is_alive() for w in pool._workers)


def test_an_abandoned_map_leaves_no_result_for_the_next_caller(tmp_path: Path) -> None:
    """The daemon stops reading pool.map() when asked to stop, then judges what it hashed, which
    may need full-resolution checks (pool.check). The results still in flight from the abandoned
    map must not come out of check(): it asserted they were PixelChecks and raised."""
    paths = []
    for k in range(6):
        write(tmp_path / f"{k}.png", PNG[k % 4])
        paths.append(os.fsencode(tmp_path / f"{k}.png"))
    with Pool(1, DEFAULT_MAX_PIXELS) as pool:
        it = pool.map(paths)
        first = next(it)
        assert first.path in paths
        it.close()  # as a `break` out of the loop does
        digests = (features.digest(PNG[0]), features.digest(PNG[0]))
        checks = list(pool.check([PixelTask(paths[0], paths[4], Tier.SAME, 180, digests)]))
    assert [(c.needle, c.library) for c in checks] == [(paths[0], paths[4])]
    assert checks[0].tier is Tier.SAME


def test_unwatch_and_stop_do_not_wait_for_a_stuck_poller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """case 10: a polled share that stops answering (a dropped SMB or hard NFS mount) leaves
    watchdog's poller inside a snapshot. Taking that root offline waited for the snapshot to
    end (emitter.join() under the observer's lock, on the daemon's only thread, which then stopped
    logging and ignored SIGTERM), and so did every other polled root and the stop. Now unwatch()
    returns at once, other roots can still be watched, and stop() waits STOP_TIMEOUT in all,
    naming what it leaves behind."""
    gate, stuck = threading.Event(), threading.Event()
    share, other = tmp_path / "share", tmp_path / "other"
    share.mkdir()
    other.mkdir()

    scandir = os.scandir

    def listdir(path: str | None) -> object:
        if stuck.is_set() and str(path).startswith(str(share)):
            gate.wait(120)  # the share does not answer
        return scandir(path)

    monkeypatch.setattr(os, "scandir", listdir)
    w = Watcher(queue.SimpleQueue(), poll_interval=0.1)
    try:
        assert w.watch(os.fsencode(share), "poll") == "poll"
        stuck.set()
        time.sleep(0.5)  # the poller is now inside a snapshot that hangs
        start = time.monotonic()
        w.unwatch(os.fsencode(share))
        assert time.monotonic() - start < 10  # bounded: the snapshot would hold it for 120 s
        start = time.monotonic()
        assert w.watch(os.fsencode(other), "poll") == "poll"
        assert time.monotonic() - start < 10
        caplog.set_level(logging.WARNING, "hashwatchd.watcher")
        start = time.monotonic()
        w.stop()
        took = time.monotonic() - start
        assert took < STOP_TIMEOUT + 10
        assert f"still busy: the poller of {share}" in caplog.text
    finally:
        gate.set()


def test_stop_survives_a_watchdog_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the differential run (seed 600): after folders moved out and back in, watchdog's
    deactivate() failed with KeyError while the daemon stopped, and the traceback went into the
    log. A failure inside watchdog's stop is one log line, and stop() still returns at once."""
    from watchdog.observers import inotify  # noqa: PLC0415

    def broken(self: object) -> None:
        raise KeyError(b"/photos/moved/back")

    monkeypatch.setattr(inotify.InotifyEmitter, "on_thread_stop", broken)
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    caplog.set_level(logging.WARNING, "hashwatchd.watcher")
    w = Watcher(queue.SimpleQueue(), poll_interval=1.0)
    assert w.watch(os.fsencode(tmp_path), "inotify") == "inotify"
    start = time.monotonic()
    w.stop()
    assert time.monotonic() - start < 10
    assert errors == []
    assert "watchdog failed while stopping the inotify observer: KeyError" in caplog.text


def test_the_daemon_process_never_loads_the_decoders() -> None:
    """OpenCV, pillow-heif, rawpy and PyAV load in the decoder processes only: the daemon, which
    never decodes a picture, stays small when idle (bench/idle.py's RSS) and starts fast. An
    import of a module that needs one (confirm.py's pixel work, say) from the engine would load
    it into every command and the daemon."""
    code = (
        "import sys, hashwatchd.cli, hashwatchd.daemon, hashwatchd.engine;"
        "print(sorted(m for m in ('cv2', 'pillow_heif', 'rawpy', 'av') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_judging_a_crop_loads_no_decoder() -> None:
    """The daemon judges pairs itself; the crop rule (the one rule that resamples thumbnails) is
    NumPy only, so the first cropped export in a library does not pull OpenCV into the daemon.
    The pair is checked to reach that rule: a cut on one side changes the aspect ratio, which
    only the crop rule accepts."""
    img = photo(5, 800, 600)
    library_bytes, cropped_bytes = encode(img, ".png"), encode(img[:, : 800 - 48], ".png")
    library = fingerprint(decode(library_bytes), library_bytes)
    cropped = fingerprint(decode(cropped_bytes), cropped_bytes)
    assert not classify(cropped, library, dataclasses.replace(DEFAULT_POLICY, crop_max=0.0))
    code = (
        "import pickle, sys\n"
        "from hashwatchd.matching import classify\n"
        "needle, library = pickle.load(sys.stdin.buffer)\n"
        "print(classify(needle, library), sorted(m for m in ('cv2', 'pillow_heif', 'rawpy', 'av') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps((cropped, library)), capture_output=True, check=True
    )
    assert done.stdout.decode().split() == [str(Tier.EDITED), "[]"], done.stderr.decode()[-2000:]
