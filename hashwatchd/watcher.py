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
  aliases of every file through a link to an ancestor);
- inotify cannot watch a folder it may not read, and watchdog never looks at it again: such
  folders do not count against the watch limit (one log line names them), a change of a
  folder's attributes (chmod) is passed on as a hint, and the folder and everything below it
  are watched from then on (issue 12, cases 3 and 4);
- stopping never waits long for watchdog: each polled root has its own observer, stopped in
  the background (its thread may be stuck in a snapshot of a share that went away), and stop()
  gives all of watchdog's threads STOP_TIMEOUT seconds in all, then names what it left
  behind (case 10).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, EventDispatcher, ObservedWatch
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

#: Seconds stop() waits for watchdog's threads in all, and unwatch() before it says what it waits for.
STOP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Hint:
    """Look at `path` again (kind "path"), rescan a whole `root` (kind "rescan"), look at the
    roots again because one may have come or gone (kind "roots": rootwatch.py), or only wake the
    daemon's loop (kind "wake": a signal arrived)."""

    kind: str
    path: bytes


class _Handler(FileSystemEventHandler):
    """The events of one root, as hints. A directory's attribute change (chmod, chown, touch) is a
    hint too: a folder that could not be read may have become readable, and no other event says
    so; `on_dir_attrib` lets the watcher watch it from then on. For the root itself that hint is a
    rescan: the daemon looks at paths under a root, never at the root's own path, and while the
    root could not be searched it could not look at anything created in it meanwhile."""

    def __init__(
        self, hints: queue.SimpleQueue[Hint], root: bytes, on_dir_attrib: Callable[[bytes], None] | None = None
    ) -> None:
        self._hints = hints
        self._root = root
        self._on_dir_attrib = on_dir_attrib

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type in ("modified", "closed"):
            return  # a file event inside says more; walking the folder on each would be quadratic
        if event.is_directory and event.event_type == "attrib":
            folder = os.fsencode(event.src_path)
            if self._on_dir_attrib is not None:
                self._on_dir_attrib(folder)
            if folder.rstrip(b"/") == self._root.rstrip(b"/"):
                self._hints.put(Hint("rescan", self._root))
                return
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


def count_dirs(root: bytes) -> tuple[int, list[bytes]]:
    """The directories under `root` (itself included) that can be listed, and those that cannot
    because we may not read them, without following symlinks. inotify can watch only the first
    kind, and cannot see into the second: a shortfall of watches is the limit only if it exceeds
    the unreadable ones."""
    total, unreadable, stack = 0, [], [root]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except PermissionError:
            unreadable.append(top)
            continue
        except OSError:
            continue  # vanished meanwhile
        total += 1
    return total, sorted(unreadable)


