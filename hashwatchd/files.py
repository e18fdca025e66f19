"""The file system side: list the files of a tree that count, and open one safely.

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
from dataclasses import dataclass

from hashwatchd import formats, paths
from hashwatchd.errors import PhotoError
from hashwatchd.ignore import NO_RULES, Rules
from hashwatchd.model import FileStat, Found, Problem
from hashwatchd.source import FdSource

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Selection:
    """Which files of a tree count: not hidden (temporaries such as rsync's `.IMG_1.JPG.Xy12`,
    caches, litter), not on the ignore list, and, where `suffixes` is given, named like a photo,
    raw file or video (a library holds databases and previews that are nobody's photos; on a card
    every file counts, and content decides what it is)."""

    ignore: Rules = NO_RULES
    suffixes: frozenset[bytes] | None = formats.MEDIA_SUFFIXES

    def file(self, name: bytes) -> bool:
        if name[:1] == b".":
            return False
        if self.suffixes is not None and formats.suffix(name) not in self.suffixes:
            return False
        return not (self.ignore.names and self.ignore.file(name))

    def folder(self, rel: bytes) -> bool:
        """Whether a folder (its path below the root) is walked."""
        return not (self.ignore.folders and self.ignore.folder(rel))


def walk(
    root: bytes,
    excludes: Sequence[str] = (),
    *,
    follow_symlinks: bool = False,
    prune: Collection[bytes] = (),
    unlistable: Callable[[bytes, Problem], None] | None = None,
    select: Selection = Selection(),
) -> Iterator[Found]:
    """Every non-directory under `root` that `select` counts, `excludes` left out;
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
    skip = len(paths.prefix(root))
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
                if not entry.name.startswith(b".") and path not in prune and select.folder(path[skip:]):
                    stack.append(path)
            elif not stat.S_ISLNK(st.st_mode) and select.file(entry.name):
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


@contextlib.contextmanager
def open_source(path: bytes, *, follow_symlinks: bool = False) -> Iterator[tuple[FdSource, FileStat]]:
    """A Source over the regular file at `path`, and its stat; PhotoError when there is none.

    Opened with O_NOFOLLOW (a symlink is refused, not followed, unless `follow_symlinks`) and
    O_NONBLOCK (a FIFO named x.jpg cannot block us); the type is checked on the open descriptor,
    and the stat is taken again when the block is done, so a file rewritten while it was read is
    reported ('changed'), never fingerprinted half-old.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS & ~os.O_NOFOLLOW if follow_symlinks else _OPEN_FLAGS)
    except OSError as exc:
        raise _photo_error(exc) from None
    try:
        before = FileStat.of(os.fstat(fd))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PhotoError("not-a-regular-file", "not a regular file (FIFO, socket or device)")
        yield FdSource(fd, before.size), before
        if FileStat.of(os.fstat(fd)) != before:
            raise PhotoError("changed", "the file changed while it was being read")
    except OSError as exc:
        raise _photo_error(exc) from None
    finally:
        os.close(fd)


def _problem(exc: OSError) -> Problem:
    code, detail = _ERRNO_CODES.get(exc.errno or 0, ("io-error", exc.strerror or str(exc)))
    return Problem(code, detail)


def _photo_error(exc: OSError) -> PhotoError:
    problem = _problem(exc)
    return PhotoError(problem.code, problem.detail)


def root_parents(patterns: Sequence[bytes]) -> set[bytes]:
    """The existing directories where a root of `patterns` can appear or vanish by a folder being
    made, removed or renamed: a plain root's parent; for a glob, every existing directory its
    levels above the last one expand to (`/media`, `/media/me`, `/media/me/CARD` for
    `/media/*/*/DCIM`). One that does not exist is replaced by its nearest existing ancestor,
    where the first of the missing folders will appear."""
    out: set[bytes] = set()
    for pattern in patterns:
        parts = pattern.rstrip(b"/").split(b"/")
        first = next((k for k, part in enumerate(parts) if paths.is_glob(part)), len(parts) - 1)
        for k in range(max(first, 1), len(parts)):
            prefix = b"/".join(parts[:k]) or b"/"
            for directory in glob.glob(prefix) if paths.is_glob(prefix) else [prefix]:
                out.add(_existing(directory))
    return out


def _existing(directory: bytes) -> bytes:
    """`directory`, or its nearest ancestor that exists."""
    while not os.path.isdir(directory) and directory not in (b"", b"/"):
        directory = os.path.dirname(directory)
    return directory or b"/"


def expand_roots(patterns: Sequence[bytes]) -> list[bytes]:
    """Existing directories named by `patterns`; a pattern may be a glob (`/media/*/*/DCIM`)."""
    out: list[bytes] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if paths.is_glob(pattern) else [pattern]
        out += [m.rstrip(b"/") or b"/" for m in matches if os.path.isdir(m) and m not in out]
    return out
