"""The daemon's collaborators built in-process: roots, intake, status writer and hook runner,
each on real directories, a real index, real decoders and real inotify."""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import encode, photo, write

from hashwatchd import daemon as daemon_module
from hashwatchd.config import Settings
from hashwatchd.daemon import Daemon
from hashwatchd.engine import Engine
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.hooks import Hooks
from hashwatchd.intake import Intake
from hashwatchd.model import Match, Outcome, Role, Status, Tier
from hashwatchd.report import State, build
from hashwatchd.roots import RootSet
from hashwatchd.settle import Settler
from hashwatchd.status import StatusWriter
from hashwatchd.store import Store
from hashwatchd.watcher import Hint, Watcher
from hashwatchd.workers import Pool

PICS = [photo(seed, 240, 180) for seed in range(3)]


def _b(path: Path) -> bytes:
    return os.fsencode(path)


@pytest.fixture
def watcher() -> Iterator[Watcher]:
    w = Watcher(queue.SimpleQueue(), poll_interval=30)
    yield w
    w.stop()


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with Pool(1, DEFAULT_MAX_PIXELS) as p:
        yield p


def test_roots_come_online_go_offline_and_are_dropped(tmp_path: Path, pool: Pool, watcher: Watcher) -> None:
    """A glob root goes online when its directory appears, offline when it vanishes (kept), and
    is dropped when no pattern names it any more."""
    roots = RootSet(watcher, lambda pattern: "auto", Engine(Store.open(tmp_path / "state"), pool))
    pattern = _b(tmp_path / "media/*/DCIM")
    lib = _b(tmp_path / "lib")
    (tmp_path / "lib").mkdir()
    changes = roots.check([(Role.HAYSTACK, lib), (Role.NEEDLE, pattern)], initial=True)
    assert [(c.kind, c.root.path) for c in changes] == [("online", lib)]
    (tmp_path / "media/card/DCIM").mkdir(parents=True)
    card = _b(tmp_path / "media/card/DCIM")
    changes = roots.check([(Role.HAYSTACK, lib), (Role.NEEDLE, pattern)])
    assert [(c.kind, c.root.path, c.root.mode) for c in changes] == [("online", card, "inotify")]
    assert roots.of(card + b"/100/a.jpg") is roots.roots[card]
    shutil.rmtree(tmp_path / "media/card")
    changes = roots.check([(Role.HAYSTACK, lib), (Role.NEEDLE, pattern)])
    assert [(c.kind, c.root.path) for c in changes] == [("offline", card)]
    assert roots.offline() == {card}
    assert roots.of(card + b"/100/a.jpg") is None
    changes = roots.check([(Role.NEEDLE, pattern)])
    assert [(c.kind, c.root.path) for c in changes] == [("dropped", lib)]
    assert roots.of_role(Role.NEEDLE) == [card]


PATTERNS = ("lib", "card")


def _patterns(tmp_path: Path) -> list[tuple[Role, bytes]]:
    return [(Role.HAYSTACK, _b(tmp_path / "lib")), (Role.NEEDLE, _b(tmp_path / "card"))]


def _intake(tmp_path: Path, pool: Pool, watcher: Watcher) -> tuple[Intake, Engine, Settler]:
    engine = Engine(Store.open(tmp_path / "state"), pool)
    engine.load()
    roots = RootSet(watcher, lambda pattern: "auto", engine)
    roots.check(_patterns(tmp_path))
    engine.set_roots(roots.roles())
    settler = Settler(0.0)
    intake = Intake(engine, roots, settler, watcher.hints, heartbeat=lambda: None, stopping=lambda: False)
    return intake, engine, settler


