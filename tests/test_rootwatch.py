"""What tells the daemon a root may have come or gone without polling: a folder made, removed or
moved above the roots (a real inotify instance on real folders), and a mount (a real tmpfs in a
private mount namespace, for the daemon)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import Daemon, encode, photo, write

from hashwatchd import files
from hashwatchd.rootwatch import RootWatch

WAIT = 10.0


def _b(p: Path) -> bytes:
    return os.fsencode(p)


def test_root_parents_are_where_a_root_can_appear(tmp_path: Path) -> None:
    """A plain root's parent; every level of a glob above its last part; for what does not exist,
    its nearest existing ancestor."""
    for d in ("media/me/CARD/DCIM", "media/you/STICK", "home/u"):
        (tmp_path / d).mkdir(parents=True)
    got = files.root_parents(
        [_b(tmp_path / "media/*/*/DCIM"), _b(tmp_path / "home/u/Imports"), _b(tmp_path / "home/u/gone/deeper/cards")]
    )
    assert got == {
        _b(tmp_path / "media"),
        _b(tmp_path / "media/me"),
        _b(tmp_path / "media/you"),
        _b(tmp_path / "media/me/CARD"),
        _b(tmp_path / "media/you/STICK"),
        _b(tmp_path / "home/u"),  # Imports' parent, and where gone/ would appear
    }


def test_a_folder_made_removed_or_moved_is_reported_and_a_file_is_not(tmp_path: Path) -> None:
    changed = threading.Event()
    watch = RootWatch(changed.set)
    (tmp_path / "dumps").mkdir()
    watch.watch({_b(tmp_path / "dumps")})
    (tmp_path / "dumps/NEW").mkdir()
    assert changed.wait(WAIT)
    changed.clear()
    (tmp_path / "dumps/notes.txt").write_text("a file is no root")
    (tmp_path / "dumps/notes.txt").write_text("nor is writing it")
    assert not changed.wait(1.0)
    os.rename(tmp_path / "dumps/NEW", tmp_path / "elsewhere")  # moved out: a root may have gone
    assert changed.wait(WAIT)
    changed.clear()
    watch.watch(set())  # watched no more
    (tmp_path / "dumps/OTHER").mkdir()
    assert not changed.wait(1.0)
    watch.watch({_b(tmp_path / "dumps")})
    shutil.rmtree(tmp_path / "dumps")  # the watched folder itself goes
    assert changed.wait(WAIT)


@pytest.mark.e2e
def test_a_new_dump_folder_under_a_glob_root_is_found_at_once(tmp_path: Path) -> None:
    """`needles: ~/Dumps/*`: a folder made there is a new root. The daemon's periodic check of its
    roots comes every 10 s; the folder event brings it in within seconds."""
    write(tmp_path / "lib/0.png", encode(photo(0, 240, 180), ".png"))
    (tmp_path / "dumps").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: ['{tmp_path}/dumps/*']\nreport_interval: 0.2\n")
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        time.sleep(1.0)  # the loop is asleep until its next deadline
        write(tmp_path / "stage/a.jpg", encode(photo(0, 240, 180), ".jpg"))
        os.rename(tmp_path / "stage", tmp_path / "dumps/NEW")
        start = time.monotonic()
        d.wait(lambda doc: any(f["root"] == str(tmp_path / "dumps/NEW") and f["complete"] for f in doc["folders"]))
        assert time.monotonic() - start < 5.0, "found by the 10 s check, not by the folder event"
    finally:
        assert d.stop() == 0


def _private_mounts() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    r = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True, check=False)
    return r.returncode == 0


@pytest.mark.e2e
@pytest.mark.skipif(not _private_mounts(), reason="needs root, unshare -Urm and nsenter for a private tmpfs")
def test_a_card_mounted_on_an_empty_mount_point_is_read_at_once(tmp_path: Path) -> None:
    """A card inserted: a file system mounted where the root's empty directory was. No inotify
    event says so; /proc/self/mountinfo does, and the root is read within seconds, not at the next
    10 s check."""
    write(tmp_path / "lib/0.png", encode(photo(0, 240, 180), ".png"))
    card = tmp_path / "media/CARD"
    card.mkdir(parents=True)
    write(tmp_path / "a.jpg", encode(photo(1, 240, 180), ".jpg"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: ['{tmp_path}/media/*']\nreport_interval: 0.2\n")
    d = Daemon(tmp_path, cfg)
    d.start(prefix=("unshare", "-Urm"))
    try:
        assert d.proc is not None
        time.sleep(1.0)  # the loop is asleep until its next deadline
        mount = f'mount -t tmpfs none "{card}" && mkdir "{card}/DCIM" && cp "{tmp_path / "a.jpg"}" "{card}/DCIM/"'
        subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m", "-U", "--preserve-credentials", "sh", "-c", mount],
                       check=True)  # fmt: skip
        start = time.monotonic()
        d.wait(lambda doc: any(f["path"] == "DCIM" and f["complete"] and f["images"] == 1 for f in doc["folders"]))
        assert time.monotonic() - start < 5.0, "found by the 10 s check, not by the mount"
    finally:
        assert d.stop() == 0
