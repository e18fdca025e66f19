"""End to end: a real `hashwatchd run` process on temp dirs, checked through the status file alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from helpers import Daemon, encode, photo, run_cli, write

pytestmark = pytest.mark.e2e  # real hashwatchd processes

SETTLE = "0.5"
WAIT = 20.0


PICS = [photo(seed, 240, 180) for seed in range(12)]


def _jpeg(i: int, quality: int = 85) -> bytes:
    return encode(PICS[i], ".jpg", cv2.IMWRITE_JPEG_QUALITY, quality)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """Library with pictures 0-3, an empty needle root, and a running daemon."""
    for i in range(4):
        write(tmp_path / f"lib/{i}.png", encode(PICS[i], ".png"))
    (tmp_path / "needles").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\nreport_interval: 0.2\npoll_interval: 0.5\n"
    )
    d = Daemon(tmp_path, cfg)
    d.start()
    yield d
    if d.proc is not None:
        d.proc.kill()
        d.proc.wait()
    assert "Traceback" not in d.log.read_text(errors="replace")


def _dump(where: Path, pictures: dict[str, int]) -> None:
    for name, i in pictures.items():
        write(where / name, _jpeg(i))


def test_cp_r_of_a_dump_is_reported(daemon: Daemon, tmp_path: Path) -> None:
    """A folder copied in with its files (cp -r) appears, complete, with the right counts."""
    _dump(tmp_path / "src/DCIM/100CANON", {"a.jpg": 0, "b.jpg": 1, "new.jpg": 8})
    subprocess.run(["cp", "-r", str(tmp_path / "src/DCIM"), str(tmp_path / "needles")], check=True)
    doc = daemon.wait(
        lambda d: (f := daemon.folder(d, "DCIM/100CANON")) is not None and f["complete"] and f["images"] == 3
    )
    f = daemon.folder(doc, "DCIM/100CANON")
    assert f is not None
    assert (f["status"], f["same"], f["missing"]) == ("partial", 2, 1)
    assert f["missing_paths"] == [str(tmp_path / "needles/DCIM/100CANON/new.jpg")]
    assert f["online"] is True
    assert doc["pending"] == 0


def test_rsync_temporaries_are_hashed_only_once_renamed(daemon: Daemon, tmp_path: Path) -> None:
    """rsync writes .name.XXXXXX then renames it: the temp is never listed, the final file hashed once."""
    folder = tmp_path / "needles/card"
    folder.mkdir()
    tmp = folder / ".IMG_1.JPG.Ab12Cd"
    with tmp.open("wb") as f:
        data = _jpeg(2)
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(0.3)
        f.write(data[len(data) // 2 :])
    os.rename(tmp, folder / "IMG_1.JPG")
    doc = daemon.wait(lambda d: (f := daemon.folder(d, "card")) is not None and f["images"] == 1 and f["complete"])
    assert daemon.folder(doc, "card")["same"] == 1  # type: ignore[index]
    time.sleep(1.0)
    assert daemon.hashed_count("IMG_1.JPG") == 1
    assert daemon.hashed_count(".IMG_1.JPG.Ab12Cd") == 0


def test_mv_of_a_folder_into_the_needles(daemon: Daemon, tmp_path: Path) -> None:
    """A folder moved in from elsewhere on the same file system is walked and reported."""
    _dump(tmp_path / "outside/trip", {"x.jpg": 3, "y.jpg": 9})
    os.rename(tmp_path / "outside/trip", tmp_path / "needles/trip")
    doc = daemon.wait(lambda d: (f := daemon.folder(d, "trip")) is not None and f["images"] == 2 and f["complete"])
    assert daemon.folder(doc, "trip")["status"] == "partial"  # type: ignore[index]


def test_library_changes_rejudge_needles(daemon: Daemon, tmp_path: Path) -> None:
    """Adding the library copy imports a missing needle; deleting it makes the needle missing again."""
    _dump(tmp_path / "needles/old", {"p.jpg": 10})
    daemon.wait(lambda d: (f := daemon.folder(d, "old")) is not None and f["status"] == "not_imported")
    write(tmp_path / "lib/10.png", encode(PICS[10], ".png"))
    daemon.wait(lambda d: daemon.folder(d, "old")["status"] == "imported")  # type: ignore[index]
    os.unlink(tmp_path / "lib/10.png")
    daemon.wait(lambda d: daemon.folder(d, "old")["status"] == "not_imported")  # type: ignore[index]


def test_sigterm_stops_cleanly(daemon: Daemon) -> None:
    """SIGTERM: exit 0 within seconds, status file says stopped."""
    assert daemon.stop() == 0
    assert daemon.status()["state"] == "stopped"  # type: ignore[index]


def test_changes_while_killed_are_found_at_restart(daemon: Daemon, tmp_path: Path) -> None:
    """After kill -9, a needle added and a library file deleted while down show after restart."""
    _dump(tmp_path / "needles/a", {"1.jpg": 1})
    daemon.wait(lambda d: (f := daemon.folder(d, "a")) is not None and f["status"] == "imported")
    daemon.stop(signal.SIGKILL)
    os.unlink(tmp_path / "lib/1.png")
    _dump(tmp_path / "needles/b", {"2.jpg": 2})
    daemon.start()
    doc = daemon.wait(
        lambda d: (
            (f := daemon.folder(d, "b")) is not None
            and f["complete"]
            and daemon.folder(d, "a")["status"] == "not_imported"
        )
    )  # type: ignore[index]
    assert daemon.folder(doc, "b")["status"] == "imported"  # type: ignore[index]
    assert doc["haystack"]["images"] == 3


def test_sighup_adds_a_root(daemon: Daemon, tmp_path: Path) -> None:
    """SIGHUP re-reads the config: a needle root added there is scanned without a restart."""
    _dump(tmp_path / "usb/photos", {"u.jpg": 0})
    daemon.config.write_text(
        daemon.config.read_text().replace(
            f"needles: [{tmp_path / 'needles'}]", f"needles: [{tmp_path / 'needles'}, {tmp_path / 'usb'}]"
        )
    )
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    doc = daemon.wait(lambda d: any(f["root"] == str(tmp_path / "usb") and f["complete"] for f in d["folders"]))
    [f] = [f for f in doc["folders"] if f["root"] == str(tmp_path / "usb")]
    assert (f["path"], f["status"]) == ("photos", "imported")


def test_glob_root_appears_and_vanishes(tmp_path: Path) -> None:
    """A card root matching media/*/DCIM is scanned when inserted and kept, offline, when removed."""
    for i in range(2):
        write(tmp_path / f"lib/{i}.png", encode(PICS[i], ".png"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: ['{tmp_path}/media/*/DCIM']\nreport_interval: 0.2\n")
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        assert "does not exist (yet)" in d.log.read_text()
        _dump(tmp_path / "staging/DCIM/100", {"c.jpg": 0, "n.jpg": 7})
        (tmp_path / "media").mkdir()
        os.rename(tmp_path / "staging", tmp_path / "media/card1")
        d.wait(lambda doc: (f := d.folder(doc, "100")) is not None and f["images"] == 2 and f["complete"])
        os.rename(tmp_path / "media/card1", tmp_path / "pulled")  # the whole tree goes at once, as on unmount
        doc = d.wait(lambda doc: d.folder(doc, "100")["online"] is False)  # type: ignore[index]
        f = d.folder(doc, "100")
        assert f is not None
        assert (f["images"], f["missing"]) == (2, 1)
    finally:
        assert d.stop() == 0


