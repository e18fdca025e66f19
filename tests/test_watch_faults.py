"""What inotify does not tell watchdog's handler: an overflowed queue, a watch limit reached.

Provoked for real: SIGSTOP the daemon while thousands of files appear (the kernel queue of
16,384 events overflows), and a private inotify watch limit in a user namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import Daemon, encode, photo, write

pytestmark = pytest.mark.e2e  # real hashwatchd processes

JPEG = [encode(photo(seed, 160, 120), ".jpg") for seed in range(3)]


def _config(tmp_path: Path, extra: str = "") -> Path:
    write(tmp_path / "lib/0.png", encode(photo(0, 160, 120), ".png"))
    (tmp_path / "needles").mkdir(exist_ok=True)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\nreport_interval: 0.2\n{extra}")
    return cfg


def test_queue_overflow_becomes_a_rescan(tmp_path: Path) -> None:
    """Files created while the kernel queue overflows are still found: the overflow triggers a rescan."""
    junk = tmp_path / "needles/junk"
    junk.mkdir(parents=True)
    d = Daemon(tmp_path, _config(tmp_path, "reconcile_interval: 0\n"))
    d.start()
    assert d.proc is not None
    try:
        d.proc.send_signal(signal.SIGSTOP)
        for k in range(6000):
            (junk / f"{k}.txt").write_bytes(b"x")
        for k in range(20):
            write(tmp_path / f"needles/late/{k}.jpg", JPEG[k % 3])
        d.proc.send_signal(signal.SIGCONT)
        d.wait(lambda doc: (f := d.folder(doc, "late")) is not None and f["images"] == 20 and f["complete"])
        assert "rescanning" in d.log.read_text()
    finally:
        if d.proc is not None:
            d.proc.send_signal(signal.SIGCONT)
            assert d.stop() == 0


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", "echo 50 > /proc/sys/user/max_inotify_watches"], capture_output=True, check=False
    )
    return r.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs user namespaces (unshare -Ur) to lower the watch limit")
def test_watch_limit_falls_back_to_polling(tmp_path: Path) -> None:
    """With 50 watches for 80 directories the root is polled, one log line says how to raise the
    limit, and a picture created in every directory after start is found."""
    for k in range(80):
        (tmp_path / f"needles/d{k:02d}").mkdir(parents=True)
    cfg = _config(tmp_path, "poll_interval: 0.5\n")
    d = Daemon(tmp_path, cfg)
    d.launch(prefix=("unshare", "-Ur", "sh", "-c", 'echo 50 > /proc/sys/user/max_inotify_watches && exec "$@"', "sh"))
    try:
        d.wait(lambda doc: doc["state"] == "watching")
        for k in range(80):
            write(tmp_path / f"needles/d{k:02d}/p.jpg", JPEG[k % 3])
        d.wait(
            lambda doc: sum(f["images"] for f in doc["folders"]) == 80 and all(f["complete"] for f in doc["folders"]),
            timeout=40,
        )
        text = d.log.read_text()
        assert "fs.inotify.max_user_watches" in text
        assert text.count("fs.inotify.max_user_watches") == 1
        assert "Traceback" not in text
    finally:
        assert d.stop() == 0


def test_daemon_survives_a_missing_root_then_sees_it(tmp_path: Path) -> None:
    """A needle root missing at start is a warning; created later, it is scanned within seconds."""
    write(tmp_path / "lib/0.png", encode(photo(0, 160, 120), ".png"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'later'}]\nreport_interval: 0.2\n")
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        write(tmp_path / "stage/x/a.jpg", JPEG[0])
        os.rename(tmp_path / "stage", tmp_path / "later")
        start = time.monotonic()
        d.wait(lambda doc: (f := d.folder(doc, "x")) is not None and f["complete"] and f["images"] == 1)
        assert time.monotonic() - start < 20
    finally:
        assert d.stop() == 0


def test_polled_root_finds_files_without_following_symlinks(tmp_path: Path) -> None:
    """watch: poll finds new files by lstat polling; a link to an ancestor adds no aliases."""
    (tmp_path / "needles/sub").mkdir(parents=True)
    os.symlink("..", tmp_path / "needles/sub/up")
    d = Daemon(tmp_path, _config(tmp_path, "watch: poll\npoll_interval: 0.3\n"))
    d.start()
    try:
        write(tmp_path / "needles/sub/a.jpg", JPEG[0])
        doc = d.wait(lambda doc: (f := d.folder(doc, "sub")) is not None and f["complete"] and f["images"] == 1)
        assert [f["path"] for f in doc["folders"]] == ["sub"]
        assert "(poll)" in d.log.read_text()
    finally:
        assert d.stop() == 0


def _userns_mounts() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp"],
        capture_output=True,
        check=False,
    )
    return r.returncode == 0


@pytest.mark.skipif(not _userns_mounts(), reason="needs unshare -Urm for a private read-only bind mount")
def test_read_only_mount_is_polled_and_said_so(tmp_path: Path) -> None:
    """A needle root on a read-only mount is polled, with one log line saying so, and new files are found."""
    cfg = _config(tmp_path, "poll_interval: 0.3\n")
    needles = tmp_path / "needles"
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    d = Daemon(tmp_path, cfg)
    d.launch(prefix=("unshare", "-Urm", "sh", "-c", script, "sh", str(needles)))
    try:
        d.wait(lambda doc: doc["state"] == "watching")
        write(needles / "card/a.jpg", JPEG[0])  # written outside the namespace, where the folder is writable
        d.wait(lambda doc: (f := d.folder(doc, "card")) is not None and f["complete"] and f["images"] == 1)
        assert d.log.read_text().count("read-only mount: polling it") == 1
    finally:
        assert d.stop() == 0