def test_intake_hashes_a_settled_file_and_forgets_a_deleted_folder(
    tmp_path: Path, pool: Pool, watcher: Watcher
) -> None:
    """A hint for a new file puts it in the settler; once ripe it is hashed into the engine; a hint
    for a folder that vanished forgets everything indexed under it, when the drain of hints ends."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    (tmp_path / "card").mkdir()
    intake, engine, settler = _intake(tmp_path, pool, watcher)
    intake.reconcile(_b(tmp_path / "lib"))
    intake.hash_ripe()
    write(tmp_path / "card/trip/a.jpg", encode(PICS[0], ".jpg"))
    intake.look(_b(tmp_path / "card/trip/a.jpg"))
    assert _b(tmp_path / "card/trip/a.jpg") in settler
    intake.hash_ripe()
    assert engine.refresh() == {_b(tmp_path / "card/trip/a.jpg")}
    assert engine.outcomes[_b(tmp_path / "card/trip/a.jpg")].status is Status.SAME
    shutil.rmtree(tmp_path / "card/trip")
    intake.hints.put(Hint("path", _b(tmp_path / "card/trip")))
    intake.drain(0)
    assert engine.refresh() == {_b(tmp_path / "card/trip/a.jpg")}
    assert engine.outcomes == {}
    engine.store.close()


def _index_both(tmp_path: Path, pool: Pool, watcher: Watcher) -> None:
    """Index lib/0.png and card/a.jpg, then close the index (the daemon stops)."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/a.jpg", encode(PICS[1], ".jpg"))
    intake, engine, _ = _intake(tmp_path, pool, watcher)
    for root in PATTERNS:
        intake.reconcile(_b(tmp_path / root))
    intake.hash_ripe()
    engine.store.close()


def test_a_root_emptied_while_stopped_is_emptied_not_offline(tmp_path: Path, pool: Pool, watcher: Watcher) -> None:
    """The same directory (device and inode) with its files gone: they were deleted, as a fresh
    scan says; the root is online."""
    _index_both(tmp_path, pool, watcher)
    os.unlink(tmp_path / "card/a.jpg")
    intake, engine, _ = _intake(tmp_path, pool, watcher)
    assert intake.roots.offline() == set()
    intake.reconcile(_b(tmp_path / "card"))
    assert list(engine.known[Role.NEEDLE]) == []
    engine.store.close()


def test_an_empty_other_directory_keeps_the_root_offline_without_flapping(
    tmp_path: Path, pool: Pool, watcher: Watcher
) -> None:
    """A share unmounted under its mount point: an empty directory that is not the one the entries
    came from. The root stays offline, check after check, with its entries, until the directory
    it was comes back."""
    _index_both(tmp_path, pool, watcher)
    os.rename(tmp_path / "card", tmp_path / "card.mounted")
    (tmp_path / "card").mkdir()
    intake, engine, _ = _intake(tmp_path, pool, watcher)
    card = _b(tmp_path / "card")
    assert intake.roots.offline() == {card}
    for _ in range(3):
        assert intake.roots.check(_patterns(tmp_path)) == []
    assert list(engine.known[Role.NEEDLE]) == [_b(tmp_path / "card/a.jpg")]
    os.rmdir(tmp_path / "card")
    os.rename(tmp_path / "card.mounted", tmp_path / "card")
    assert [c.kind for c in intake.roots.check(_patterns(tmp_path))] == ["online"]
    engine.store.close()


