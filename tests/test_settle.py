"""The settling rule, driven by a fake clock: hash a file once it stopped changing."""

from __future__ import annotations

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
