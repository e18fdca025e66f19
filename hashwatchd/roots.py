"""The daemon's roots: which configured directories exist now, and which are watched.

A root pattern may be a glob (`/media/*/*/DCIM`) that expands to several directories as cards
come and go. A root that vanishes, or whose directory is no longer the one it was (another
device or inode: a share unmounted under its mount point), goes *offline*: it is no longer
watched, nothing is deleted because of it, and its folders stay in the report with
`"online": false` (a pulled card or a dropped share must not look like deleted photos).

An offline root comes back online when its directory is there and either is the very directory
the index's entries came from (same device and inode, as the engine remembers across restarts:
files missing from it were deleted), or holds something, or the index holds nothing under it.
An empty directory that is another one stays offline, without flapping: that is what an
unmounted share's mount point looks like.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hashwatchd import files, paths
from hashwatchd.engine import Engine
from hashwatchd.logs import NOTICE
from hashwatchd.model import Role
from hashwatchd.watcher import Watcher

log = logging.getLogger(__name__)


@dataclass
class Root:
    """A concrete root directory (a glob pattern may expand to several)."""

    path: bytes
    role: Role
    pattern: bytes
    identity: tuple[int, int] = (0, 0)  # (device, inode) of the directory while online
    online: bool = False
    mode: str = ""  # how it is watched: inotify or poll
    waiting: str = ""  # why it stays offline, as last logged


@dataclass(frozen=True)
class Change:
    """A root came online, went offline, or left the configuration (`kind`)."""

    kind: str  # "online", "offline" or "dropped"
    root: Root
    why: str = ""


class RootSet:
    """Every root the configuration names, online or not, and their watches."""

    def __init__(self, watcher: Watcher, watch_mode: Callable[[bytes], str], engine: Engine) -> None:
        self._watcher = watcher
        self._watch_mode = watch_mode
        self._engine = engine
        self.roots: dict[bytes, Root] = {}
        self.version = 0  # changes whenever a root comes, goes or is dropped

    def check(self, patterns: Sequence[tuple[Role, bytes]], *, initial: bool = False) -> list[Change]:
        """Bring roots online as they appear, take them offline as they vanish (never delete),
        drop those no pattern names any more; return what changed."""
        wanted: dict[bytes, tuple[Role, bytes]] = {}
        for role, pattern in patterns:
            expanded = files.expand_roots([pattern])
            if not expanded and initial:
                log.warning(
                    "%s root %s does not exist (yet); it is picked up when it appears", role.value, os.fsdecode(pattern)
                )
            for path in expanded:
                wanted.setdefault(path, (role, pattern))
        changes = []
        for path, root in list(self.roots.items()):
            if path not in wanted and (root.role, root.pattern) not in patterns:
                self._watcher.unwatch(path)
                del self.roots[path]
                changes.append(Change("dropped", root))
                log.info("%s root %s removed from the configuration", root.role.value, os.fsdecode(path))
            elif root.online and not self.present(root):
                changes.append(self.take_offline(root, "it vanished, or its directory is another one now"))
        for path, (role, pattern) in wanted.items():
            root = self.roots.setdefault(path, Root(path, role, pattern))
            if root.online:
                continue
            identity, why = self._blocked(root)
            if identity is None:
                continue
            if why:
                if why != root.waiting:
                    log.warning("%s root %s stays offline: %s", role.value, os.fsdecode(path), why)
                    root.waiting = why
                continue
            root.identity, root.waiting = identity, ""
            self._engine.record_identity(path, identity)
            root.mode = self._watcher.watch(root.path, self._watch_mode(root.pattern))
            root.online = True
            log.log(
                logging.INFO if initial else NOTICE,
                "%s root %s online (%s)",
                root.role.value,
                os.fsdecode(root.path),
                root.mode,
            )
            changes.append(Change("online", root))
        self.version += bool(changes)
        return changes

    def _blocked(self, root: Root) -> tuple[tuple[int, int] | None, str]:
        """(identity of the directory there now or None, why it must stay offline or "")."""
        identity = _identity(root.path)
        if identity is None:
            return None, ""
        known = self._engine.identities.get(root.path)
        if (
            known is None
            or identity == known
            or not self._engine.holds(root.role, root.path)
            or _holds_anything(root.path)
        ):
            return identity, ""
        return identity, (
            "it is empty and is not the directory its indexed files came from (an unmounted share?); "
            "its folders are kept until that directory comes back or it holds files"
        )

    def take_offline(self, root: Root, why: str) -> Change:
        """Stop watching `root`; its entries stay."""
        log.warning("%s root %s is offline (%s); its entries are kept", root.role.value, os.fsdecode(root.path), why)
        self._watcher.unwatch(root.path)
        root.online = False
        self.version += 1
        return Change("offline", root, why)

    def present(self, root: Root) -> bool:
        """Whether `root` is there, and is the directory it was when it came online."""
        return _identity(root.path) == root.identity

    def of(self, path: bytes) -> Root | None:
        """The innermost online root `path` lies below."""
        best = paths.root_of(path, [p for p, r in self.roots.items() if r.online])
        return None if best is None else self.roots[best]

    def online(self) -> list[Root]:
        return [r for r in self.roots.values() if r.online]

    def of_role(self, role: Role) -> list[bytes]:
        """The paths of every root of `role`, online or not."""
        return [p for p, r in self.roots.items() if r.role is role]

    def offline(self) -> set[bytes]:
        return {p for p, r in self.roots.items() if not r.online}

    def roles(self) -> dict[bytes, Role]:
        """Every root's role: what the engine needs to place a file."""
        return {p: r.role for p, r in self.roots.items()}


def _identity(path: bytes) -> tuple[int, int] | None:
    """(device, inode) of the directory at `path`, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _holds_anything(path: bytes) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is not None
    except OSError:
        return False
