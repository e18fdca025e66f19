"""Finding paths among a million without a dict: a sorted hash index, and PathMap built on it.

The library finds its slots through `hash_index`/`find`; the index's stats are a PathMap.

The daemon keeps the stat of every library file, to compare with the disk. As a dict of bytes,
at 10^6 paths that is 40 MB of hash table and 65 MB of value objects. Here the values share one
buffer and a path is found through its hash in a sorted array (12 bytes a path); what changes
after construction goes to a small dict on top, so building is one pass and updates stay cheap.
A lookup costs more than a dict's; `get_many` does a rescan's worth in bulk.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence

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


class PathMap(MutableMapping[bytes, bytes]):
    """`paths[i]` maps to `values[i * width : (i + 1) * width]`, plus whatever is set later."""

    def __init__(self, paths: list[bytes] | None = None, values: bytes | bytearray = b"", width: int = 0) -> None:
        self._paths = paths or []
        self._values = bytes(values)
        self._width = width
        self._index = hash_index(self._paths)
        self._gone = np.zeros(len(self._paths), bool)  # base rows deleted, or overridden by _top
        self._top: dict[bytes, bytes] = {}
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

    def under(self, top: bytes) -> list[bytes]:
        """Every path strictly below directory `top`."""
        start = top.rstrip(b"/") + b"/"
        return [p for p in self if p.startswith(start)]

    def __getitem__(self, path: bytes) -> bytes:
        value = self.get(path)
        if value is None:
            raise KeyError(path)
        return value

    def __contains__(self, path: object) -> bool:
        return isinstance(path, bytes) and (path in self._top or self._row(path) is not None)

    def __setitem__(self, path: bytes, value: bytes) -> None:
        if path not in self._top:
            row = self._row(path)
            if row is None:
                self._len += 1
            else:
                self._gone[row] = True
        self._top[path] = value

    def __delitem__(self, path: bytes) -> None:
        if self._top.pop(path, None) is None:
            row = self._row(path)
            if row is None:
                raise KeyError(path)
            self._gone[row] = True
        self._len -= 1

    def __iter__(self) -> Iterator[bytes]:
        if self._gone.any():
            yield from (path for path, gone in zip(self._paths, self._gone.tolist(), strict=True) if not gone)
        else:
            yield from self._paths
        yield from list(self._top)

    def __len__(self) -> int:
        return self._len
