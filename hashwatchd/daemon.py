"""`hashwatchd run`: keep the index and the status file true while the trees change.

One thread does the work (this module's loop); watchdog's threads only put hints on a queue.
Start-up order loses nothing: load the index, start the watchers, tell systemd READY, then
reconcile every root with the disk (changes made while we were down are found there), then
serve hints. Every hint is only a reason to look again: the loop re-lstats the path and
acts on what the disk says. A file is hashed once it has stopped changing for `settle`
seconds, in batches, through the same decoder pool and index as `scan`.

Matching is incremental: a new needle is matched when hashed; a new library picture re-checks
the needles near it (a reverse hash search over the needles); a changed or deleted library
picture re-checks the needles that matched it.

Roots come and go (a card is pulled; a share drops): a root that vanishes, changes device, or
suddenly lists no files while the index holds some, goes *offline*: its entries are kept and
its folders stay in the report with `"online": false`. Nothing is ever deleted because a root
disappeared.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import queue
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import FrameType

from hashwatchd import files, indexer, publish, report, systemd
from hashwatchd.config import Settings, inside_roots
from hashwatchd.errors import ConfigError, HashwatchdError, PublishError, StoreError, StoreWriteError
from hashwatchd.matching import DEFAULT_POLICY, Library, Outcome, verdict
from hashwatchd.model import Entry, FileStat, Fingerprint, Role
from hashwatchd.pathmap import PathMap
from hashwatchd.settle import Settler
from hashwatchd.store import Store, pack_stat
from hashwatchd.watcher import Hint, Watcher
from hashwatchd.workers import Hashed, Pool

log = logging.getLogger(__name__)

ROOT_CHECK_INTERVAL = 2.0
STORE_CHECK_INTERVAL = 5.0
HOOK_TIMEOUT = 60.0
BATCH = 64


def _return_free_heap() -> None:
    """Hand the heap pages freed since start-up back to the kernel. glibc keeps them, notably in
    the arenas of the threads that scanned the library for the needles (5 MiB of the daemon's RSS
    in bench/scale.py at 10^6 entries); malloc_trim is its call for this. Elsewhere than glibc,
    nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Stop(Exception):
    """Raised inside long work when SIGTERM asks us to finish the file in hand and stop."""


@dataclass
class _Root:
    """A concrete root directory (a glob pattern may expand to several)."""

    path: bytes
    role: Role
    pattern: bytes
    dev: int = 0
    online: bool = False
    mode: str = ""


@dataclass
class _Memory:
    """What the loop keeps in memory: the index's stats, the library, the needles' verdicts."""

    known: dict[Role, PathMap] = field(default_factory=lambda: {r: PathMap() for r in Role})
    bad: dict[Role, set[bytes]] = field(default_factory=lambda: {r: set() for r in Role})
    library: Library = field(default_factory=Library)
    needles: Library = field(default_factory=Library)
    needle_fp: dict[bytes, tuple[Fingerprint | None, str | None]] = field(default_factory=dict)
    outcomes: dict[bytes, Outcome] = field(default_factory=dict)
    matched_by: dict[bytes, set[bytes]] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(timezone.utc).astimezone()


