"""A real `hashwatchd` process for end-to-end tests that kill it, run it as another user, or
wait for its whole process tree (the decoder workers too).

helpers.Daemon covers the common case; this helper adds what the differential and crash tests
need: the daemon leads its own session, so its decoders (which outlive a kill -9 of their
parent) can be found and waited for; commands can run as an unprivileged user, because root
reads files whatever their mode and permission tests would prove nothing.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: The daemon's line once its start-up backlog is hashed, whatever that backlog was.
READY = re.compile(r": (?:index up to date|[\d,]+ files? hashed); watching ")

#: Drops root for a command: every file access is then checked against the file's mode.
UNPRIVILEGED = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")


def user_prefix() -> tuple[str, ...]:
    """The prefix that runs a command as a user whom permissions apply to: empty unless we are root."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        raise RuntimeError("running as root and setpriv is missing: cannot drop privileges")
    return UNPRIVILEGED


def unprivileged_unavailable() -> str | None:
    """Why commands cannot run as the user of user_prefix() here, or None when they can."""
    try:
        prefix = user_prefix()
    except RuntimeError as exc:
        return str(exc)
    if not prefix:
        return None
    # The decoders are started from sys.executable by the daemon itself, so the user must be able
    # to run it, not only to import from it: a venv whose python links into /root (pyenv's) is not.
    probe = "import subprocess, sys, hashwatchd, cv2; subprocess.run([sys.executable, '-c', 'pass'], check=True)"
    r = subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True, check=False)
    if r.returncode:
        return f"{sys.executable} cannot run as {prefix[1]} (a venv whose python is under /root?): {r.stderr[-300:]!r}"
    return None


def shared_tmpdir(prefix: str) -> Path:
    """A fresh directory under /tmp that the unprivileged user of user_prefix() owns."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    path.chmod(0o755)
    return path


def remove_tree(path: Path) -> None:
    """rm -rf that also gets through folders left at mode 000 (os.walk lists a folder after the
    loop body has seen its name, so opening each one up first is enough)."""
    if not path.exists():
        return
    path.chmod(0o755)
    for top, dirs, _ in os.walk(path):
        for d in dirs:
            p = os.path.join(top, d)
            if not os.path.islink(p):
                os.chmod(p, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def session_pids(sid: int) -> list[int]:
    """Processes of session `sid` (the daemon and its decoders, orphaned ones too)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after "pid (comm)": state ppid pgrp session ...; zombies are already gone for our purpose
        if int(fields[3]) == sid and fields[0] != b"Z":
            out.append(int(name))
    return out


def wait_session_gone(sid: int, timeout: float) -> list[int]:
    """Wait until no process of session `sid` is left; return those still alive at the timeout."""
    deadline = time.monotonic() + timeout
    while (left := session_pids(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def hashwatchd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hashwatchd", *args]


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file's document, or None while there is none."""
    try:
        return json.loads(path.read_bytes())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def poll_status(
    path: Path,
    check: Callable[[dict[str, Any]], bool],
    timeout: float,
    died: Callable[[], str | None],
    log: Callable[[], str],
) -> dict[str, Any]:
    """Poll the status file at `path` until `check` holds; fail as soon as `died` says why the
    daemon is gone, or at `timeout` with the last status and `log`."""
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        doc = read_status(path)
        if doc is not None and check(doc):
            return doc
        why = died()
        if why is not None:
            raise AssertionError(why)
        time.sleep(0.05)
    raise AssertionError(f"status never satisfied the check; last: {json.dumps(doc)[:2000]}\n{log()}")


class DaemonProc:
    """`hashwatchd run` as its own session leader, observed through its status file and log."""

    def __init__(
        self,
        base: Path,
        config: Path,
        *,
        state: Path | None = None,
        prefix: Sequence[str] = (),
        settle: float = 0.5,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.base = base
        self.config = config
        self.state = state or base / "state"
        self.report = self.state / "status.json"
        self.log = base / "daemon.log"
        self.prefix = tuple(prefix)
        self.settle = settle
        self.workers = workers
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def launch(self) -> None:
        """Start the daemon without waiting for it."""
        args = ["--config", str(self.config), "--state-dir", str(self.state), "--settle", str(self.settle)]
        args += ["--workers", str(self.workers), "-vv"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, *hashwatchd("run", *args)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self.env,
                start_new_session=True,
                cwd="/",  # nothing found by accident in the current directory (python -m puts it first on sys.path)
            )
        self.starts += 1

    def start(self, timeout: float = 60.0) -> None:
        """Launch and wait until this process has finished its start-up reconcile."""
        before = len(READY.findall(self.log_text()))
        self.launch()
        deadline = time.monotonic() + timeout
        while len(READY.findall(self.log_text())) <= before:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the daemon did not start within {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill9(self, timeout: float = 30.0) -> list[int]:
        """kill -9 the daemon (not its decoders, as the OOM killer or a crash would) and wait for the
        orphaned decoders to go; return the pids of those still alive after `timeout`."""
        assert self.proc is not None
        sid = self.proc.pid
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        return wait_session_gone(sid, timeout)

    def stop(self, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM; return the exit code and the seconds the stop took."""
        assert self.proc is not None
        sid = self.proc.pid
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            code = -1000 - code  # marks a stop that had to be forced
        took = time.monotonic() - start
        wait_session_gone(sid, 10)
        self.proc = None
        return code, took

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict[str, Any] | None:
        return read_status(self.report)

    def wait(self, check: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        def died() -> str | None:
            if self.proc is None or self.proc.poll() is None:
                return None
            return f"the daemon exited with {self.proc.returncode}:\n{self.log_tail()}"

        return poll_status(self.report, check, timeout, died, self.log_tail)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]


def log_problems(text: str, limit: int = 500) -> list[str]:
    """Lines of a log that break the rules every test holds it to: no traceback, no line over `limit`."""
    bad = []
    for n, line in enumerate(text.splitlines(), 1):
        if "Traceback" in line:
            bad.append(f"line {n}: traceback: {line[:200]}")
        elif len(line) > limit:
            bad.append(f"line {n}: {len(line)} characters: {line[:200]}...")
    return bad
