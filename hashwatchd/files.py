"""The file system side: list photo files under a root, and read one safely.

Paths are bytes throughout: on Linux a file name is any bytes, and decoding it (then encoding
it back) would drop or mangle names that are not UTF-8.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import stat
from collections.abc import Callable, Collection, Iterator, Sequence

from hashwatchd import formats, paths
from hashwatchd.errors import PhotoError
from hashwatchd.model import FileStat, Found, Problem

log = logging.getLogger(__name__)

#: Files larger than this are refused before reading (no photo format needs more).
MAX_FILE_BYTES = 1 << 30

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC

_ERRNO_CODES = {
    errno.ENOENT: ("vanished", "the file disappeared before it could be read"),
    errno.EACCES: ("permission-denied", "permission denied"),
    errno.EPERM: ("permission-denied", "permission denied"),
    errno.ELOOP: ("symlink", "a symbolic link, not followed"),
    errno.EIO: ("io-error", "input/output error (failing disk or card?)"),
}


#: Builds a NamedTuple from a tuple in C: the generated __new__ is Python code, and a rescan
#: calls it twice per file.
_new = tuple.__new__


def is_candidate(name: bytes) -> bool:
    """Whether a directory entry name may be a photo: an image suffix, and not hidden.

    Hidden names include the temporaries rsync and many copy tools write (`.IMG_1.JPG.Xy12`)
    before renaming them into place.
    """
    return name[:1] != b"." and formats.has_image_suffix(name)


def walk(
    root: bytes,
    excludes: Sequence[str] = (),
    *,
    follow_symlinks: bool = False,
    prune: Collection[bytes] = (),
    unlistable: Callable[[bytes, Problem], None] | None = None,
) -> Iterator[Found]:
    """Every photo-named non-directory under `root`, hidden names and `excludes` left out;
    symbolic links are skipped unless `follow_symlinks`, and then each directory is entered once
    (by device and inode), so a link to an ancestor cannot loop. Directories in `prune` (other
    roots nested inside this one) are not entered.

    A directory that cannot be listed (or whose entries cannot be looked at: read but no search
    permission) is skipped and handed to `unlistable` with the reason: one unreadable folder must
    not hide the rest of a library, and it is not an empty one either. A directory that vanished
    while being walked is simply gone.
    """
    seen: set[tuple[int, int]] = set()
    if follow_symlinks:
        with contextlib.suppress(OSError):
            st = os.stat(root)
            seen.add((st.st_dev, st.st_ino))
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError as exc:
            _unlistable(top, exc, unlistable)
            continue
        for entry in entries:
            path = entry.path
            if excludes and paths.excluded(path, excludes):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if follow_symlinks and stat.S_ISLNK(st.st_mode):
                    st = os.stat(path)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM) and not entry.is_symlink():
                    _unlistable(top, exc, unlistable)
                    break
                continue  # vanished between listing and stat, or a dangling link
            if stat.S_ISDIR(st.st_mode):
                if follow_symlinks:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                if not entry.name.startswith(b".") and path not in prune:
                    stack.append(path)
            elif not stat.S_ISLNK(st.st_mode) and is_candidate(entry.name):
                fs = _new(FileStat, (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns))
                yield _new(Found, (path, fs, stat.S_ISREG(st.st_mode)))


def gone(exc: OSError) -> bool:
    """Whether an error on a path means it is not there (rather than there but unreadable: a
    file or folder we may not read is not a deleted one)."""
    return exc.errno in (errno.ENOENT, errno.ENOTDIR)


def _unlistable(top: bytes, exc: OSError, report: Callable[[bytes, Problem], None] | None) -> None:
    if gone(exc):
        return  # removed while we walked
    problem = _problem(exc)
    log.warning(
        "cannot list %s: %s; its files are kept as they were and looked at again", os.fsdecode(top), problem.detail
    )
    if report is not None:
        report(top, Problem(problem.code, f"the folder cannot be listed ({problem.detail})"))


def read_photo(
    path: bytes, max_bytes: int = MAX_FILE_BYTES, *, follow_symlinks: bool = False
) -> tuple[bytes, FileStat]:
    """The bytes of a regular file and the stat they belong to, or PhotoError.

    Opened with O_NOFOLLOW (a symlink is refused, not followed, unless `follow_symlinks`) and
    O_NONBLOCK (a FIFO named x.jpg cannot block us); the type is checked on the open
    descriptor, and the stat is taken again after reading so a file rewritten meanwhile is
    reported, not hashed half-old.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS & ~os.O_NOFOLLOW if follow_symlinks else _OPEN_FLAGS)
    except OSError as exc:
        raise _photo_error(exc) from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise PhotoError("not-a-regular-file", "not a regular file (FIFO, socket or device)")
        if before.st_size > max_bytes:
            raise PhotoError("too-large", f"too large: {before.st_size:,} bytes")
        with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
            data = f.read()  # one allocation of the right size: fstat tells io how much to expect
        after = os.fstat(fd)
    except OSError as exc:
        raise _photo_error(exc) from None
    finally:
        os.close(fd)
    fs = FileStat.of(after)
    if FileStat.of(before) != fs:
        raise PhotoError("changed", "the file changed while it was being read")
    return data, fs


def _problem(exc: OSError) -> Problem:
    code, detail = _ERRNO_CODES.get(exc.errno or 0, ("io-error", exc.strerror or str(exc)))
    return Problem(code, detail)


def _photo_error(exc: OSError) -> PhotoError:
    problem = _problem(exc)
    return PhotoError(problem.code, problem.detail)


def expand_roots(patterns: Sequence[bytes]) -> list[bytes]:
    """Existing directories named by `patterns`; a pattern may be a glob (`/media/*/*/DCIM`)."""
    out: list[bytes] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if paths.is_glob(pattern) else [pattern]
        out += [m.rstrip(b"/") or b"/" for m in matches if os.path.isdir(m) and m not in out]
    return out
