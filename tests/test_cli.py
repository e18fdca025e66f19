"""The command line, run as a user runs it: real processes, real files, real index."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import encode, photo, run_cli, write

pytestmark = pytest.mark.e2e  # real hashwatchd processes


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of 4 photos and needles: one imported folder, one partial, one with a bad file."""
    base = tmp_path_factory.mktemp("trees")
    pics = [photo(seed, 320, 240) for seed in range(6)]
    for i in range(4):
        write(base / f"lib/{i}.png", encode(pics[i], ".png"))
    write(base / "card/2019/Misc/a.jpg", encode(pics[0], ".jpg"))
    write(base / "card/2019/Misc/b.jpg", encode(pics[1], ".jpg", cv2.IMWRITE_JPEG_QUALITY, 60))
    write(base / "card/2020/Misc/c.jpg", encode(pics[2], ".jpg"))
    write(base / "card/2020/Misc/new.jpg", encode(pics[4], ".jpg"))
    write(base / "card/2020/Misc/gray.jpg", encode(cv2.cvtColor(pics[3], cv2.COLOR_BGR2GRAY), ".jpg"))
    write(base / "card/broken/cut.jpg", encode(pics[5], ".jpg")[:500])
    write(os.fsencode(base) + b"/card/odd/caf\xe9.jpg", encode(pics[5], ".jpg"))
    return base


def _scan(trees: Path, state: Path, *extra: str) -> tuple[int, str, str]:
    r = run_cli(
        "scan",
        "--haystack",
        trees / "lib",
        "--needles",
        trees / "card",
        "--state-dir",
        state,
        "--workers",
        "2",
        *extra,
    )
    return r.returncode, r.stdout, r.stderr


def test_scan_reports_folders_and_second_scan_decodes_nothing(trees: Path, tmp_path: Path) -> None:
    """First scan hashes everything and lists what to import; the second decodes nothing and says so."""
    code, out, err = _scan(trees, tmp_path / "state")
    assert code == 0, err
    assert "hashed 11 new or changed files" in out
    assert "2020/Misc  1 of 3 missing, 1 edited" in out
    doc = json.loads((tmp_path / "state/status.json").read_text())
    status = {f["path"]: f["status"] for f in doc["folders"]}
    assert status == {
        "2019/Misc": "imported",
        "2020/Misc": "partial",
        "broken": "empty",
        "odd": "not_imported",
    }
    code, out, _ = _scan(trees, tmp_path / "state")
    assert code == 0
    assert "index up to date: nothing decoded" in out


def test_scan_picks_up_changes(trees: Path, tmp_path: Path) -> None:
    """A new library file and a deleted needle are reflected by the next scan, hashing only one file."""
    work = tmp_path / "t"
    shutil.copytree(trees, work)
    _scan(work, tmp_path / "state")
    write(work / "lib/4.png", encode(photo(4, 320, 240), ".png"))
    os.unlink(work / "card/2019/Misc/a.jpg")
    code, out, _ = _scan(work, tmp_path / "state")
    assert code == 0
    assert re.search(r"hashed 1 new or changed file( and confirmed \d+ match(es)? at full resolution)?;", out), out
    doc = json.loads((tmp_path / "state/status.json").read_text())
    misc20 = next(f for f in doc["folders"] if f["path"] == "2020/Misc")
    assert misc20["missing"] == 0
    misc19 = next(f for f in doc["folders"] if f["path"] == "2019/Misc")
    assert misc19["images"] == 1


def test_status_and_matches(trees: Path, tmp_path: Path) -> None:
    """status prints folders; matches --json gives one record per needle with exact paths."""
    _scan(trees, tmp_path / "state")
    r = run_cli("status", "--state-dir", tmp_path / "state")
    assert r.returncode == 0
    assert "partial" in r.stdout
    raw = run_cli("status", "--state-dir", tmp_path / "state", "--json")
    assert json.loads(raw.stdout)["schema"] == 2
    r = run_cli("matches", "--state-dir", tmp_path / "state", "--json")
    assert r.returncode == 0, r.stderr
    rows = {os.fsencode(row["path"]): row for row in map(json.loads, r.stdout.splitlines())}
    card = os.fsencode(trees / "card")
    assert rows[card + b"/2019/Misc/b.jpg"]["status"] == "same"
    assert rows[card + b"/2019/Misc/b.jpg"]["matches"][0]["path"] == str(trees / "lib/1.png")
    assert rows[card + b"/2020/Misc/gray.jpg"]["status"] == "edited"
    assert rows[card + b"/2020/Misc/new.jpg"] == {
        "path": str(trees / "card/2020/Misc/new.jpg"),
        "status": "missing",
        "matches": [],
        "error": None,
    }
    assert rows[card + b"/broken/cut.jpg"]["status"] == "unreadable"
    assert rows[card + b"/broken/cut.jpg"]["error"].startswith(("truncated", "corrupt"))
    assert rows[card + b"/odd/caf\xe9.jpg"]["status"] == "missing"


