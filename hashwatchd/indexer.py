"""Bring the index in line with the disk, and judge every needle: the pipeline `scan` runs.

The index is a cache of the disk, not a log of events: a file is decoded only when its stat
fingerprint (size, mtime_ns, inode, device) differs from the stored one, entries of files
that vanished are dropped, and entries outside the configured roots are dropped too (a
library that is no longer configured must not keep matching).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hashwatchd import files
from hashwatchd.errors import StoreWriteError
from hashwatchd.matching import DEFAULT_POLICY, Library, Outcome, Policy, pixel_checks_needed, verdict
from hashwatchd.model import Entry, Fingerprint, Match, Role
from hashwatchd.report import root_of
from hashwatchd.store import Store, Table, pack_stat
from hashwatchd.workers import Pool

log = logging.getLogger(__name__)

BATCH = 256
#: Walked files compared with the index per bulk lookup: the first changed file of a cold scan
#: starts the decoders after at most this many.
_COMPARE_BATCH = 1024

Progress = Callable[[int, int], None]


@dataclass
class SyncStats:
    """What one sync of one role did."""

    files: int = 0
    hashed: int = 0
    removed: int = 0
    checked: int = 0
    special: int = 0
    table: Table | None = None  # the role's index as read before the sync; current if nothing changed


def sync(
    store: Store,
    pool: Pool,
    role: Role,
    roots: Sequence[bytes],
    *,
    excludes: Sequence[str] = (),
    follow_symlinks: bool = False,
    progress: Progress | None = None,
) -> SyncStats:
    """Index new and changed files under `roots`, drop the rest; return what was done."""
    stats = SyncStats()
    stats.table = store.table(role)
    known = stats.table.stats
    on_disk: dict[bytes, files.Found] = {}
    stale: list[files.Found] = []
    walked: list[files.Found] = []

    def compare() -> None:
        """Compare what was walked since the last call with the index, in one bulk lookup."""
        for found, old in zip(walked, known.get_many([f.path for f in walked]), strict=True):
            if old != pack_stat(*found.stat):
                stale.append(found)
                pool.start()
        walked.clear()

    for root in roots:
        for found in files.walk(root, excludes, follow_symlinks=follow_symlinks):
            if found.path in on_disk:
                continue  # under two roots (nested): once is enough
            on_disk[found.path] = found
            walked.append(found)
            if len(walked) == _COMPARE_BATCH:
                compare()
    compare()
    stats.files = len(on_disk)
    gone = [(role, p) for p in known.keys() - on_disk.keys()]
    special = [f for f in stale if not f.regular]
    todo = [f.path for f in stale if f.regular]
    store.write(
        put=[Entry(f.path, role, f.stat, None, "not-a-regular-file: a FIFO, socket or device") for f in special],
        delete=gone,
    )
    stats.removed = len(gone)
    stats.special = len(special)
    log.info("%s: %d files, %d to hash, %d gone", role.value, len(on_disk), len(todo), len(gone))
    batch: list[Entry] = []
    gone_now: list[tuple[Role, bytes]] = []
    for done, result in enumerate(pool.map(todo), 1):
        if result.error and result.error.startswith("vanished"):
            gone_now.append((role, result.path))  # deleted between listing and hashing: not a file any more
            continue
        st = result.stat or on_disk[result.path].stat
        batch.append(Entry(result.path, role, st, result.fingerprint, result.error))
        if result.error:
            log.info("unreadable: %s: %s", os.fsdecode(result.path), result.error)
        if len(batch) >= BATCH:
            store.write(put=batch)
            batch.clear()
        if progress:
            progress(done, len(todo))
    store.write(put=batch, delete=gone_now)
    stats.hashed = len(todo)
    return stats


def library(store: Store, table: Table | None = None) -> tuple[Library, tuple[int, int]]:
    """The haystack's readable entries, ready for candidate search, and (files, unreadable).
    The library reads records from `store` as it verifies: use it while the store is open.

    `table` is the haystack as a sync read it, when that sync changed nothing (saves a pass).
    """
    table = table or store.table(Role.HAYSTACK)
    lib = Library()
    lib.load(table.fp_paths, table.keys, table.records)
    return lib, (len(table.stats), len(table.unreadable))


def judge(
    store: Store,
    lib: Library,
    pool: Pool,
    roots: Sequence[bytes] | None = None,
    policy: Policy = DEFAULT_POLICY,
    *,
    remember: bool = True,
    stats: SyncStats | None = None,
) -> list[Outcome]:
    """An outcome for every needle entry (under `roots` when given), sorted by path.

    `same` matches between pictures of different sizes are confirmed at full resolution in the
    pool (see matching.needs_pixel_check); results are cached in the index by content digest,
    so a second run decodes nothing. `remember=False` for a read-only index.
    """
    needles = [e for e in store.entries(Role.NEEDLE) if roots is None or root_of(e.path, roots) is not None]
    found = dict(zip([e.path for e in needles], lib.match_many([e.fingerprint for e in needles], policy), strict=True))
    checks = confirm(
        store,
        lib,
        pool,
        [(e.path, e.fingerprint, found[e.path]) for e in needles],
        policy,
        remember=remember,
        stats=stats,
    )
    outs = [verdict(e.path, e.fingerprint, e.error, found[e.path], lib, policy=policy, checks=checks) for e in needles]
    outs.sort(key=lambda o: o.path)
    return outs


def confirm(
    store: Store,
    lib: Library,
    pool: Pool,
    needles: Sequence[tuple[bytes, Fingerprint | None, Sequence[Match]]],
    policy: Policy = DEFAULT_POLICY,
    *,
    remember: bool = True,
    stats: SyncStats | None = None,
) -> dict[tuple[bytes, bytes], bool]:
    """Full-resolution checks for every (needle, library) pair that needs one, by path pair."""
    wanted: dict[tuple[bytes, bytes], tuple[bytes, bytes, int]] = {}
    for path, fp, found in needles:
        for lp in pixel_checks_needed(fp, found, lib, policy=policy):
            lfp = lib.fingerprint(lp)
            assert fp is not None and lfp is not None
            side = min(fp.width, fp.height, lfp.width, lfp.height)
            wanted[(path, lp)] = (fp.digest, lfp.digest, side)
    cached = store.checks((n, h) for n, h, _ in wanted.values())
    out: dict[tuple[bytes, bytes], bool] = {}
    todo = []
    for pair, (nd, hd, side) in wanted.items():
        if (nd, hd) in cached:
            out[pair] = cached[(nd, hd)]
        else:
            todo.append((pair, nd, hd, side))
    if not todo:
        return out
    log.info("confirming %d matches at full resolution", len(todo))
    if stats is not None:
        stats.checked += len(todo)
    digests = {pair: (nd, hd) for pair, nd, hd, _ in todo}
    fresh = []
    for result in pool.check((pair[0], pair[1], side) for pair, _, _, side in todo):
        pair = (result.needle, result.library)
        if result.same is None:
            log.info("cannot confirm %s against %s: %s", os.fsdecode(pair[0]), os.fsdecode(pair[1]), result.error)
            continue
        out[pair] = result.same
        fresh.append((*digests[pair], result.same))
    if remember:
        try:
            store.put_checks(fresh)
        except StoreWriteError as exc:  # only a cache: the checks are redone next time
            log.warning("%s", exc)
    return out
