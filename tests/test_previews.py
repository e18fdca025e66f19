"""Previews for the visual report: made by the decoder from the picture it holds, cached by
content digest in the state directory, made on demand for what the page shows and the cache
lacks, and swept when nothing needs them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cards
import cv2
import numpy as np
import pytest
from helpers import encode, exif_rotated_jpeg, photo, write

from hashwatchd import cli, features, report, thumbnail, visual
from hashwatchd.engine import Engine
from hashwatchd.errors import PublishError
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.model import Role, Status
from hashwatchd.report import State
from hashwatchd.store import Store
from hashwatchd.thumbcache import ThumbCache
from hashwatchd.workers import Pool, hash_one, preview_one

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _decoded(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_a_hashed_picture_comes_with_its_preview_when_asked(tmp_path: Path) -> None:
    """The preview is a JPEG of at most 256 pixels on the long side (made from the DCT-scaled
    picture the hash was computed from: a 1600x1200 JPEG is held at 200x150), upright (EXIF
    applied), never enlarged, and a few kilobytes; without asking there is none."""
    write(tmp_path / "camera.jpg", encode(photo(1, 4032, 3024), ".jpg"))
    write(tmp_path / "mid.jpg", encode(photo(1, 1600, 1200), ".jpg"))
    write(tmp_path / "rotated.jpg", exif_rotated_jpeg(photo(2, 2048, 1536)))
    write(tmp_path / "small.png", encode(photo(3, 200, 150), ".png"))
    camera = hash_one(os.fsencode(tmp_path / "camera.jpg"), DEFAULT_MAX_PIXELS, preview=True)
    assert camera.preview is not None and len(camera.preview) <= thumbnail.MAX_BYTES
    assert _decoded(camera.preview).shape[:2] == (192, 256)
    mid = hash_one(os.fsencode(tmp_path / "mid.jpg"), DEFAULT_MAX_PIXELS, preview=True)
    assert mid.preview is not None and _decoded(mid.preview).shape[:2] == (150, 200)
    rotated = hash_one(os.fsencode(tmp_path / "rotated.jpg"), DEFAULT_MAX_PIXELS, preview=True)
    assert rotated.preview is not None and _decoded(rotated.preview).shape[:2] == (192, 256)
    small = hash_one(os.fsencode(tmp_path / "small.png"), DEFAULT_MAX_PIXELS, preview=True)
    assert small.preview is not None and _decoded(small.preview).shape[:2] == (150, 200)
    assert hash_one(os.fsencode(tmp_path / "mid.jpg"), DEFAULT_MAX_PIXELS).preview is None


def test_raw_files_and_videos_get_a_preview_too(tmp_path: Path) -> None:
    """A raw file's preview is made from the picture hashed (its embedded JPEG), a video's from its
    first sampled frame: upright, at most 256 pixels on the long side."""
    write(tmp_path / "IMG_0001.CR2", cards.tiff_raw("cr2", cards.scene(1, (600, 400))))
    write(tmp_path / "MVI_0001.MP4", cards.video("mp4", size=(128, 96)))
    for name, ratio in (("IMG_0001.CR2", 1.5), ("MVI_0001.MP4", 128 / 96)):
        hashed = hash_one(os.fsencode(tmp_path / name), DEFAULT_MAX_PIXELS, preview=True)
        assert hashed.fingerprint is not None and hashed.preview is not None, hashed.problem
        h, w = _decoded(hashed.preview).shape[:2]
        assert max(h, w) <= 256 and abs(w / h - ratio) < 0.05, (name, w, h)


def test_a_preview_on_demand_carries_the_digest_of_what_was_read(tmp_path: Path) -> None:
    """preview_one: the preview and the content digest it belongs to; a reason when unreadable."""
    data = encode(photo(4, 320, 240), ".jpg")
    write(tmp_path / "a.jpg", data)
    made = preview_one(os.fsencode(tmp_path / "a.jpg"), DEFAULT_MAX_PIXELS)
    assert made.digest == features.digest(data) and made.jpeg is not None
    gone = preview_one(os.fsencode(tmp_path / "gone.jpg"), DEFAULT_MAX_PIXELS)
    assert (gone.jpeg, gone.problem and gone.problem.code) == (None, "vanished")


@pytest.mark.parametrize(
    "failure", [MemoryError(), cv2.error("resize failed"), ValueError("the JPEG encoder refused the preview")]
)
def test_a_preview_that_fails_never_changes_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """Out of memory or an OpenCV error while encoding the preview costs the preview only: the
    picture is fingerprinted as without one (not `too-large`, not a crashed decoder), and a
    preview asked for on demand says why there is none."""
    data = encode(photo(5, 320, 240), ".jpg")
    write(tmp_path / "a.jpg", data)
    path = os.fsencode(tmp_path / "a.jpg")
    plain = hash_one(path, DEFAULT_MAX_PIXELS)

    def fail(picture: object) -> bytes:
        raise failure

    monkeypatch.setattr(thumbnail, "encode", fail)
    hashed = hash_one(path, DEFAULT_MAX_PIXELS, preview=True)
    assert (hashed.fingerprint, hashed.problem, hashed.kind, hashed.preview) == (
        plain.fingerprint,
        None,
        plain.kind,
        None,
    )
    made = preview_one(path, DEFAULT_MAX_PIXELS)
    assert made.jpeg is None and made.problem is not None and made.problem.code == "no-preview"


def test_the_cache_keeps_one_file_per_content_and_sweeps_only_its_own(tmp_path: Path) -> None:
    """put writes once; copy links from another cache; sweep removes previews not kept, empty
    ones (what a crash can leave) and temp files, and leaves files of other names alone."""
    cache = ThumbCache(tmp_path / "thumbs")
    a, b, c = b"\xaa" * 16, b"\xbb" * 16, b"\xcc" * 16
    assert cache.put(a, b"jpeg-a") and cache.put(a, b"other bytes")
    assert cache.path(a).read_bytes() == b"jpeg-a"
    cache.put(b, b"jpeg-b")
    cache.path(c).write_bytes(b"")  # left empty by a crash: absent
    assert not cache.has(c)
    (tmp_path / "thumbs" / f".{c.hex()}.jpg.123.tmp").write_bytes(b"half")
    (tmp_path / "thumbs" / "holiday.jpg").write_bytes(b"not ours")
    elsewhere = ThumbCache(tmp_path / "page/thumbs")
    assert elsewhere.copy(a, cache) and not elsewhere.copy(c, cache)
    assert elsewhere.path(a).read_bytes() == b"jpeg-a"
    assert cache.sweep({a, c}) == 3  # b, the empty c and the temp file
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == [f"{a.hex()}.jpg", "holiday.jpg"]


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with Pool(2, DEFAULT_MAX_PIXELS) as p:
        yield p


def _engine(tmp_path: Path, pool: Pool) -> tuple[Engine, ThumbCache]:
    cache = ThumbCache(tmp_path / "state/thumbs")
    engine = Engine(Store.open(tmp_path / "state"), pool, previews=cache)
    engine.set_roots({os.fsencode(tmp_path / "lib"): Role.HAYSTACK, os.fsencode(tmp_path / "card"): Role.NEEDLE})
    engine.load()
    engine.sync()
    engine.refresh()
    return engine, cache


def _doc(engine: Engine, tmp_path: Path) -> report.Report:
    roots = [os.fsencode(tmp_path / "card")]
    return report.build(engine.sorted_outcomes(), roots, engine.counts(Role.HAYSTACK), state=State.DONE, now=NOW)


def _digest(engine: Engine, path: Path) -> bytes:
    fp = engine.needle_fp.get(os.fsencode(path), (None, None))[0] or engine.library.fingerprint(os.fsencode(path))
    assert fp is not None
    return fp.digest


def test_needles_get_previews_when_hashed_library_copies_when_shown(tmp_path: Path, pool: Pool) -> None:
    """Hashing stores every needle's preview and no library file's; writing the page makes the
    previews of the library copies it shows (within its budget, then on the next write), and a
    preview no needle needs any more is swept."""
    pics = [photo(seed, 320, 240) for seed in range(4)]
    write(tmp_path / "lib/0.png", encode(pics[0], ".png"))
    write(tmp_path / "lib/1.png", encode(pics[1], ".png"))
    write(tmp_path / "lib/unrelated.png", encode(pics[3], ".png"))
    write(tmp_path / "card/same.jpg", encode(pics[0], ".jpg"))
    write(tmp_path / "card/edited.jpg", encode(cv2.convertScaleAbs(pics[1], alpha=1.3, beta=-30), ".jpg"))
    write(tmp_path / "card/new.jpg", encode(pics[2], ".jpg"))
    engine, cache = _engine(tmp_path, pool)
    assert {o.path.rsplit(b"/", 1)[1]: o.status for o in engine.sorted_outcomes()} == {
        b"edited.jpg": Status.EDITED,
        b"new.jpg": Status.MISSING,
        b"same.jpg": Status.SAME,
    }
    needles = {_digest(engine, tmp_path / f"card/{n}.jpg") for n in ("same", "edited", "new")}
    library = {_digest(engine, tmp_path / f"lib/{n}.png") for n in ("0", "1")}
    assert {p.name for p in cache.directory.iterdir()} == {d.hex() + ".jpg" for d in needles}

    writer = visual.PageWriter(engine, cache, budget=1)
    page_file = tmp_path / "state/status.html"
    assert not writer.write(_doc(engine, tmp_path), page_file)
    assert 'data-previews-pending="1"' in page_file.read_text()
    assert writer.write(_doc(engine, tmp_path), page_file)
    assert 'data-previews-pending="0"' in page_file.read_text()
    assert {p.name for p in cache.directory.iterdir()} == {d.hex() + ".jpg" for d in needles | library}
    assert page_file.read_text().count('<img src="thumbs/') == 5

    os.unlink(tmp_path / "card/new.jpg")
    engine.sync()
    engine.refresh()
    writer.write(_doc(engine, tmp_path), page_file)
    assert not cache.has(features.digest(encode(pics[2], ".jpg")))
    assert len(list(cache.directory.iterdir())) == 4


def test_only_a_page_of_a_daemon_caught_up_removes_previews(tmp_path: Path, pool: Pool) -> None:
    """The daemon's first page comes before it has looked at its roots (no folder yet), and a page
    written while it scans (or stops) may lack folders that a later page shows: neither removes a
    preview, which would have to be decoded again (from a NAS, say). A page once the daemon is
    caught up removes those no page needs."""
    pic = photo(8, 320, 240)
    write(tmp_path / "lib/0.png", encode(pic, ".png"))
    write(tmp_path / "card/same.jpg", encode(pic, ".jpg"))
    engine, cache = _engine(tmp_path, pool)
    writer = visual.PageWriter(engine, cache)
    page_file = tmp_path / "state/status.html"
    assert writer.write(_doc(engine, tmp_path), page_file)
    needle, library = _digest(engine, tmp_path / "card/same.jpg"), _digest(engine, tmp_path / "lib/0.png")
    assert cache.has(needle) and cache.has(library)
    for state in (State.SCANNING, State.STOPPED):
        writer.write(report.build([], [], (0, 0), state=state, now=NOW), page_file)
        assert cache.has(needle) and cache.has(library), state
    writer.write(report.build([], [], (0, 0), state=State.WATCHING, now=NOW), page_file)
    assert cache.has(needle) and not cache.has(library)


def test_a_preview_that_could_not_be_made_is_tried_again_minutes_later(tmp_path: Path, pool: Pool) -> None:
    """The library copy is away when the page wants its preview (a share unplugged, a file moved
    out and back): not tried again at every page, but again ten minutes later, and then shown."""
    pic = photo(9, 320, 240)
    write(tmp_path / "lib/0.png", encode(pic, ".png"))
    write(tmp_path / "card/same.jpg", encode(pic, ".jpg"))
    engine, cache = _engine(tmp_path, pool)
    now = [0.0]
    writer = visual.PageWriter(engine, cache, clock=lambda: now[0])
    page_file = tmp_path / "state/status.html"
    library = _digest(engine, tmp_path / "lib/0.png")
    os.rename(tmp_path / "lib/0.png", tmp_path / "away.png")
    assert writer.write(_doc(engine, tmp_path), page_file)
    os.rename(tmp_path / "away.png", tmp_path / "lib/0.png")
    now[0] = 60.0
    writer.write(_doc(engine, tmp_path), page_file)
    assert not cache.has(library)
    now[0] = 700.0
    writer.write(_doc(engine, tmp_path), page_file)
    assert cache.has(library)
    assert page_file.read_text().count('<img src="thumbs/') == 2


def test_a_page_elsewhere_gets_its_own_previews_and_leaves_the_cache_alone(tmp_path: Path, pool: Pool) -> None:
    """`report --html DIR`'s writer (store=False): the previews the page shows are copied from the
    cache or made into DIR/thumbs; the state directory's cache is neither filled nor swept."""
    pic = photo(7, 320, 240)
    write(tmp_path / "lib/0.png", encode(pic, ".png"))
    write(tmp_path / "card/same.jpg", encode(pic, ".jpg"))
    engine, cache = _engine(tmp_path, pool)
    before = sorted(p.name for p in cache.directory.iterdir())
    writer = visual.PageWriter(engine, cache, store=False)
    assert writer.write(_doc(engine, tmp_path), tmp_path / "out/index.html")
    assert sorted(p.name for p in cache.directory.iterdir()) == before
    assert len(list((tmp_path / "out/thumbs").iterdir())) == 2  # the needle and its library copy
    assert (tmp_path / "out/index.html").read_text().count('<img src="thumbs/') == 2


