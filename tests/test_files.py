"""Listing photo trees and reading files without following links or blocking."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import encode, photo, run_cli, write

from hashwatchd import files
from hashwatchd.errors import PhotoError
from hashwatchd.model import FileStat

JPEG = encode(photo(1, 64, 48), ".jpg")


def _read(path: bytes, *, follow_symlinks: bool = False) -> tuple[bytes, FileStat]:
    """The bytes and stat of a file, read as the decoders read it."""
    with files.open_source(path, follow_symlinks=follow_symlinks) as (src, stat):
        return src.read_all(), stat


def test_walk_finds_photos_by_suffix_and_skips_hidden(tmp_path: Path) -> None:
    """Image suffixes in any case are listed; hidden files/dirs and other suffixes are not."""
    for rel in (
        "a/IMG_1.JPG",
        "a/b/c.png",
        "a/.hidden.jpg",
        ".cache/x.jpg",
        "a/notes.txt",
        "a/.IMG_2.JPG.Xy12ab",
    ):
        write(tmp_path / rel, JPEG)
    found = sorted(os.path.relpath(f.path, os.fsencode(tmp_path)) for f in files.walk(os.fsencode(tmp_path)))
    assert found == [b"a/IMG_1.JPG", b"a/b/c.png"]


def test_walk_does_not_follow_symlinks(tmp_path: Path) -> None:
    """A link to an ancestor and a link to a photo are not followed (no aliases, no loops)."""
    write(tmp_path / "sub/p.jpg", JPEG)
    os.symlink("..", tmp_path / "sub/up")
    os.symlink("p.jpg", tmp_path / "sub/alias.jpg")
    found = [f.path for f in files.walk(os.fsencode(tmp_path))]
    assert found == [os.fsencode(tmp_path / "sub/p.jpg")]


def test_walk_reports_special_files_as_not_regular(tmp_path: Path) -> None:
    """A FIFO and a socket named like photos are listed, flagged as not regular."""
    os.mkfifo(tmp_path / "fifo.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.jpg"))
    try:
        found = {os.path.basename(f.path): f.regular for f in files.walk(os.fsencode(tmp_path))}
    finally:
        sock.close()
    assert found == {b"fifo.jpg": False, b"sock.jpg": False}


def test_walk_applies_exclude_globs(tmp_path: Path) -> None:
    """Exclude patterns match against the whole path."""
    write(tmp_path / "keep/a.jpg", JPEG)
    write(tmp_path / "Thumbs/b.jpg", JPEG)
    found = [f.path for f in files.walk(os.fsencode(tmp_path), ["*/Thumbs"])]
    assert found == [os.fsencode(tmp_path / "keep/a.jpg")]


def test_read_refuses_fifo_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO named x.jpg returns at once with a specific error (cv2.imread would hang)."""
    os.mkfifo(tmp_path / "x.jpg")
    with pytest.raises(PhotoError) as err:
        _read(os.fsencode(tmp_path / "x.jpg"))
    assert err.value.code == "not-a-regular-file"


def test_read_refuses_symlink(tmp_path: Path) -> None:
    """A symlink is refused, not followed."""
    write(tmp_path / "real.jpg", JPEG)
    os.symlink("real.jpg", tmp_path / "link.jpg")
    with pytest.raises(PhotoError) as err:
        _read(os.fsencode(tmp_path / "link.jpg"))
    assert err.value.code == "symlink"


def test_read_vanished_file(tmp_path: Path) -> None:
    """A file that is gone is reported as vanished."""
    with pytest.raises(PhotoError) as err:
        _read(os.fsencode(tmp_path / "gone.jpg"))
    assert err.value.code == "vanished"


def test_read_non_utf8_and_long_paths(tmp_path: Path) -> None:
    """A name that is not UTF-8, under a path longer than 511 bytes, reads exactly."""
    deep = os.fsencode(tmp_path) + b"/" + b"/".join([b"d" * 200] * 3)
    path = deep + b"/caf\xe9 \\ new\nline.jpg"
    write(path, JPEG)
    assert len(path) > 511
    data, stat = _read(path)
    assert data == JPEG
    assert stat.size == len(JPEG)
    assert [f.path for f in files.walk(os.fsencode(tmp_path))] == [path]


