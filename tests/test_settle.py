"""The settling rule, driven by a fake clock: hash a file once it stopped changing."""

from __future__ import annotations

import random

from hashwatchd.model import FileStat
from hashwatchd.settle import Settler

A = FileStat(100, 1, 7, 1, 1)
A_GROWN = FileStat(200, 2, 7, 1, 2)


def test_file_is_ripe_only_after_settle_seconds_without_change() -> None:
    """A file observed at t=0 is not ripe at 0.4 s, and ripe at 0.5 s (settle 0.5)."""
    s = Settler(0.5)
    s.observe(b"/a.jpg", A, 0.0)
    assert s.ripe(0.4) == []
    assert s.ripe(0.5) == [(b"/a.jpg", A)]
    assert s.next_due(0.2) == 0.3


def test_a_change_restarts_the_clock_and_repeats_do_not() -> None:
    """The same stat seen again keeps the clock; a grown file restarts it."""
    s = Settler(0.5)
    s.observe(b"/a.jpg", A, 0.0)
    s.observe(b"/a.jpg", A, 0.3)
    assert s.ripe(0.5) == [(b"/a.jpg", A)]
    s.observe(b"/a.jpg", A_GROWN, 0.6)
    assert s.ripe(1.0) == []
    assert s.ripe(1.1) == [(b"/a.jpg", A_GROWN)]


def test_take_and_forget() -> None:
    """Taken or forgotten files (also under a folder) are no longer pending."""
    s = Settler(0.5)
    for p in (b"/d/1.jpg", b"/d/2.jpg", b"/e/3.jpg"):
        s.observe(p, A, 0.0)
    assert sorted(s.paths()) == [b"/d/1.jpg", b"/d/2.jpg", b"/e/3.jpg"]
    s.take(b"/e/3.jpg")
    s.forget_under(b"/d")
    assert len(s) == 0
    assert s.next_due(0.0) is None


def test_forget_under_agrees_with_a_filter_through_random_changes() -> None:
    """Files observed, taken, forgotten, observed again, and whole folders forgotten (also
    b"/d/a" beside b"/d/ab", a trailing slash, the root), in a seeded random order: what waits
    is always what a brute-force filter leaves."""
    rng = random.Random(3)
    names = [b"a", b"ab", b"a-b", b"a.b", b"a0", b"\xff", b"x.jpg"]
    universe = [b"/" + b"/".join(rng.choice(names) for _ in range(rng.randint(1, 4))) for _ in range(2000)]
    s = Settler(0.5)
    ref: set[bytes] = set()
    for step in range(5000):
        path = rng.choice(universe)
        action = rng.random()
        if action < 0.5:
            s.observe(path, A if step % 2 else A_GROWN, float(step))
            ref.add(path)
        elif action < 0.7:
            s.take(path)
            ref.discard(path)
        elif action < 0.9:
            s.forget(path)
            ref.discard(path)
        else:
            prefix = rng.choice([path, path[: path.rfind(b"/")], path + b"/", path[:-1], b"/", b"/a"])
            s.forget_under(prefix)
            top = prefix.rstrip(b"/") + b"/"
            ref = {p for p in ref if not p.startswith(top)}
        assert len(s) == len(ref)
    assert sorted(s.paths()) == sorted(ref)
