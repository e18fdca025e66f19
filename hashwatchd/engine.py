"""The engine: the index, the library and the needles in memory, and every use case on them.

`scan`, `run`, `query` and `matches` all go through here, so that a one-shot scan and the
daemon cannot drift apart: one walk-and-diff (`survey`), one way to hash and record files
(`index`), one way to change the index (`apply`), one judge pipeline (`refresh`, `query`).

Work is incremental: `apply` records a change and marks the needles it can affect (a needle
that changed; the needles that matched a library file that changed or went; the needles near
a new library picture), and `refresh` judges just those, returning the needles whose outcome
changed. A scan applies everything, then refreshes once; the daemon refreshes after each batch.

A file belongs to the innermost root that holds it: with a needle folder inside the library
(`--haystack ~/Pictures --needles ~/Pictures/Imports`), a file there is a needle only, never
its own library copy.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from hashwatchd import confirmation, files, paths, reconcile
from hashwatchd.config import Settings
from hashwatchd.errors import StoreWriteError
from hashwatchd.files import Selection
from hashwatchd.ignore import Rules
from hashwatchd.matching import DEFAULT_POLICY, Check, Library, checks_needed, verdict
from hashwatchd.model import Entry, FileStat, Fingerprint, Found, Kind, Match, Outcome, Problem, Role, Status, Tier
from hashwatchd.pathmap import PathMap
from hashwatchd.reconcile import Diff
from hashwatchd.records import pack_stat
from hashwatchd.store import Store
from hashwatchd.thumbcache import ThumbCache
from hashwatchd.workers import Hashed, PixelTask, Pool, decoders

log = logging.getLogger(__name__)

#: Entries written to the index per transaction while hashing.
BATCH = 256
#: Walked files compared with the index per bulk lookup: the first changed file of a cold scan
#: starts the decoders after at most this many.
_COMPARE_BATCH = 1024
#: Needles judged between two heartbeats.
_JUDGE_BATCH = 1024
#: How often a scan hashes again a file that changed or vanished while it was read.
_RETRIES = 2
#: Seconds before a needle whose check could not be made is judged again, first and at most.
_RETRY_FIRST, _RETRY_LAST = 5.0, 3600.0

NOT_REGULAR = Problem("not-a-regular-file", "a FIFO, socket or device")
_KEPT_CHANGING = Problem("changed", "the file changed while it was being read")
#: Problems a newer decoder may not have.
_RETRIED = frozenset({"unsupported-format", "not-an-image", "corrupt", "decoder-crashed", "decoder-timeout"})
_NO_STAT = FileStat(0, 0, 0, 0, 0)

Progress = Callable[[int, int], None]


def _never() -> bool:
    return False


class Stopped(Exception):
    """A stop was asked for during work that can be given up without harm (a walk, a load)."""


@dataclass
class Indexed:
    """What one `index` call did."""

    hashed: int = 0
    retry: list[bytes] = field(default_factory=list)  # vanished or changed while being read: look again
    unfinished: list[Found] = field(default_factory=list)  # not hashed: a stop was asked


@dataclass
class Counters:
    """Work done since the engine was made, for a scan's summary."""

    hashed: int = 0
    checked: int = 0  # matches confirmed at full resolution