def test_page_path_is_the_status_file_with_html() -> None:
    """status.json -> status.html beside it; a status file already named .html does not lose to its page."""
    assert visual.page_path(Path("/s/status.json")) == Path("/s/status.html")
    assert visual.page_path(Path("/s/report")) == Path("/s/report.html")
    assert visual.page_path(Path("/s/x.html")) == Path("/s/x.html.html")


def _scan(tmp_path: Path, extra: str = "") -> int:
    conf = tmp_path / "config.yaml"
    conf.write_text(
        f"haystack: {tmp_path / 'lib'}\nneedles: {tmp_path / 'card'}\nstate_dir: {tmp_path / 'state'}\n"
        f"report: {tmp_path / 'out/status.json'}\nworkers: 1\n{extra}"
    )
    return cli.main(["scan", "--config", str(conf)])


def test_scan_writes_the_page_beside_a_status_file_kept_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scan` with the status file outside the state directory: status.html beside it, with the
    previews it shows in a thumbs/ of its own; the cache in the state directory keeps every
    needle's and the shown library copy's. `html_report: false`: no page, no preview."""
    pics = [photo(seed, 240, 180) for seed in range(2)]
    write(tmp_path / "lib/0.png", encode(pics[0], ".png"))
    write(tmp_path / "card/a.jpg", encode(pics[0], ".jpg"))
    write(tmp_path / "card/new.jpg", encode(pics[1], ".jpg"))
    assert _scan(tmp_path) == 0, capsys.readouterr().err
    text = (tmp_path / "out/status.html").read_text()
    assert text.count('<img src="thumbs/') == 3
    assert len(list((tmp_path / "out/thumbs").iterdir())) == 3
    assert len(list((tmp_path / "state/thumbs").iterdir())) == 3

    other = tmp_path / "off"
    shutil.copytree(tmp_path / "lib", other / "lib")
    shutil.copytree(tmp_path / "card", other / "card")
    assert _scan(other, "html_report: false\n") == 0, capsys.readouterr().err
    assert (other / "out/status.json").exists()
    assert not (other / "out/status.html").exists()
    assert not (other / "state/thumbs").exists()


def test_report_html_says_what_the_status_file_says_is_still_to_analyse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --html` reads the index, which does not know what a running daemon has not analysed
    yet: it takes the state and the pending files from the status file (found as every command
    finds it), a folder whose every file waits included; without a status file the page says it
    is from the index alone, never "scan finished"."""
    pic = photo(0, 240, 180)
    write(tmp_path / "lib/0.png", encode(pic, ".png"))
    write(tmp_path / "card/a.jpg", encode(pic, ".jpg"))
    assert _scan(tmp_path) == 0, capsys.readouterr().err
    status = tmp_path / "out/status.json"

    def page() -> str:
        argv = ["report", "--html", str(tmp_path / "page"), "--config", str(tmp_path / "config.yaml")]
        assert cli.main(argv) == 0, capsys.readouterr().err
        return (tmp_path / "page/index.html").read_text()

    capsys.readouterr()
    text = page()  # beside the scan's status file
    assert capsys.readouterr().out == f"visual report of 1 folder written to {tmp_path / 'page/index.html'}\n"
    assert "scan finished" in text and "Every needle folder is imported." in text

    doc = json.loads(status.read_text())
    card = doc["folders"][0]
    assert (card["path"], card["status"]) == (".", "imported")
    new = {**card, "path": "DCIM/new", "status": "empty", "images": 0, "identical": 0, "same": 0, "imported": 0}
    doc["folders"] = [{**card, "pending": 2, "complete": False}, {**new, "pending": 3, "complete": False}]
    doc |= {"state": "watching", "pending": 5}
    status.write_text(json.dumps(doc))  # a daemon's, with a card being copied in
    text = page()
    assert "watching for changes, 5 files pending" in text and "Still analysing 5 files" in text
    assert "Every needle folder" not in text and "scan finished" not in text
    assert text.count('<section class="folder busy incomplete"') == 2 and "DCIM/new</h3>" in text

    for broken in ('{"state": "watching"}', "not JSON"):
        status.write_text(broken)
        assert "from the index; a running daemon may have files pending" in page()
    status.unlink()
    text = page()
    assert "from the index; a running daemon may have files pending" in text and "scan finished" not in text
    assert "Every needle folder in the index is imported" in text


def test_the_daemon_writes_a_costly_page_less_often(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """try_write puts the page off until COST_RATIO times what the last one cost has passed, and
    then says it is due; a page that left previews to make is due again; the last page of a
    stopping daemon is never put off; a page that cannot be written is tried again later."""
    now = [100.0]
    writer = visual.PageWriter(None, ThumbCache(tmp_path), clock=lambda: now[0])  # type: ignore[arg-type]
    written: list[State] = []
    outcome = ["done"]

    def write(doc: report.Report, path: Path, mode: int = 0o644) -> bool:
        written.append(doc.state)
        writer.cost = 2.0
        if outcome[0] == "fails":
            raise PublishError("cannot write the page: No space left on device")
        return outcome[0] == "done"

    monkeypatch.setattr(writer, "write", write)

    def doc(state: State = State.WATCHING) -> report.Report:
        return report.build([], [b"/n"], (0, 0), state=state, now=NOW)

    writer.try_write(doc(), tmp_path / "p.html")
    assert len(written) == 1 and not writer.due()
    now[0] += 5
    writer.try_write(doc(), tmp_path / "p.html")  # within 10 x 2 s: put off
    assert len(written) == 1 and not writer.due()
    now[0] += 15
    assert writer.due()
    writer.try_write(doc(State.WATCHING), tmp_path / "p.html")
    assert len(written) == 2 and not writer.due()
    writer.try_write(doc(State.STOPPED), tmp_path / "p.html")
    assert written[-1] is State.STOPPED
    outcome[0] = "previews left"
    now[0] += 100
    writer.try_write(doc(), tmp_path / "p.html")
    assert len(written) == 4 and not writer.due()
    now[0] += 20
    assert writer.due()
    outcome[0] = "fails"
    writer.try_write(doc(), tmp_path / "p.html")  # the write fails: retried in a few seconds
    assert not writer.due()
    now[0] += 10
    assert writer.due()
