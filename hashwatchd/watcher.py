"""watchdog in, hints out: every file-system event becomes "look at this path again".

Events are hints, never facts (shared/research/reliability.md, section 2): the daemon re-lstats
each path and acts on what the disk says. This module also covers what watchdog 7.1 does not
tell its handler:
- an inotify queue overflow only logs a warning: a logging handler on watchdog's loggers turns
  it into a RESCAN hint for every inotify root;
- when the watch limit is hit, sub-directories are silently left unwatched: after scheduling a
  root we count the watches the kernel holds (/proc/self/fdinfo) against its directories, and
  poll the root instead when they fall short, logging once how to raise the limit;
- network file systems deliver no inotify events for remote changes: they are polled;
- polling uses lstat, so symlinks are not followed (watchdog's default stat would give 41
  aliases of every file through a link to an ancestor).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import warnings
from dataclasses import dataclass

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserverVFS

log = logging.getLogger(__name__)

NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "fuse.sshfs",
        "sshfs",
        "9p",
        "afs",
        "ceph",
        "fuse.glusterfs",
        "glusterfs",
        "lustre",
        "fuse.rclone",
        "davfs",
        "fuse.davfs2",
        "ncpfs",
    }
)

MODES = ("auto", "inotify", "poll")


@dataclass(frozen=True, slots=True)
class Hint:
    """Look at `path` again (kind "path"), or rescan a whole `root` (kind "rescan")."""

    kind: str
    path: bytes


class _Handler(FileSystemEventHandler):
    def __init__(self, hints: queue.SimpleQueue[Hint]) -> None:
        self._hints = hints

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type in ("modified", "attrib", "closed"):
            return  # a file event inside says more; walking the folder on each would be quadratic
        for path in (event.src_path, event.dest_path):
            if path:
                self._hints.put(Hint("path", os.fsencode(path)))


class _OverflowTrap(logging.Handler):
    """watchdog logs "queue overflowed" and tells no handler; we turn it into rescans."""

    def __init__(self, on_overflow: object) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()  # type: ignore[operator]


def mount_of(path: bytes) -> tuple[str, set[str]]:
    """(file-system type, mount options) of the mount holding `path`, from /proc/self/mountinfo."""
    best, kind, options = b"", "", set[str]()
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return "", set()
    for line in lines:
        left, _, right = line.partition(b" - ")
        fields = left.split()
        if len(fields) < 6 or not right:
            continue
        mount = fields[4].replace(b"\\040", b" ")
        inside = target == mount or target.startswith(mount.rstrip(b"/") + b"/")
        if inside and len(mount) >= len(best):
            best, kind = mount, right.split()[0].decode("ascii", "replace")
            options = set(fields[5].decode("ascii", "replace").split(","))
    return kind, options


def inotify_watch_count() -> int:
    """Watches held by all inotify instances of this process (one `inotify wd:` line each)."""
    total = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                total += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


def count_dirs(root: bytes) -> int:
    """Directories under `root`, itself included, without following symlinks."""
    total, stack = 0, [root]
    while stack:
        top = stack.pop()
        total += 1
        try:
            with os.scandir(top) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return total


def _quiet_watchdog_warnings() -> None:
    """Keep two of watchdog 7.1's warnings out of the log.

    A folder moved out of a watched tree keeps its inotify watch (watchdog drops nothing on a move
    out); moved back in, watchdog registers the same callback on that watch again and warns
    "Callback with id ... already exists for watch ... It will be Overwritten" (and, on removal,
    "... does not exist ... cannot be removed"). The callback replaces itself, so nothing is wrong,
    but the message formats a bound method instead of calling it and prints watchdog's whole watch
    table: one line of thousands of characters on each move. Idempotent: filterwarnings moves an
    existing equal filter to the front rather than adding another.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"Callback with id .* (already exists|does not exist)",
        category=RuntimeWarning,
        module=r"watchdog\.",
    )


class Watcher:
    """Watches roots with inotify (or polling) and feeds one queue of hints."""

    def __init__(self, hints: queue.SimpleQueue[Hint], poll_interval: float) -> None:
        _quiet_watchdog_warnings()
        self.hints = hints
        self._inotify: BaseObserver | None = None
        self._poller = PollingObserverVFS(stat=os.lstat, listdir=os.scandir, polling_interval=poll_interval)
        self._poller.start()
        self._watches: dict[bytes, tuple[BaseObserver, ObservedWatch, str]] = {}
        self._handler = _Handler(hints)
        self._trap = _OverflowTrap(self._overflowed)
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).addHandler(self._trap)
        self._limit_logged = False

    def _overflowed(self) -> None:
        for root, (_, _, mode) in list(self._watches.items()):
            if mode == "inotify":
                self.hints.put(Hint("rescan", root))

    def watch(self, root: bytes, mode: str = "auto") -> str:
        """Start watching `root` recursively; return the mode actually used."""
        self.unwatch(root)
        use_poll = mode == "poll"
        kind, options = mount_of(root)
        if mode == "auto" and kind in NETWORK_FS:
            log.warning(
                "%s is on a network file system (%s): polling it, inotify sees no remote changes",
                os.fsdecode(root),
                kind,
            )
            use_poll = True
        elif mode == "auto" and "ro" in options:
            log.warning(
                "%s is on a read-only mount: polling it (changes made through another mount of the "
                "same file system do not reach inotify here)",
                os.fsdecode(root),
            )
            use_poll = True
        if not use_poll:
            used = self._watch_inotify(root, strict=mode == "inotify")
            if used:
                return "inotify"
        watch = self._poller.schedule(self._handler, os.fsdecode(root), recursive=True)
        self._watches[root] = (self._poller, watch, "poll")
        return "poll"

    def _watch_inotify(self, root: bytes, *, strict: bool) -> bool:
        try:
            if self._inotify is None:
                self._inotify = Observer()
                self._inotify.start()
            before = inotify_watch_count()
            dirs = count_dirs(root)
            watch = self._inotify.schedule(self._handler, os.fsdecode(root), recursive=True)
        except OSError as exc:
            self._log_limit(root, f"inotify failed: {exc.strerror or exc}", strict)
            return False
        held = inotify_watch_count() - before
        if held < dirs:
            self._inotify.unschedule(watch)
            self._log_limit(root, f"only {held} of {dirs} directories could be watched", strict)
            return False
        self._watches[root] = (self._inotify, watch, "inotify")
        return True

    def _log_limit(self, root: bytes, why: str, strict: bool) -> None:
        action = "polling it (watch: inotify was asked for; it cannot work here)" if strict else "polling it"
        advice = ""
        if not self._limit_logged:
            self._limit_logged = True
            advice = (
                "; raise the limit with `sysctl fs.inotify.max_user_watches=524288` "
                "(and fs.inotify.max_user_instances) to get instant updates"
            )
        log.warning("%s: %s; %s%s", os.fsdecode(root), why, action, advice)

    def unwatch(self, root: bytes) -> None:
        """Stop watching `root` (it vanished, or was removed from the config)."""
        held = self._watches.pop(root, None)
        if held:
            observer, watch, _ = held
            with contextlib.suppress(KeyError, OSError):
                observer.unschedule(watch)

    def stop(self) -> None:
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).removeHandler(self._trap)
        for observer in (self._inotify, self._poller):
            if observer is not None:
                observer.stop()
        for observer in (self._inotify, self._poller):
            if observer is not None:
                observer.join(timeout=5)
