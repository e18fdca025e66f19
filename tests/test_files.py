"""Listing photo trees and reading files without following links or blocking."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from conftest import encode, photo, write

from hashwatchd import files
from hashwatchd.errors import PhotoError

JPEG = encode(photo(1, 64, 48), ".jpg")


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
        files.read_photo(os.fsencode(tmp_path / "x.jpg"))
    assert err.value.code == "not-a-regular-file"


def test_read_refuses_symlink(tmp_path: Path) -> None:
    """A symlink is refused, not followed."""
    write(tmp_path / "real.jpg", JPEG)
    os.symlink("real.jpg", tmp_path / "link.jpg")
    with pytest.raises(PhotoError) as err:
        files.read_photo(os.fsencode(tmp_path / "link.jpg"))
    assert err.value.code == "symlink"


def test_read_vanished_file(tmp_path: Path) -> None:
    """A file that is gone is reported as vanished."""
    with pytest.raises(PhotoError) as err:
        files.read_photo(os.fsencode(tmp_path / "gone.jpg"))
    assert err.value.code == "vanished"


def test_read_non_utf8_and_long_paths(tmp_path: Path) -> None:
    """A name that is not UTF-8, under a path longer than 511 bytes, reads exactly."""
    deep = os.fsencode(tmp_path) + b"/" + b"/".join([b"d" * 200] * 3)
    path = deep + b"/caf\xe9 \\ new\nline.jpg"
    write(path, JPEG)
    assert len(path) > 511
    data, stat = files.read_photo(path)
    assert data == JPEG
    assert stat.size == len(JPEG)
    assert [f.path for f in files.walk(os.fsencode(tmp_path))] == [path]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permission checks need a non-root user")
def test_read_permission_denied(tmp_path: Path) -> None:
    """An unreadable file is reported as permission denied."""
    write(tmp_path / "locked.jpg", JPEG)
    os.chmod(tmp_path / "locked.jpg", 0)
    with pytest.raises(PhotoError) as err:
        files.read_photo(os.fsencode(tmp_path / "locked.jpg"))
    assert err.value.code == "permission-denied"
