"""Every command in-process (`cli.main(argv)` with captured output): one settings resolution
and one rule for where a file belongs, whatever the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import encode, photo, pillow_bytes, write

from hashwatchd import cli

PICS = [photo(seed, 240, 180) for seed in range(4)]
ROOT = Path(__file__).resolve().parent.parent


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _config(tmp_path: Path, text: str) -> None:
    """The default config file, which every command reads when no --config is given."""
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    """A library, a card, and a config file that puts the index and the status file elsewhere."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/new.jpg", encode(PICS[1], ".jpg"))
    _config(
        tmp_path,
        f"haystack: {tmp_path / 'lib'}\nneedles: {tmp_path / 'card'}\n"
        f"state_dir: {tmp_path / 'index-here'}\nreport: {tmp_path / 'out/status.json'}\nworkers: 1\n",
    )
    return tmp_path


def test_matches_status_and_query_read_the_config_file(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With state_dir and report set in the config file, the commands after scan find them."""
    code, _, err = _run(capsys, "scan")
    assert code == 0, err
    code, out, err = _run(capsys, "matches", "--json")
    assert code == 0, err
    assert {json.loads(line)["status"] for line in out.splitlines()} == {"same", "missing"}
    code, out, err = _run(capsys, "status")
    assert code == 0, err
    assert "partial" in out
    assert _run(capsys, "status", "--check")[0] == 1  # new.jpg is not imported
    code, out, err = _run(capsys, "query", "--json", configured / "card/a.jpg")
    assert code == 0, err
    assert json.loads(out)["status"] == "same"


def test_query_decodes_with_the_configured_limits(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """query's decoders get max_pixels from the config file: a picture over it is too large."""
    assert _run(capsys, "scan")[0] == 0
    with (configured / "xdg-config/hashwatchd/config.yaml").open("a") as f:
        f.write("max_pixels: 1000\n")
    code, out, _ = _run(capsys, "query", "--json", configured / "card/a.jpg")
    assert code == 0
    row = json.loads(out)
    assert (row["status"], row["error"].split(":")[0]) == ("unreadable", "too-large")


def test_flags_override_the_config_file(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--state-dir given on the command line wins over state_dir in the config file."""
    assert _run(capsys, "scan", "--state-dir", configured / "other")[0] == 0
    assert (configured / "other/index/data.mdb").exists()
    assert not (configured / "index-here").exists()


def _nested(tmp_path: Path) -> tuple[Path, Path]:
    """A library with the needle folder inside it, as many people lay it out."""
    write(tmp_path / "Pictures/2020/0.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "Pictures/Imports/card/a.png", encode(PICS[0], ".png"))
    write(tmp_path / "Pictures/Imports/card/new.png", encode(PICS[2], ".png"))
    return tmp_path / "Pictures", tmp_path / "Pictures/Imports"


def test_scan_never_matches_a_needle_inside_the_library_with_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--needles inside --haystack: the new photo is missing, not 'identical' to itself."""
    lib, imports = _nested(tmp_path)
    code, out, err = _run(capsys, "scan", "--haystack", lib, "--needles", imports, "--state-dir", tmp_path / "s")
    assert code == 0, err
    assert "1 of 2 missing" in out
    assert "library: 1 file (0 unreadable)" in out
    code, out, _ = _run(capsys, "matches", "--state-dir", tmp_path / "s", "--json")
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    assert rows["new.png"]["status"] == "missing"
    assert rows["a.png"]["matches"][0]["path"] == str(lib / "2020/0.jpg")
    code, out, _ = _run(capsys, "query", "--state-dir", tmp_path / "s", "--json", imports / "card/new.png")
    assert json.loads(out)["status"] == "missing"


def test_scan_without_roots_says_what_is_missing_and_how_to_give_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No roots anywhere: the message names both flags, both keys and the config file it would read."""
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    code, _, err = _run(capsys, "scan")
    assert code == 2
    assert err == (
        "hashwatchd: error: no library folder (haystack) and no folder to check (needles) given: "
        f"pass --haystack DIR and --needles DIR, or set `haystack:` and `needles:` in the config file {conf} "
        "(there is none yet: copy config.example.yaml there)\n"
    )
    _config(tmp_path, f"needles: {tmp_path}\n")
    code, _, err = _run(capsys, "scan")
    assert code == 2
    assert err == (
        "hashwatchd: error: no library folder (haystack) given: "
        f"pass --haystack DIR, or set `haystack:` in the config file {conf}\n"
    )


def test_a_missing_root_is_blamed_on_where_it_was_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A library folder that does not exist is named with the config file and key it came from, or its flag."""
    (tmp_path / "card").mkdir()
    _config(tmp_path, f"haystack: {tmp_path / 'Photos Library'}\nneedles: {tmp_path / 'card'}\n")
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    code, _, err = _run(capsys, "scan")
    assert code == 2
    assert err == (
        f"hashwatchd: error: {conf}: haystack: '{tmp_path / 'Photos Library'}' is not allowed; "
        "expected an existing directory\n"
    )
    code, _, err = _run(capsys, "scan", "--haystack", tmp_path / "lib")
    assert code == 2
    lib = tmp_path / "lib"
    assert err == f"hashwatchd: error: --haystack: '{lib}' is not allowed; expected an existing directory\n"


def test_example_config_copied_as_is_works_on_a_linux_desktop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A home with ~/Pictures and ~/Imports: config.example.yaml, copied unchanged, scans it."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / "home/Pictures/0.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "home/Imports/card/a.png", encode(PICS[0], ".png"))
    _config(tmp_path, (ROOT / "config.example.yaml").read_text())
    code, out, err = _run(capsys, "scan")
    assert code == 0, err
    assert "Every needle folder is imported." in out


@pytest.mark.parametrize("command", ["matches", "query"])
def test_no_index_yet_exits_66_naming_the_directory_and_the_command(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """matches and query before any scan: exit 66 (EX_NOINPUT), not 74 ("could not be written")."""
    extra = [tmp_path / "x.jpg"] if command == "query" else []
    state = tmp_path / "my state"
    code, out, err = _run(capsys, command, "--state-dir", state, *extra)
    assert (code, out) == (66, "")
    assert err == (
        f"hashwatchd: error: no index yet in {state} (from --state-dir): "
        f"`hashwatchd scan --state-dir '{state}'` creates it, as does the daemon (`hashwatchd run`)\n"
    )
    _config(tmp_path, f"state_dir: {tmp_path / 'st'}\n")
    code, _, err = _run(capsys, command, *extra)
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    assert code == 66
    assert err == (
        f"hashwatchd: error: no index yet in {tmp_path / 'st'} (from state_dir in {conf}): "
        "`hashwatchd scan` creates it, as does the daemon (`hashwatchd run`)\n"
    )


def test_hash_prints_no_opencv_log_lines(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A damaged TIFF made OpenCV's decoder process print its own `[ WARN:0@...]` lines; hashwatchd's
    one line per file stays, and a damaged JPEG is still caught from libjpeg's warning."""
    tiff = pillow_bytes(PICS[0], "TIFF")
    write(tmp_path / "cut.tif", tiff[: len(tiff) // 2])
    jpeg = bytearray(encode(PICS[1], ".jpg"))
    jpeg[len(jpeg) // 2 : len(jpeg) // 2 + 64] = b"\xff\xd0" * 32
    write(tmp_path / "damaged.jpg", bytes(jpeg))
    code = cli.main(["hash", "--json", str(tmp_path / "cut.tif"), str(tmp_path / "damaged.jpg")])
    out, err = capfd.readouterr()
    assert code == 1
    assert "WARN" not in err, err
    errors = {Path(row["path"]).name: row["error"] for row in map(json.loads, out.splitlines())}
    assert errors["cut.tif"].startswith("corrupt")
    assert errors["damaged.jpg"].startswith(("corrupt: JPEG data is damaged", "truncated"))


def test_scan_of_an_empty_needle_tree_says_there_was_nothing_to_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No needle file at all is not 'every needle folder is imported', for the summary nor for `status --check`."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    (tmp_path / "card/DCIM").mkdir(parents=True)
    (tmp_path / "card2").mkdir()
    code, out, err = _run(
        capsys, "scan", "--haystack", tmp_path / "lib", "--needles", tmp_path / "card", tmp_path / "card2",
        "--state-dir", tmp_path / "s", "--workers", "1",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[:2] == [
        f"No needle files found under {tmp_path / 'card'}, {tmp_path / 'card2'}.",
        "library: 1 file (0 unreadable); needles: 0 files, 0 unreadable, in 0 folders",
    ]
    code, out, err = _run(capsys, "status", "--check", "--state-dir", tmp_path / "s")
    assert (code, err) == (4, "")
    assert out.splitlines()[1:] == ["  no needle folder seen yet"]


def test_a_folder_of_unreadable_files_is_not_imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder whose every file is unreadable is listed with what could not be read, as is one with some."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/ok/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/broken/cut.jpg", encode(PICS[1], ".jpg")[:300])
    write(tmp_path / "card/mixed/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/mixed/cut.jpg", encode(PICS[1], ".jpg")[:300])
    code, out, err = _run(
        capsys, "scan", "--haystack", tmp_path / "lib", "--needles", tmp_path / "card",
        "--state-dir", tmp_path / "s", "--workers", "1",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[:3] == [
        "Not yet imported (2 folders):",
        f"  {tmp_path / 'card/broken'}  1 of 1 could not be read",
        f"  {tmp_path / 'card/mixed'}  1 of 2 could not be read",
    ]


def _folder(path: str, status: str = "imported", **fields: object) -> dict[str, object]:
    """A folder of a status document, as report.FolderReport.to_json writes it."""
    counts = {"identical": 0, "same": 0, "edited": 0, "missing": 0, "unreadable": 0, **fields.pop("counts", {})}
    images = sum(counts.values())
    return {
        "root": "/card", "path": path, "status": status, "complete": True, "pending": 0, "images": images,
        **counts, "imported": counts["identical"] + counts["same"],
        "missing_paths": [], "edited_paths": [], "unreadable_paths": [], "online": True,
        "first_seen": "2026-11-25T11:59:40+00:00", "updated_at": "2026-11-25T11:59:42+00:00", **fields,
    }  # fmt: skip


def _status_file(path: Path, folders: list[dict[str, object]], state: str = "watching") -> Path:
    doc = {
        "schema": 1, "generated_at": "2026-11-25T12:00:00+00:00", "state": state,
        "pending": sum(int(f["pending"]) for f in folders),
        "haystack": {"images": 1, "unreadable": 0}, "needles": {"images": 1, "unreadable": 0}, "folders": folders,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_status_finds_the_file_as_every_command_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--report, else report from the config file, else STATE_DIR/status.json; missing, it says where it looked."""
    report = _status_file(tmp_path / "elsewhere/status.json", [_folder("a", counts={"same": 1})])
    state = tmp_path / "s"
    code, out, err = _run(capsys, "status", "--state-dir", state, "--report", report)
    assert (code, err) == (0, "")
    assert "imported" in out
    _config(tmp_path, f"report: {report}\n")
    assert _run(capsys, "status", "--state-dir", state)[0] == 0
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    conf.write_text("workers: 1\n")
    code, out, err = _run(capsys, "status", "--state-dir", state)
    assert (code, out) == (66, "")
    assert err == (
        f"hashwatchd: error: no status file at {state / 'status.json'} (STATE_DIR/status.json, STATE_DIR from "
        f"--state-dir; neither --report nor `report:` in {conf} names another): `hashwatchd scan` and the daemon "
        "(`hashwatchd run`) write it; if yours were given another --state-dir, --report or --config, give the same "
        "here\n"
    )
    conf.unlink()  # without a config file, the message names none
    code, out, err = _run(capsys, "status", "--state-dir", state)
    assert (code, out) == (66, "")
    assert err.startswith(
        f"hashwatchd: error: no status file at {state / 'status.json'} (STATE_DIR/status.json, STATE_DIR from "
        "--state-dir; no --report given, and no config file read): `hashwatchd scan` and the daemon "
    )
    assert "config.yaml" not in err
    code, _, err = _run(capsys, "status", "--report", tmp_path / "nope.json")
    assert code == 66
    assert err.startswith(f"hashwatchd: error: no status file at {tmp_path / 'nope.json'} (from --report): ")


def _shown_folders() -> list[dict[str, object]]:
    """Folders in each state a person at the screen must tell apart."""
    return [
        _folder("2019/Misc", counts={"same": 2}),
        _folder(
            "2020/Misc", "partial", counts={"same": 1, "edited": 1, "missing": 1},
            missing_paths=["/card/2020/Misc/new.jpg"], edited_paths=["/card/2020/Misc/gray.jpg"],
        ),
        _folder(
            "broken", "empty", counts={"unreadable": 1},
            unreadable_paths=[{"path": "/card/broken/caf\udce9.jpg", "error": "truncated: the JPEG file ends early"}],
        ),
        _folder("new", "not_imported", counts={"missing": 1}, complete=False, pending=2,
                missing_paths=["/card/new/a.jpg"]),
        _folder("old", "partial", counts={"same": 1, "missing": 1}, online=False, missing_paths=["/card/old/b.jpg"]),
    ]  # fmt: skip


def test_status_shows_each_folder_complete_pending_or_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each folder says whether its analysis is complete, how many files are pending, or that it is offline;
    --files lists the files still to import, edited in the library, or unreadable (names shown whatever their bytes)."""
    report = _status_file(tmp_path / "status.json", _shown_folders())
    code, out, err = _run(capsys, "status", "--report", report)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "state: watching, generated 2026-11-25T12:00:00+00:00, pending 2",
        "  imported      complete   /card/2019/Misc  2/2 imported, 0 edited, 0 missing, 0 unreadable",
        "  partial       complete   /card/2020/Misc  1/3 imported, 1 edited, 1 missing, 0 unreadable",
        "  empty         complete   /card/broken  0/1 imported, 0 edited, 0 missing, 1 unreadable",
        "  not_imported  2 pending  /card/new  0/1 imported, 0 edited, 1 missing, 0 unreadable",
        "  partial       offline    /card/old  1/2 imported, 0 edited, 1 missing, 0 unreadable",
    ]
    code, out, err = _run(capsys, "status", "--report", report, "--files")
    assert (code, err) == (0, "")
    assert out.splitlines()[2:] == [
        "  partial       complete   /card/2020/Misc  1/3 imported, 1 edited, 1 missing, 0 unreadable",
        "      missing     /card/2020/Misc/new.jpg",
        "      edited      /card/2020/Misc/gray.jpg",
        "  empty         complete   /card/broken  0/1 imported, 0 edited, 0 missing, 1 unreadable",
        "      unreadable  /card/broken/caf\\xe9.jpg  (truncated: the JPEG file ends early)",
        "  not_imported  2 pending  /card/new  0/1 imported, 0 edited, 1 missing, 0 unreadable",
        "      missing     /card/new/a.jpg",
        "  partial       offline    /card/old  1/2 imported, 0 edited, 1 missing, 0 unreadable",
        "      missing     /card/old/b.jpg",
    ]


IMPORTED = _folder("a", counts={"same": 1})


@pytest.mark.parametrize(
    ("state", "folders", "code"),
    [
        ("done", [IMPORTED], 0),
        ("watching", [IMPORTED, _folder("b", "partial", counts={"same": 1, "missing": 1})], 1),
        ("done", [IMPORTED, _folder("b", "not_imported", counts={"missing": 1})], 1),
        ("done", [IMPORTED, _folder("b", "partial", counts={"same": 1, "edited": 1})], 1),
        ("done", [IMPORTED, _folder("b", "empty", counts={"unreadable": 1})], 1),
        ("watching", [IMPORTED, _folder("b", "partial", counts={"same": 1, "missing": 1}, online=False)], 0),
        ("watching", [IMPORTED, _folder("b", "not_imported", counts={"missing": 1}, ignored=True)], 0),
        ("done", [], 4),
        ("watching", [_folder("b", "partial", counts={"same": 1, "missing": 1}, online=False)], 4),
        ("watching", [_folder("b", "not_imported", counts={"missing": 1}, ignored=True)], 0),
        ("watching", [_folder("b", "not_imported", counts={"missing": 1}, ignored=True, online=False)], 4),
        ("scanning", [], 3),
        ("scanning", [IMPORTED], 3),
        ("watching", [IMPORTED, _folder("b", "empty", complete=False, pending=3)], 3),
        ("watching", [_folder("b", "not_imported", counts={"missing": 1}), _folder("c", complete=False, pending=1)], 3),
        ("stopped", [IMPORTED], 0),
    ],
)
def test_status_check_exit_code(
    state: str, folders: list[dict[str, object]], code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check: 0 every online folder imported, 1 something is not (missing, edited or unreadable files),
    3 analysis still running (the daemon is scanning or a folder is incomplete); offline and ignored
    folders do not count; 4 when no folder is online (none seen yet: that is not "imported"; all ignored
    is 0, a person's decision). The view is
    printed as without --check."""
    report = _status_file(tmp_path / "status.json", folders, state)
    got, out, err = _run(capsys, "status", "--check", "--report", report)
    assert (got, err) == (code, "")
    assert out.startswith(f"state: {state}, ")
    assert _run(capsys, "status", "--check", "--json", "--report", report)[0] == code
