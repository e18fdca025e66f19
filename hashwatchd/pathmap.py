"""Finding paths among a million without a dict: a sorted hash index, and PathMap built on it.

The library finds its slots through `hash_index`/`find`; the index's stats are a PathMap.

The daemon keeps the stat of every library file, to compare with the disk. As a dict of bytes,
at 10^6 paths that is 40 MB of hash table and 65 MB of value objects. Here the values share one
buffer and a path is found through its hash in a sorted array (12 bytes a path); what changes
after construction goes to a small dict on top, so building is one pass and updates stay cheap.
A lookup costs more than a dict's; `get_many` does a rescan's worth in bulk.

`under(prefix)` lists the paths under a directory without looking at the others (deleting a folder
must not cost a pass over a million paths): the base paths through their byte order, sorted at the
first call (4 bytes a path), and those set later through a sorted list of them (`SortedPaths`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterator, MutableMapping, Sequence

import numpy as np

#: Paths' hashes in ascending order, and the row of `paths` each came from.
HashIndex = tuple[np.ndarray, np.ndarray]


def hash_index(paths: Sequence[bytes]) -> HashIndex:
    """Index `paths` by their hashes (Python's, stable within the process): 12 bytes a path."""
    hashes = np.fromiter((hash(p) for p in paths), np.int64, count=len(paths))
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order.astype(np.int32)


def find(index: HashIndex, paths: Sequence[bytes], path: bytes, at: int | None = None) -> Iterator[int]:
    """The rows of `paths` that hold `path` (`at`: where its hash sorts in the index, if known)."""
    hashes, rows = index
    key = hash(path)
    if at is None:
        at = int(np.searchsorted(hashes, key))
    while at < len(hashes) and int(hashes[at]) == key:
        row = int(rows[at])
        if paths[row] == path:
            yield row
        at += 1


def directory(prefix: bytes) -> bytes:
    """What every path strictly under the directory `prefix` starts with: `prefix` and one slash
    (b"/a/b" and b"/a/b/" give b"/a/b/", which b"/a/bc/x" does not start with; b"/" gives b"/")."""
    return prefix.rstrip(b"/") + b"/"


def _past(top: bytes) -> bytes:
    """The least bytes string after every string that starts with `top` (which ends with b"/",
    and b"0" follows b"/"): the paths under `top` are those in [top, _past(top)) in byte order."""
    return top[:-1] + b"0"


class SortedPaths:
    """The keys of a dict of paths, `members`, kept in byte order for `under` (O(log n + k)).

    Its owner calls `added(path)` once `path` has become a key and `removed(path)` once it has stopped
    being one. Additions wait in a list and are sorted in at the next `under` (a run of them costs an
    append each); a sorted path is removed at once (a bisection and a memmove). 8 bytes a path.
    """

    def __init__(self, members: Collection[bytes]) -> None:
        self._members = members
        self._sorted: list[bytes] = []  # sorted, no repeats, every one a member
        self._new: list[bytes] = []  # every member not in _sorted; maybe repeats, and former members

    def added(self, path: bytes) -> None:
        self._new.append(path)
        if len(self._new) > 2 * len(self._members) + 4096:  # churn without queries: drop the former members
            self._new = [p for p in dict.fromkeys(self._new) if p in self._members]

    def removed(self, path: bytes) -> None:
        i = bisect_left(self._sorted, path)
        if i < len(self._sorted) and self._sorted[i] == path:
            del self._sorted[i]
        # else it waits in _new, and is dropped there when sorted in

    def _merge(self) -> list[bytes]:
        if self._new:
            fresh = sorted({p for p in self._new if p in self._members})
            self._new = []
            if fresh:
                self._sorted += fresh
                self._sorted.sort()  # two sorted runs: one linear merge
        return self._sorted

    def _span(self, top: bytes) -> tuple[int, int]:
        paths = self._merge()
        lo = bisect_left(paths, top)
        return lo, bisect_left(paths, _past(top), lo)

    def under(self, top: bytes) -> list[bytes]:
        """The members that start with `top` (a directory's path and b"/": see `directory`)."""
        lo, hi = self._span(top)
        return self._sorted[lo:hi]

    def pop_under(self, top: bytes) -> list[bytes]:
        """under(top), no longer listed here (the owner drops them from `members` without
        calling `removed` for each: one memmove for all)."""
        lo, hi = self._span(top)
        out = self._sorted[lo:hi]
        del self._sorted[lo:hi]
        return out


class PathMap(MutableMapping[bytes, bytes]):
    """`paths[i]` maps to `values[i * width : (i + 1) * width]`, plus whatever is set later."""

    def __init__(self, paths: list[bytes] | None = None, values: bytes | bytearray = b"", width: int = 0) -> None:
        self._paths = paths or []
        self._values = bytes(values)
        self._width = width
        self._index = hash_index(self._paths)
        self._gone = np.zeros(len(self._paths), bool)  # base rows deleted, or overridden by _top
        self._top: dict[bytes, bytes] = {}
        self._top_order = SortedPaths(self._top)
        self._order: np.ndarray | None = None  # base rows in their paths' byte order, built by under()
        self._len = len(self._paths)

    def _row(self, path: bytes, at: int | None = None) -> int | None:
        """The live base row of `path` (`at`: where its hash sorts, if known), or None."""
        return next((row for row in find(self._index, self._paths, path, at) if not self._gone[row]), None)

    def _value(self, row: int) -> bytes:
        return self._values[row * self._width : (row + 1) * self._width]

    def get(self, path: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        value = self._top.get(path)
        if value is not None:
            return value
        row = self._row(path)
        return default if row is None else self._value(row)

    def get_many(self, paths: Sequence[bytes]) -> list[bytes | None]:
        """get() of every path, with one array search for all of them (a rescan's lookups)."""
        rows = np.full(len(paths), -1, np.int64)
        places = np.zeros(len(paths), np.int64)
        hashes, index_rows = self._index
        if len(hashes):
            keys = np.fromiter((hash(p) for p in paths), np.int64, count=len(paths))
            places = np.minimum(np.searchsorted(hashes, keys), len(hashes) - 1)
            hit = hashes[places] == keys
            rows[hit] = index_rows[places[hit]]
        gone = self._gone[rows].tolist() if len(self._gone) else [True] * len(paths)
        base, values, width, top = self._paths, self._values, self._width, self._top
        out: list[bytes | None] = []
        for path, row, at, dead in zip(paths, rows.tolist(), places.tolist(), gone, strict=True):
            value = top.get(path) if top else None
            if value is None and row >= 0:
                if base[row] != path:  # another path with the same hash sorts first
                    found = self._row(path, at)
                    value = None if found is None else self._value(found)
                elif not dead:
                    value = values[row * width : (row + 1) * width]
            out.append(value)
        return out

    def __getitem__(self, path: bytes) -> bytes:
        value = self.get(path)
        if value is None:
            raise KeyError(path)
        return value

    def __contains__(self, path: object) -> bool:
        return isinstance(path, bytes) and (path in self._top or self._row(path) is not None)

    def __setitem__(self, path: bytes, value: bytes) -> None:
        new = path not in self._top
        if new:
            row = self._row(path)
            if row is None:
                self._len += 1
            else:
                self._gone[row] = True
        self._top[path] = value
        if new:
            self._top_order.added(path)

    def __delitem__(self, path: bytes) -> None:
        if self._top.pop(path, None) is None:
            row = self._row(path)
            if row is None:
                raise KeyError(path)
            self._gone[row] = True
        else:
            self._top_order.removed(path)
        self._len -= 1

    def __iter__(self) -> Iterator[bytes]:
        if self._gone.any():
            yield from (path for path, gone in zip(self._paths, self._gone.tolist(), strict=True) if not gone)
        else:
            yield from self._paths
        yield from list(self._top)

    def __len__(self) -> int:
        return self._len

    def under(self, prefix: bytes) -> list[bytes]:
        """Every path strictly under the directory `prefix` (see `directory`), base paths first,
        in O(log n + k). The first call sorts the base rows by path, at 10^6 paths in ~3-5 s of
        CPU; 4 bytes a path are kept. NumPy's argsort of the paths as objects rather than
        sorted(range(n), key=...), which takes 30% less CPU but leaves its million int objects'
        memory to the process (20 MiB more RSS in the daemon)."""
        top = directory(prefix)
        paths = self._paths
        if self._order is None:
            self._order = np.argsort(np.array(paths, dtype=object), kind="stable").astype(np.int32)
        order = self._order
        lo = bisect_left(order, top, key=paths.__getitem__)
        hi = bisect_left(order, _past(top), lo, key=paths.__getitem__)
        rows = order[lo:hi]
        rows = rows[~self._gone[rows]]
        return [paths[row] for row in rows.tolist()] + self._top_order.under(top)