def _without_capabilities() -> list[str]:
    """A command prefix that drops root's power to read any file: a user namespace without a mapping."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-U", "true"], check=False).returncode:
        pytest.skip("running as root and cannot drop capabilities with unshare -U")
    return ["unshare", "-U"]


def test_read_permission_denied(tmp_path: Path) -> None:
    """A file the daemon may not read is reported as permission denied, and the rest is read."""
    prefix = _without_capabilities()
    write(tmp_path / "card/locked.jpg", JPEG)
    write(tmp_path / "card/open.jpg", JPEG)
    (tmp_path / "lib").mkdir()
    os.chmod(tmp_path / "card/locked.jpg", 0o600)
    if os.geteuid() == 0:
        os.chown(tmp_path / "card/locked.jpg", 1234, 1234)
    r = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "hashwatchd",
            "scan",
            "--haystack",
            str(tmp_path / "lib"),
            "--needles",
            str(tmp_path / "card"),
            "--state-dir",
            str(tmp_path / "s"),
            "--workers",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    [folder] = json.loads(r.stdout)["folders"]
    assert folder["unreadable_paths"] == [
        {"path": str(tmp_path / "card/locked.jpg"), "error": "permission-denied: permission denied"}
    ]
    assert folder["missing"] == 1


def test_follow_symlinks_on_request_without_loops(tmp_path: Path) -> None:
    """With follow_symlinks a linked folder and a linked photo are read; a link to an ancestor
    is entered once, not 40 times; a dangling link is skipped."""
    write(tmp_path / "outside/o.jpg", JPEG)
    write(tmp_path / "root/sub/p.jpg", JPEG)
    os.symlink(tmp_path / "outside", tmp_path / "root/linked")
    os.symlink("..", tmp_path / "root/sub/up")
    os.symlink("/nonexistent.jpg", tmp_path / "root/dangling.jpg")
    os.symlink("sub/p.jpg", tmp_path / "root/alias.jpg")
    found = sorted(
        os.path.relpath(f.path, os.fsencode(tmp_path / "root"))
        for f in files.walk(os.fsencode(tmp_path / "root"), follow_symlinks=True)
    )
    assert found == [b"alias.jpg", b"linked/o.jpg", b"sub/p.jpg"]
    data, _ = _read(os.fsencode(tmp_path / "root/alias.jpg"), follow_symlinks=True)
    assert data == JPEG


def test_a_folder_that_cannot_be_listed_is_reported_and_kept(tmp_path: Path) -> None:
    """A needle folder made unlistable is not an empty one: the scan reports the folder itself as
    unreadable and keeps what the index holds for it; once listable again, nothing is hashed anew."""
    prefix = _without_capabilities()
    write(tmp_path / "card/sub/a.jpg", JPEG)
    write(tmp_path / "card/b.jpg", JPEG)
    (tmp_path / "lib").mkdir()

    def scan(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ["scan", "--haystack", tmp_path / "lib", "--needles", tmp_path / "card", "--state-dir", tmp_path / "s"]
        return run_cli(*args, "--workers", "1", *extra, prefix=prefix)

    assert scan().returncode == 0
    os.chmod(tmp_path / "card/sub", 0)
    try:
        r = scan("--json")
        assert r.returncode == 0, r.stderr
        folders = {f["path"]: f for f in json.loads(r.stdout)["folders"]}
    finally:
        os.chmod(tmp_path / "card/sub", 0o755)
    assert folders["sub"]["status"] == "empty"
    assert folders["sub"]["unreadable_paths"] == [
        {"path": f"{tmp_path}/card/sub/", "error": "permission-denied: the folder cannot be listed (permission denied)"}
    ]
    r = scan()
    assert "index up to date: nothing decoded" in r.stdout
    assert "card/sub  1 of 1 missing" in r.stdout