class Daemon:
    """The long-running service. `run()` returns the process exit code."""

    def __init__(self, settings: Settings, reload: Callable[[], Settings]) -> None:
        self.settings = settings
        self._reload = reload
        self.hints: queue.SimpleQueue[Hint] = queue.SimpleQueue()
        self.mem = _Memory()
        self.settler = Settler(settings.settle)
        self.roots: dict[bytes, _Root] = {}
        self.state = "scanning"
        self._stopping = False
        self._reload_asked = False
        self._dirty = True
        self._last_report = 0.0
        self._publish_failed_logged = -60.0
        self._times: dict[tuple[bytes, bytes], tuple[datetime, datetime]] = {}
        self._busy_folders: set[tuple[bytes, bytes]] = set()
        self._hooks: list[tuple[subprocess.Popen[bytes], float]] = []
        self._unsaved: list[tuple[list[Entry], list[tuple[Role, bytes]]]] = []
        self._ping_every = systemd.watchdog_interval()
        self._last_ping = 0.0

    # -- life cycle -------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (
            Store.open(self.settings.state_dir) as store,
            Pool(
                self.settings.workers,
                self.settings.max_pixels,
                self.settings.decode_timeout,
                follow_symlinks=self.settings.follow_symlinks,
            ) as pool,
        ):
            self.store, self.pool = store, pool
            watcher = Watcher(self.hints, self.settings.poll_interval)
            self.watcher = watcher
            try:
                return self._serve()
            except _Stop:
                return self._finish()
            except StoreError as exc:
                log.error("%s", exc)
                systemd.notify(f"STATUS=stopped: {exc}", "STOPPING=1")
                return exc.exit_code
            finally:
                watcher.stop()
                self._reap_hooks(wait=True)

    def _serve(self) -> int:
        self._load()
        self.store.release_pages()
        _return_free_heap()
        self._publish(force=True)
        self._prune_unconfigured()
        self._check_roots(initial=True)
        systemd.notify("READY=1", "STATUS=reconciling the index with the disk")
        for root in list(self.roots.values()):
            if root.online:
                self._reconcile(root.path)
        _return_free_heap()  # what the first PathMap.under's sort freed (15 MiB at 10^6 entries)
        self._dirty = True
        last_roots = last_store = last_reconcile = time.monotonic()
        while not self._stopping:
            if self._reload_asked:
                self._apply_reload()
            self._drain_hints(self._wait_time())
            self._hash_ripe()
            if self.state == "scanning" and not len(self.settler):
                self.state = "watching"
                log.info("index up to date; watching %d roots", sum(r.online for r in self.roots.values()))
            now = time.monotonic()
            if now - last_roots >= ROOT_CHECK_INTERVAL:
                self._check_roots()
                last_roots = now
            if now - last_store >= STORE_CHECK_INTERVAL:
                self.store.check_alive()
                self._retry_unsaved()
                last_store = now
            interval = self.settings.reconcile_interval
            if interval and now - last_reconcile >= interval:
                for root in self.roots.values():
                    if root.online:
                        self.hints.put(Hint("rescan", root.path))
                last_reconcile = now
            self._publish()
            self._reap_hooks()
            self._ping()
        return self._finish()

    def _finish(self) -> int:
        self._retry_unsaved()
        if self._unsaved:
            log.error("%d index changes could not be written; the next start finds them again", len(self._unsaved))
        self.state = "stopped"
        systemd.notify("STOPPING=1", "STATUS=stopping")
        try:
            self._publish(force=True)
        except HashwatchdError as exc:
            log.error("%s", exc)
        log.info("stopped")
        return 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload_asked = True

    def _check_stop(self) -> None:
        if self._stopping:
            raise _Stop

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
        old_patterns = {(r.role, r.pattern) for r in self.roots.values()}
        self.settings = new
        self.settler.settle = new.settle
        log.info("configuration reloaded")
        self._prune_unconfigured()
        self._check_roots()
        for root in list(self.roots.values()):
            if root.online and (root.role, root.pattern) not in old_patterns:
                self._reconcile(root.path)
        systemd.notify("READY=1")

    # -- roots --------------------------------------------------------------------------------

    def _patterns(self) -> list[tuple[Role, bytes]]:
        s = self.settings
        return [(Role.HAYSTACK, p) for p in s.haystack] + [(Role.NEEDLE, p) for p in s.needles]

    def _check_roots(self, *, initial: bool = False) -> None:
        """Bring roots online as they appear, take them offline as they vanish (never delete)."""
        wanted: dict[bytes, tuple[Role, bytes]] = {}
        for role, pattern in self._patterns():
            expanded = files.expand_roots([pattern])
            if not expanded and initial:
                log.warning(
                    "%s root %s does not exist (yet); it is picked up when it appears", role.value, os.fsdecode(pattern)
                )
            for path in expanded:
                wanted.setdefault(path, (role, pattern))
        for path, root in list(self.roots.items()):
            if path not in wanted and (root.role, root.pattern) not in self._patterns():
                self._drop_root(path)
            elif root.online and not self._present(root):
                self._go_offline(root, "it vanished or its device changed")
        for path, (role, pattern) in wanted.items():
            if path not in self.roots:
                self.roots[path] = _Root(path, role, pattern)
            root = self.roots[path]
            if not root.online and self._present(root, adopt=True):
                self._go_online(root, initial)

    def _present(self, root: _Root, *, adopt: bool = False) -> bool:
        try:
            st = os.stat(root.path)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return False
        if adopt:
            root.dev = st.st_dev
        return st.st_dev == root.dev

    def _go_online(self, root: _Root, initial: bool) -> None:
        root.mode = self.watcher.watch(root.path, self.settings.watch_mode(root.pattern))
        root.online = True
        log.info("%s root %s online (%s)", root.role.value, os.fsdecode(root.path), root.mode)
        if not initial:
            self._reconcile(root.path)
        self._dirty = True

    def _go_offline(self, root: _Root, why: str) -> None:
        log.warning(
            "%s root %s is offline (%s); its %d entries are kept",
            root.role.value,
            os.fsdecode(root.path),
            why,
            sum(1 for _ in self._under(root.role, root.path)),
        )
        self.watcher.unwatch(root.path)
        root.online = False
        self.settler.forget_under(root.path)
        self._dirty = True

    def _drop_root(self, path: bytes) -> None:
        root = self.roots.pop(path)
        self.watcher.unwatch(path)
        self.settler.forget_under(path)
        self._apply(root.role, [], list(self._under(root.role, path)))
        log.info("%s root %s removed from the configuration", root.role.value, os.fsdecode(path))

    def _prune_unconfigured(self) -> None:
        """Drop index entries under no configured root pattern (a library no longer configured
        must not keep matching). Entries under configured but offline roots stay."""
        patterns = self._patterns()
        for role in Role:
            mine = tuple(p for r, p in patterns if r is role)
            stale = [p for p in self.mem.known[role] if inside_roots(p, mine) is None]
            if stale:
                log.info("dropping %d %s entries outside the configured roots", len(stale), role.value)
                self._apply(role, [], stale)

    def _root_of(self, path: bytes) -> _Root | None:
        best = report.root_of(path, [p for p, r in self.roots.items() if r.online])
        return self.roots[best] if best else None

    def _under(self, role: Role, prefix: bytes) -> Iterable[bytes]:
        return self.mem.known[role].under(prefix)

    # -- hints and reconcile --------------------------------------------------------------------

    def _wait_time(self) -> float:
        due = self.settler.next_due(time.monotonic())
        return min(0.25, due) if due is not None else 0.25

    def _drain_hints(self, timeout: float) -> None:
        try:
            hint = self.hints.get(timeout=timeout)
        except queue.Empty:
            return
        seen: set[Hint] = set()
        while True:
            self._ping()  # an rm -r of thousands of files is a long drain
            if hint not in seen:
                seen.add(hint)
                if hint.kind == "rescan":
                    if hint.path in self.roots and self.roots[hint.path].online:
                        log.info("rescanning %s", os.fsdecode(hint.path))
                        self._reconcile(hint.path)
                else:
                    self._look(hint.path)
            try:
                hint = self.hints.get_nowait()
            except queue.Empty:
                return

    def _look(self, path: bytes) -> None:
        """Act on what the disk says about `path` now."""
        root = self._root_of(path)
        if root is None:
            return
        if path != root.path and (files.hidden_below(path, root.path) or files.excluded(path, self.settings.exclude)):
            return
        try:
            st = os.lstat(path)
            if self.settings.follow_symlinks and stat.S_ISLNK(st.st_mode):
                st = os.stat(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                self._vanished(root, path)
            return
        if stat.S_ISDIR(st.st_mode):
            self._reconcile(path, root)
        elif files.is_candidate(os.path.basename(path)) and not stat.S_ISLNK(st.st_mode):
            fs = FileStat.of(st)
            if self.mem.known[root.role].get(path) != pack_stat(*fs):
                self.settler.observe(path, fs, time.monotonic())
                self._dirty = True
        elif path in self.mem.known[root.role]:
            self._apply(root.role, [], [path])

    def _vanished(self, root: _Root, path: bytes) -> None:
        if not self._present(root):
            return  # the whole root went away: offline, not deleted (checked on the timer)
        self.settler.forget(path)
        self.settler.forget_under(path)
        gone = [path] if path in self.mem.known[root.role] else list(self._under(root.role, path))
        if gone:
            self._apply(root.role, [], gone)

    def _reconcile(self, top: bytes, root: _Root | None = None) -> None:
        """Make the index of everything under `top` agree with the disk (a walk and a diff)."""
        root = root or self.roots[top]
        known = self.mem.known[root.role]
        on_disk: dict[bytes, files.Found] = {}
        for f in files.walk(top, self.settings.exclude, follow_symlinks=self.settings.follow_symlinks):
            self._ping()  # walking a large library on a cold disk takes minutes
            if not files.hidden_below(f.path, root.path):
                on_disk[f.path] = f
        prefix = ([top] if top in known else []) + list(self._under(root.role, top))
        if top == root.path and not on_disk and prefix:
            self._go_offline(root, "it lists no files while the index holds some: an unmounted share?")
            return
        gone = [p for p in prefix if p not in on_disk]
        if gone:
            self._apply(root.role, [], gone)
        now = time.monotonic()
        for n, (found, indexed) in enumerate(zip(on_disk.values(), known.get_many(list(on_disk)), strict=True)):
            if n % 4096 == 0:
                self._ping()  # a first reconcile of a large library takes minutes
            if indexed != pack_stat(*found.stat):
                old = time.time_ns() - found.stat.mtime_ns > self.settings.settle * 1e9
                self.settler.observe(found.path, found.stat, now - (self.settler.settle if old else 0.0))
        self._dirty = True

    # -- hashing ----------------------------------------------------------------------------------

    def _hash_ripe(self) -> None:
        """Hash every file that stopped changing, re-checking each on disk first."""
        while True:
            now = time.monotonic()
            batch: list[tuple[bytes, FileStat, _Root, bool]] = []
            for path, seen in self.settler.ripe(now):
                root = self._root_of(path)
                if root is None:
                    self.settler.forget(path)
                    continue
                try:
                    st = os.lstat(path)
                except OSError:
                    self.settler.forget(path)
                    self._vanished(root, path)
                    continue
                fs = FileStat.of(st)
                if fs != seen:
                    self.settler.observe(path, fs, now)
                    continue
                self.settler.take(path)
                batch.append((path, fs, root, stat.S_ISREG(st.st_mode)))
                if len(batch) >= BATCH:
                    break
            if not batch:
                return
            self._hash(batch)

    def _hash(self, batch: list[tuple[bytes, FileStat, _Root, bool]]) -> None:
        roles = {path: root.role for path, _, root, _ in batch}
        stats = {path: fs for path, fs, _, _ in batch}
        regular = [p for p, _, _, is_reg in batch if is_reg]
        special = [p for p, _, _, is_reg in batch if not is_reg]
        self._record(
            [Entry(p, roles[p], stats[p], None, "not-a-regular-file: a FIFO, socket or device") for p in special]
        )
        done: list[Entry] = []
        finished: set[bytes] = set()
        for result in self.pool.map(regular):
            finished.add(result.path)
            if result.error and result.error.startswith(("vanished", "changed")):
                self.hints.put(Hint("path", result.path))  # moved, deleted or rewritten meanwhile: look again
            else:
                done.append(self._entry(result, roles[result.path], stats[result.path]))
            self._ping()
            if self._stopping:
                break
        self._record(done)
        for p in set(regular) - finished:
            self.settler.observe(p, stats[p], time.monotonic())
        self._check_stop()

    @staticmethod
    def _entry(result: Hashed, role: Role, seen: FileStat) -> Entry:
        log.debug("hashed %s %s", role.value, os.fsdecode(result.path))
        if result.error:
            log.info("unreadable: %s: %s", os.fsdecode(result.path), result.error)
        return Entry(result.path, role, result.stat or seen, result.fingerprint, result.error)

    def _record(self, entries: list[Entry]) -> None:
        for role in Role:
            mine = [e for e in entries if e.role is role]
            if mine:
                self._apply(role, mine, [])

    # -- the in-memory model ----------------------------------------------------------------------

    def _load(self) -> None:
        # The library as columns: a million Entry and Fingerprint objects would cost gigabytes.
        table = self.store.table(Role.HAYSTACK)
        self.mem.known[Role.HAYSTACK] = table.stats
        self.mem.bad[Role.HAYSTACK] = set(table.unreadable)
        self.mem.library.load(table.fp_paths, table.keys, table.records)
        for e in self.store.entries(Role.NEEDLE):
            self._remember(e)
        self._judge(list(self.mem.needle_fp))
        log.info(
            "index: %d library and %d needle entries",
            len(self.mem.known[Role.HAYSTACK]),
            len(self.mem.known[Role.NEEDLE]),
        )

    def _remember(self, e: Entry) -> None:
        self.mem.known[e.role][e.path] = pack_stat(*e.stat)
        bad = self.mem.bad[e.role]
        if e.fingerprint is None:
            bad.add(e.path)
        else:
            bad.discard(e.path)
        if e.role is Role.HAYSTACK:
            if e.fingerprint is None:
                self.mem.library.remove(e.path)
            else:
                self.mem.library.add(e.path, e.fingerprint)
        else:
            self.mem.needle_fp[e.path] = (e.fingerprint, e.error)
            if e.fingerprint is None:
                self.mem.needles.remove(e.path)
            else:
                self.mem.needles.add(e.path, e.fingerprint)

    def _forget(self, role: Role, path: bytes) -> None:
        self.mem.known[role].pop(path, None)
        self.mem.bad[role].discard(path)
        if role is Role.HAYSTACK:
            self.mem.library.remove(path)
        else:
            self.mem.needles.remove(path)
            self.mem.needle_fp.pop(path, None)
            self._set_outcome(path, None)

    def _write(self, role: Role, put: list[Entry], delete: list[bytes]) -> None:
        """Write a batch to the index; if the disk is full, keep it to retry (memory is updated
        anyway: the index is a cache of the disk, and a restart would reconcile it)."""
        batch = (put, [(role, p) for p in delete])
        if self._unsaved:
            self._unsaved.append(batch)
            return
        try:
            self.store.write(*batch)
        except StoreWriteError as exc:
            log.error("%s; the change is kept in memory and written when there is room", exc)
            self._unsaved.append(batch)

    def _retry_unsaved(self) -> None:
        while self._unsaved:
            try:
                self.store.write(*self._unsaved[0])
            except StoreWriteError:
                return
            self._unsaved.pop(0)
            if not self._unsaved:
                log.warning("the index is written again; nothing was lost")

    def _apply(self, role: Role, put: list[Entry], delete: list[bytes]) -> None:
        """Write a batch to the index, then update memory and re-judge the needles it affects."""
        self._write(role, put, delete)
        recheck: set[bytes] = set()
        for path in delete:
            self._ping()
            if role is Role.HAYSTACK:
                recheck |= self.mem.matched_by.get(path, set())
            self._forget(role, path)
        for e in put:
            self._ping()
            if role is Role.HAYSTACK:
                recheck |= self.mem.matched_by.get(e.path, set())
            self._remember(e)
            if role is Role.HAYSTACK and e.fingerprint is not None:
                near = self.mem.needles.candidates(e.fingerprint, DEFAULT_POLICY)
                recheck |= {self.mem.needles.paths[s] for s in near}
            elif role is Role.NEEDLE:
                recheck.add(e.path)
        self._judge([p for p in recheck if p in self.mem.needle_fp])
        self._dirty = True

    def _judge(self, paths: list[bytes]) -> None:
        """Match these needles against the library (one candidate scan for all) and record
        their outcomes."""
        lib = self.mem.library
        fps = [self.mem.needle_fp[p][0] for p in paths]
        needles = list(zip(paths, fps, lib.match_many(fps), strict=True))
        checks = indexer.confirm(self.store, lib, self.pool, needles)
        for path, fp, found in needles:
            self._set_outcome(path, verdict(path, fp, self.mem.needle_fp[path][1], found, lib, checks=checks))

    def _set_outcome(self, path: bytes, out: Outcome | None) -> None:
        old = self.mem.outcomes.pop(path, None)
        if old is not None:
            for m in old.matches:
                self.mem.matched_by.get(m.path, set()).discard(path)
        if out is not None:
            self.mem.outcomes[path] = out
            for m in out.matches:
                self.mem.matched_by.setdefault(m.path, set()).add(path)
        if old != out:
            self._touch(path)

    def _touch(self, path: bytes) -> None:
        root = report.root_of(path, [p for p, r in self.roots.items() if r.role is Role.NEEDLE])
        if root is None:
            return
        key = (root, os.path.relpath(os.path.dirname(path), root))
        now = _now()
        first = self._times.get(key, (now, now))[0]
        self._times[key] = (first, now)

    # -- the status file --------------------------------------------------------------------------

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        idle = self.hints.empty() and not self.settler.ripe(now)
        if not force and not (self._dirty and (idle or now - self._last_report >= self.settings.report_interval)):
            return
        needle_roots = [p for p, r in self.roots.items() if r.role is Role.NEEDLE]
        pending = [p for p in self.settler.paths() if report.root_of(p, needle_roots)]
        for p in pending:
            self._note_pending(p, needle_roots)
        hay = len(self.mem.known[Role.HAYSTACK]), len(self.mem.bad[Role.HAYSTACK])
        doc = report.build(
            self.mem.outcomes.values(),
            needle_roots,
            hay,
            state=self.state,
            pending=pending,
            offline={p for p, r in self.roots.items() if not r.online},
            times=self._times,
            now=_now(),
        )
        try:
            publish.write_json(self.settings.report_path, doc, self.settings.report_mode)
        except PublishError as exc:
            if now - self._publish_failed_logged >= 60:
                log.error("%s (retrying; logged once a minute)", exc)
                self._publish_failed_logged = now
            self._last_report = now
            return
        self._publish_failed_logged = -60.0
        self._dirty = False
        self._last_report = now
        total = len(self.settler)
        systemd.notify(
            f"STATUS={self.state}: {len(self.mem.outcomes)} needle images, "
            f"{len(self.mem.known[Role.HAYSTACK])} library images, {total} pending"
        )
        self._fire_hooks(doc)

    def _note_pending(self, path: bytes, roots: list[bytes]) -> None:
        """A needle file waits: its folder is seen (first_seen) and, while watching, busy (for the hook)."""
        root = report.root_of(path, roots)
        if root is None:
            return
        key = (root, os.path.relpath(os.path.dirname(path), root))
        if key not in self._times:
            now = _now()
            self._times[key] = (now, now)
        if self.state == "watching":
            self._busy_folders.add(key)

    # -- the completion hook ----------------------------------------------------------------------

    def _fire_hooks(self, doc: dict[str, object]) -> None:
        folders = doc["folders"]
        assert isinstance(folders, list)
        for f in folders:
            key = (os.fsencode(f["root"]), os.fsencode(f["path"]))
            if key in self._busy_folders and f["complete"]:
                self._busy_folders.discard(key)
                self._run_hook(f)

    def _run_hook(self, folder: dict[str, object]) -> None:
        argv = self.settings.on_folder_complete
        if not argv:
            return
        env = dict(os.environ)
        env.update(
            {
                "HASHWATCHD_ROOT": str(folder["root"]),
                "HASHWATCHD_FOLDER": str(folder["path"]),
                "HASHWATCHD_PATH": os.path.normpath(os.path.join(str(folder["root"]), str(folder["path"]))),
                "HASHWATCHD_STATUS": str(folder["status"]),
                **{
                    f"HASHWATCHD_{k.upper()}": str(folder[k])
                    for k in ("images", "identical", "same", "imported", "edited", "missing", "unreadable")
                },
            }
        )
        try:
            proc = subprocess.Popen(
                list(argv), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True
            )
        except OSError as exc:
            log.error("on_folder_complete: cannot run %s: %s", argv[0], exc.strerror)
            return
        self._hooks.append((proc, time.monotonic() + HOOK_TIMEOUT))

    def _reap_hooks(self, wait: bool = False) -> None:
        keep = []
        for proc, deadline in self._hooks:
            code = proc.poll()
            if code is None and (wait or time.monotonic() > deadline):
                proc.kill()
                code = proc.wait()
                log.error("on_folder_complete: %s killed after %g s", proc.args, HOOK_TIMEOUT)
            if code is None:
                keep.append((proc, deadline))
            elif code != 0:
                log.error("on_folder_complete: %s exited with %d", proc.args, code)
        self._hooks = keep
