"""The folder report and its atomic publication."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hashwatchd import publish, report
from hashwatchd.errors import PublishError
from hashwatchd.model import Kind, Match, Outcome, Problem, Status, Tier
from hashwatchd.report import State

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIB = Match(b"/lib/a.png", Tier.SAME, 1)


def _doc(outcomes: list[Outcome], roots: list[bytes]) -> dict:
    return report.build(outcomes, roots, (10, 1), state=State.DONE, now=NOW).to_json()


def test_folders_are_keyed_by_path_relative_to_their_root() -> None:
    """2019/Misc and 2020/Misc are two folders; two roots with the same subfolder are two too."""
    outs = [
        Outcome(b"/card/2019/Misc/a.jpg", Status.SAME, (LIB,)),
        Outcome(b"/card/2020/Misc/a.jpg", Status.MISSING),
        Outcome(b"/usb/2019/Misc/a.jpg", Status.MISSING),
    ]
    doc = _doc(outs, [b"/card", b"/usb"])
    assert [(f["root"], f["path"], f["status"]) for f in doc["folders"]] == [
        ("/card", "2019/Misc", "imported"),
        ("/card", "2020/Misc", "not_imported"),
        ("/usb", "2019/Misc", "not_imported"),
    ]


def test_folder_counts_and_statuses() -> None:
    """Counts per tier, imported = identical + same, and the four folder statuses."""
    outs = [
        Outcome(b"/n/mixed/1.jpg", Status.IDENTICAL, (LIB,)),
        Outcome(b"/n/mixed/2.jpg", Status.SAME, (LIB,)),
        Outcome(b"/n/mixed/3.jpg", Status.EDITED, (LIB,)),
        Outcome(b"/n/mixed/4.jpg", Status.MISSING),
        Outcome(b"/n/mixed/5.jpg", Status.UNREADABLE, problem=Problem("truncated", "JPEG data is damaged")),
        Outcome(b"/n/bad/1.jpg", Status.UNREADABLE, problem=Problem("empty", "the file is empty")),
        Outcome(b"/n/1.jpg", Status.SAME, (LIB,)),
    ]
    doc = _doc(outs, [b"/n"])
    by_path = {f["path"]: f for f in doc["folders"]}
    mixed = by_path["mixed"]
    assert (mixed["status"], mixed["images"], mixed["imported"]) == ("partial", 5, 2)
    assert (mixed["identical"], mixed["same"], mixed["edited"], mixed["missing"], mixed["unreadable"]) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert mixed["missing_paths"] == ["/n/mixed/4.jpg"]
    assert mixed["edited_paths"] == ["/n/mixed/3.jpg"]
    assert mixed["unreadable_paths"] == [{"path": "/n/mixed/5.jpg", "error": "truncated: JPEG data is damaged"}]
    assert by_path["bad"]["status"] == "empty"
    assert by_path["."]["status"] == "imported"
    assert doc["needles"] == {"images": 7, "unreadable": 2}
    assert doc["haystack"] == {"images": 10, "unreadable": 1}
    assert (doc["schema"], doc["state"], doc["generated_at"]) == (2, "done", "2026-11-25T12:00:00+00:00")


def test_non_utf8_paths_round_trip_through_json(tmp_path: Path) -> None:
    """A path with byte 0xff survives JSON as a surrogate escape: os.fsencode gives the bytes back."""
    raw = b"/n/d\xff/x\xfe.jpg"
    doc = _doc([Outcome(raw, Status.MISSING)], [b"/n"])
    publish.write_json(tmp_path / "status.json", doc)
    back = json.loads((tmp_path / "status.json").read_bytes())
    assert os.fsencode(back["folders"][0]["missing_paths"][0]) == raw


def test_publish_replaces_a_planted_symlink(tmp_path: Path) -> None:
    """A symlink at the report path is replaced, and its target is left untouched."""
    target = tmp_path / "victim"
    target.write_text("keep")
    (tmp_path / "status.json").symlink_to(target)
    publish.write_atomic(tmp_path / "status.json", b"{}\n")
    assert target.read_text() == "keep"
    assert not (tmp_path / "status.json").is_symlink()
    assert (tmp_path / "status.json").read_bytes() == b"{}\n"
    assert oct((tmp_path / "status.json").stat().st_mode & 0o777) == oct(0o644)


def test_failed_publish_keeps_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the rename fails (as on a full disk), the previous report stays and no temp is left."""
    path = tmp_path / "status.json"
    publish.write_atomic(path, b"old")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(PublishError, match="No space left on device"):
        publish.write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def test_folders_count_files_of_each_kind() -> None:
    """Photos, raw files, videos and files hashwatchd cannot check are counted apart; `images`
    counts them all, and an unchecked file keeps its folder from `imported`."""
    outs = [
        Outcome(b"/n/card/a.jpg", Status.SAME, (LIB,), kind=Kind.PHOTO),
        Outcome(b"/n/card/a.cr2", Status.IDENTICAL, (LIB,), kind=Kind.RAW),
        Outcome(b"/n/card/b.mp4", Status.SAME, (LIB,), kind=Kind.VIDEO),
        Outcome(b"/n/card/c.xyz", Status.UNREADABLE, problem=Problem("unsupported-format", "?"), kind=Kind.OTHER),
    ]
    [folder] = _doc(outs, [b"/n"])["folders"]
    assert (folder["photos"], folder["raws"], folder["videos"], folder["others"]) == (1, 1, 1, 1)
    assert (folder["images"], folder["status"]) == (4, "partial")
