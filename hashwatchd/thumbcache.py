"""A directory of previews, one JPEG per picture content: `<digest hex>.jpg`.

Keyed by the content digest (the fingerprint's SHA-256 prefix), so a copy of a picture anywhere
shares one file, a changed file gets a new one, and a name never depends on a path. The cache
in STATE_DIR/thumbs is filled by the engine as needles are hashed and by the page writer
(visual.py) on demand; a page written elsewhere gets a `thumbs/` directory of its own, filled
from the cache. `sweep` removes what no page needs any more, which bounds the disk use to a few
kilobytes per needle picture (thumbnail.MAX_BYTES at most).

A preview is a cache entry that can always be made again from the photo, so it is written
without fsync: a temp file renamed into place (a reader never sees half of one), and a file
left empty by a crash counts as absent. Errors are logged, never raised: a preview that cannot
be written costs a picture on the page, not the status file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

SUFFIX = ".jpg"
#: The names this module writes (a preview, or its temp file): a sweep touches nothing else.
_OURS = re.compile(r"[0-9a-f]{32}\.jpg|\.[0-9a-f]{32}\.jpg\.[0-9]+\.tmp")
#: A write error is logged at most this often.
_ERROR_EVERY = 60.0


def name(digest: bytes) -> str:
    """The file name of the preview of the content with this digest."""
    return digest.hex() + SUFFIX


class ThumbCache:
    """The previews in `directory` (created on the first write)."""

    def __init__(self, directory: Path, mode: int = 0o644) -> None:
        self.directory, self.mode = directory, mode
        self._error_logged = -_ERROR_EVERY

    def path(self, digest: bytes) -> Path:
        return self.directory / name(digest)

    def has(self, digest: bytes) -> bool:
        try:
            return self.path(digest).stat().st_size > 0
        except OSError:
            return False

    def put(self, digest: bytes, jpeg: bytes) -> bool:
        """Store a preview unless one is there; whether the preview is there now."""
        if self.has(digest):
            return True
        return self._write(digest, lambda f: f.write(jpeg))

    def copy(self, digest: bytes, source: ThumbCache) -> bool:
        """Take the preview of `digest` from another cache: a hard link when both are on one file
        system, else a copy. Whether the preview is here now."""
        if self.has(digest):
            return True
        if not source.has(digest):
            return False
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            os.link(source.path(digest), self.path(digest))
            return True
        try:
            with source.path(digest).open("rb") as src:
                return self._write(digest, lambda f: shutil.copyfileobj(src, f))
        except OSError:
            return False  # swept from the source meanwhile

    def _write(self, digest: bytes, fill: Callable[[BinaryIO], object]) -> bool:
        target = self.path(digest)
        tmp = self.directory / f".{target.name}.{os.getpid()}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                fill(f)
                os.fchmod(f.fileno(), self.mode)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            now = time.monotonic()
            if now - self._error_logged >= _ERROR_EVERY:
                log.warning("cannot write previews in %s: %s (logged once a minute)", self.directory, exc.strerror)
                self._error_logged = now
            return False
        return True

    def sweep(self, keep: Collection[bytes]) -> int:
        """Remove every preview whose digest is not in `keep`, empty ones and leftover temp files
        (files of other names are left alone); how many."""
        wanted = {name(d) for d in keep}
        removed = 0
        for entry in self._entries():
            if entry in wanted and self.has(bytes.fromhex(entry[: -len(SUFFIX)])):
                continue
            with contextlib.suppress(OSError):
                (self.directory / entry).unlink()
                removed += 1
        if removed:
            log.debug("removed %d previews no page shows from %s", removed, self.directory)
        return removed

    def _entries(self) -> Iterable[str]:
        try:
            with os.scandir(self.directory) as it:
                names = [e.name for e in it if e.is_file(follow_symlinks=False)]
        except OSError:
            return []
        return [n for n in names if _OURS.fullmatch(n)]
