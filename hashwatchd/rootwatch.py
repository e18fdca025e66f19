"""What tells the daemon, without polling, that a root may have come or gone.

A root appears or vanishes in two ways no watch of the roots themselves reports: a file system
is mounted or unmounted (a card inserted or pulled, a share coming back), or a folder is made,
removed or renamed where a root pattern points (`~/Dumps/NEW` under `~/Dumps/*`, `~/Imports`
created after the daemon started, a card folder moved away). The kernel says both: it marks
/proc/self/mountinfo with POLLPRI when the mount table changes, and inotify reports folders
created, deleted or moved in the directories above the roots (roots.py computes which). One
thread blocks in poll() on both and calls `on_change`; while nothing happens it never wakes.

This is a second inotify instance of its own, with a kernel mask that leaves out file writes and
attribute changes, rather than more watchdog watches: its watches can overlap the roots' (a
needle folder inside the library) without sharing watchdog's bookkeeping of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import struct
import threading
from collections.abc import Callable, Collection

log = logging.getLogger(__name__)

_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_UNMOUNT, _IN_Q_OVERFLOW, _IN_IGNORED = 0x400, 0x800, 0x2000, 0x4000, 0x8000
_IN_ONLYDIR, _IN_ISDIR = 0x01000000, 0x40000000
_MASK = _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR
#: Events that may mean a root came or went: a folder made, removed or moved, or the watched folder itself.
_ROOTS_MAY_CHANGE = _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_UNMOUNT | _IN_Q_OVERFLOW
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name


class RootWatch:
    """Calls `on_change` (from its own thread) when a mount, or a folder in one of the directories
    given to `watch`, changes. Without inotify or /proc, it says so once and the daemon's periodic
    check of its roots is all there is."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._lock = threading.Lock()
        self._wds: dict[bytes, int] = {}
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            log.warning(
                "cannot watch the folders above the roots (inotify: %s): new roots are found by the periodic check",
                os.strerror(ctypes.get_errno()),
            )
        try:
            self._mounts: int = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot watch mounts (/proc/self/mountinfo: %s): they are found by the periodic check", exc)
            self._mounts = -1
        if self._fd >= 0 or self._mounts >= 0:
            threading.Thread(target=self._run, name="root-watch", daemon=True).start()

    def watch(self, directories: Collection[bytes]) -> None:
        """Watch exactly these directories (not below them) from now on; one that cannot be
        watched (gone meanwhile, not readable) is left to the periodic check."""
        if self._fd < 0:
            return
        wanted = set(directories)
        with self._lock:
            for path in [p for p in self._wds if p not in wanted]:
                self._libc.inotify_rm_watch(self._fd, self._wds.pop(path))
            for path in wanted - set(self._wds):
                wd = self._libc.inotify_add_watch(self._fd, path, _MASK)
                if wd >= 0:
                    self._wds[path] = wd
                else:
                    log.debug("not watching %s for new roots: %s", os.fsdecode(path), os.strerror(ctypes.get_errno()))

    def _run(self) -> None:
        poller = select.poll()
        if self._fd >= 0:
            poller.register(self._fd, select.POLLIN)
        if self._mounts >= 0:
            poller.register(self._mounts, select.POLLPRI)
        try:
            while True:
                changed = False
                for fd, events in poller.poll():
                    if events & (select.POLLNVAL | select.POLLHUP):
                        poller.unregister(fd)  # closed under us: never spin on it
                    elif fd == self._mounts:
                        changed = True  # the kernel re-arms POLLPRI when the table changes again
                    else:
                        changed |= self._read_events()
                if changed:
                    self._on_change()
        except Exception:
            log.exception("the watch of mounts and of the folders above the roots stopped; the periodic check remains")

    def _read_events(self) -> bool:
        """Read what inotify has; whether any of it may mean a root came or went."""
        with contextlib.suppress(BlockingIOError):
            data = os.read(self._fd, 64 * 1024)
            changed, at = False, 0
            while at + _EVENT.size <= len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, at)
                at += _EVENT.size + size
                if mask & _IN_IGNORED:  # the watched folder went: its watch is gone
                    with self._lock:
                        self._wds = {p: w for p, w in self._wds.items() if w != wd}
                changed |= bool(mask & _IN_ISDIR or mask & _ROOTS_MAY_CHANGE)
            return changed
        return False