def test_many_files_each_hashed_once(daemon: Daemon, tmp_path: Path) -> None:
    """A 1,000-file dump copied in while running: every file reported, each hashed exactly once."""
    src = tmp_path / "src/big"
    for k in range(1000):
        write(src / f"IMG_{k:04d}.JPG", _jpeg(k % 12, 70 + k % 20))
    shutil.copytree(src, tmp_path / "needles/big")
    daemon.wait(
        lambda d: (f := daemon.folder(d, "big")) is not None and f["images"] == 1000 and f["complete"], timeout=120
    )
    counts = [daemon.hashed_count(f"IMG_{k:04d}.JPG") for k in range(1000)]
    assert counts == [1] * 1000


def test_folder_complete_hook_runs_without_a_shell(tmp_path: Path) -> None:
    """on_folder_complete gets the folder in environment variables; no shell is involved."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    (tmp_path / "needles").mkdir()
    out = tmp_path / "hook.out"
    hook = tmp_path / "hook.py"
    hook.write_text(
        f"import os\nopen({str(out)!r}, 'a').write("
        "os.environ['HASHWATCHD_FOLDER'] + ' ' + os.environ['HASHWATCHD_STATUS'] + "
        "' ' + os.environ['HASHWATCHD_MISSING'] + '\\n')\n"
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\n"
        f"on_folder_complete: ['{sys.executable}', '{hook}']\n"
    )
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        _dump(tmp_path / "stage/$(touch pwned)", {"a.jpg": 0, "b.jpg": 5})
        os.rename(tmp_path / "stage/$(touch pwned)", tmp_path / "needles/$(touch pwned)")
        deadline = time.monotonic() + WAIT
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.read_text() == "$(touch pwned) partial 1\n"
        assert not (tmp_path / "pwned").exists()
    finally:
        assert d.stop() == 0


def test_needle_folder_inside_the_library_is_never_its_own_copy(tmp_path: Path) -> None:
    """With the needle root inside the library root, a photo copied there is a needle only: it
    is missing until the library elsewhere holds it, never 'identical' to itself."""
    write(tmp_path / "Pictures/2020/0.png", encode(PICS[0], ".png"))
    (tmp_path / "Pictures/Imports").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"haystack: [{tmp_path / 'Pictures'}]\nneedles: [{tmp_path / 'Pictures/Imports'}]\nreport_interval: 0.2\n"
    )
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        _dump(tmp_path / "stage/card", {"a.jpg": 0, "new.jpg": 6})
        os.rename(tmp_path / "stage/card", tmp_path / "Pictures/Imports/card")
        doc = d.wait(lambda doc: (f := d.folder(doc, "card")) is not None and f["images"] == 2 and f["complete"])
        f = d.folder(doc, "card")
        assert f is not None
        assert (f["status"], f["missing_paths"]) == ("partial", [str(tmp_path / "Pictures/Imports/card/new.jpg")])
        assert doc["haystack"]["images"] == 1
    finally:
        assert d.stop() == 0


def test_by_default_the_log_says_what_was_found_and_nothing_per_file(tmp_path: Path) -> None:
    """At the default level: one line when ready (what the start-up hashed, the roots, their
    counts, the status file), one when a card's folder appears, one with its result when it is
    complete, one when `hashwatchd ignore` changes what is reported, one when a root goes offline,
    one when the daemon stops; no line per file. A restart announces no folder it knew."""
    for i in range(4):
        write(tmp_path / f"lib/{i}.png", encode(PICS[i], ".png"))
    (tmp_path / "needles").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: ['{tmp_path}/media/*']\nreport_interval: 0.2\n")
    (tmp_path / "media/card").mkdir(parents=True)
    card = tmp_path / "media/card"
    d = Daemon(tmp_path, cfg)
    d.start(verbose=False)
    try:
        _dump(tmp_path / "stage/100CANON", {"a.jpg": 0, "b.jpg": 1, "new.jpg": 8})
        write(tmp_path / "stage/100CANON/cut.jpg", _jpeg(9)[:300])
        os.rename(tmp_path / "stage/100CANON", card / "100CANON")
        d.wait(lambda doc: (f := d.folder(doc, "100CANON")) is not None and f["images"] == 4 and f["complete"])
        deadline = time.monotonic() + WAIT
        while "not in the library" not in d.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        state = ("--config", cfg, "--state-dir", tmp_path / "state")
        assert run_cli("ignore", card / "100CANON", *state).returncode == 0
        d.wait(lambda doc: d.folder(doc, "100CANON")["ignored"], timeout=15)  # type: ignore[index]
    finally:
        assert d.stop() == 0
    first = d.log.read_text()
    status = tmp_path / "state/status.json"
    d.start(verbose=False)
    try:
        os.rename(card, tmp_path / "pulled")  # the card goes; its files do not look deleted
        d.wait(lambda doc: d.folder(doc, "100CANON")["online"] is False)  # type: ignore[index]
    finally:
        assert d.stop() == 0
    second = d.log.read_text()[len(first) :]

    lines = [line.split(": ", 1)[1] for line in first.splitlines()]
    assert lines == [
        f"4 files hashed; watching 1 library root (4 files) and 1 needle root (0 files); status file {status}",
        f"new folder {card}/100CANON",
        f"{card}/100CANON: 4 files, 1 not in the library, 1 unreadable",
        f"now ignored: {card}/100CANON",
        "stopped",
    ]
    lines = [line.split(": ", 1)[1] for line in second.splitlines()]
    assert lines[0] == (
        f"index up to date; watching 1 library root (4 files) and 1 needle root (4 files); status file {status}"
    )
    assert lines[1].startswith(f"needle root {card} is offline")
    assert lines[2:] == ["stopped"], lines


def test_an_ignored_folder_stays_ignored_across_a_restart(daemon: Daemon, tmp_path: Path) -> None:
    """`hashwatchd ignore` beside the running daemon: the status file shows the folder ignored
    (with its counts) without a restart, `status --check` stops counting it, and after a restart
    it is still ignored and neither of its clocks moved."""
    _dump(tmp_path / "needles/friend", {"x.jpg": 8, "y.jpg": 9})
    _dump(tmp_path / "needles/mine", {"a.jpg": 0})
    daemon.wait(lambda d: len(d["folders"]) == 2 and all(f["complete"] for f in d["folders"]))
    cli = [sys.executable, "-m", "hashwatchd"]
    state = ["--config", str(daemon.config), "--state-dir", str(tmp_path / "state")]

    def check() -> int:
        return subprocess.run([*cli, "status", "--check", *state], check=False, capture_output=True).returncode

    assert check() == 1
    subprocess.run([*cli, "ignore", str(tmp_path / "needles/friend"), *state], check=True, capture_output=True)
    doc = daemon.wait(lambda d: daemon.folder(d, "friend")["ignored"], timeout=15)  # type: ignore[index]
    before = daemon.folder(doc, "friend")
    assert before is not None and (before["missing"], before["status"]) == (2, "not_imported")
    assert check() == 0
    time.sleep(1.1)  # a clock that moved would show it
    assert daemon.stop() == 0
    daemon.start()
    after = daemon.folder(daemon.wait(lambda d: len(d["folders"]) == 2), "friend")
    assert after == {**before, "complete": True, "pending": 0}
    assert check() == 0


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def _is_decoder(pid: int) -> bool:
    """A decoder process (spawned by multiprocessing), not its resource tracker."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"spawn_main" in f.read()
    except OSError:
        return False


