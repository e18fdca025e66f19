"""PathMap behaves as a dict of paths to fixed-width values, whatever is changed after building."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

import hashwatchd.pathmap
from hashwatchd.pathmap import PathMap, SortedPaths


def _value(i: int) -> bytes:
    return i.to_bytes(4, "little") * 2


def test_pathmap_agrees_with_a_dict_through_random_changes() -> None:
    """2,000 random sets, deletions and lookups (paths built in, added later, set twice,
    deleted and set again): every answer equals a dict's, including get_many's."""
    rng = random.Random(7)
    paths = [f"/lib/{i:05d}.jpg".encode() for i in range(3000)]
    base = paths[:2000]
    pm = PathMap(list(base), b"".join(_value(i) for i in range(2000)), 8)
    ref = {p: _value(i) for i, p in enumerate(base)}
    assert pm == ref
    for step in range(2000):
        path = rng.choice(paths)
        action = rng.random()
        if action < 0.4:
            pm[path] = ref[path] = _value(10_000 + step)
        elif action < 0.7:
            if path in ref:
                del pm[path]
                del ref[path]
            else:
                with pytest.raises(KeyError):
                    del pm[path]
        assert pm.get(path) == ref.get(path)
        assert (path in pm) == (path in ref)
    assert len(pm) == len(ref)
    assert sorted(pm) == sorted(ref)
    probe = [*rng.sample(paths, 500), b"/nowhere.jpg"]
    assert pm.get_many(probe) == [ref.get(p) for p in probe]


def test_pathmap_finds_paths_whose_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths that share a hash are told apart by the path itself."""
    monkeypatch.setattr(hashwatchd.pathmap, "hash", lambda _path: 5, raising=False)
    paths = [b"/a.jpg", b"/b.jpg", b"/c.jpg"]
    pm = PathMap(paths, b"AABBCC", 2)
    assert [pm.get(p) for p in paths] == [b"AA", b"BB", b"CC"]
    assert pm.get_many([*paths, b"/d.jpg"]) == [b"AA", b"BB", b"CC", None]
    del pm[b"/b.jpg"]
    assert pm.get(b"/b.jpg") is None and pm.get(b"/c.jpg") == b"CC"


def test_empty_pathmap_is_an_empty_dict() -> None:
    pm = PathMap()
    assert len(pm) == 0 and list(pm) == [] and pm.get_many([b"/x"]) == [None]
    pm[b"/x"] = b"1"
    assert dict(pm) == {b"/x": b"1"}


# Names that sort around b"/" (b"-" < b"." < b"/" < b"0"), names that are prefixes of others
# (b"b", b"bc"), and bytes that are not UTF-8.
_NAMES = [b"a", b"b", b"bc", b"b-c", b"b.c", b"b0", b"\xff", b"\xe9t\xe9", b"a b", b"IMG_1.JPG"]


def _random_path(rng: random.Random) -> bytes:
    return b"/" + b"/".join(rng.choice(_NAMES) for _ in range(rng.randint(1, 4)))


def _brute_under(paths: Iterable[bytes], prefix: bytes) -> list[bytes]:
    top = prefix.rstrip(b"/") + b"/"
    return sorted(p for p in paths if p.startswith(top))


def _prefixes(rng: random.Random, paths: list[bytes]) -> list[bytes]:
    """Directories of known paths (with and without a trailing slash), the paths themselves,
    name prefixes that are not directories (b"/a/b" beside b"/a/bc"), the root, unknown ones."""
    out = [b"/", b"//", b"", b"/nowhere", b"/b/", b"/b", b"/b0", b"/\xff"]
    for path in rng.sample(paths, min(20, len(paths))):
        head = path[: path.rfind(b"/")]
        out += [head, head + b"/", path, path[:-1], path + b"/"]
    return out


def test_under_agrees_with_a_filter_through_random_changes() -> None:
    """under() of many prefixes equals a brute-force filter of the live paths, with no repeats,
    while random paths are set (new ones, built-in ones overridden), deleted and set again."""
    rng = random.Random(11)
    universe = sorted({_random_path(rng) for _ in range(3000)})
    base = rng.sample(universe, len(universe) // 2)
    pm = PathMap(list(base), b"".join(_value(i) for i in range(len(base))), 8)
    ref = {p: _value(i) for i, p in enumerate(base)}
    for step in range(3000):
        path = rng.choice(universe)
        if rng.random() < 0.5:
            pm[path] = ref[path] = _value(10_000 + step)
        elif path in ref:
            del pm[path]
            del ref[path]
        if step % 100 == 0:  # queries between changes: paths added, deleted or both since the last one
            for prefix in _prefixes(rng, universe):
                found = pm.under(prefix)
                assert sorted(found) == _brute_under(ref, prefix), prefix
                assert len(found) == len(set(found))
    assert sorted(pm.under(b"/")) == sorted(ref)


def test_under_of_a_map_built_empty_and_filled_later() -> None:
    """Everything set after construction is found (the daemon's needles map is built empty)."""
    pm = PathMap()
    assert pm.under(b"/") == []
    for p in (b"/a/b/1.jpg", b"/a/bc/2.jpg", b"/a/b-c/3.jpg", b"/a/b\xff/4.jpg", b"/a/b/c/5.jpg"):
        pm[p] = b"v"
    assert sorted(pm.under(b"/a/b")) == [b"/a/b/1.jpg", b"/a/b/c/5.jpg"]
    assert sorted(pm.under(b"/a/b/")) == [b"/a/b/1.jpg", b"/a/b/c/5.jpg"]
    assert pm.under(b"/a/b/1.jpg") == []
    assert len(pm.under(b"/a")) == 5 and len(pm.under(b"/")) == 5
    del pm[b"/a/b/1.jpg"]
    pm[b"/a/b/6.jpg"] = b"v"
    assert sorted(pm.under(b"/a/b")) == [b"/a/b/6.jpg", b"/a/b/c/5.jpg"]


def test_sorted_paths_forget_what_churned_between_queries() -> None:
    """Paths added and removed many times with no query in between are not kept (a daemon
    running for months), and a query afterwards still lists exactly the members."""
    members: dict[bytes, None] = {}
    order = SortedPaths(members)
    for i in range(50_000):
        path = f"/in/{i}.jpg".encode()
        members[path] = None
        order.added(path)
        if i % 10:
            del members[path]
            order.removed(path)
    assert len(order._new) <= 2 * len(members) + 4097
    assert order.under(b"/in/") == sorted(members)
    assert order.pop_under(b"/in/") == sorted(members) and order.under(b"/") == []
