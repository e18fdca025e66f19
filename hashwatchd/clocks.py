"""Each needle folder's two clocks: when hashwatchd first saw it, and when its result last
changed. Kept in the index with a digest of that result, so that neither a restart nor a second
scan makes every card look new or just changed: a poller can still say "copied in three days
ago, unchanged since".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from hashwatchd.errors import StoreError
from hashwatchd.report import FolderKey, FolderReport
from hashwatchd.store import Store

log = logging.getLogger(__name__)


def now() -> datetime:
    """The local time with its offset, as the status file shows times."""
    return datetime.now(UTC).astimezone()


def _local(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC).astimezone()


class Clocks:
    """The folders' clocks, read from the store once and written back as they change."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._times: dict[FolderKey, tuple[float, float, bytes]] = store.folder_times()
        self._saved = dict(self._times)

    def stamp(self, folders: Iterable[FolderReport], when: datetime) -> list[FolderKey]:
        """Set each folder's `first_seen` and `updated_at`: a folder never seen before was first
        seen `when`, and one whose result differs from the last one seen changed `when`. Returns
        the folders never seen before."""
        unix = when.timestamp()
        new = []
        for f in folders:
            key, result = (f.root, f.path), f.result_digest()
            if key not in self._times:
                new.append(key)
            first, changed, last = self._times.get(key, (unix, unix, result))
            if last != result:
                changed = unix
            self._times[key] = (first, changed, result)
            f.first_seen, f.updated_at = _local(first), _local(changed)
        return new

    def save(self, present: Iterable[FolderKey] | None = None) -> None:
        """Write what changed to the index; with `present`, forget every other folder (it is gone,
        and a card copied there again is new). A failed write is logged and tried again next time."""
        if present is not None:
            keep = set(present)
            self._times = {k: v for k, v in self._times.items() if k in keep}
        changed = {k: v for k, v in self._times.items() if self._saved.get(k) != v}
        gone = [k for k in self._saved if k not in self._times]
        if not changed and not gone:
            return
        try:
            self._store.put_folder_times(changed, gone)
        except StoreError as exc:
            log.warning("%s; the folders' clocks are written again with the next change", exc)
            return
        self._saved = dict(self._times)
