"""Camera cards as cameras and phones write them: raw files, videos, HEIC, sidecars and files
hashwatchd cannot check, each accounted for, in a scan and in the running daemon."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cards import heic, jpeg, random_after, remux, scene, sidecar, tiff_raw, truncated, video
from helpers import Daemon, frame, write

from hashwatchd import report
from hashwatchd.config import Settings
from hashwatchd.engine import Engine
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.model import Role, Status
from hashwatchd.store import Store
from hashwatchd.workers import Pool

P = {name: scene(seed, (480, 320)) for seed, name in enumerate("abcdefgh")}
CLIP = {k: video("mp4", seed=10 + k, frames=24) for k in range(4)}
#: A clip larger than the head and tail its sampled digest covers (64 KiB each).
LONG_CLIP = video("mp4", seed=20, frames=48, size=(320, 240))


def library(at: Path) -> None:
    """A library holding photo a, raw files of c and of e (also on the card, byte for byte), the
    JPEG twin of raw d, a clip byte-identical to the card's, and a remux of another card clip."""
    write(at / "2024/a.jpg", jpeg(P["a"], 85))
    write(at / "RAW/IMG_0010.CR2", tiff_raw("cr2", P["c"]))
    write(at / "RAW/IMG_0020.CR2", tiff_raw("cr2", P["e"]))
    write(at / "2024/IMG_0030.JPG", jpeg(P["d"], 85))
    write(at / "Videos/MVI_0001.MP4", LONG_CLIP)
    write(at / "Videos/clip1.mov", remux(CLIP[1], "mov"))


def card(at: Path) -> None:
    """A card: a raw-only folder and a video-only folder not in the library, a JPEG folder with one
    raw not in the library, copies of library raw files and videos, a raw whose JPEG twin is in the
    library, a JPEG whose raw is, sidecars, a camera's housekeeping folder, and a file nobody reads."""
    write(at / "rawonly/IMG_0001.CR2", tiff_raw("cr2", P["f"]))
    write(at / "rawonly/DSC_0002.NEF", tiff_raw("nef", P["g"]))
    write(at / "rawonly/IMG_0001.CR2.xmp", sidecar("xmp"))
    write(at / "videoonly/MVI_0100.MP4", CLIP[2])
    write(at / "videoonly/MVI_0100.THM", sidecar("thm"))
    write(at / "videoonly/IMG_0200.MOV", remux(CLIP[3], "mov"))
    write(at / "mixed/IMG_0001.JPG", jpeg(P["a"], 92))
    write(at / "mixed/IMG_0002.CR2", tiff_raw("cr2", P["h"]))
    write(at / "copies/IMG_0020.CR2", tiff_raw("cr2", P["e"]))
    write(at / "copies/MVI_0001.MP4", LONG_CLIP)
    write(at / "copies/clip1.mp4", CLIP[1])
    write(at / "twin/IMG_0030.CR2", tiff_raw("cr2", P["d"]))
    write(at / "jpegofraw/IMG_0010.JPG", jpeg(P["c"], 92))
    write(at / "iphone/IMG_0004.HEIC", heic(P["b"], thumbnail=320))
    write(at / "iphone/IMG_0004.AAE", sidecar("aae"))
    write(at / "notes/README.TXT", b"camera manual, 40 pages\n")
    write(at / "PRIVATE/M4ROOT/THMBNL/C0001T01.JPG", sidecar("thm", seed=3))


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with Pool(2, DEFAULT_MAX_PIXELS) as p:
        yield p


def scan(tmp_path: Path, pool: Pool, settings: Settings | None = None) -> tuple[dict[str, Any], dict[str, Status]]:
    """Index the library and the card in-process, as `hashwatchd scan` does: the report's folders
    by path, and each card file's status by its path below the card."""
    with Store.open(tmp_path / "state") as store:
        engine = Engine(store, pool, settings)
        engine.set_roots({os.fsencode(tmp_path / "lib"): Role.HAYSTACK, os.fsencode(tmp_path / "card"): Role.NEEDLE})
        engine.load()
        engine.sync()
        engine.refresh()
        outcomes = engine.sorted_outcomes()
    now = datetime.now(UTC)
    doc = report.build(outcomes, [os.fsencode(tmp_path / "card")], (0, 0), state=report.State.DONE, now=now)
    statuses = {os.fsdecode(o.path)[len(str(tmp_path / "card")) + 1 :]: o.status for o in outcomes}
    return {f.to_json()["path"]: f.to_json() for f in doc.folders}, statuses


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("world")
    library(base / "lib")
    card(base / "card")
    return base


