"""`hashwatchd run`: keep the index and the status file true while the trees change.

One thread does the work (this module's loop); watchdog's threads, the watch of mounts and of
the folders above the roots (rootwatch.py) and the signal handlers only put hints on a queue,
and the loop sleeps on it until a hint comes or the next thing it must do on a clock is due.
Start-up order loses nothing: load the index, start the watchers, tell systemd READY, then
reconcile every root with the disk (changes made while we were down are found there), then
serve hints. The loop only wires its collaborators together: the roots (roots.py), the intake
of hints and settled files (intake.py), the engine that holds the index and judges
(engine.py), the status file (status.py) and the completion hook (hooks.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from hashwatchd import files, paths, systemd
from hashwatchd.config import Settings
from hashwatchd.engine import Engine, Stopped
from hashwatchd.errors import ConfigError, HashwatchdError, StoreError, WorkerError
from hashwatchd.hooks import Hooks
from hashwatchd.intake import Intake
from hashwatchd.logs import NOTICE
from hashwatchd.model import Role, Status
from hashwatchd.report import FolderReport, State
from hashwatchd.roots import Change, RootSet
from hashwatchd.rootwatch import RootWatch
from hashwatchd.settle import Settler
from hashwatchd.status import StatusWriter
from hashwatchd.store import Store
from hashwatchd.thumbcache import ThumbCache
from hashwatchd.visual import PageWriter
from hashwatchd.watcher import Hint, Watcher
from hashwatchd.workers import Pool

log = logging.getLogger(__name__)

#: Seconds between the loop's checks of what sends no event: roots (checked at once too when
#: rootwatch.py sees a mount or a folder above them change), the index file, a full disk that may
#: have room again, the decisions of `hashwatchd ignore`. With nothing to do the loop sleeps this long.
HOUSEKEEPING = 10.0
#: Seconds between two looks at running completion hooks (only while one runs).
HOOK_CHECK = 1.0
#: Seconds a stop may take before the log says what it waits for (and again every as many).
STOP_REPORT = 5.0
#: Previews the visual report makes per write (about 30 ms each on a core): the loop stays responsive.
PREVIEW_BUDGET = 32


def _stack(frame: FrameType | None) -> list[FrameType]:
    """The frames of a stack, innermost first, at most 8."""
    out: list[FrameType] = []
    while frame is not None and len(out) < 8:
        out.append(frame)
        frame = frame.f_back
    return out


def _return_free_heap() -> None:
    """Hand the heap pages freed by the start-up pass back to the kernel: glibc keeps them,
    notably in the arenas of the threads that scanned the library for the needles; malloc_trim
    is its call for this. Elsewhere than glibc, nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Daemon:
    """The long-running service. `run()` returns the process exit code."""

    def __init__(self, settings: Settings, reload: Callable[[], Settings]) -> None:
        self.settings = settings
        self._reload = reload
        self.hints: queue.SimpleQueue[Hint] = queue.SimpleQueue()
        self.settler = Settler(settings.settle)
        self.state = State.SCANNING
        self._stopping = False
        self._reload_asked = False
        self.pool: Pool | None = None  # None until run() opens it (the stop handler may come first)
        self._next_housekeeping = self._last_reconcile = 0.0
        self._ping_every = systemd.watchdog_interval()
        self._last_ping = 0.0

    # -- life cycle -------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (
            Store.open(s.state_dir) as store,
            Pool(
                s.workers,
                s.max_pixels,
                s.decode_timeout,
                follow_symlinks=s.follow_symlinks,
                idle_exit=s.decoder_idle_exit or None,
            ) as pool,
        ):
            self.store, self.pool = store, pool
            self.watcher = Watcher(self.hints, s.poll_interval)
            self.rootwatch = RootWatch(lambda: self.hints.put(Hint("roots", b"")))
            previews = ThumbCache(s.state_dir / "thumbs") if s.html_report else None
            self.engine = Engine(
                store,
                pool,
                s,
                keep_unsaved=True,
                heartbeat=self._ping,
                stopping=lambda: self._stopping,
                previews=previews,
            )
            self.roots = RootSet(self.watcher, self._watch_mode, self.engine)
            self.intake = Intake(
                self.engine,
                self.roots,
                self.settler,
                self.hints,
                heartbeat=self._ping,
                stopping=lambda: self._stopping,
            )
            self.status = StatusWriter(
                s.report_path,
                s.report_mode,
                s.report_interval,
                engine=self.engine,
                roots=self.roots,
                settler=self.settler,
            )
            if previews is not None:
                self.status.page = PageWriter(self.engine, previews, budget=PREVIEW_BUDGET)
            self.hooks = Hooks(s.on_folder_complete)
            try:
                return self._serve()
            except Stopped:
                return self._finish()
            except StoreError as exc:
                log.error("%s", exc)
                systemd.notify(f"STATUS=stopped: {exc}", "STOPPING=1")
                return exc.exit_code
            finally:
                self.watcher.stop()
                self.hooks.reap(wait=True)

    def _serve(self) -> int:
        self._read_decisions()
        self.engine.load()
        self._refresh()
        self.store.release_pages()
        _return_free_heap()
        self._publish(force=True)
        self._check_roots(initial=True)
        self.engine.prune(self._patterns_by_role())
        systemd.notify("READY=1", "STATUS=reconciling the index with the disk")
        for root in self.roots.online():
            self.intake.reconcile(root.path, root)
        _return_free_heap()  # what the start-up walk and the first folder lookups freed
        pool = self._decoders()
        self._last_reconcile = time.monotonic()
        self._next_housekeeping = self._last_reconcile + HOUSEKEEPING
        while not self._stopping:
            if self._reload_asked:
                self._apply_reload()
            self.intake.drain(self._wait_time())
            if len(self.settler):
                self._start_decoders(pool)
            self.intake.hash_ripe()
            self._refresh()
            if self.state is State.SCANNING and not len(self.settler):
                self.state = State.WATCHING
                self.status.changed()
                self._say_ready()
            self._housekeeping(time.monotonic())
            self._publish()
            self.hooks.reap()
            pool.retire()
            self._ping()
        return self._finish()

    @staticmethod
    def _start_decoders(pool: Pool) -> None:
        """Start decoders that exited while idle, while the files settle. If the system refuses
        (no memory, no pids), hashing tries again and says so; this early start is only a head start."""
        try:
            pool.start()
        except WorkerError as exc:
            log.warning("%s; trying again when the files are hashed", exc)

    def _housekeeping(self, now: float) -> None:
        """What the loop checks on a clock rather than on a hint: roots (at once after a "roots"
        hint), the index, decisions, the periodic reconcile."""
        if self.intake.roots_changed or now >= self._next_housekeeping:
            self.intake.roots_changed = False
            self._check_roots()
        if now >= self._next_housekeeping:
            self._read_decisions()
            self.store.check_alive()
            self.engine.retry_unsaved()
            self._next_housekeeping = now + HOUSEKEEPING
        interval = self.settings.reconcile_interval
        if interval and now >= self._last_reconcile + interval:
            for root in self.roots.online():
                self.hints.put(Hint("rescan", root.path))
            self._last_reconcile = now

    def _finish(self) -> int:
        self.engine.retry_unsaved()
        if self.engine.unsaved:
            log.error("%d index changes could not be written; the next start finds them again", self.engine.unsaved)
        self.state = State.STOPPED
        systemd.notify("STOPPING=1", "STATUS=stopping")
        try:
            self._publish(force=True)
        except HashwatchdError as exc:
            log.error("%s", exc)
        log.log(NOTICE, "stopped")
        return 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.hints.put(Hint("wake", b""))  # the loop may be asleep until its next deadline (put is reentrant)
        if self.pool is not None:
            self.pool.cancel()  # the file in hand is not finished: a hung decoder must not hold the stop
        self._watch_stop(time.monotonic())

    def _watch_stop(self, since: float) -> None:
        """Every STOP_REPORT seconds until the process ends, log what the main thread is doing: a
        stop that takes long says what it waits for."""
        main = threading.main_thread().ident

        def report() -> None:
            frame = sys._current_frames().get(main or 0)
            where = " < ".join(
                f"{f.f_code.co_name} ({os.path.basename(f.f_code.co_filename)}:{f.f_lineno})" for f in _stack(frame)
            )
            log.warning("stopping for %.0f s; waiting in %s", time.monotonic() - since, where[:400])
            self._watch_stop(since)

        timer = threading.Timer(STOP_REPORT, report)
        timer.daemon = True
        timer.start()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload_asked = True
        self.hints.put(Hint("wake", b""))

    def _ping(self) -> None:
        """WATCHDOG=1 from the working loop only: a wedged loop stops pinging and gets restarted."""
        now = time.monotonic()
        if self._ping_every and now - self._last_ping >= self._ping_every:
            systemd.notify("WATCHDOG=1")
            self._last_ping = now

    def _apply_reload(self) -> None:
        self._reload_asked = False
        systemd.notify("RELOADING=1")
        try:
            new = self._reload()
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            systemd.notify("READY=1")
            return
        self._configure(new)
        log.info("configuration reloaded")
        self._check_roots()
        self.engine.prune(self._patterns_by_role())
        systemd.notify("READY=1")

    def _configure(self, s: Settings) -> None:
        """Hand reloaded settings to the collaborators that read them."""
        self.settings = s
        self.settler.settle = s.settle
        self.engine.configure(s)
        self.status.path, self.status.mode, self.status.interval = s.report_path, s.report_mode, s.report_interval
        self._decoders().idle_exit = s.decoder_idle_exit or None
        self._read_decisions()
        self.hooks.argv = s.on_folder_complete

    # -- roots --------------------------------------------------------------------------------

    def _watch_mode(self, pattern: bytes) -> str:
        return self.settings.watch_mode(pattern)

    def _patterns(self) -> list[tuple[Role, bytes]]:
        s = self.settings
        return [(Role.HAYSTACK, p) for p in s.haystack] + [(Role.NEEDLE, p) for p in s.needles]

    def _patterns_by_role(self) -> dict[Role, list[bytes]]:
        return {role: [p for r, p in self._patterns() if r is role] for role in Role}

    def _check_roots(self, *, initial: bool = False) -> None:
        """Bring the roots up to date with the disk, then watch the folders where the next one
        may appear or vanish (rootwatch.py)."""
        self._on_roots(self.roots.check(self._patterns(), initial=initial), initial=initial)
        self.rootwatch.watch(files.root_parents([p for _, p in self._patterns()]))

    def _on_roots(self, changes: list[Change], *, initial: bool = False) -> None:
        """Follow roots that came, went or were dropped: reconcile a root that comes online
        (at start-up, all of them are reconciled after READY) and try the checks that could not
        be made again, forget what waits under one that went, forget the entries of one that was
        dropped from the configuration."""
        if not changes:
            return
        self.engine.set_roots(self.roots.roles())
        for change in changes:
            root = change.root
            if change.kind == "online" and not initial:
                self.intake.reconcile(root.path, root)
                self.engine.confirm_again()
            elif change.kind == "offline":
                self.settler.forget_under(root.path)
            elif change.kind == "dropped":
                self.settler.forget_under(root.path)
                self.engine.apply(root.role, [], self.engine.known[root.role].under(root.path))

    # -- the loop's timing and the status file ------------------------------------------------

    def _decoders(self) -> Pool:
        assert self.pool is not None, "run() opened the pool"
        return self.pool

    def _wait_time(self) -> float:
        """Seconds the loop may sleep waiting for a hint: until the earliest thing it must do on
        a clock. With nothing going on that is HOUSEKEEPING: an idle daemon wakes a few times a
        minute, not four times a second."""
        now = time.monotonic()
        deadlines = [self._next_housekeeping]
        if self.settings.reconcile_interval:
            deadlines.append(self._last_reconcile + self.settings.reconcile_interval)
        if (due := self.settler.next_due(now)) is not None:
            deadlines.append(now + due)
        for when in (self.engine.next_retry(), self.status.next_write(), self._decoders().retire_at()):
            if when is not None:
                deadlines.append(when)
        if self.hooks.running:
            deadlines.append(now + HOOK_CHECK)
        if self._ping_every:
            deadlines.append(self._last_ping + self._ping_every)
        return max(0.0, min(deadlines) - now)

    def _refresh(self) -> None:
        self.engine.refresh()

    def _publish(self, force: bool = False) -> None:
        idle = self.hints.empty() and not self.settler.ripe(time.monotonic())
        if not force and not self.status.due(idle):
            self.status.write_owed_page()
            return
        if self.state is State.WATCHING:
            for path in self.settler.paths():
                key = paths.folder_key(path, self.roots.of_role(Role.NEEDLE))
                if key is not None:
                    self.hooks.busy(key)
        doc = self.status.publish(self.state)
        if doc is not None:
            for folder in self.hooks.fire(doc):
                log.log(NOTICE, "%s", _result(folder))

    def _read_decisions(self) -> None:
        self.status.read_decisions(self.settings.state_dir, self.settings.ignore_folders)

    def _say_ready(self) -> None:
        """The one line that says the daemon is ready: what its start-up did (the files it hashed,
        or nothing: the index was up to date), what it watches, and where its answer is."""
        online = self.roots.online()
        counts = {role: self.engine.counts(role)[0] for role in Role}
        hashed = self.engine.counters.hashed
        log.log(
            NOTICE,
            "%s; watching %s (%s) and %s (%s); status file %s",
            f"{_count(hashed, 'file')} hashed" if hashed else "index up to date",
            _count(sum(r.role is Role.HAYSTACK for r in online), "library root"),
            _count(counts[Role.HAYSTACK], "file"),
            _count(sum(r.role is Role.NEEDLE for r in online), "needle root"),
            _count(counts[Role.NEEDLE], "file"),
            self.status.path,
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _result(folder: FolderReport) -> str:
    """A completed folder's result in one line: `card/DCIM/100CANON: 412 files, 37 not in the
    library, 2 unreadable`."""
    parts = [_count(folder.images, "file")]
    todo = folder.counts[Status.MISSING] + folder.counts[Status.EDITED]
    if folder.imported == folder.images:
        parts.append("all in the library")
    elif todo:
        edited = folder.counts[Status.EDITED]
        parts.append(f"{todo:,} not in the library" + (f" ({edited:,} only as an edited version)" if edited else ""))
    if folder.counts[Status.UNREADABLE]:
        parts.append(f"{folder.counts[Status.UNREADABLE]:,} unreadable")
    if folder.ignored_files:
        parts.append(f"{folder.ignored_files:,} ignored")
    if folder.ignored:
        parts.append("ignored: decided not to import")
    return f"{os.fsdecode(folder.directory)}: {', '.join(parts)}"
