"""Hostile and broken files in a running daemon: each ends as `unreadable` with its reason, the
daemon carries on, and a file is not retried until its stat changes."""

from __future__ import annotations

import os
import socket
import stat
import struct
import time
from pathlib import Path

import pytest
from helpers import Daemon, encode, photo, write

pytestmark = pytest.mark.e2e  # real hashwatchd processes

GOOD = photo(1, 200, 150)


def test_hostile_tree(tmp_path: Path) -> None:
    """Crash, hang, truncation, bombs, wrong content, special files and odd names, in one tree."""
    write(tmp_path / "lib/good.png", encode(GOOD, ".png"))
    n = tmp_path / "needles/card"
    jpeg = encode(GOOD, ".jpg")
    write(n / "good.jpg", jpeg)
    write(n / "png-named.jpg", encode(GOOD, ".png"))  # read by content
    write(n / "crash_me.jpg", jpeg)
    write(n / "hang_me.jpg", jpeg)
    write(n / "empty.jpg", b"")
    write(n / "cut10.jpg", jpeg[: len(jpeg) // 10])
    write(n / "cut99.jpg", jpeg[: len(jpeg) * 99 // 100])
    write(n / "random.jpg", os.urandom(5000))
    write(n / "text.png", b"not a picture\n" * 50)
    write(n / "sunraster.jpg", b"\x59\xa6\x6a\x95" + bytes(200))
    bomb = encode(GOOD[:10, :10], ".png")
    write(n / "bomb.png", bomb[:16] + (30000).to_bytes(4, "big") * 2 + bomb[24:])
    ifd = struct.pack("<H", 2) + struct.pack("<HHII", 256, 4, 1, 30000) + struct.pack("<HHII", 257, 4, 1, 30000)
    write(n / "bomb.tif", b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(4))
    os.mkfifo(n / "fifo.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(n / "sock.jpg"))
    (n / "dir.jpg").mkdir()
    if os.geteuid() == 0:  # a character device named like a photo (only root may create one)
        os.mknod(n / "device.jpg", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink("/nonexistent/x.jpg", n / "dangling.jpg")
    os.symlink("loop.jpg", n / "loop.jpg")
    os.symlink("/etc/passwd", n / "passwd.jpg")
    write(os.fsencode(n) + b"/sp ace\\back\nline \xff.jpg", jpeg)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\ndecode_timeout: 3\n")
    d = Daemon(tmp_path, cfg)
    d.launch(env={**os.environ, "HASHWATCHD_FAULT_CRASH": "crash_me", "HASHWATCHD_FAULT_HANG": "hang_me"})
    try:
        doc = d.wait(lambda doc: doc["state"] == "watching", timeout=60)
        f = d.folder(doc, "card")
        assert f is not None
        errors = {Path(u["path"]).name: u["error"].split(":")[0] for u in f["unreadable_paths"]}
        assert errors == {
            "crash_me.jpg": "decoder-crashed",
            "hang_me.jpg": "decoder-timeout",
            "empty.jpg": "empty",
            "cut10.jpg": "truncated",
            "cut99.jpg": "truncated",
            "random.jpg": "not-an-image",
            "text.png": "not-an-image",
            "sunraster.jpg": "unsupported-format",
            "bomb.png": "too-large",
            "bomb.tif": "too-large",
            "fifo.jpg": "not-a-regular-file",
            "sock.jpg": "not-a-regular-file",
        } | ({"device.jpg": "not-a-regular-file"} if os.geteuid() == 0 else {})
        assert (f["identical"], f["same"]) == (1, 2)  # png-named.jpg has the bytes of good.png
        time.sleep(2)
        assert d.hashed_count("crash_me.jpg") == 1  # not retried while its stat is unchanged
        os.utime(n / "crash_me.jpg", (1, 1))
        d.wait(lambda doc: d.hashed_count("crash_me.jpg") == 2)
        assert "Traceback" not in d.log.read_text(errors="replace")
    finally:
        sock.close()
        assert d.stop() == 0