def test_status_writer_debounces_and_keeps_folder_clocks(tmp_path: Path, pool: Pool, watcher: Watcher) -> None:
    """Nothing changed: nothing to write. A change is written at once when idle, else after the
    interval; a folder's first_seen stays while updated_at follows its results."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/f/a.jpg", encode(PICS[0], ".jpg"))
    intake, engine, settler = _intake(tmp_path, pool, watcher)
    report = tmp_path / "out/status.json"
    status = StatusWriter(report, 0o644, 3600.0, engine=engine, roots=intake.roots, settler=settler)
    assert status.due(idle=False)  # never written
    assert status.publish(State.SCANNING) is not None
    assert not status.due(idle=True)
    for root in ("lib", "card"):
        intake.reconcile(_b(tmp_path / root))
    assert not status.due(idle=False)  # busy, and written less than an interval ago
    assert status.due(idle=True)  # the settler changed: the folder appears, pending
    doc = status.publish(State.SCANNING)
    assert doc is not None and [(f.path, f.pending) for f in doc.folders] == [(b"f", 1)]
    intake.hash_ripe()
    engine.refresh()
    [first] = status.publish(State.SCANNING).folders  # type: ignore[union-attr]
    time.sleep(1.1)
    (tmp_path / "card/f/a.jpg").unlink()
    intake.look(_b(tmp_path / "card/f/a.jpg"))
    write(tmp_path / "card/f/b.jpg", encode(PICS[2], ".jpg"))
    intake.look(_b(tmp_path / "card/f/b.jpg"))
    intake.hash_ripe()
    engine.refresh()
    status.publish(State.WATCHING)
    saved = json.loads(report.read_bytes())
    [folder] = saved["folders"]
    assert first.first_seen is not None
    assert folder["first_seen"] == first.first_seen.isoformat(timespec="seconds")
    assert folder["updated_at"] > folder["first_seen"]
    time.sleep(1.1)
    again = StatusWriter(report, 0o644, 3600.0, engine=engine, roots=intake.roots, settler=settler)
    again.publish(State.WATCHING)  # a restart: the folder is neither new nor changed
    assert json.loads(report.read_bytes())["folders"][0] == {**folder, "complete": True, "pending": 0}
    assert (saved["state"], folder["missing"]) == ("watching", 1)
    engine.store.close()


def test_a_status_file_that_cannot_be_written_is_tried_again_a_second_later(
    tmp_path: Path, pool: Pool, watcher: Watcher
) -> None:
    """A failed write (a full disk, a read-only directory) is retried, but not at once: the loop
    sleeps until next_write(), and a due() that stayed true would make it spin on one core, even
    with report_interval 0."""
    (tmp_path / "card").mkdir()
    intake, engine, settler = _intake(tmp_path, pool, watcher)
    (tmp_path / "not-a-dir").write_text("")
    status = StatusWriter(
        tmp_path / "not-a-dir/status.json", 0o644, 0.0, engine=engine, roots=intake.roots, settler=settler
    )
    assert status.due(idle=True)
    assert status.publish(State.WATCHING) is None
    assert not status.due(idle=True)
    when = status.next_write()
    assert when is not None and when - time.monotonic() > 0.5
    time.sleep(max(0.0, when - time.monotonic()))
    assert status.due(idle=True)
    status.path = tmp_path / "status.json"
    assert status.publish(State.WATCHING) is not None
    assert not status.due(idle=True) and status.next_write() is None
    engine.store.close()


def test_hooks_run_for_busy_folders_that_complete(tmp_path: Path) -> None:
    """Only a folder marked busy runs the hook, once, when a report shows it complete, with its
    counts in the environment."""
    out = tmp_path / "hook.out"
    script = (
        "import os, sys; env = os.environ; "
        "open(sys.argv[1], 'a').write(env['HASHWATCHD_PATH'] + ' ' + env['HASHWATCHD_SAME'] + '\\n')"
    )
    hooks = Hooks([sys.executable, "-c", script, str(out)])
    lib = Match(b"/lib/a.png", Tier.SAME, 0)
    outcomes = [Outcome(b"/card/f/a.jpg", Status.SAME, (lib,)), Outcome(b"/card/g/b.jpg", Status.MISSING)]
    now = datetime(2026, 11, 29, tzinfo=UTC)
    hooks.busy((b"/card", b"f"))
    hooks.fire(build(outcomes, [b"/card"], (1, 0), state=State.WATCHING, pending=[b"/card/f/c.jpg"], now=now))
    hooks.fire(build(outcomes, [b"/card"], (1, 0), state=State.WATCHING, now=now))
    hooks.fire(build(outcomes, [b"/card"], (1, 0), state=State.WATCHING, now=now))
    hooks.reap(wait=False)
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
        hooks.reap()
    assert out.read_text() == "/card/f 1\n"


def test_hints_for_the_same_path_are_handled_once(tmp_path: Path, pool: Pool, watcher: Watcher) -> None:
    """A copy makes several events per file; draining them looks at the file once."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "card").mkdir()
    intake, engine, _ = _intake(tmp_path, pool, watcher)
    looked: list[bytes] = []
    intake.look = looked.append  # type: ignore[method-assign]
    for _ in range(5):
        intake.hints.put(Hint("path", _b(tmp_path / "card/a.jpg")))
    intake.drain(0.1)
    assert looked == [_b(tmp_path / "card/a.jpg")]
    engine.store.close()


def test_a_long_stop_says_what_it_waits_for(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a stop has been asked for, every STOP_REPORT seconds one log line names where the
    main thread is (a stop that hangs tells the journal why), without the word Traceback."""
    monkeypatch.setattr(daemon_module, "STOP_REPORT", 0.1)
    caplog.set_level(logging.WARNING, "hashwatchd.daemon")
    d = Daemon(Settings(), Settings)

    def stuck_in_a_slow_unmount() -> None:
        deadline = time.monotonic() + 5
        while "waiting in" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)

    d._on_stop(signal.SIGTERM, None)
    stuck_in_a_slow_unmount()
    line = next(r.getMessage() for r in caplog.records if "waiting in" in r.getMessage())
    assert "stuck_in_a_slow_unmount (test_daemon_parts.py:" in line
    assert "Traceback" not in caplog.text and len(line) < 500
