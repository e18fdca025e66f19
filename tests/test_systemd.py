"""The unit files pass systemd-analyze, and the daemon speaks the sd_notify protocol."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import encode, photo, write

UNITS = Path(__file__).resolve().parent.parent / "systemd"


def _verifiable(unit: str, tmp_path: Path) -> Path:
    """A copy whose ExecStart names a binary that exists here (verify fails on a missing one)."""
    exe = shutil.which("hashwatchd") or sys.executable
    text = (UNITS / unit).read_text()
    lines = [f"ExecStart={exe} run" if line.startswith("ExecStart=") else line for line in text.splitlines()]
    out = tmp_path / unit
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["hashwatchd.service", "hashwatchd-user.service"])
def test_units_verify_with_empty_stderr(unit: str, tmp_path: Path) -> None:
    """systemd-analyze verify accepts the unit and prints nothing (it exits 0 even on unknown keys)."""
    path = _verifiable(unit, tmp_path)
    env = dict(os.environ)
    cmd = ["systemd-analyze", "verify", "--man=no", str(path)]
    if unit.endswith("-user.service"):
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        cmd.insert(1, "--user")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert (r.returncode, r.stderr) == (0, "")


@pytest.mark.e2e
def test_sd_notify_ready_status_watchdog_stopping(tmp_path: Path) -> None:
    """READY=1 after start, STATUS lines, WATCHDOG=1 pings, STOPPING=1 on SIGTERM, exit 0."""
    write(tmp_path / "lib/a.png", encode(photo(1, 120, 90), ".png"))
    (tmp_path / "needles").mkdir()
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hashwatchd",
            "run",
            "--haystack",
            str(tmp_path / "lib"),
            "--needles",
            str(tmp_path / "needles"),
            "--state-dir",
            str(tmp_path / "state"),
            "--workers",
            "1",
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    messages: list[str] = []

    def collect(until: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(until in m for m in messages):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
        assert any(until in m for m in messages), messages

    try:
        collect("READY=1")
        collect("WATCHDOG=1")
        assert any(m.startswith("STATUS=") for m in messages)
        proc.send_signal(signal.SIGTERM)
        collect("STOPPING=1")
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        sock.close()
