"""The engine in-process: a real index and real decoders, driven as scan and the daemon drive it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from helpers import camera, edited, encode, frame, photo, pillow_bytes, write
from PIL import Image

from hashwatchd.engine import Engine
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.model import Entry, Problem, Role, Status
from hashwatchd.store import Store
from hashwatchd.workers import Pool

PICS = [photo(seed, 240, 180) for seed in range(6)]


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with Pool(2, DEFAULT_MAX_PIXELS) as p:
        yield p


def _engine(tmp_path: Path, pool: Pool, roots: dict[str, Role]) -> Engine:
    store = Store.open(tmp_path / "state")
    engine = Engine(store, pool)
    engine.set_roots({os.fsencode(tmp_path / r): role for r, role in roots.items()})
    engine.load()
    return engine


def _b(path: Path) -> bytes:
    return os.fsencode(path)


def test_scan_then_incremental_changes_rejudge_exactly_the_needles_affected(tmp_path: Path, pool: Pool) -> None:
    """A library picture added re-judges the needles near it, a library picture removed re-judges
    the needles that matched it, and refresh returns just the needles whose outcome changed."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/b.jpg", encode(PICS[1], ".jpg"))
    write(tmp_path / "card/c.jpg", encode(PICS[2], ".jpg"))
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    changed = engine.refresh()
    a, b, c = (_b(tmp_path / f"card/{n}.jpg") for n in "abc")
    assert changed == {a, b, c}
    assert [o.status for o in engine.sorted_outcomes()] == [Status.SAME, Status.MISSING, Status.MISSING]

    write(tmp_path / "lib/1.png", encode(PICS[1], ".png"))
    engine.sync()
    assert engine.refresh() == {b}
    assert engine.outcomes[b].status is Status.SAME

    os.unlink(tmp_path / "lib/0.png")
    engine.sync()
    assert engine.refresh() == {a}
    assert engine.outcomes[a].status is Status.MISSING
    assert engine.counts(Role.HAYSTACK) == (1, 0)
    engine.store.close()


def test_needle_folder_inside_the_library_is_never_its_own_copy(tmp_path: Path, pool: Pool) -> None:
    """With the needle root inside the library root, its files are needles only: a needle is not
    matched against itself, and the library is the rest of the tree."""
    write(tmp_path / "Pictures/lib/0.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "Pictures/Imports/card/a.png", encode(PICS[0], ".png"))
    write(tmp_path / "Pictures/Imports/card/new.jpg", encode(PICS[3], ".jpg"))
    engine = _engine(tmp_path, pool, {"Pictures": Role.HAYSTACK, "Pictures/Imports": Role.NEEDLE})
    engine.sync()
    engine.refresh()
    assert list(engine.known[Role.HAYSTACK]) == [_b(tmp_path / "Pictures/lib/0.jpg")]
    outs = {o.path: o for o in engine.sorted_outcomes()}
    assert outs[_b(tmp_path / "Pictures/Imports/card/a.png")].status is Status.SAME
    assert outs[_b(tmp_path / "Pictures/Imports/card/new.jpg")].status is Status.MISSING
    engine.store.close()


def test_entries_filed_under_the_wrong_role_are_dropped_by_the_next_sync(tmp_path: Path, pool: Pool) -> None:
    """An index written when the needle folder's files were also library entries heals: the
    library survey does not enter the nested needle root, so those entries are gone."""
    write(tmp_path / "Pictures/Imports/a.jpg", encode(PICS[0], ".jpg"))
    engine = _engine(tmp_path, pool, {"Pictures": Role.HAYSTACK})
    engine.sync()
    assert engine.counts(Role.HAYSTACK) == (1, 0)
    engine.set_roots({_b(tmp_path / "Pictures"): Role.HAYSTACK, _b(tmp_path / "Pictures/Imports"): Role.NEEDLE})
    engine.sync()
    engine.refresh()
    assert engine.counts(Role.HAYSTACK) == (0, 0)
    assert [o.status for o in engine.sorted_outcomes()] == [Status.MISSING]
    engine.store.close()


def test_survey_changes_nothing_and_finds_new_changed_and_gone(tmp_path: Path, pool: Pool) -> None:
    """survey is the diff alone: stale files (new or changed) and gone paths, applied by the caller."""
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/b.jpg", encode(PICS[1], ".jpg"))
    engine = _engine(tmp_path, pool, {"card": Role.NEEDLE})
    engine.sync()
    write(tmp_path / "card/c.jpg", encode(PICS[2], ".jpg"))
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 50))
    os.unlink(tmp_path / "card/b.jpg")
    diff = engine.survey(_b(tmp_path / "card"))
    assert diff.found == 2
    assert sorted(f.path for f in diff.stale) == [_b(tmp_path / "card/a.jpg"), _b(tmp_path / "card/c.jpg")]
    assert diff.gone == [_b(tmp_path / "card/b.jpg")]
    assert len(engine.known[Role.NEEDLE]) == 2  # nothing applied
    engine.store.close()