class Engine:
    """One index and the matching state built from it.

    `store` may be read-only (`matches`, `query` beside a running daemon): then nothing is
    written, not even the cache of full-resolution checks. `keep_unsaved`: a failed write (disk
    full) is kept in memory and retried by `retry_unsaved` (the daemon) instead of raised (a
    scan stops). `heartbeat` is called from every loop that may run long (systemd's watchdog);
    `stopping` is asked where work can be given up without harm, which then raises Stopped.
    """

    def __init__(
        self,
        store: Store,
        pool: Pool,
        settings: Settings | None = None,
        *,
        keep_unsaved: bool = False,
        heartbeat: Callable[[], None] | None = None,
        stopping: Callable[[], bool] = _never,
        previews: ThumbCache | None = None,
    ) -> None:
        self.store, self.pool = store, pool
        self.previews = previews  # where hashed needles' previews go (visual report), if anywhere
        self.configure(settings or Settings())
        self.keep_unsaved = keep_unsaved
        self._beat = heartbeat or (lambda: None)
        self._stopping = stopping
        self.roots: dict[bytes, Role] = {}
        self.known: dict[Role, PathMap] = {r: PathMap() for r in Role}
        self.bad: dict[Role, set[bytes]] = {r: set() for r in Role}
        self.library = Library()
        self.needles = Library()  # the needles' fingerprints, for the reverse search
        self.needle_fp: dict[bytes, tuple[Fingerprint | None, Problem | None, Kind]] = {}
        self.outcomes: dict[bytes, Outcome] = {}
        self.matched_by: dict[bytes, set[bytes]] = {}
        self.counters = Counters()
        self.version = 0  # changes with every change applied to the index
        self._due: set[bytes] = set()
        self._new_library: list[Fingerprint] = []
        self._changed: set[bytes] = set()
        self._unsaved: list[tuple[list[Entry], list[tuple[Role, bytes]]]] = []
        self._hidden: dict[bytes, tuple[Role, list[bytes]]] = {}  # folders that cannot be listed
        self._unconfirmed: dict[bytes, tuple[float, float]] = {}  # needle -> (judge again at, wait)
        self.identities: dict[bytes, tuple[int, int]] = {}  # root -> (device, inode) its entries came from

    @functools.cached_property
    def decoder_versions(self) -> bytes:
        """The decoders this installation reads files with (workers.decoders), asked once: it
        reads package metadata, and confirmations are cached under it."""
        return decoders()

    def configure(self, s: Settings) -> None:
        """Take the settings that decide which files count and how they are judged (again, when
        the daemon reloads its configuration)."""
        self.excludes = s.exclude
        self.follow_symlinks = s.follow_symlinks
        rules = Rules.of(s.ignore)
        self.select = {Role.HAYSTACK: Selection(rules), Role.NEEDLE: Selection(rules, suffixes=None)}
        self.policy = replace(DEFAULT_POLICY, raw_match_any=s.raw_match == "any")

    # -- roots ----------------------------------------------------------------------------

    def set_roots(self, roots: Mapping[bytes, Role]) -> None:
        """The concrete root directories (a glob is expanded by the caller) and their roles."""
        self.roots = dict(roots)

    def root_of(self, path: bytes) -> bytes | None:
        """The innermost root `path` lies strictly below."""
        return paths.root_of(path, self.roots)

    def selected(self, root: bytes, role: Role, path: bytes) -> bool:
        """Whether the file at `path` counts, as a walk of `root` would say (files.Selection)."""
        select = self.select[role]
        rel = path[len(paths.prefix(root)) :].split(b"/")
        return select.file(rel[-1]) and all(select.folder(b"/".join(rel[:k])) for k in range(1, len(rel)))

    def role_of(self, path: bytes) -> Role | None:
        root = self.root_of(path)
        return None if root is None else self.roots[root]

    def holds(self, role: Role, root: bytes) -> bool:
        """Whether the index holds entries of `role` under `root`."""
        return bool(self.known[role].under(root))

    def record_identity(self, root: bytes, identity: tuple[int, int]) -> None:
        """Remember which directory (device, inode) a root's entries come from."""
        if self.identities.get(root) == identity:
            return
        self.identities[root] = identity
        if self.store.writable:
            try:
                self.store.put_root_identity(root, identity)
            except StoreWriteError as exc:
                log.warning("%s", exc)  # remembered in memory; written with the next identity change

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the index into memory; every needle is due to be judged. When the decoders changed
        since the index was written, the files they could not read are made due to be read again."""
        self.identities = self.store.root_identities()
        self.load_library()
        if self._stopping():
            raise Stopped
        for e in self.store.entries(Role.NEEDLE):
            self._remember(e)
        self._due.update(self.needle_fp)
        if self.store.writable and self.store.decoders() != self.decoder_versions:
            self._retry_unread()
            self.store.set_decoders(self.decoder_versions)

    def _retry_unread(self) -> None:
        """Forget the stat of every file whose problem a decoder decided (not the file: a cut copy
        stays cut), so that the next survey reads it again."""
        for role in Role:
            retry = []
            for path in sorted(self.bad[role]):
                e = self.store.get(role, path)
                if e is not None and e.problem is not None and e.problem.code in _RETRIED:
                    retry.append(Entry(path, role, _NO_STAT, None, e.problem, e.kind))
            if retry:
                log.info(
                    "%d %s files that could not be read are read again: the decoders changed", len(retry), role.value
                )
                self.apply(role, retry, [])

    def load_library(self) -> None:
        """Read the library into memory as columns: a million Entry and Fingerprint objects
        would cost gigabytes. Enough for `query`."""
        table = self.store.table(Role.HAYSTACK)
        self.known[Role.HAYSTACK] = table.stats
        self.bad[Role.HAYSTACK] = set(table.unreadable)
        self.library.load(table.fp_paths, table.keys, table.records)

    def prune(self, patterns: Mapping[Role, Sequence[bytes]]) -> None:
        """Drop entries under no configured root pattern of their role: a library that is no
        longer configured must not keep matching. Entries under configured roots that are
        offline stay."""
        for role in Role:
            mine = patterns.get(role, ())
            plain = tuple(paths.prefix(p) for p in mine if not paths.is_glob(p))
            globs = [p for p in mine if paths.is_glob(p)]
            stale = [
                p
                for p in self.known[role]
                if not p.startswith(plain) and (not globs or paths.pattern_of(p, globs) is None)
            ]
            if stale:
                log.info("dropping %d %s entries outside the configured roots", len(stale), role.value)
                self.apply(role, [], stale)

    # -- the disk -----------------------------------------------------------------------------

    def survey(self, top: bytes) -> Diff:
        """Walk `top` (a root or a directory below one) and diff it with the index: the files to
        hash and the indexed paths that are gone. Changes nothing in the index.

        A folder the walk cannot list is not an empty one: what the index holds under it is set
        aside (kept in the index, out of matching and the report, where a fresh scan could not
        see it either) and the folder is reported unreadable; the next survey that can list it
        brings its entries back without hashing them again.
        """
        root = top if top in self.roots else self.root_of(top)
        if root is None or (top != root and paths.hidden_below(top, root)):
            return Diff()
        role = self.roots[root]
        if top == root:
            with contextlib.suppress(OSError):
                st = os.stat(root)
                self.record_identity(root, (st.st_dev, st.st_ino))
        known = self.known[role]
        for folder in [d for d in self._hidden if paths.within(d, top)]:
            self._restore(folder)
        nested = [r for r in self.roots if paths.below(r, top)]
        diff = Diff()
        on_disk: set[bytes] = set()
        walked: list[Found] = []
        unlistable: dict[bytes, Problem] = {}

        def compare() -> None:
            if self._stopping():
                raise Stopped  # nothing changed yet: a walk cut short must not take files for gone
            diff.stale.extend(reconcile.stale(walked, known.get_many([f.path for f in walked])))
            if diff.stale:
                self.pool.start()  # the decoders load while the walk goes on
            walked.clear()
            self._beat()

        walk = files.walk(
            top,
            self.excludes,
            follow_symlinks=self.follow_symlinks,
            prune=nested,
            unlistable=unlistable.__setitem__,
            select=self.select[role],
        )
        for found in walk:
            on_disk.add(found.path)
            walked.append(found)
            if len(walked) == _COMPARE_BATCH:
                compare()
        compare()
        for folder, problem in unlistable.items():
            self._hide(folder, role, problem)
        diff.found = len(on_disk)
        indexed = known.under(top)
        mine = [r for r in nested if self.roots[r] is role]
        if mine:  # those are surveyed on their own
            indexed = [p for p in indexed if paths.root_of(p, mine) is None]
        if top in known:  # was a file, is a directory now
            indexed.append(top)
        diff.gone = reconcile.gone(on_disk, indexed)
        return diff

    def _hide(self, folder: bytes, role: Role, problem: Problem) -> None:
        """Set aside what the index holds under a folder that cannot be listed, and report the
        folder itself (its path with a trailing slash) as unreadable."""
        held = self.known[role].under(folder)
        self._hidden[folder] = (role, held)
        self._in_memory(role, [], held)
        if role is Role.NEEDLE:
            self._set_outcome(folder + b"/", Outcome(folder + b"/", Status.UNREADABLE, (), problem))

    def _restore(self, folder: bytes) -> None:
        """Bring back what `_hide` set aside, as the index holds it, to be surveyed again."""
        role, held = self._hidden.pop(folder)
        self._in_memory(role, [e for e in map(functools.partial(self.store.get, role), held) if e is not None], [])
        self._set_outcome(folder + b"/", None)

    def index(
        self, found: Sequence[Found], *, progress: Progress | None = None, stop: Callable[[], bool] = _never
    ) -> Indexed:
        """Hash `found` files in the decoder pool and record them; special files (FIFOs,
        sockets, devices) are recorded with their problem and never reach a decoder.

        Files that vanished or changed while being read are not recorded: the caller looks at
        them again (`Indexed.retry`). `stop()` true ends the work after the file in hand.
        """
        by_path = {f.path: f for f in found}
        self._record([self._entry(f, None, NOT_REGULAR, Kind.OTHER) for f in found if not f.regular])
        todo = [f.path for f in found if f.regular]
        out = Indexed()
        batch: list[Entry] = []
        finished: set[bytes] = set()
        if self.previews is None:
            results = self.pool.map(todo)
        else:
            results = self.pool.map(todo, previews={p for p in todo if self.role_of(p) is Role.NEEDLE})
        for n, result in enumerate(results, 1):
            finished.add(result.path)
            self._beat()
            if self.previews is not None and result.preview and result.fingerprint:
                self.previews.put(result.fingerprint.digest, result.preview)
            if result.problem and result.problem.code in ("vanished", "changed"):
                out.retry.append(result.path)
            else:
                batch.append(self._hashed(result, by_path[result.path]))
            if len(batch) >= BATCH:
                self._record(batch)
                batch = []
            if progress:
                progress(n, len(todo))
            if stop():
                break
        self._record(batch)
        out.hashed = len(finished)
        out.unfinished = [by_path[p] for p in todo if p not in finished]
        self.counters.hashed += out.hashed
        return out

    def _entry(self, found: Found, fp: Fingerprint | None, problem: Problem | None, kind: Kind) -> Entry:
        role = self.role_of(found.path)
        assert role is not None, found.path
        return Entry(found.path, role, found.stat, fp, problem, kind)

    def _hashed(self, result: Hashed, found: Found) -> Entry:
        stat = result.stat or found.stat
        entry = self._entry(found._replace(stat=stat), result.fingerprint, result.problem, result.kind)
        log.debug("hashed %s %s", entry.role.value, os.fsdecode(entry.path))
        if result.problem:
            log.info("unreadable: %s: %s", os.fsdecode(result.path), result.problem)
        return entry

    def _record(self, entries: Sequence[Entry]) -> None:
        for role in Role:
            mine = [e for e in entries if e.role is role]
            if mine:
                self.apply(role, mine, [])

    def vanish(self, gone: Iterable[bytes]) -> None:
        """These paths are gone from the disk: forget each, or everything under it if it was a
        directory, in one change per role (an `rm -r` of 10,000 files is one index commit). What
        was set aside under an unreadable folder that went with them goes too."""
        delete: dict[Role, list[bytes]] = {role: [] for role in Role}
        for path in gone:
            role = self.role_of(path)
            if role is not None:
                known = self.known[role]
                delete[role] += [path] if path in known else known.under(path)
            for folder in [d for d in self._hidden if paths.within(d, path)]:
                hidden_role, held = self._hidden.pop(folder)
                delete[hidden_role] += held
                self._set_outcome(folder + b"/", None)
        for role, paths_ in delete.items():
            self.apply(role, [], list(dict.fromkeys(paths_)))  # a folder and files in it may both be gone

    def sync(self, progress: Callable[[Role], Progress | None] | None = None) -> None:
        """Bring the index of every root in line with the disk: what `scan` runs. The library
        first, so that needles are judged against the library as it is now."""
        for root in sorted(self.roots, key=lambda r: (self.roots[r] is Role.NEEDLE, r)):
            role = self.roots[root]
            diff = self.survey(root)
            log.info(
                "%s %s: %d files, %d to hash, %d gone",
                role.value,
                os.fsdecode(root),
                diff.found,
                len(diff.stale),
                len(diff.gone),
            )
            self.apply(role, [], diff.gone)
            todo = diff.stale
            for _ in range(_RETRIES + 1):
                retry = self.index(todo, progress=progress(role) if progress else None).retry
                todo = self._restat(retry)
                if not todo:
                    break
            for f in todo:
                log.info("unreadable: %s: it kept changing while it was read", os.fsdecode(f.path))
            self._record([self._entry(f, None, _KEPT_CHANGING, Kind.OTHER) for f in todo])

    def _restat(self, retry: Iterable[bytes]) -> list[Found]:
        """The files of `retry` as they are now; those that vanished are forgotten."""
        out = []
        for path in retry:
            try:
                st = os.lstat(path)
            except OSError as exc:
                if files.gone(exc):
                    self.vanish([path])
                continue  # cannot be looked at now: kept as it was
            if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                self.vanish([path])  # a symlink is followed by the walk, not here
                continue
            out.append(Found(path, FileStat.of(st), stat.S_ISREG(st.st_mode)))
        return out

    # -- changes ------------------------------------------------------------------------------

    def apply(self, role: Role, put: Sequence[Entry], delete: Sequence[bytes]) -> None:
        """Write a change to the index, update memory, and mark the needles it can affect as
        due for `refresh`."""
        if not put and not delete:
            return
        self._write(role, list(put), list(delete))
        self._in_memory(role, put, delete)

    def _in_memory(self, role: Role, put: Sequence[Entry], delete: Sequence[bytes]) -> None:
        """The memory side of `apply`: what the index holds changes, and the needles it can
        affect are due."""
        self.version += 1
        for n, path in enumerate(delete):
            if n % 4096 == 4095:
                self._beat()
            if role is Role.HAYSTACK:
                self._due |= self.matched_by.get(path, set())
            self._forget(role, path)
        for e in put:
            if role is Role.HAYSTACK:
                self._due |= self.matched_by.get(e.path, set())
                if e.fingerprint is not None:
                    self._new_library.append(e.fingerprint)
            else:
                self._due.add(e.path)
            self._remember(e)

    def _write(self, role: Role, put: list[Entry], delete: list[bytes]) -> None:
        """Write a batch to the index; a failed commit (disk full) is kept to retry when
        `keep_unsaved`: memory is updated anyway, the index is a cache of the disk."""
        batch = (put, [(role, p) for p in delete])
        if self._unsaved:
            self._unsaved.append(batch)
            return
        try:
            self.store.write(*batch)
        except StoreWriteError as exc:
            if not self.keep_unsaved:
                raise
            log.error("%s; the change is kept in memory and written when there is room", exc)
            self._unsaved.append(batch)

    @property
    def unsaved(self) -> int:
        """Index changes not yet written."""
        return len(self._unsaved)

    def retry_unsaved(self) -> None:
        """Write the changes a full disk refused, oldest first, as far as they go now."""
        while self._unsaved:
            try:
                self.store.write(*self._unsaved[0])
            except StoreWriteError:
                return
            self._unsaved.pop(0)
            if not self._unsaved:
                log.warning("the index is written again; nothing was lost")

    def _remember(self, e: Entry) -> None:
        self.known[e.role][e.path] = pack_stat(*e.stat)
        bad = self.bad[e.role]
        if e.fingerprint is None:
            bad.add(e.path)
        else:
            bad.discard(e.path)
        side = self.library if e.role is Role.HAYSTACK else self.needles
        if e.fingerprint is None:
            side.remove(e.path)
        else:
            side.add(e.path, e.fingerprint)
        if e.role is Role.NEEDLE:
            self.needle_fp[e.path] = (e.fingerprint, e.problem, e.kind)

    def _forget(self, role: Role, path: bytes) -> None:
        self.known[role].pop(path, None)
        self.bad[role].discard(path)
        if role is Role.HAYSTACK:
            self.library.remove(path)
        else:
            self.needles.remove(path)
            self.needle_fp.pop(path, None)
            self._due.discard(path)
            self._unconfirmed.pop(path, None)
            self._set_outcome(path, None)

    # -- judging ------------------------------------------------------------------------------

    def refresh(self) -> set[bytes]:
        """Judge the needles that changes made due; return the needles whose outcome changed
        (judged differently, or gone)."""
        if self._new_library:
            near = self.needles.within(self._new_library, self.policy)
            self._due.update(self.needles.paths[s] for slots in near for s in slots)
            self._new_library.clear()
        now = time.monotonic()
        self._due.update(p for p, (when, _) in self._unconfirmed.items() if when <= now)
        due = sorted(p for p in self._due if p in self.needle_fp)
        self._due.clear()
        for start in range(0, len(due), _JUDGE_BATCH):
            chunk = due[start : start + _JUDGE_BATCH]
            outs, undecided = self._judge([(p, *self.needle_fp[p]) for p in chunk])
            if self.pool.cancelled:  # a stop cut the checks short: these verdicts would be wrong
                self._due.update(due[start:])
                break
            self._retry_later(undecided, chunk)
            for out in outs:
                self._set_outcome(out.path, out)
            self._beat()
        changed, self._changed = self._changed, set()
        return changed

    def next_retry(self) -> float | None:
        """When (time.monotonic) the earliest check that could not be made is due again, if any."""
        return min((when for when, _ in self._unconfirmed.values()), default=None)

    def confirm_again(self) -> None:
        """Judge again at the next refresh every needle whose check could not be made, and start
        its waits afresh: a root came online, and the files those checks could not read (a
        library share that was unmounted) may be there now, where the backoff would have waited
        up to an hour."""
        self._due.update(self._unconfirmed)
        self._unconfirmed.clear()

    def query(self, files_: Sequence[bytes]) -> list[Outcome]:
        """Judge files that need not be in the index, without recording them."""
        results = {r.path: r for r in self.pool.map(files_)}
        return self._judge([(p, results[p].fingerprint, results[p].problem, results[p].kind) for p in files_])[0]

    def _judge(
        self, items: Sequence[tuple[bytes, Fingerprint | None, Problem | None, Kind]]
    ) -> tuple[list[Outcome], set[bytes]]:
        """The judge pipeline: candidates and verification for all needles at once, then the
        checks their matches need (check_for), then each needle's verdict; and the needles with a
        check that could not be made (their verdict holds what could be checked)."""
        found = self.library.match_many([fp for _, fp, _, _ in items], self.policy)
        checks, undecided = self._confirm([(p, fp, f) for (p, fp, _, _), f in zip(items, found, strict=True)])
        outs = [
            verdict(p, fp, problem, f, kind=kind, checks=checks)
            for (p, fp, problem, kind), f in zip(items, found, strict=True)
        ]
        return outs, undecided

    def _retry_later(self, undecided: set[bytes], judged: Sequence[bytes]) -> None:
        """A needle whose check could not be made (a file unreadable at that moment) is judged
        again later, waiting twice as long each time, up to an hour: its files may not change
        (a chmod back changes nothing the index compares), so nothing else would."""
        now = time.monotonic()
        for path in judged:
            if path in undecided:
                wait = min(2 * self._unconfirmed.get(path, (0.0, _RETRY_FIRST / 2))[1], _RETRY_LAST)
                self._unconfirmed[path] = (now + wait, wait)
            else:
                self._unconfirmed.pop(path, None)

    def _confirm(
        self, needles: Sequence[tuple[bytes, Fingerprint | None, Sequence[Match]]]
    ) -> tuple[dict[tuple[bytes, bytes], Tier | None], set[bytes]]:
        """The result of every check the needles' matches need, by (needle, library) path pair
        (matching.Checks), and the needles with a check that could not be made."""
        pixels: list[tuple[bytes, bytes, Fingerprint, Fingerprint, Tier]] = []
        same_bytes: list[tuple[bytes, bytes]] = []
        for path, fp, found in needles:
            for m, check in checks_needed(fp, found):
                if check is Check.PIXELS:
                    lfp = self.library.fingerprint(m.path)
                    assert fp is not None and lfp is not None
                    pixels.append((path, m.path, fp, lfp, m.tier))
                else:
                    same_bytes.append((path, m.path))
        out = self._compare_pixels(pixels)
        out.update({pair: Tier.IDENTICAL if same else None for pair, same in self._compare_bytes(same_bytes).items()})
        undecided = {n for n, lib, _, _, _ in pixels if (n, lib) not in out} | {
            n for n, lib in same_bytes if (n, lib) not in out
        }
        return out, undecided

    def _compare_pixels(
        self, pairs: Sequence[tuple[bytes, bytes, Fingerprint, Fingerprint, Tier]]
    ) -> dict[tuple[bytes, bytes], Tier | None]:
        """Full-resolution confirmations of what the thumbnails claim (needle, library,
        their fingerprints, the claim). Results are cached in the index by what the two files
        hold and the claim (confirmation.cache_key), so a pair of contents is decoded once wherever
        the files are: also within one batch (a card copied twice, a library holding a picture
        twice), where one pair of each key is confirmed and another of that key only if it fails. The
        answer is of the contents, so it stands for every pair of them not yet tried, as the cache's
        would; a pair whose own check failed waits for the next try."""
        wanted = {
            (n, lib): (
                confirmation.cache_key(nfp, lfp, claim, self.decoder_versions),
                PixelTask(
                    n,
                    lib,
                    claim,
                    confirmation.decode_side((nfp.width, nfp.height), (lfp.width, lfp.height)),
                    (nfp.digest, lfp.digest),
                ),
            )
            for n, lib, nfp, lfp, claim in pairs
        }
        cached = self.store.confirmed(key for key, _ in wanted.values())
        out: dict[tuple[bytes, bytes], Tier | None] = {}
        alike: dict[bytes, list[tuple[bytes, bytes]]] = {}
        for pair, (key, _) in wanted.items():
            if key in cached:
                out[pair] = cached[key]
            else:
                alike.setdefault(key, []).append(pair)
        if not alike:
            return out
        log.info("confirming %d matches at full resolution", len(alike))
        fresh: dict[bytes, Tier | None] = {}
        failed: set[tuple[bytes, bytes]] = set()
        untried = {key: iter(pairs) for key, pairs in alike.items()}
        while untried and not self.pool.cancelled:
            todo = {key: pair for key, pair in ((key, next(rest, None)) for key, rest in untried.items()) if pair}
            untried = {key: untried[key] for key in todo}
            self.counters.checked += len(todo)
            for result in self.pool.check(wanted[pair][1] for pair in todo.values()):
                pair = (result.needle, result.library)
                key = wanted[pair][0]
                self._beat()
                if result.problem is not None:
                    # not given its twin's answer: this file may no longer hold what was indexed
                    # ("changed"), and then that answer is not of it; it waits and is tried again
                    failed.add(pair)
                    log.info(
                        "cannot confirm %s against %s: %s", os.fsdecode(pair[0]), os.fsdecode(pair[1]), result.problem
                    )
                    continue
                fresh[key] = result.tier
                out.update((other, result.tier) for other in alike[key] if other not in failed)
                del untried[key]
        if self.store.writable:
            try:
                self.store.put_confirmed(fresh.items())
            except StoreWriteError as exc:  # only a cache: the confirmations are made again next time
                log.warning("%s", exc)
        return out

    def _compare_bytes(self, pairs: Sequence[tuple[bytes, bytes]]) -> dict[tuple[bytes, bytes], bool]:
        """Whether raw files or videos whose sampled digests agree are the same bytes: both read
        whole, once per version of each file (the whole-file digests are kept in the index with
        the stat they belong to)."""
        if not pairs:
            return {}
        digests = self._full_digests({Role.NEEDLE: {n for n, _ in pairs}, Role.HAYSTACK: {lib for _, lib in pairs}})
        out = {}
        for n, lib in pairs:
            a, b = digests.get((Role.NEEDLE, n)), digests.get((Role.HAYSTACK, lib))
            if a is not None and b is not None:
                out[(n, lib)] = a == b
        return out

    def _full_digests(self, wanted: Mapping[Role, set[bytes]]) -> dict[tuple[Role, bytes], bytes]:
        """The whole-file digest of each path, from the index when its stat still matches, else
        read now (in the decoder pool) and remembered."""
        out: dict[tuple[Role, bytes], bytes] = {}
        todo: dict[bytes, Role] = {}
        for role, wanted_paths in wanted.items():
            cached = self.store.full_digests(role, wanted_paths)
            for path in wanted_paths:
                stat, digest = cached.get(path, (None, b""))
                if stat is not None and stat == self.known[role].get(path):
                    out[(role, path)] = digest
                else:
                    todo[path] = role
        if not todo:
            return out
        log.info("reading %d files whole to prove them byte-identical", len(todo))
        fresh: dict[Role, list[tuple[bytes, bytes, bytes]]] = {role: [] for role in Role}
        for result in self.pool.digests(todo):
            self._beat()
            role = todo[result.path]
            if result.digest is None or result.stat is None:
                log.info("cannot read %s whole: %s", os.fsdecode(result.path), result.problem)
                continue
            out[(role, result.path)] = result.digest
            stat = pack_stat(*result.stat)
            if stat == self.known[role].get(result.path):
                fresh[role].append((result.path, stat, result.digest))
        if self.store.writable:
            try:
                for role, items in fresh.items():
                    self.store.put_full_digests(role, items)
            except StoreWriteError as exc:  # only a cache: read again next time
                log.warning("%s", exc)
        return out

    def _set_outcome(self, path: bytes, out: Outcome | None) -> None:
        old = self.outcomes.pop(path, None)
        if old is not None:
            for m in old.matches:
                self.matched_by.get(m.path, set()).discard(path)
        if out is not None:
            self.outcomes[path] = out
            for m in out.matches:
                self.matched_by.setdefault(m.path, set()).add(path)
        if old != out:
            self._changed.add(path)

    # -- answers ------------------------------------------------------------------------------

    def sorted_outcomes(self) -> list[Outcome]:
        """Every judged needle's outcome, by path."""
        return [self.outcomes[p] for p in sorted(self.outcomes)]

    def counts(self, role: Role) -> tuple[int, int]:
        """(files, unreadable files) the index holds for `role`."""
        return len(self.known[role]), len(self.bad[role])
