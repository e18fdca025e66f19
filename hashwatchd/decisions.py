"""What a person decided about needle folders and files: "I will not import these" (a friend's
card, screenshots). `hashwatchd ignore PATH` records it, `unignore PATH` takes it back, and the
`ignore_folders` config key decides it by glob. A decided folder stays in the status file, marked
`"ignored": true` with its counts; a decided file counts as `ignored_files`, not as to be
imported; and neither is among what is left to import.

The decisions live in a small JSON file in the state directory, beside the index rather than in
it: the index has one writer, the daemon, and `hashwatchd ignore` must work while it runs (the
daemon reads the file again when it changes); and `scan --rebuild`, which discards the index
because it holds nothing that cannot be computed again from the photos, must not forget what a
person decided.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hashwatchd import paths, publish
from hashwatchd.errors import ConfigError

FILE = "decisions.json"
SCHEMA = 1


@dataclass(frozen=True)
class Decisions:
    """The paths decided not to import, and the config's globs that decide it too.

    A glob with a slash is a path (`/media/me/FRIEND*`, `~/Imports/friends/*`): it matches a
    needle folder or file, or any folder above it, even above the needle root (a whole card).
    A glob without one is a name (`Screenshots`): it matches the name of the folder or file, or
    of a folder between it and its needle root, never the root's own name or those above it
    (`DCIM` must not ignore every card of a `/media/*/*/DCIM` root); names ignore case, as the
    `ignore` list's do.
    """

    ignored: frozenset[bytes] = frozenset()
    globs: tuple[str, ...] = ()

    def folder(self, root: bytes, directory: bytes) -> bool:
        """Whether a whole folder of needle root `root` is decided: it, or a folder above it, is
        recorded or matches a glob."""
        return self.covering(directory) is not None or self.glob_covering(directory, root) is not None

    def file(self, root: bytes, path: bytes) -> bool:
        """Whether one file is decided by itself (its folder is asked with `folder`)."""
        name = os.path.basename(path)
        return path in self.ignored or any(self._matches(g, path, name) for g in self.globs)

    def covering(self, path: bytes) -> bytes | None:
        """The recorded path that is `path` or a folder above it, if one is."""
        return next((d for d in sorted(self.ignored) if paths.within(path, d)), None)

    def glob_covering(self, path: bytes, root: bytes | None) -> str | None:
        """The glob that matches `path` or a folder above it (a name glob: only up to `root`,
        exclusive; every name when `root` is None), if one does."""
        while path not in (b"", b"/"):
            below = root is None or paths.below(path, root)
            name = os.path.basename(path) if below else None
            if glob := next((g for g in self.globs if self._matches(g, path, name)), None):
                return glob
            path = os.path.dirname(path)
        return None

    @staticmethod
    def _matches(glob: str, path: bytes, name: bytes | None) -> bool:
        """Whether `glob` matches `path` (a path glob) or `name` (a name glob; None: no name may match)."""
        if is_path_glob(glob):
            return fnmatch.fnmatchcase(os.fsdecode(path), glob.rstrip("/"))
        return name is not None and fnmatch.fnmatchcase(os.fsdecode(name).casefold(), glob.rstrip("/").casefold())


def is_path_glob(glob: str) -> bool:
    """Whether a glob of `ignore_folders` names a path (it has a slash before its end) rather than a name."""
    return "/" in glob.rstrip("/")


def load(state_dir: Path, globs: Sequence[str] = ()) -> Decisions:
    """The decisions recorded in `state_dir` (none when there is no file yet), with `globs`."""
    path = state_dir / FILE
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Decisions(globs=tuple(globs))
    except PermissionError:
        raise _unusable(
            path,
            f"permission denied for uid {os.geteuid()}: `hashwatchd ignore` must run as the user the daemon "
            "runs as (sudo -u USER hashwatchd ignore ...)",
        ) from None
    except (OSError, ValueError) as exc:
        raise _unusable(path, str(exc)) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("ignored"), list):
        raise _unusable(path, f"not a decisions file of schema {SCHEMA}")
    if not all(isinstance(p, str) for p in doc["ignored"]):
        raise _unusable(path, '"ignored" holds something else than paths')
    return Decisions(frozenset(os.fsencode(p) for p in doc["ignored"]), tuple(globs))


def _unusable(path: Path, why: str) -> ConfigError:
    return ConfigError(
        str(path),
        "",
        message=f"{path}: cannot use the decisions of `hashwatchd ignore` ({why}); "
        "correct it, or delete it and record them again",
    )


def stamp(state_dir: Path) -> tuple[int, int, int] | None:
    """What tells that the file changed (it is replaced by a rename: its inode; an edit: its
    mtime; a chown or chmod that makes it readable: its ctime), or None."""
    try:
        st = os.stat(state_dir / FILE)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def save(state_dir: Path, ignored: Iterable[bytes]) -> None:
    """Record these paths as decided, atomically (a daemon may read the file at any moment). Run
    as root (`sudo hashwatchd ignore` beside a system service), the file belongs to the state
    directory's owner, the user the daemon runs as: a root-owned 0600 file it could not read."""
    doc = {"schema": SCHEMA, "ignored": sorted(os.fsdecode(p) for p in ignored)}
    owner = None
    if os.geteuid() == 0:
        st = os.stat(state_dir)
        owner = (st.st_uid, st.st_gid)
    publish.write_json(state_dir / FILE, doc, 0o600, owner)
