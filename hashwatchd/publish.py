"""Replace a file atomically, so a poller never reads half of it.

Temp file in the same directory (O_EXCL, random name), write, fsync, chmod, rename over the
target, fsync the directory: systemd's write_string_file_atomic_at, and borg's SaveFile. A
symlink planted at the target is replaced, never written through. On any failure the temp
file is removed and the previous file stays as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from hashwatchd.errors import PublishError


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Make `path` hold exactly `data`, or raise PublishError leaving the old file intact."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
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


def write_json(path: Path, document: object, mode: int = 0o644) -> None:
    """Publish `document` as JSON (ASCII: non-UTF-8 path bytes appear as \\udcXX escapes)."""
    write_atomic(path, (json.dumps(document, indent=1) + "\n").encode("ascii"), mode)
