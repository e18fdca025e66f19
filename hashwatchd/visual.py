"""Write the visual report (page.py) and keep the previews it shows.

The daemon writes the page each time it writes the status file (status.py), `scan` writes it
too, and `hashwatchd report --html DIR` writes one into DIR from an existing index. The page
refers to its previews as `thumbs/<digest hex>.jpg` beside it, so it works from file://; when
it is written elsewhere than the state directory, the previews it shows are linked or copied
there from the cache (STATE_DIR/thumbs).

Needle previews come with hashing (the engine stores them); what the page shows and the cache
lacks (the library copies behind `same` and `edited` verdicts, needles hashed before previews
existed) is made here, in the decoder pool, at most `budget` per write in the daemon, most
useful first (page.shown); `write` says when some are still to make, and the caller writes
again. A preview that cannot be made (the file is gone, or changed since it was indexed) is
tried again for that content ten minutes later, not at every page. Each write once the daemon
is caught up (watching, or a scan done) then removes the previews no needle needs any more.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hashwatchd import files, page, paths, publish
from hashwatchd.engine import Engine
from hashwatchd.errors import PublishError
from hashwatchd.model import Fingerprint, Role
from hashwatchd.report import Decided, FolderReport, Report, State
from hashwatchd.thumbcache import ThumbCache

log = logging.getLogger(__name__)

#: Where a page keeps its previews, relative to it.
THUMBS = "thumbs"
#: A page that cannot be written is logged at most this often.
_ERROR_EVERY = 60.0
#: The daemon writes the page at most once per this many times what the last one cost (rendering,
#: writing, sweeping; 10,000 needles take about 0.5 s): with a large needle set, its loop spends
#: at most a tenth of its time on the page while things change.
COST_RATIO = 10.0
#: A page that could not be written is tried again after this many seconds.
_RETRY = 5.0
#: Seconds before a preview that could not be made is tried again: the card may have been pulled
#: out while it was made, or the file unreadable for a moment; never at every page.
_RETRY_PREVIEW = 600.0


def page_path(report_path: Path) -> Path:
    """The page beside a status file: its name with `.html` (status.json -> status.html)."""
    html = report_path.with_suffix(".html")
    return html if html != report_path else report_path.with_name(report_path.name + ".html")


def index_roots(engine: Engine, patterns: Sequence[bytes]) -> list[bytes]:
    """The needle roots of an index read without a daemon: the roots it recorded that hold needle
    entries (a card that is not mounted now included) and those `patterns` expand to now."""
    known = [r for r in engine.identities if engine.holds(Role.NEEDLE, r)]
    if patterns:
        known = [r for r in known if paths.pattern_of(r, patterns) is not None]
    return sorted(set(known) | set(files.expand_roots(patterns)))


def add_status(
    doc: Report, status: Mapping[str, Any], *, roots: Collection[bytes], offline: Collection[bytes], decided: Decided
) -> None:
    """Complete a report made from the index without a daemon (`report --html`) with what only the
    status file `status` (its JSON document) knows: the state of the daemon that wrote it and the
    files it has not analysed yet, in the folders of `roots`. Those folders are incomplete; one
    whose every file waits is not in the index at all, and is added. Raises KeyError, TypeError or
    ValueError when the document is not a status file."""
    state = State(status["state"])
    waiting = {(os.fsencode(e["root"]), os.fsencode(e["path"])): int(e["pending"]) for e in status["folders"]}
    folders = {(f.root, f.path): f for f in doc.folders}
    for key, pending in waiting.items():
        if not pending or key[0] not in roots:
            continue
        if key not in folders:
            f = folders[key] = FolderReport(*key, first_seen=doc.generated_at, updated_at=doc.generated_at)
            f.online, f.ignored = key[0] not in offline, decided.folder(f.root, f.directory)
        folders[key].pending = pending
    doc.state, doc.folders = state, [folders[key] for key in sorted(folders)]
    doc.pending = sum(f.pending for f in doc.folders)


class PageWriter:
    """Writes the page of one engine's results, with the previews in `cache`.

    `store`: previews made here go into the cache (the daemon and `scan`, which own the state
    directory), else only beside the page (`report --html`, which only reads it). `budget`:
    previews made per write (None: all of them). `clock`: seconds, for `try_write`'s pace.
    """

    def __init__(
        self,
        engine: Engine,
        cache: ThumbCache,
        *,
        store: bool = True,
        budget: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine, self.cache, self.store, self.budget, self._clock = engine, cache, store, budget, clock
        self._failed: dict[tuple[bytes, bytes], float] = {}  # (path, digest) -> when its preview could not be made
        self._error_logged = -_ERROR_EVERY
        self.cost = 0.0  # seconds the last page took, previews aside
        self._next = -float("inf")  # try_write writes again from this time on
        self._owed = False  # a write was put off, or left previews to make

    def write(self, report: Report, path: Path, mode: int = 0o644, *, from_index: bool = False) -> bool:
        """Write the page of `report` to `path` and the previews it shows beside it; whether every
        preview that can be made is there (else call again). `from_index`: the report comes from
        the index alone (page.render). Raises PublishError when the page cannot be written."""
        outcomes = self.engine.outcomes
        fps = {p: fp for p in page.shown(report, outcomes) if (fp := self._fingerprint(p)) is not None}
        here = ThumbCache(path.parent / THUMBS, mode)
        own = here.directory.absolute() == self.cache.directory.absolute()
        target = self.cache if own or self.store else here
        todo = []
        retry = self._clock() - _RETRY_PREVIEW
        self._failed = {key: when for key, when in self._failed.items() if when > retry}  # due again: forgotten
        for p, fp in fps.items():
            if here.has(fp.digest) or here.copy(fp.digest, self.cache):
                continue
            if self._failed.get((p, fp.digest), retry) <= retry:
                todo.append(p)
        # On the stop path a decoder may still hold the task a stopped hashing loop left behind.
        if report.state is not State.STOPPED:
            now = todo if self.budget is None else todo[: self.budget]
            self._make(now, fps, target, here)
            todo = todo[len(now) :]
        start = self._clock()
        previews = {p: f"{THUMBS}/{here.path(fp.digest).name}" for p, fp in fps.items() if here.has(fp.digest)}
        sizes = {p: (fp.width, fp.height) for p, fp in fps.items()}
        kinds = {p: fp.kind for p, fp in fps.items()}
        text = page.render(
            report, outcomes, previews, sizes, kinds=kinds, previews_pending=len(todo), from_index=from_index
        )
        publish.write_atomic(path, text.encode("utf-8"), mode)
        # Before the daemon is caught up (its first page comes before it has looked at its roots; a
        # scan may not have reached every folder) a page may lack what a later one shows: removing
        # those previews would have them decoded again.
        if report.state in (State.WATCHING, State.DONE):
            shown = {fp.digest for fp in fps.values()}
            here.sweep(shown if not own else shown | self._needle_digests())
            if self.store and not own:
                self.cache.sweep(shown | self._needle_digests())
        self.cost = self._clock() - start
        return not todo

    def try_write(self, report: Report, path: Path, mode: int = 0o644) -> None:
        """What the daemon calls with each status file it writes: `write`, unless the last page was
        written less than COST_RATIO times its cost ago (then the page is owed: `due`), and logging
        a failure (at most once a minute) instead of raising it, since the page is a second output
        that must never cost the status file. The last page, when the daemon stops, is always written."""
        now = self._clock()
        if now < self._next and report.state is not State.STOPPED:
            self._owed = True
            return
        try:
            done = self.write(report, path, mode)
        except PublishError as exc:
            self._owed, self._next = True, now + _RETRY
            if now - self._error_logged >= _ERROR_EVERY:
                log.error("visual report: %s (retrying; logged once a minute)", exc)
                self._error_logged = now
            return
        self._owed = not done
        self._next = self._clock() + COST_RATIO * self.cost
        self._error_logged = -_ERROR_EVERY

    def due(self) -> bool:
        """Whether a page was put off (or left previews to make) and may be written now."""
        return self._owed and self._clock() >= self._next

    def owed_at(self) -> float | None:
        """When (on `clock`) a page that was put off may be written: the daemon's loop wakes then."""
        return self._next if self._owed else None

    def _fingerprint(self, path: bytes) -> Fingerprint | None:
        needle = self.engine.needle_fp.get(path)
        if needle is not None:
            return needle[0]
        return self.engine.library.fingerprint(path)

    def _needle_digests(self) -> set[bytes]:
        return {entry[0].digest for entry in self.engine.needle_fp.values() if entry[0] is not None}

    def _make(self, todo: Iterable[bytes], fps: dict[bytes, Fingerprint], target: ThumbCache, here: ThumbCache) -> None:
        todo = list(todo)
        if not todo:
            return
        log.debug("making %d previews", len(todo))
        for result in self.engine.pool.previews(todo):
            digest = fps[result.path].digest
            if result.jpeg is None or result.digest != digest:
                why = result.problem or "the file changed since it was indexed"
                log.debug("no preview of %s: %s", os.fsdecode(result.path), why)
                self._failed[(result.path, digest)] = self._clock()
            elif target.put(digest, result.jpeg) and target is not here:
                here.copy(digest, target)