def test_prune_drops_entries_outside_the_configured_patterns(tmp_path: Path, pool: Pool) -> None:
    """Entries under a root that is no longer configured stop matching; a glob keeps its own."""
    write(tmp_path / "old/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "media/sdb1/DCIM/0.png", encode(PICS[1], ".png"))
    engine = _engine(tmp_path, pool, {"old": Role.HAYSTACK, "media/sdb1/DCIM": Role.HAYSTACK})
    engine.sync()
    engine.prune({Role.HAYSTACK: [_b(tmp_path / "media/*/DCIM")]})
    assert list(engine.known[Role.HAYSTACK]) == [_b(tmp_path / "media/sdb1/DCIM/0.png")]
    assert len(engine.library) == 1
    engine.store.close()


def test_query_judges_files_without_recording_them(tmp_path: Path, pool: Pool) -> None:
    """query matches outside files against the library and leaves the index as it was."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "elsewhere/x.jpg", encode(PICS[0], ".jpg"))
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK})
    engine.sync()
    [out] = engine.query([_b(tmp_path / "elsewhere/x.jpg")])
    assert out.status is Status.SAME
    assert len(engine.known[Role.NEEDLE]) == 0
    engine.store.close()


def test_a_same_size_rewrite_that_puts_the_mtime_back_is_seen(tmp_path: Path, pool: Pool) -> None:
    """cp --preserve=timestamps, rsync --inplace -t, exiftool -P: same size, inode and mtime,
    other content. Only the ctime tells, and it is in the stat the index compares."""
    write(tmp_path / "lib/0.bmp", encode(PICS[0], ".bmp"))
    write(tmp_path / "card/a.bmp", encode(PICS[1], ".bmp"))
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    engine.refresh()
    a = _b(tmp_path / "card/a.bmp")
    assert engine.outcomes[a].status is Status.MISSING
    before = os.stat(a)
    with open(a, "r+b") as f:  # in place: the same inode
        f.write(encode(PICS[0], ".bmp"))
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(a)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    engine.sync()
    assert engine.refresh() == {a}
    assert engine.outcomes[a].status is Status.IDENTICAL
    engine.store.close()


def test_a_new_library_picture_rejudges_every_needle_it_matches(tmp_path: Path, pool: Pool) -> None:
    """90 re-encodings of one photo wait in the needles; the photo then arrives in the library:
    all 90 become same, as a fresh scan says (the reverse search is not capped at the 64 nearest)."""
    for q in range(90):
        write(tmp_path / f"card/{q}.jpg", encode(PICS[4], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 60 + q % 40))
    (tmp_path / "lib").mkdir()
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    engine.refresh()
    write(tmp_path / "lib/4.png", encode(PICS[4], ".png"))
    engine.sync()
    assert len(engine.refresh()) == 90
    assert {o.status for o in engine.sorted_outcomes()} == {Status.SAME}
    engine.store.close()


def test_files_unread_by_older_decoders_are_read_again(tmp_path: Path, pool: Pool) -> None:
    """An index written when a decoder could not read a file (here: its problem planted, as an older
    hashwatchd without raw support wrote for a CR2) reads that file again once the decoders changed,
    without a rebuild; a file that is cut short stays as it was."""
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/cut.jpg", encode(PICS[1], ".jpg")[:300])
    engine = _engine(tmp_path, pool, {"card": Role.NEEDLE})
    engine.sync()
    a, cut = _b(tmp_path / "card/a.jpg"), _b(tmp_path / "card/cut.jpg")
    old = engine.store.get(Role.NEEDLE, a)
    assert old is not None
    engine.store.write([Entry(a, Role.NEEDLE, old.stat, None, Problem("unsupported-format", "unknown then"))])
    engine.store.set_decoders(b"an older hashwatchd")
    engine.store.close()
    engine = _engine(tmp_path, pool, {"card": Role.NEEDLE})
    engine.sync()
    engine.refresh()
    assert engine.outcomes[a].status is Status.MISSING
    assert engine.counters.hashed == 1  # cut.jpg's problem is the file's, not a decoder's
    assert engine.outcomes[cut].status is Status.UNREADABLE
    engine.store.close()


class _FailingChecks(Pool):
    """A real pool whose full-resolution checks cannot be made while `failing` is set: a library
    file unreadable at that moment (root reads every file, so a chmod cannot show it here)."""

    failing = True

    def check(self, tasks):  # type: ignore[no-untyped-def]
        for result in super().check(tasks):
            yield (
                dataclasses.replace(result, tier=None, problem=Problem("permission-denied", "x"))
                if self.failing
                else result
            )


def test_a_check_that_could_not_be_made_is_made_again_later(
    tmp_path: Path, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `same` needle needs a full-resolution check; when it cannot be made, the needle is
    missing for now and judged again later (nothing else would: the files need not change)."""
    monkeypatch.setattr("hashwatchd.engine._RETRY_FIRST", 0.0)
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    up = cv2.resize(PICS[0], (480, 360), interpolation=cv2.INTER_CUBIC)
    write(tmp_path / "card/up.jpg", encode(up, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    with _FailingChecks(1, DEFAULT_MAX_PIXELS) as failing:
        engine = _engine(tmp_path, failing, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
        engine.sync()
        engine.refresh()
        up_path = _b(tmp_path / "card/up.jpg")
        assert engine.outcomes[up_path].status is Status.MISSING
        failing.failing = False
        assert engine.refresh() == {up_path}
        assert engine.outcomes[up_path].status is Status.SAME
        engine.store.close()


def test_checks_that_could_not_be_made_are_made_again_when_a_root_comes_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library share unmounted while a card is judged: its checks cannot be made, and each
    failure doubles the wait before the next try, up to an hour. When a root comes online the
    daemon asks for them again at once (confirm_again), whatever the wait had grown to."""
    monkeypatch.setattr("hashwatchd.engine._RETRY_FIRST", 3600.0)
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85))
    with _FailingChecks(1, DEFAULT_MAX_PIXELS) as failing:
        engine = _engine(tmp_path, failing, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
        engine.sync()
        engine.refresh()
        needle = _b(tmp_path / "card/a.jpg")
        assert engine.outcomes[needle].status is Status.MISSING
        failing.failing = False
        assert engine.refresh() == set()  # its next try is an hour away
        engine.confirm_again()
        assert engine.refresh() == {needle}
        assert engine.outcomes[needle].status is Status.SAME
        assert engine.next_retry() is None
        engine.store.close()


def test_a_confirmation_is_of_what_was_indexed_or_none(
    tmp_path: Path, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the differential run (seed 530840): a confirmation is cached under the digests the
    index holds, but it read the files as they were when it ran. A library file rewritten with
    another picture in between had its 'not that picture' cached under the old content, and the
    needle stayed missing once the file held that content again (the opposite race would cache
    'same' for a picture that is not). A file that no longer holds what was indexed is no
    confirmation: the needle waits and is judged again."""
    monkeypatch.setattr("hashwatchd.engine._RETRY_FIRST", 0.0)
    original = encode(PICS[0], ".png")
    write(tmp_path / "lib/0.png", original)
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    write(tmp_path / "lib/0.png", encode(PICS[1], ".png"))  # the engine has not looked yet
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85))
    diff = engine.survey(_b(tmp_path / "card"))
    engine.index(diff.stale)
    engine.refresh()
    needle = _b(tmp_path / "card/a.jpg")
    assert engine.outcomes[needle].status is Status.MISSING
    write(tmp_path / "lib/0.png", original)
    engine.refresh()
    assert engine.outcomes[needle].status is Status.SAME
    engine.store.close()


def test_a_card_original_whose_export_the_library_holds_is_edited(tmp_path: Path, pool: Pool) -> None:
    """The usual way round (found with ../shared/corpus/build_cards.py's world, bench/cards.py):
    the card keeps what the camera wrote, the library holds a brighter export and a 5% crop of
    it. Both are `edited`: the tone curve and the crop are fitted from the card's original."""
    bright_src, crop_src = camera(7), camera(8)
    h, w = crop_src.shape[:2]
    write(tmp_path / "lib/IMG_0005-edit.jpg", pillow_bytes(edited(bright_src, "brighter"), "JPEG", quality=90))
    cut = crop_src[h * 5 // 100 : h - h * 5 // 100, w * 5 // 100 : w - w * 5 // 100]
    write(tmp_path / "lib/IMG_0006-crop.jpg", encode(cut, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 90))
    write(tmp_path / "card/IMG_0005.JPG", encode(bright_src, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    write(tmp_path / "card/IMG_0006.JPG", encode(crop_src, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    engine.refresh()
    assert {os.path.basename(o.path): o.status for o in engine.sorted_outcomes()} == {
        b"IMG_0005.JPG": Status.EDITED,
        b"IMG_0006.JPG": Status.EDITED,
    }
    engine.store.close()


class _CountingChecks(Pool):
    """A real pool that records the needles it is asked to confirm, and cannot confirm the
    first of them (a file unreadable at that moment)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.asked: list[bytes] = []

    def check(self, tasks):  # type: ignore[no-untyped-def]
        tasks = list(tasks)
        self.asked.extend(task.needle for task in tasks)
        for result in super().check(tasks):
            refused = result.needle == self.asked[0]
            yield (
                dataclasses.replace(result, tier=None, problem=Problem("permission-denied", "x")) if refused else result
            )


def test_alike_pairs_in_one_batch_are_confirmed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A card copied twice, against a library that holds its picture twice: four pairs of one
    content, one confirmation. When that one cannot be made, another pair of the same content
    is tried, and its answer stands for the pairs not tried yet. The pair whose own check failed
    is not given it (its file may no longer hold what was indexed: "changed"); it waits, and at
    its next try the cached answer for the contents the index holds is its answer."""
    monkeypatch.setattr("hashwatchd.engine._RETRY_FIRST", 0.0)
    write(tmp_path / "lib/a.png", encode(PICS[0], ".png"))
    write(tmp_path / "lib/again/a.png", encode(PICS[0], ".png"))
    for copy in ("first", "second"):
        write(tmp_path / "card" / copy / "a.jpg", encode(PICS[0], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85))
    with _CountingChecks(2, DEFAULT_MAX_PIXELS) as counting:
        engine = _engine(tmp_path, counting, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
        engine.sync()
        engine.refresh()
        refused = counting.asked[0]
        [twin] = {_b(tmp_path / "card/first/a.jpg"), _b(tmp_path / "card/second/a.jpg")} - {refused}
        # the refused needle against either library copy, then its twin
        assert counting.asked == [refused, refused, twin]
        assert engine.counters.checked == 3
        assert (engine.outcomes[refused].status, engine.outcomes[twin].status) == (Status.MISSING, Status.SAME)
        assert engine.refresh() == {refused}
        assert engine.outcomes[refused].status is Status.SAME
        assert counting.asked == [refused, refused, twin]
        engine.store.close()


def test_a_file_rewritten_before_its_confirmation_is_not_given_its_twins_answer(tmp_path: Path, pool: Pool) -> None:
    """Found by review of the batch de-duplication: two card copies of a library picture, the one
    tried first (needles are judged in path order) overwritten with another photo after it was
    indexed and before its confirmation. Its own check says "changed", and the twin's `same` is
    of the indexed contents, not of what the file holds now: the rewritten file is not `same`.
    (Had the twin been rewritten instead, it would take the answer for the contents the index
    holds, as it would from the cache; the daemon reads a rewritten file again on its event.)"""
    write(tmp_path / "lib/a.png", encode(PICS[0], ".png"))
    for copy in ("first", "second"):
        write(tmp_path / "card" / copy / "a.jpg", encode(PICS[0], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85))
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    write(tmp_path / "card/first/a.jpg", encode(PICS[1], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85))
    engine.refresh()
    first, second = (engine.outcomes[_b(tmp_path / "card" / c / "a.jpg")].status for c in ("first", "second"))
    assert (first, second) == (Status.MISSING, Status.SAME)
    engine.store.close()


def _shot_exif(subsec: str, orientation: int = 1) -> Image.Exif:
    """A camera's EXIF for one exposure of a burst taken within one second."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "Canon EOS R6", orientation
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003], ifd[0x9291] = "2024:05:01 10:00:00", subsec
    return exif


def test_every_same_and_edited_is_confirmed_on_pixels(tmp_path: Path, pool: Pool) -> None:
    """At 16x16 all these needles are the library picture; at full resolution copies of the shot
    stay `same`, real edits are `edited`, and other moments of the scene are `missing`: the next
    frame of a hand-held burst, by its pixels; a frame of a tripod burst, whose pixels differ by
    sensor noise alone, by its capture sub-second. The results are cached in the index by what the
    files hold: judging again, even with another engine, confirms nothing anew."""
    shot, big = frame(3, subject=(0.6, 0.4)), camera(6)
    h, w = big.shape[:2]
    write(tmp_path / "lib/IMG_0100.JPG", pillow_bytes(shot, "JPEG", exif=_shot_exif("12"), quality=92))
    write(tmp_path / "lib/big.jpg", encode(big, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    card = {
        "copies/reencoded.jpg": pillow_bytes(shot, "JPEG", exif=_shot_exif("12"), quality=75),
        "copies/resized.jpg": pillow_bytes(cv2.resize(shot, (800, 601), interpolation=cv2.INTER_AREA), "JPEG"),
        "copies/rotated.jpg": pillow_bytes(
            cv2.rotate(shot, cv2.ROTATE_90_COUNTERCLOCKWISE), "JPEG", exif=_shot_exif("120", 6), quality=90
        ),
        "burst/IMG_0101.JPG": pillow_bytes(frame(3, subject=(0.615, 0.41), shake=(3, 2)), "JPEG", quality=92),
        "burst/IMG_0102.JPG": pillow_bytes(frame(3, subject=(0.6, 0.4)), "JPEG", exif=_shot_exif("45"), quality=92),
        "edits/caption.jpg": encode(
            cv2.putText(shot.copy(), "2016 (c)", (80, 1120), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4), ".jpg"
        ),
        "edits/crop.jpg": encode(big[h * 5 // 100 : h - h * 5 // 100, w * 5 // 100 : w - w * 5 // 100], ".jpg"),
        "edits/brighter.jpg": pillow_bytes(edited(big, "brighter"), "JPEG", quality=92),
    }
    for name, data in card.items():
        write(tmp_path / "card" / name, data)
    engine = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    engine.sync()
    engine.refresh()
    statuses = {os.fsdecode(o.path).split("/card/")[1]: o.status for o in engine.sorted_outcomes()}
    assert statuses == {
        "copies/reencoded.jpg": Status.SAME,
        "copies/resized.jpg": Status.SAME,
        "copies/rotated.jpg": Status.SAME,
        "burst/IMG_0101.JPG": Status.MISSING,
        "burst/IMG_0102.JPG": Status.MISSING,
        "edits/caption.jpg": Status.EDITED,
        "edits/crop.jpg": Status.EDITED,
        "edits/brighter.jpg": Status.EDITED,
    }
    assert engine.counters.checked >= len(card)
    engine.store.close()
    again = _engine(tmp_path, pool, {"lib": Role.HAYSTACK, "card": Role.NEEDLE})
    again.sync()
    again.refresh()
    assert {o.path: o.status for o in again.sorted_outcomes()} == {o.path: o.status for o in engine.sorted_outcomes()}
    assert again.counters.checked == 0
    again.store.close()