def _listdir(path: str | None) -> Iterator[os.DirEntry[str]]:
    """os.scandir for the poller, where a folder we may not read looks empty: watchdog already
    treats sub-folders so, but raises for the root, from schedule() (the daemon died of it)."""
    try:
        return os.scandir(path)
    except PermissionError:
        return iter(())


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
        self._poll_interval = poll_interval
        self._inotify: BaseObserver | None = None
        # one poller per polled root, so that stopping one never waits behind another's snapshot
        self._watches: dict[bytes, tuple[BaseObserver, ObservedWatch, str]] = {}
        self._stoppers: list[threading.Thread] = []
        self._trap = _OverflowTrap(self._overflowed)
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).addHandler(self._trap)
        self._limit_logged = False
        self._internals_logged = False
        self._stat: Callable[[str], os.stat_result] = os.lstat  # tests put slow or failing ones here
        self._listdir: Callable[[str | None], Iterator[os.DirEntry[str]]] = _listdir

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
        poller = PollingObserverVFS(stat=self._stat, listdir=self._listdir, polling_interval=self._poll_interval)
        watch = poller.schedule(_Handler(self.hints, root), os.fsdecode(root), recursive=True)
        poller.start()  # takes the first snapshot now: nothing changed after the daemon's walk is missed
        self._watches[root] = (poller, watch, "poll")
        return "poll"

    def _watch_inotify(self, root: bytes, *, strict: bool) -> bool:
        dirs, unreadable = count_dirs(root)
        if root in unreadable:
            # watchdog 7.1 ignores EACCES from inotify_add_watch, even for the root: it would
            # "watch" nothing and say nothing. The poller sees the root once it can be read.
            log.warning("%s cannot be read (permission denied): polling it until it can be read", os.fsdecode(root))
            return False
        try:
            if self._inotify is None:
                self._inotify = Observer()
                self._inotify.start()
            before = inotify_watch_count()
            handler = _Handler(self.hints, root, lambda path: self._watch_below(root, path))
            watch = self._inotify.schedule(handler, os.fsdecode(root), recursive=True)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):  # made unreadable since count_dirs looked
                log.warning("%s cannot be read (permission denied): polling it until it can be read", os.fsdecode(root))
                return False
            self._log_limit(root, f"inotify failed: {exc.strerror or exc}", strict)
            return False
        held = inotify_watch_count() - before
        if held < dirs:
            self._unschedule(self._inotify, watch, root)
            self._log_limit(root, f"only {held} of {dirs} directories could be watched", strict)
            return False
        if unreadable:
            log.warning(
                "%s: %d folder%s cannot be read (permission denied), e.g. %s; still watched with inotify, "
                "and read as soon as a change of permissions allows",
                os.fsdecode(root),
                len(unreadable),
                "s" * (len(unreadable) > 1),
                os.fsdecode(unreadable[0]),
            )
        self._watches[root] = (self._inotify, watch, "inotify")
        return True

    def _watch_below(self, root: bytes, path: bytes) -> None:
        """A folder under an inotify root changed its attributes: if we may read it now, make sure
        it and everything below it are watched (inotify could not watch it while it was
        unreadable, and watchdog adds watches only for folders created or moved in).

        Runs in watchdog's dispatching thread. Reaches into watchdog 7.1's watch group (no public
        call adds a watch below a scheduled root); if that is not there, says so once and leaves
        the folder to the daemon's walk and reconcile."""
        held = self._watches.get(root)
        if held is None or held[2] != "inotify" or not os.access(path, os.R_OK | os.X_OK):
            return
        observer, watch, _ = held
        try:
            group = observer._emitter_for_watch[watch]._inotify  # type: ignore[attr-defined]
            lock, add, known = group._lock, group._add_callback, group._active_callbacks_by_path
        except (AttributeError, KeyError):
            if not self._internals_logged:
                self._internals_logged = True
                log.warning(
                    "this watchdog version cannot be asked to watch %s now that it can be read: changes "
                    "below it are seen at the next reconcile",
                    os.fsdecode(path),
                )
            return
        with lock:
            if not group.is_active:
                return
            # Only folders not watched yet: re-adding a watched one rewrites watchdog's path maps,
            # which after moves out and back in can leave two descriptors on one path (its
            # deactivate() then fails with KeyError). A folder inotify refused (EACCES) is mapped
            # to descriptor -1: watchdog ignores that error and records the -1.
            todo = [path] + [
                os.path.join(top, d)
                for top, dirs, _ in os.walk(path)
                for d in dirs
                if not os.path.islink(os.path.join(top, d))
            ]
            for folder in todo:
                if known.get(folder, -1) < 0:
                    add(folder)

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
        """Stop watching `root` (it vanished, or was removed from the config). A poller is stopped in
        the background: its thread may be stuck in a snapshot of a share that went away. An inotify
        watch is removed at once, but if watchdog takes longer than STOP_TIMEOUT (its thread
        finishing a walk of a large new folder), this says so and goes on."""
        held = self._watches.pop(root, None)
        if not held:
            return
        observer, watch, mode = held
        if mode == "poll":
            self._stop_in_background(observer, f"the poller of {os.fsdecode(root)}")
        else:
            self._unschedule(observer, watch, root)

    def _unschedule(self, observer: BaseObserver, watch: ObservedWatch, root: bytes) -> None:
        def unschedule() -> None:
            with contextlib.suppress(KeyError, OSError):
                observer.unschedule(watch)

        worker = threading.Thread(target=unschedule, name=f"unwatch {os.fsdecode(root)}", daemon=True)
        worker.start()
        worker.join(STOP_TIMEOUT)
        if worker.is_alive():
            log.warning(
                "watchdog takes more than %g s to stop watching %s; going on without waiting",
                STOP_TIMEOUT,
                os.fsdecode(root),
            )
            self._stoppers.append(worker)

    def _stop_in_background(self, observer: BaseObserver, what: str) -> None:
        def stop() -> None:
            start = time.monotonic()
            try:
                observer.stop()
            except (KeyError, ValueError, OSError, RuntimeError) as exc:
                # watchdog's bookkeeping can fail here (KeyError in deactivate() after folders moved
                # out and back in): say so in one line, and let its dispatching thread end anyway
                log.warning("watchdog failed while stopping %s: %s: %s", what, type(exc).__name__, exc)
                with contextlib.suppress(Exception):
                    observer.event_queue.put_nowait(EventDispatcher.stop_event)
            observer.join(STOP_TIMEOUT)
            took = time.monotonic() - start
            if took > STOP_TIMEOUT:
                log.warning("%s took %.0f s to stop (a hung network share?)", what, took)

        stopper = threading.Thread(target=stop, name=what, daemon=True)
        stopper.start()
        self._stoppers = [t for t in self._stoppers if t.is_alive()] + [stopper]

    def stop(self) -> None:
        """Stop every observer; wait STOP_TIMEOUT seconds in all, then log what is still busy and
        return (watchdog's threads are daemon threads: they do not keep the process alive)."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).removeHandler(self._trap)
        for root, (observer, _, mode) in list(self._watches.items()):
            if mode == "poll":
                self._stop_in_background(observer, f"the poller of {os.fsdecode(root)}")
        self._watches.clear()
        if self._inotify is not None:
            self._stop_in_background(self._inotify, "the inotify observer")
            self._inotify = None
        for stopper in self._stoppers:
            stopper.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._stoppers if t.is_alive()]
        if stuck:
            log.warning(
                "not waiting any longer for watchdog after %g s: still busy: %s", STOP_TIMEOUT, "; ".join(stuck)
            )
