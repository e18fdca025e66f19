"""Where a path lies: under which root, in which report folder, hidden or excluded.

Pure functions on byte paths (a Linux file name is any bytes; decoding it would mangle names
that are not UTF-8). Every module that asks "is this under that" asks here, so a root given
with a trailing slash, the root `/`, and a sibling that shares a prefix (`/a/b` and `/a/bc`)
are handled the same way everywhere.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence


def prefix(top: bytes) -> bytes:
    """What every path strictly below directory `top` starts with."""
    return top.rstrip(b"/") + b"/"


def below(path: bytes, top: bytes) -> bool:
    """Whether `path` lies strictly below directory `top`."""
    return path.startswith(prefix(top))


def within(path: bytes, top: bytes) -> bool:
    """Whether `path` is `top` or lies below it."""
    return path == top.rstrip(b"/") or path == top or below(path, top)


def root_of(path: bytes, roots: Iterable[bytes]) -> bytes | None:
    """The innermost root that `path` lies strictly below, or None.

    Innermost: with a needle folder inside the library (`~/Pictures/Imports` in `~/Pictures`),
    a file there belongs to the needle root alone.
    """
    best = None
    for root in roots:
        if below(path, root) and (best is None or len(root) > len(best)):
            best = root
    return best


def folder_key(path: bytes, roots: Iterable[bytes]) -> tuple[bytes, bytes] | None:
    """(root, directory relative to it) of a needle file: the report's folder; None outside the roots.

    `2019/Misc` and `2020/Misc` are two folders; a file directly in the root is in folder `.`.
    """
    root = root_of(path, roots)
    if root is None:
        return None
    return root, os.path.relpath(os.path.dirname(path), root)


def hidden_below(path: bytes, root: bytes) -> bool:
    """Whether any component of `path` below `root` is hidden (a temporary or a dot folder)."""
    rel = path[len(prefix(root)) :]
    return any(part.startswith(b".") for part in rel.split(b"/"))


def excluded(path: bytes, patterns: Sequence[str]) -> bool:
    """Whether `path` matches one of the glob `patterns` (matched against the whole path)."""
    if not patterns:
        return False
    text = os.fsdecode(path)
    return any(fnmatch.fnmatchcase(text, p) for p in patterns)


def is_glob(pattern: bytes) -> bool:
    """Whether a root pattern is a glob (`/media/*/*/DCIM`) rather than one directory."""
    return any(c in pattern for c in b"*?[")


def pattern_of(path: bytes, patterns: Iterable[bytes]) -> bytes | None:
    """The root pattern that `path` is or lies under (a glob matched component by component), or None."""
    for pattern in patterns:
        base = pattern.rstrip(b"/")
        if within(path, pattern):
            return pattern
        if is_glob(pattern):
            head = b"/".join(path.split(b"/")[: len(base.split(b"/"))])
            if fnmatch.fnmatchcase(head, base):
                return pattern
    return None
