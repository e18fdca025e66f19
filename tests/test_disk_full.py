"""A full disk under the index: commits fail cleanly, the daemon keeps going and writes later.

Provoked for real in a private mount namespace (unshare -Urm): the state directory is a 2 MiB
tmpfs that a filler file fills; the status file lives outside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import encode, photo, write

pytestmark = pytest.mark.e2e  # real hashwatchd processes

SCRIPT = r"""
set -e
mount -t tmpfs -o size=2m tmpfs "$STATE"
"$PY" -m hashwatchd run --haystack "$BASE/lib" --needles "$BASE/needles" --state-dir "$STATE" \
    --report "$BASE/status.json" --settle 0.3 --workers 1 -v 2>"$BASE/daemon.log" &
pid=$!
until [ -e "$BASE/ctl.fill" ]; do sleep 0.05; done
dd if=/dev/zero of="$STATE/filler" bs=16k 2>/dev/null || true
touch "$BASE/ctl.filled"
until [ -e "$BASE/ctl.free" ]; do sleep 0.05; done
rm -f "$STATE/filler"
touch "$BASE/ctl.freed"
until [ -e "$BASE/ctl.stop" ]; do sleep 0.05; done
kill -TERM $pid
wait $pid
echo "daemon exit $?" >> "$BASE/daemon.log"
"$PY" -m hashwatchd matches --state-dir "$STATE" --json > "$BASE/matches.jsonl"
"""


def _userns_mounts() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, check=False)
    return r.returncode == 0


def _wait(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _status(base: Path) -> dict | None:  # type: ignore[type-arg]
    try:
        return json.loads((base / "status.json").read_bytes())
    except (OSError, ValueError):
        return None


@pytest.mark.skipif(not _userns_mounts(), reason="needs unshare -Urm to mount a private tmpfs")
def test_index_disk_full_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    """While the index's disk is full the report stays true; once there is room the index catches up."""
    write(tmp_path / "lib/0.png", encode(photo(0, 160, 120), ".png"))
    (tmp_path / "needles").mkdir()
    (tmp_path / "state").mkdir()
    env = {**os.environ, "BASE": str(tmp_path), "STATE": str(tmp_path / "state"), "PY": sys.executable}
    proc = subprocess.Popen(["unshare", "-Urm", "bash", "-c", SCRIPT], env=env)
    try:
        _wait(lambda: (d := _status(tmp_path)) is not None and d["state"] == "watching")
        (tmp_path / "ctl.fill").touch()
        _wait((tmp_path / "ctl.filled").exists)
        for k in range(30):
            write(tmp_path / f"needles/card/{k}.jpg", encode(photo(100 + k, 160, 120), ".jpg"))
        _wait(lambda: (d := _status(tmp_path)) is not None and d["needles"]["images"] == 30 and d["pending"] == 0)
        log = (tmp_path / "daemon.log").read_text()
        assert "kept in memory" in log
        (tmp_path / "ctl.free").touch()
        _wait(lambda: "nothing was lost" in (tmp_path / "daemon.log").read_text())
        (tmp_path / "ctl.stop").touch()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "daemon.log").read_text()
    assert "daemon exit 0" in log
    assert "Traceback" not in log
    rows = [json.loads(line) for line in (tmp_path / "matches.jsonl").read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in rows) == sorted(f"{k}.jpg" for k in range(30))
