"""kill -9 at random moments, and a state directory deleted under a running daemon."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import Daemon, encode, photo, run_cli, write

pytestmark = pytest.mark.e2e  # real hashwatchd processes

PICS = [encode(photo(seed, 96, 72), ".jpg") for seed in range(8)]


def test_twenty_kills_then_every_file_indexed_once(tmp_path: Path) -> None:
    """20 kill -9 during a 400-file scan, then a clean run: all 400 reported, each exactly once."""
    write(tmp_path / "lib/0.png", encode(photo(0, 96, 72), ".png"))
    for k in range(400):
        write(tmp_path / f"needles/d{k % 8}/{k:03d}.jpg", PICS[k % 8] + k.to_bytes(2, "big"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\n")
    rng = random.Random(1)
    cmd = [
        sys.executable,
        "-m",
        "hashwatchd",
        "run",
        "--config",
        str(cfg),
        "--state-dir",
        str(tmp_path / "state"),
        "--settle",
        "0",
        "--workers",
        "2",
    ]
    for _ in range(20):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        doc = d.wait(lambda doc: doc["needles"]["images"] == 400 and doc["pending"] == 0, timeout=180)
        assert sum(f["images"] for f in doc["folders"]) == 400
    finally:
        assert d.stop() == 0
    rows = [
        json.loads(line) for line in run_cli("matches", "--state-dir", tmp_path / "state", "--json").stdout.splitlines()
    ]
    paths = [r["path"] for r in rows]
    assert len(paths) == 400
    assert len(set(paths)) == 400
    assert all(r["status"] in {"missing", "same"} for r in rows)


def test_deleted_state_directory_stops_the_daemon(tmp_path: Path) -> None:
    """rm -rf of the state directory: one clear log line and a non-zero exit, not silent loss."""
    write(tmp_path / "lib/0.png", encode(photo(0, 96, 72), ".png"))
    (tmp_path / "needles").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\n")
    d = Daemon(tmp_path, cfg)
    d.start()
    assert d.proc is not None
    shutil.rmtree(tmp_path / "state")
    code = d.proc.wait(timeout=30)
    d.proc = None
    log = d.log.read_text()
    assert code == 74
    assert "disappeared" in log
    assert "Traceback" not in log


def _unshare_user() -> bool:
    return (
        shutil.which("unshare") is not None and subprocess.run(["unshare", "-U", "true"], check=False).returncode == 0
    )


@pytest.mark.skipif(not _unshare_user(), reason="needs unshare -U to run without root's override of permissions")
def test_read_only_state_directory_stops_the_daemon(tmp_path: Path) -> None:
    """A state directory made read-only while running: one clear line and exit 74 (LMDB would go on
    writing through its open descriptor while the status file could no longer be replaced)."""
    write(tmp_path / "lib/0.png", encode(photo(0, 96, 72), ".png"))
    (tmp_path / "needles").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\n")
    d = Daemon(tmp_path, cfg, report=tmp_path / "status.json")
    d.start(prefix=("unshare", "-U"))
    assert d.proc is not None
    (tmp_path / "state/index").chmod(0o500)
    try:
        code = d.proc.wait(timeout=30)
    finally:
        (tmp_path / "state/index").chmod(0o700)
    d.proc = None
    log = d.log.read_text()
    assert code == 74
    assert "no longer writable" in log
    assert "Traceback" not in log
