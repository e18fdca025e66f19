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
    """The paths decided not to import, and the config's globs that decide it too."""

    ignored: frozenset[bytes] = frozenset()
    globs: tuple[str, ...] = ()

    def folder(self, directory: bytes) -> bool:
        """Whether a whole folder is decided: it, or a folder above it, is recorded or matches a glob."""
        return self.covering(directory) is not None or self.glob_covering(directory) is not None

    def file(self, path: bytes) -> bool:
        """Whether one file is decided by itself (its folder is asked with `folder`)."""
        return path in self.ignored or self._glob(path) is not None

    def covering(self, path: bytes) -> bytes | None:
        """The recorded path that is `path` or a folder above it, if one is."""
        return next((d for d in sorted(self.ignored) if paths.within(path, d)), None)

    def glob_covering(self, path: bytes) -> str | None:
        """The glob that matches `path` or a folder above it, if one does."""
        if not self.globs:
            return None
        while path not in (b"", b"/"):
            if glob := self._glob(path):
                return glob
            path = os.path.dirname(path)
        return None

    def _glob(self, path: bytes) -> str | None:
        """The glob that matches `path` itself: the whole path, or its name for a glob without a slash."""
        text = os.fsdecode(path)
        name = text.rpartition("/")[2]
        return next(
            (g for g in self.globs if fnmatch.fnmatchcase(text if "/" in g.rstrip("/") else name, g.rstrip("/"))),
            None,
        )


def load(state_dir: Path, globs: Sequence[str] = ()) -> Decisions:
    """The decisions recorded in `state_dir` (none when there is no file yet), with `globs`."""
    path = state_dir / FILE
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Decisions(globs=tuple(globs))
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


def stamp(state_dir: Path) -> tuple[int, int] | None:
    """What tells that the file changed ((mtime_ns, inode): it is replaced by a rename), or None."""
    try:
        st = os.stat(state_dir / FILE)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino


def save(state_dir: Path, ignored: Iterable[bytes]) -> None:
    """Record these paths as decided, atomically (a daemon may read the file at any moment)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {"schema": SCHEMA, "ignored": sorted(os.fsdecode(p) for p in ignored)}
    publish.write_json(state_dir / FILE, doc, 0o600)
