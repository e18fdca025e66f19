"""The diff between the index and a walk, without a disk."""

from __future__ import annotations

from hashwatchd import reconcile
from hashwatchd.model import FileStat, Found
from hashwatchd.records import pack_stat

A = Found(b"/r/a.jpg", FileStat(10, 1, 2, 3, 1), True)
B = Found(b"/r/b.jpg", FileStat(20, 1, 4, 3, 1), True)


def test_a_file_is_stale_when_its_stat_differs_or_it_has_none() -> None:
    """Unknown files and files whose size, mtime, inode or device changed are hashed again."""
    moved = Found(b"/r/a.jpg", A.stat._replace(ino=9), True)
    assert reconcile.stale([A, B], [pack_stat(*A.stat), None]) == [B]
    assert reconcile.stale([moved], [pack_stat(*A.stat)]) == [moved]
    assert reconcile.stale([A], [pack_stat(*A.stat)]) == []


def test_indexed_paths_not_found_are_gone() -> None:
    """What the index holds under the walked tree and the walk did not find is gone, in order."""
    assert reconcile.gone({b"/r/a.jpg"}, [b"/r/a.jpg", b"/r/x.jpg", b"/r/d/y.jpg"]) == [b"/r/x.jpg", b"/r/d/y.jpg"]
