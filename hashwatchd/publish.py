"""Replace a file atomically, so a poller never reads half of it.

Temp file in the same directory (O_EXCL, random name), write, fsync, chmod, rename over the
target, fsync the directory: systemd's write_string_file_atomic_at, and borg's SaveFile. A
symlink planted at the target is replaced, never written through. On any failure the temp
file is removed and the previous file stays as it was.

A writer killed between creating its temp file and the rename (kill -9, power loss) leaves the
temp file behind. The first write of a path in a process removes such leftovers: only names this
module creates (`.NAME.` + eight characters of tempfile's alphabet + `.tmp`), and only those no
live process holds, since every writer keeps an flock on its temp file until the rename and the
kernel drops the locks of a dead process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import stat
import tempfile
from pathlib import Path

from hashwatchd.errors import PublishError

log = logging.getLogger(__name__)

_cleaned: set[Path] = set()


def _temp_name(path: Path) -> re.Pattern[str]:
    """The names tempfile.mkstemp gives write_atomic's temp files for `path` (its alphabet is
    lowercase letters, digits and the underscore; eight of them)."""
    return re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")


def remove_stale_temps(path: Path) -> list[str]:
    """Remove the temp files that killed writers of `path` left beside it; return their names.

    A temp file another process is writing right now is locked by it and kept; so is every name
    this module would not have made.
    """
    pattern = _temp_name(path)
    removed = []
    try:
        names = [n for n in os.listdir(path.parent) if pattern.fullmatch(n)]
    except OSError:
        return []
    for name in names:
        tmp = path.parent / name
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue  # gone meanwhile (renamed by its writer), a symlink, or not ours to read
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # a live writer holds it
                raise
            now = os.lstat(tmp)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(tmp)
                removed.append(name)
        except OSError:
            continue
        finally:
            os.close(fd)
    if removed:
        log.warning(
            "removed %d temp file%s a killed writer left beside %s", len(removed), "s" * (len(removed) > 1), path
        )
    return removed


def write_atomic(path: Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Make `path` hold exactly `data`, or raise PublishError leaving the old file intact; with
    `owner` (uid, gid), owned by them from the moment it appears."""
    directory = path.parent
    if path not in _cleaned:
        _cleaned.add(path)
        remove_stale_temps(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror}") from None
    held = -1
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(fd, fcntl.LOCK_EX)  # ours until the rename (see remove_stale_temps); the dup keeps it
            held = os.dup(fd)
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if owner is not None:
                os.fchown(f.fileno(), *owner)
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise PublishError(f"cannot write {path}: {exc.strerror}; the previous file is kept") from None
    finally:
        if held >= 0:
            os.close(held)


def write_json(path: Path, document: object, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Publish `document` as JSON (ASCII: non-UTF-8 path bytes appear as \\udcXX escapes)."""
    write_atomic(path, (json.dumps(document, indent=1) + "\n").encode("ascii"), mode, owner)