def test_every_file_on_a_card_is_accounted_for(world: Path, pool: Pool, tmp_path: Path) -> None:
    """Raw-only and video-only folders are not imported with every file listed; a JPEG folder with
    one raw not in the library is partial; byte-identical raws and videos and a remuxed clip are
    imported; a raw whose library copy is its JPEG is edited; a JPEG whose raw is in the library is
    the same; sidecars and housekeeping are left out; a file nobody reads is listed unreadable."""
    shutil.copytree(world, tmp_path, dirs_exist_ok=True)
    folders, _ = scan(tmp_path, pool)
    card_ = tmp_path / "card"

    assert set(folders) == {"rawonly", "videoonly", "mixed", "copies", "twin", "jpegofraw", "iphone", "notes"}
    raw_only = folders["rawonly"]
    assert (raw_only["status"], raw_only["raws"], raw_only["images"]) == ("not_imported", 2, 2)
    assert raw_only["missing_paths"] == [str(card_ / "rawonly/DSC_0002.NEF"), str(card_ / "rawonly/IMG_0001.CR2")]
    video_only = folders["videoonly"]
    assert (video_only["status"], video_only["videos"], video_only["images"]) == ("not_imported", 2, 2)
    assert len(video_only["missing_paths"]) == 2
    mixed = folders["mixed"]
    assert (mixed["status"], mixed["photos"], mixed["raws"]) == ("partial", 1, 1)
    assert mixed["missing_paths"] == [str(card_ / "mixed/IMG_0002.CR2")]
    copies = folders["copies"]
    assert (copies["status"], copies["identical"], copies["same"]) == ("imported", 2, 1)
    assert (folders["twin"]["status"], folders["twin"]["edited"]) == ("not_imported", 1)
    assert (folders["jpegofraw"]["status"], folders["jpegofraw"]["same"]) == ("imported", 1)
    assert (folders["iphone"]["photos"], folders["iphone"]["images"]) == (1, 1)
    notes = folders["notes"]
    assert (notes["status"], notes["others"]) == ("empty", 1)
    assert notes["unreadable_paths"][0]["error"].startswith("unsupported-format")


def test_raw_match_any_counts_a_rendering_as_imported(world: Path, pool: Pool, tmp_path: Path) -> None:
    """With raw_match: any, a raw file whose camera JPEG is in the library is imported (same)."""
    shutil.copytree(world, tmp_path, dirs_exist_ok=True)
    folders, _ = scan(tmp_path, pool, dataclasses.replace(Settings(), raw_match="any"))
    assert (folders["twin"]["status"], folders["twin"]["same"]) == ("imported", 1)


def test_a_raw_or_video_identical_but_for_its_middle_is_not_identical(world: Path, pool: Pool, tmp_path: Path) -> None:
    """Raw files and videos are compared by a digest of their size, head and tail; before such a
    match is called identical both files are read whole. A library copy damaged in the middle (bit
    rot) is not the card's file."""
    shutil.copytree(world, tmp_path, dirs_exist_ok=True)
    rotten = bytearray((tmp_path / "lib/Videos/MVI_0001.MP4").read_bytes())
    middle = len(rotten) // 2
    assert 64 << 10 < middle < len(rotten) - (64 << 10)
    rotten[middle] ^= 0xFF
    (tmp_path / "lib/Videos/MVI_0001.MP4").write_bytes(bytes(rotten))
    _, statuses = scan(tmp_path, pool)
    assert statuses["copies/IMG_0020.CR2"] is Status.IDENTICAL
    assert statuses["copies/MVI_0001.MP4"] is not Status.IDENTICAL


def test_the_daemon_accounts_for_a_card_copied_in(world: Path, tmp_path: Path) -> None:
    """The same verdicts from a running daemon when the card is copied in; a hostile raw file and
    video end as unreadable with a reason, and the daemon carries on."""
    library(tmp_path / "lib")
    (tmp_path / "needles").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\nreport_interval: 0.2\n")
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        shutil.copytree(world / "card", tmp_path / "needles/card")
        write(tmp_path / "needles/hostile/cut.CR2", truncated(tiff_raw("cr2", P["f"]), 0.5))
        write(tmp_path / "needles/hostile/noise.MP4", random_after(CLIP[2], 32))
        doc = d.wait(
            lambda doc: (
                doc["pending"] == 0
                and (f := d.folder(doc, "card/copies")) is not None
                and f["images"] == 3
                and (h := d.folder(doc, "hostile")) is not None
                and h["images"] == 2
            ),
            timeout=90,
        )
        by = {f["path"]: f for f in doc["folders"]}
        assert (by["card/rawonly"]["status"], by["card/rawonly"]["raws"]) == ("not_imported", 2)
        assert (by["card/videoonly"]["status"], by["card/videoonly"]["videos"]) == ("not_imported", 2)
        assert by["card/mixed"]["status"] == "partial"
        assert by["card/copies"]["status"] == "imported"
        assert by["card/twin"]["edited"] == 1
        assert by["card/jpegofraw"]["status"] == "imported"
        assert sorted(e["error"].split(":")[0] for e in by["hostile"]["unreadable_paths"]) == ["corrupt", "truncated"]
        assert d.proc is not None and d.proc.poll() is None
    finally:
        assert d.stop() == 0
    assert "Traceback" not in d.log.read_text(errors="replace")


def test_a_raw_of_the_next_frame_is_missing_not_edited(pool: Pool, tmp_path: Path) -> None:
    """The library holds the camera JPEG of one frame of a hand-held burst. The raw file of that
    frame is an edit of it (a rendering: raw_match exact); the raw file of the next frame, which
    a 16x16 thumbnail cannot tell from it, is another picture: confirmed on the raw's preview."""
    write(tmp_path / "lib/IMG_0040.JPG", jpeg(frame(3, subject=(0.6, 0.4)), 92))
    write(tmp_path / "card/IMG_0040.CR2", tiff_raw("cr2", frame(3, subject=(0.6, 0.4))))
    write(tmp_path / "card/IMG_0041.CR2", tiff_raw("cr2", frame(3, subject=(0.615, 0.41), shake=(3, 2))))
    _, statuses = scan(tmp_path, pool)
    assert statuses == {"IMG_0040.CR2": Status.EDITED, "IMG_0041.CR2": Status.MISSING}
