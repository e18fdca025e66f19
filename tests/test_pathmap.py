"""PathMap behaves as a dict of paths to fixed-width values, whatever is changed after building."""

from __future__ import annotations

import random

import pytest

import hashwatchd.pathmap
from hashwatchd.pathmap import PathMap


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
