"""End to end: a real daemon writes the visual report beside its status file, and a real headless
Chromium opens it from file://: it loads without a console error, every preview decodes, and
folders named `<script>` and `"&'` are text.

Skipped only when there is no Chromium binary (Debian: `apt-get install chromium`; `.ci/run`
installs it). HASHWATCHD_SCREENSHOT=docs/report.png writes the browser's screenshot there (the
README's picture); otherwise it goes to the test's temp directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser
import cv2
import numpy as np
import pytest
from helpers import Daemon, encode, run_cli, write
from PIL import Image

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        browser.find() is None,
        reason="no Chromium binary: install Debian's chromium package (apt-get install chromium) or set $CHROMIUM",
    ),
]


def scene(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A landscape postcard (sky, sun, hills, a few houses, grain): structure a photo has, and
    smooth enough that a screenshot of the page stays small."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = rng.uniform(60, 255, 3) * (1 - y) + rng.uniform(120, 255, 3) * y
    img = np.ascontiguousarray(np.broadcast_to(sky, (height, width, 3)), np.float32)

    def colour(lo: float, hi: float) -> tuple[float, ...]:
        return tuple(float(c) for c in rng.uniform(lo, hi, 3))

    sun = (int(rng.uniform(0.15, 0.85) * width), int(rng.uniform(0.1, 0.4) * height))
    cv2.circle(img, sun, int(height * rng.uniform(0.06, 0.12)), colour(180, 255), -1, cv2.LINE_AA)
    x = np.arange(0, width + 8, 8)
    for layer in range(3):
        ridge = height * (0.45 + 0.17 * layer) + height * (
            0.08 * np.sin(x / width * rng.uniform(3, 9) + rng.uniform(0, 6))
            + 0.04 * np.sin(x / width * rng.uniform(11, 23))
        )
        outline = np.array([[0, height], *zip(x, ridge.astype(int), strict=True), [width, height]], np.int32)
        cv2.fillPoly(img, [outline], tuple(c * (1 - 0.25 * layer) for c in colour(20, 200)), cv2.LINE_AA)
    for _ in range(int(rng.integers(4, 9))):
        cx, cy, s = (
            int(rng.uniform(0, width)),
            int(height * rng.uniform(0.6, 0.95)),
            int(height * rng.uniform(0.03, 0.08)),
        )
        cv2.rectangle(img, (cx - s // 3, cy - s), (cx + s // 3, cy), colour(0, 255), -1)
    img = cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    return encode(img, ".jpg", cv2.IMWRITE_JPEG_QUALITY, quality)


SCRIPT, QUOTES = "<script>", "\"&'"


@contextlib.contextmanager
def _running(tmp_path: Path, settle: str = "0.5") -> Iterator[Daemon]:
    """A library (a resized copy of scene 0, a contrast-edited copy of scene 1, scenes 6 and 7),
    written a day ago, and a running daemon."""
    write(tmp_path / "lib/2024/0.jpg", _jpeg(cv2.resize(scene(0), (480, 360), interpolation=cv2.INTER_AREA), 85))
    write(tmp_path / "lib/2024/1-edit.jpg", _jpeg(cv2.convertScaleAbs(scene(1), alpha=1.3, beta=-30)))
    write(tmp_path / "lib/2023/6.png", encode(scene(6), ".png"))
    write(tmp_path / "lib/2023/7.jpg", _jpeg(scene(7)))
    _age(tmp_path / "lib")
    (tmp_path / "needles").mkdir(exist_ok=True)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"haystack: [{tmp_path / 'lib'}]\nneedles: [{tmp_path / 'needles'}]\nreport_interval: 0.2\n")
    d = Daemon(tmp_path, cfg)
    try:
        d.start(verbose=False, settle=settle)  # the log as a user sees it by default
        yield d
    finally:
        if d.proc is not None:
            d.proc.kill()
            d.proc.wait()
    assert "Traceback" not in d.log.read_text(errors="replace")


def _age(tree: Path) -> None:
    """Date every file under `tree` a day back: at start-up the daemon takes them as settled."""
    day_ago = time.time() - 86400
    for path in tree.rglob("*"):
        os.utime(path, (day_ago, day_ago))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with _running(tmp_path) as d:
        yield d


def _card(where: Path) -> None:
    """A card: a folder named <script> with a same, an edited, a missing and a truncated photo;
    one named "&' with two missing photos; one already imported."""
    write(where / f"DCIM/{SCRIPT}/IMG_0001.JPG", _jpeg(scene(0)))
    write(where / f"DCIM/{SCRIPT}/IMG_0002.JPG", _jpeg(scene(1)))
    write(where / f"DCIM/{SCRIPT}/IMG_0003.JPG", _jpeg(scene(2)))
    cut = _jpeg(scene(3))
    write(where / f"DCIM/{SCRIPT}/IMG_0004.JPG", cut[: len(cut) // 2])
    write(where / f"DCIM/{QUOTES}/IMG_0005.JPG", _jpeg(scene(4)))
    write(where / f"DCIM/{QUOTES}/IMG_0006.JPG", _jpeg(scene(5)))
    write(where / "DCIM/100OLD/IMG_0007.JPG", _jpeg(scene(6)))
    write(where / "DCIM/100OLD/IMG_0008.JPG", _jpeg(scene(7)))


def _done(d: Daemon, doc: dict[str, Any]) -> bool:
    folders = {f["path"]: f for f in doc["folders"]}
    wanted = {f"DCIM/{SCRIPT}": 4, f"DCIM/{QUOTES}": 2, "DCIM/100OLD": 2}
    return all(p in folders and folders[p]["complete"] and folders[p]["images"] == n for p, n in wanted.items())


#: Opens every folded section and waits for every image: [alt, naturalWidth] of each.
_IMAGES = """
document.querySelectorAll('details').forEach(d => { d.open = true; });
Promise.all([...document.images].map(img => {
  img.loading = 'eager';
  return img.decode().then(() => [img.alt, img.naturalWidth], () => [img.alt, 0]);
}))
"""


def test_the_visual_report_in_headless_chromium(daemon: Daemon, tmp_path: Path) -> None:
    """A card copied in: status.html beside status.json shows, in a real browser, the previews
    of the missing photos, the edited and same ones beside their library copies, the unreadable
    one with its reason, the folders to import first, and the dangerous names as text."""
    _card(tmp_path / "src")
    subprocess.run(["cp", "-r", str(tmp_path / "src/DCIM"), str(tmp_path / "needles")], check=True)
    doc = daemon.wait(lambda doc: _done(daemon, doc))
    page = tmp_path / "state/status.html"
    daemon.wait(lambda doc: _done(daemon, doc) and 'data-previews-pending="0"' in _read(page))
    assert {(f["path"], f["status"]) for f in doc["folders"]} == {
        (f"DCIM/{SCRIPT}", "partial"),
        (f"DCIM/{QUOTES}", "not_imported"),
        ("DCIM/100OLD", "imported"),
    }

    binary = browser.find()
    assert binary is not None
    with browser.Browser(binary) as chromium:
        chromium.open(page.as_uri())
        images = dict(chromium.evaluate(_IMAGES))
        folders = chromium.evaluate("[...document.querySelectorAll('h3')].map(h => h.textContent)")
        counts = chromium.evaluate(
            "({scripts: document.scripts.length, injected: document.querySelectorAll('h3 *:not(span)').length})"
        )
        text = chromium.evaluate("document.body.innerText")
        errors = chromium.console_errors()
        readme = os.environ.get("HASHWATCHD_SCREENSHOT")
        shot = Path(readme) if readme else tmp_path / "report.png"
        chromium.screenshot(shot)

    assert errors == []
    # Every preview decodes: the missing, edited and same needles and the library copies shown.
    assert sorted(images) == [
        "0.jpg", "1-edit.jpg", "6.png", "7.jpg",
        "IMG_0001.JPG", "IMG_0002.JPG", "IMG_0003.JPG", "IMG_0005.JPG", "IMG_0006.JPG", "IMG_0007.JPG", "IMG_0008.JPG",
    ]  # fmt: skip
    assert all(width > 0 for width in images.values()), images
    # The folders still to import first; the dangerous names are text, and nothing was injected.
    needles = str(tmp_path / "needles")
    assert folders == [f"{needles}/DCIM/{QUOTES}", f"{needles}/DCIM/{SCRIPT}", f"{needles}/DCIM/100OLD"]
    assert counts == {"scripts": 0, "injected": 0}
    assert "IMG_0004.JPG" in text and "truncated" in text
    assert "edited" in text.lower() and "differs by an edit" in text
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if readme:  # the README's picture: 256 colours keep it under 100 KB
        Image.open(shot).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(shot, optimize=True)
    _the_person_decides(daemon, tmp_path)


def _the_person_decides(daemon: Daemon, tmp_path: Path) -> None:
    """The rest of the card's story, as the person at the screen lives it: the default log said
    what was found; `status --check` says something is left to import; the two folders left are
    a friend's, so they are ignored, which the status file, `status --check` and the page follow
    without a restart, and which a restart does not undo."""
    needles = tmp_path / "needles"
    lines = [line.split(": ", 1)[1] for line in daemon.log.read_text().splitlines()]
    assert lines[0].startswith("4 files hashed; watching 1 library root (4 files) and 1 needle root (0 files)")
    for name, result in (
        (QUOTES, "2 files, 2 not in the library"),
        (SCRIPT, "4 files, 2 not in the library (1 only as an edited version), 1 unreadable"),
        ("100OLD", "2 files, all in the library"),
    ):
        assert f"new folder {needles}/DCIM/{name}" in lines
        assert f"{needles}/DCIM/{name}: {result}" in lines
    assert len(lines) == 7, lines  # nothing per file

    state = ("--config", tmp_path / "config.yaml", "--state-dir", tmp_path / "state")
    assert run_cli("status", "--check", *state).returncode == 1
    for name in (QUOTES, SCRIPT):
        assert run_cli("ignore", needles / "DCIM" / name, *state).returncode == 0
    page = tmp_path / "state/status.html"
    doc = daemon.wait(lambda doc: all(f["ignored"] for f in doc["folders"] if f["path"] != "DCIM/100OLD"))
    daemon.wait(lambda doc: _read(page).count("ignored: decided not to import") == 2)
    assert run_cli("status", "--check", *state).returncode == 0
    assert daemon.stop() == 0
    daemon.start(verbose=False)
    again = daemon.wait(lambda doc: _done(daemon, doc))
    assert [(f["path"], f["ignored"], f["first_seen"]) for f in again["folders"]] == [
        (f["path"], f["ignored"], f["first_seen"]) for f in doc["folders"]
    ]
    assert run_cli("status", "--check", *state).returncode == 0
    assert daemon.stop() == 0
    # The decisions were said as the daemon read them, each stop in one line, and the restart
    # found the index up to date and announced no folder it knew.
    later = [line.split(": ", 1)[1] for line in daemon.log.read_text().splitlines()][len(lines) :]
    decided = [line for line in later if line.startswith("now ignored: ")]
    assert sorted(", ".join(line[len("now ignored: ") :] for line in decided).split(", ")) == sorted(
        f"{needles}/DCIM/{name}" for name in (QUOTES, SCRIPT)
    )
    assert [line for line in later if line not in decided] == [
        "stopped",
        "index up to date; watching 1 library root (4 files) and 1 needle root (8 files); "
        f"status file {tmp_path / 'state/status.json'}",
        "stopped",
    ]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


#: Each folder section as a person sees it: its name, its classes, its badges, the colour of its edge.
_SECTIONS = """
[...document.querySelectorAll('section')].map(s => [
  s.querySelector('h3').textContent, s.className,
  [...s.querySelectorAll('.badge')].map(b => b.textContent), getComputedStyle(s).borderLeftColor,
])
"""


def test_a_card_still_being_analysed_is_not_shown_as_done(tmp_path: Path) -> None:
    """A card being copied in: one picture already found in the library and three not analysed
    yet (they wait to settle), and a folder of two not analysed yet. In a real browser the page
    does not say that everything is imported: it says what is left to analyse, has a neutral
    title, and shows both folders under "Still being analysed" with a blue edge and an
    "analysing" badge, not as imported (green) or as holding no readable file."""
    needles = tmp_path / "needles"
    write(needles / "DCIM/100OLD/IMG_0008.JPG", _jpeg(scene(7)))  # the library's 7.jpg, byte for byte
    _age(needles)
    with _running(tmp_path, settle="3600") as daemon:
        for name, seed in (("100OLD/IMG_0009", 8), ("100OLD/IMG_0010", 9), ("100OLD/IMG_0011", 10)):
            write(needles / f"DCIM/{name}.JPG", _jpeg(scene(seed)))
        for name, seed in (("101NEW/IMG_0012", 11), ("101NEW/IMG_0013", 12)):
            write(needles / f"DCIM/{name}.JPG", _jpeg(scene(seed)))
        doc = daemon.wait(lambda doc: doc["pending"] == 5 and len(doc["folders"]) == 2)
        assert doc["state"] == "watching"
        assert [(f["path"], f["status"], f["pending"]) for f in doc["folders"]] == [
            ("DCIM/100OLD", "imported", 3),
            ("DCIM/101NEW", "empty", 2),
        ]
        page = tmp_path / "state/status.html"
        daemon.wait(lambda doc: "Still analysing 5 files" in _read(page))
        binary = browser.find()
        assert binary is not None
        with browser.Browser(binary) as chromium:
            chromium.open(page.as_uri())
            title = chromium.evaluate("document.title")
            text = chromium.evaluate("document.body.innerText")
            sections = chromium.evaluate(_SECTIONS)
            errors = chromium.console_errors()
            chromium.screenshot(tmp_path / "analysing.png")
    assert errors == []
    assert title == "hashwatchd: analysing, 5 files pending"
    assert "Still analysing 5 files" in text and "imported." not in text
    blue = "rgb(29, 78, 216)"  # --busy
    assert sections == [
        [f"{needles}/DCIM/100OLD", "folder busy incomplete", ["analysing: 3 files to go"], blue],
        [f"{needles}/DCIM/101NEW", "folder busy incomplete", ["analysing: 2 files to go"], blue],
    ]
    assert text.index("STILL BEING ANALYSED") < text.index(f"{needles}/DCIM/100OLD\n")


def test_report_html_writes_a_page_from_the_index(daemon: Daemon, tmp_path: Path) -> None:
    """`hashwatchd report --html DIR` beside the running daemon (the index read-only): a page
    and the previews it shows, copied into DIR, that a browser loads without an error, with the
    daemon's state from its status file (not a finished scan)."""
    _card(tmp_path / "src")
    shutil.copytree(tmp_path / "src/DCIM", tmp_path / "needles/DCIM")
    daemon.wait(lambda doc: _done(daemon, doc))
    out = tmp_path / "out"

    done = run_cli("report", "--html", out, "--state-dir", tmp_path / "state", "--config", tmp_path / "config.yaml")
    assert done.returncode == 0, done.stderr
    assert "written to" in done.stdout
    # 11 pictures shown, 10 files: IMG_0008.JPG and the library's 7.jpg are the same bytes and share one.
    assert len(list((out / "thumbs").iterdir())) == 10
    binary = browser.find()
    assert binary is not None
    with browser.Browser(binary) as chromium:
        chromium.open((out / "index.html").as_uri())
        images = dict(chromium.evaluate(_IMAGES))
        meta = chromium.evaluate("document.querySelector('.meta').textContent")
        errors = chromium.console_errors()
    assert errors == []
    assert len(images) == 11 and all(width > 0 for width in images.values()), images
    assert meta.startswith("watching for changes \u00b7 written ")