def test_query_and_hash(trees: Path, tmp_path: Path) -> None:
    """query matches a single file against the index; hash prints 16-hex-digit hashes."""
    _scan(trees, tmp_path / "state")
    r = run_cli("query", "--state-dir", tmp_path / "state", "--json", trees / "card/2019/Misc/a.jpg")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "same"
    r = run_cli("hash", trees / "lib/0.png", trees / "card/broken/cut.jpg")
    assert r.returncode == 1
    first = r.stdout.split()
    assert len(first[0]) == 16 and len(first[1]) == 16
    assert "unreadable" in r.stderr and "cut.jpg" in r.stderr
    r = run_cli("hash", "--json", trees / "lib/0.png")
    row = json.loads(r.stdout)
    assert row["sha256_128"] == hashlib.sha256((trees / "lib/0.png").read_bytes()).hexdigest()[:32]


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    """An unknown key and a bad value each exit 2 with the key, the value and what is allowed."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("haystack: [/tmp]\nworkerz: 3\n")
    r = run_cli("scan", "--config", cfg)
    assert r.returncode == 2
    assert "workerz" in r.stderr and "one of the keys" in r.stderr
    cfg.write_text("workers: -1\n")
    r = run_cli("scan", "--config", cfg)
    assert r.returncode == 2
    assert "workers: -1 is not allowed; expected a whole number >= 1" in r.stderr


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    """A needle directory that does not exist exits 2 naming it."""
    (tmp_path / "lib").mkdir()
    r = run_cli("scan", "--haystack", tmp_path / "lib", "--needles", tmp_path / "nope", "--state-dir", tmp_path / "s")
    assert r.returncode == 2
    assert str(tmp_path / "nope") in r.stderr


def test_config_file_supplies_the_roots(tmp_path: Path) -> None:
    """Roots from the default config file ($XDG_CONFIG_HOME) are used when no flag is given."""
    write(tmp_path / "lib/a.png", encode(photo(1, 200, 150), ".png"))
    write(tmp_path / "card/a.jpg", encode(photo(1, 200, 150), ".jpg"))
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"haystack: {tmp_path / 'lib'}\nneedles: [{tmp_path / 'card'}]\n")
    r = run_cli(
        "scan",
        env={
            **os.environ,
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "XDG_STATE_HOME": str(tmp_path / "st"),
        },
    )
    assert r.returncode == 0, r.stderr
    assert "Every needle folder is imported." in r.stdout
    assert (tmp_path / "st/hashwatchd/status.json").exists()


def test_every_command_has_help() -> None:
    """--help works for each command."""
    for cmd in ("scan", "status", "matches", "query", "hash"):
        r = run_cli(cmd, "--help")
        assert r.returncode == 0
        assert "usage: hashwatchd " + cmd in r.stdout


def test_larger_needles_are_confirmed_at_full_resolution_once(tmp_path: Path) -> None:
    """An upscaled copy is same; another render of the artwork at higher resolution is not; cached."""
    base = cv2.resize(photo(30, 400, 300), (800, 600), interpolation=cv2.INTER_CUBIC)

    def render(seed: int, x: int) -> np.ndarray:
        """The artwork with its own grain and a logo placed at `x` (renders differ by a few pixels)."""
        img = base + np.random.default_rng(seed).normal(0, 10, base.shape)
        cv2.rectangle(img, (x, 200), (x + 200, 320), (245, 245, 245), -1)
        return np.clip(img, 0, 255).astype(np.uint8)

    export = cv2.resize(render(5, 300), (400, 300), interpolation=cv2.INTER_AREA)
    write(tmp_path / "lib/export.png", encode(export, ".png"))
    write(tmp_path / "card/other-render.png", encode(render(6, 303), ".png"))
    write(
        tmp_path / "card/upscaled.jpg", encode(cv2.resize(export, (800, 600), interpolation=cv2.INTER_LANCZOS4), ".jpg")
    )
    args = ("scan", "--haystack", tmp_path / "lib", "--needles", tmp_path / "card", "--state-dir", tmp_path / "s")
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "confirmed 2 matches at full resolution" in r.stdout
    rows = {
        Path(row["path"]).name: row["status"]
        for row in map(json.loads, run_cli("matches", "--state-dir", tmp_path / "s", "--json").stdout.splitlines())
    }
    assert rows == {"other-render.png": "missing", "upscaled.jpg": "same"}
    r = run_cli(*args)
    assert "index up to date: nothing decoded" in r.stdout