def test_an_idle_daemon_lets_its_decoders_go_and_wakes_for_the_next_file(tmp_path: Path) -> None:
    """decoder_idle_exit: the decoders exit after that long without work; the next card's file
    starts them again and is reported as usual; a SIGTERM wakes the sleeping loop at once."""
    for i in range(2):
        write(tmp_path / f"lib/{i}.png", encode(PICS[i], ".png"))
    (tmp_path / "needles").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\ndecoder_idle_exit: 1\n"
        "report_interval: 0.2\n"
    )
    d = Daemon(tmp_path, cfg)
    d.start()
    try:
        assert d.proc is not None
        deadline = time.monotonic() + WAIT
        while any(_is_decoder(c) for c in _children(d.proc.pid)):
            assert time.monotonic() < deadline, "the decoders never exited"
            time.sleep(0.1)
        _dump(tmp_path / "needles/card", {"a.jpg": 0, "new.jpg": 8})
        doc = d.wait(lambda doc: (f := d.folder(doc, "card")) is not None and f["complete"] and f["images"] == 2)
        assert d.folder(doc, "card")["missing"] == 1  # type: ignore[index]
        time.sleep(2.0)  # idle again: the loop sleeps until its next deadline (10 s away)
        start = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - start < 5.0  # woken by the signal, not by the next deadline
    finally:
        if d.proc is not None:
            d.proc.kill()
    assert d.log.read_text().count("decoders idle for 1 s: stopping them until work comes") == 2  # and again
