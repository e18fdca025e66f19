"""What a person decided not to import: the rule (decisions.Decisions), the report's view of it,
and the `ignore` / `unignore` commands beside `scan` and `status`. The daemon's side (an ignored
folder stays ignored across a restart) is in test_daemon.py."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import encode, photo, write

from hashwatchd import cli, config, decisions, report, status
from hashwatchd.decisions import Decisions
from hashwatchd.errors import ConfigError
from hashwatchd.model import Match, Outcome, Status, Tier
from hashwatchd.report import State

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIB = Match(b"/lib/a.png", Tier.SAME, 1)
PICS = [photo(seed, 240, 180) for seed in range(4)]


def _folders(outcomes: list[Outcome], decided: Decisions) -> dict[str, dict]:
    doc = report.build(outcomes, [b"/card"], (1, 0), state=State.DONE, decided=decided, now=NOW).to_json()
    return {f["path"]: f for f in doc["folders"]}  # type: ignore[attr-defined]


def test_an_ignored_folder_keeps_its_counts_and_a_decided_file_counts_as_ignored_only() -> None:
    outs = [
        Outcome(b"/card/friend/a.jpg", Status.MISSING),
        Outcome(b"/card/friend/sub/b.jpg", Status.MISSING),
        Outcome(b"/card/mine/a.jpg", Status.SAME, (LIB,)),
        Outcome(b"/card/mine/shot.png", Status.MISSING),
        Outcome(b"/card/lone/x.jpg", Status.MISSING),
    ]
    decided = Decisions(frozenset({b"/card/friend", b"/card/mine/shot.png", b"/card/lone/x.jpg"}))
    got = _folders(outs, decided)
    friend, sub, mine, lone = got["friend"], got["friend/sub"], got["mine"], got["lone"]
    assert (friend["ignored"], friend["status"], friend["missing"], friend["images"]) == (True, "not_imported", 1, 1)
    assert sub["ignored"]  # below an ignored folder
    assert (mine["ignored"], mine["ignored_files"], mine["status"], mine["images"]) == (False, 1, "imported", 1)
    assert mine["missing_paths"] == []
    # every file decided one by one: the folder is ignored, with its counts
    assert (lone["ignored"], lone["ignored_files"], lone["images"], lone["missing"]) == (True, 0, 1, 1)


def test_globs_match_a_whole_path_or_a_name_below_the_root() -> None:
    by_name = Decisions(globs=("screenshots",))
    assert by_name.folder(b"/card", b"/card/2024/Screenshots")  # a name, in any case
    assert by_name.folder(b"/card", b"/card/Screenshots/old")  # below a matching folder
    assert not by_name.folder(b"/card", b"/card/Screenshots2")
    # A name never matches the root or what lies above it: `DCIM` must not ignore every card.
    dcim = Decisions(globs=("DCIM",))
    assert not dcim.folder(b"/media/me/CARD/DCIM", b"/media/me/CARD/DCIM/100CANON")
    assert dcim.folder(b"/home/me/Imports", b"/home/me/Imports/card/DCIM/100CANON")
    assert not Decisions(globs=("Backup",)).folder(b"/mnt/Backup/dumps", b"/mnt/Backup/dumps/2020")
    # A path may name a folder above the root: a whole card.
    whole = Decisions(globs=("/media/me/FRIEND*",))
    assert whole.folder(b"/media/me/FRIEND_CARD/DCIM", b"/media/me/FRIEND_CARD/DCIM/100CANON")
    assert not whole.folder(b"/media/me/MINE/DCIM", b"/media/me/MINE/DCIM/100CANON")
    friends = Decisions(globs=("/card/friends/*",))
    assert friends.folder(b"/card", b"/card/friends/anna") and friends.folder(b"/card", b"/card/friends/anna/DCIM")
    assert not friends.folder(b"/card", b"/card/friendship")
    assert Decisions(globs=("*.png",)).file(b"/card", b"/card/mine/shot.png")
    assert Decisions(globs=("*.png",)).file(b"/card", b"/card/mine/SHOT.PNG")
    assert not Decisions(globs=("*.png",)).folder(b"/card", b"/card/mine")
    assert Decisions(frozenset({b"/card/a"})).covering(b"/card/a/b") == b"/card/a"
    assert Decisions(frozenset({b"/card/a"})).covering(b"/card/ab") is None  # a sibling sharing a prefix


def test_a_relative_path_glob_is_refused_with_what_would_work() -> None:
    with pytest.raises(ConfigError, match=r"ignore_folders: 'DCIM/100TEST' is not allowed; expected a folder or file"):
        config.parse("ignore_folders: [DCIM/100TEST]\n", "config.yaml")
    assert config.parse("ignore_folders: [Screenshots, '*/tmp/*']\n", "config.yaml")["ignore_folders"] == (
        "Screenshots",
        "*/tmp/*",
    )


def test_an_unusable_decisions_file_is_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / decisions.FILE).write_text('{"schema": 1, "ignored": [3]}')
    with pytest.raises(Exception, match=r"decisions.json: cannot use the decisions .* correct it, or delete it"):
        decisions.load(tmp_path)
    (tmp_path / decisions.FILE).write_text("{")
    with pytest.raises(Exception, match=r"decisions.json: cannot use"):
        decisions.load(tmp_path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """A library with one photo, and a card with a friend's folder and one of the owner's."""
    write(tmp_path / "lib/0.png", encode(PICS[0], ".png"))
    write(tmp_path / "card/mine/a.jpg", encode(PICS[0], ".jpg"))
    write(tmp_path / "card/friend/b.jpg", encode(PICS[1], ".jpg"))
    write(tmp_path / "card/friend/c.jpg", encode(PICS[2], ".jpg"))
    conf = tmp_path / "xdg-config/hashwatchd/config.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text(
        f"haystack: {tmp_path / 'lib'}\nneedles: {tmp_path / 'card'}\nstate_dir: {tmp_path / 'state'}\nworkers: 1\n"
    )
    return tmp_path


def test_ignore_and_unignore_decide_what_scan_and_status_count(card: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A friend's folder: not imported until ignored; ignored, it keeps its counts, leaves the
    summary and `status --check`; a rebuild of the index does not forget it; unignore brings it back."""
    assert _run(capsys, "scan")[0] == 0
    assert _run(capsys, "status", "--check")[0] == 1
    code, out, err = _run(capsys, "ignore", card / "card/friend")
    assert (code, out.splitlines()[0]) == (0, f"ignored {card / 'card/friend'}"), err
    code, out, _ = _run(capsys, "scan", "--rebuild")
    assert code == 0 and "Every needle folder is imported, apart from 1 ignored folder." in out
    assert "1 ignored, 1 imported" in out
    code, out, _ = _run(capsys, "status", "--check")
    assert code == 0
    assert f"not_imported  ignored    {card / 'card/friend'}  0/2 imported" in out
    doc = json.loads((card / "state/status.json").read_text())
    friend = next(f for f in doc["folders"] if f["path"] == "friend")
    assert (friend["ignored"], friend["missing"], friend["status"]) == (True, 2, "not_imported")
    assert _run(capsys, "ignore")[1] == f"{card / 'card/friend'}\n"
    code, out, _ = _run(capsys, "ignore", card / "card/friend/b.jpg")
    assert out == f"{card / 'card/friend/b.jpg'}: already ignored (through {card / 'card/friend'})\n"
    code, _, err = _run(capsys, "unignore", card / "card/friend/b.jpg")
    assert code == 2
    assert f"was not ignored by itself but through {card / 'card/friend'}: `hashwatchd unignore " in err
    assert _run(capsys, "unignore", card / "card/friend")[0] == 0
    assert _run(capsys, "scan")[0] == 0
    assert _run(capsys, "status", "--check")[0] == 1


def test_ignore_refuses_what_is_not_in_a_needle_folder(card: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "scan")[0] == 0
    code, _, err = _run(capsys, "ignore", card / "lib")
    assert code == 2
    assert f"{card / 'lib'}: it is in the library; only what lies in a needle folder ({card / 'card'}, from" in err
    code, _, err = _run(capsys, "unignore", card / "card/mine")
    assert code == 2
    assert err == f"hashwatchd: error: {card / 'card/mine'} is not ignored (`hashwatchd ignore` lists what is)\n"
    code, _, err = _run(capsys, "ignore", card / "card/friend", "--state-dir", card / "elsewhere")
    assert code == 66
    assert f"no index in {card / 'elsewhere'} (from --state-dir): give the state directory of your daemon" in err
    assert not (card / "elsewhere").exists()


def test_without_configured_needle_folders_ignore_accepts_only_what_the_index_holds(
    card: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A daemon or scan given its roots as flags: `ignore` has no config to check a path against,
    so the index decides. A library folder, a typo or a card never seen is refused, naming the
    path and the fix, and nothing is recorded; a needle folder, a file, or a folder above the
    needle root that holds needle files is accepted. With the needle folders configured, a path
    under one is accepted even before any file is there (a card to come)."""
    conf = card / "xdg-config/hashwatchd/config.yaml"
    conf.unlink()
    state = ("--state-dir", card / "state")
    code, _, err = _run(
        capsys, "scan", "--haystack", card / "lib", "--needles", card / "card", *state, "--workers", "1"
    )
    assert code == 0, err
    for wrong in (card / "lib", card / "card/frend", card / "card/mine/b.jpg", card / "other"):
        code, out, err = _run(capsys, "ignore", wrong, *state)
        assert (code, out) == (2, ""), err
        assert err.startswith(f"hashwatchd: error: {wrong}: the index in {card / 'state'} holds no needle file there")
        assert "(no config file read)" in err and "--config FILE" in err
    code, _, err = _run(capsys, "ignore", card / "card/friend", card / "lib", *state)
    assert code == 2 and not (card / "state" / decisions.FILE).exists()  # one refused: nothing recorded
    for right in (card / "card/friend", card / "card/mine/a.jpg", card):
        code, out, err = _run(capsys, "ignore", right, *state)
        assert (code, out.splitlines()[0]) == (0, f"ignored {right}"), err
    assert _run(capsys, "unignore", card, *state)[0] == 0
    conf.write_text(f"needles: {card / 'card'}\n")
    code, out, err = _run(capsys, "ignore", card / "card/next-card/100CANON", *state)
    assert (code, out.splitlines()[0]) == (0, f"ignored {card / 'card/next-card/100CANON'}"), err
    assert "does not exist now" in err


def test_unignore_of_several_paths_changes_nothing_when_one_cannot_be_taken_back(
    card: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """And a path typed relative to a folder reached through a symbolic link names it by the link."""
    assert _run(capsys, "scan")[0] == 0
    (card / "link").symlink_to(card / "card")
    monkeypatch.chdir(card / "link")
    monkeypatch.setenv("PWD", str(card / "link"))
    with (card / "xdg-config/hashwatchd/config.yaml").open("a") as f:
        f.write(f"ignore_folders: [{card / 'link/mine'}]\n")
    (card / "xdg-config/hashwatchd/config.yaml").write_text(
        (card / "xdg-config/hashwatchd/config.yaml").read_text().replace(str(card / "card"), str(card / "link"))
    )
    assert _run(capsys, "ignore", "friend")[1].startswith(f"ignored {card / 'link/friend'}\n")
    code, _, err = _run(capsys, "unignore", "friend", "mine")
    assert code == 2
    conf = card / "xdg-config/hashwatchd/config.yaml"
    assert err.endswith(
        f"of ignore_folders in {conf}: change it there (then `systemctl reload hashwatchd`, or the next scan); "
        "nothing was changed\n"
    )
    assert _run(capsys, "ignore")[1].splitlines()[0] == str(card / "link/friend")


def test_a_config_glob_ignores_and_unignore_says_where_to_change_it(
    card: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (card / "xdg-config/hashwatchd/config.yaml").open("a") as f:
        f.write("ignore_folders: friend\n")
    code, out, _ = _run(capsys, "scan")
    assert code == 0 and "Every needle folder is imported, apart from 1 ignored folder." in out
    code, _, err = _run(capsys, "unignore", card / "card/friend")
    assert code == 2 and "is ignored by the pattern 'friend' of ignore_folders in" in err


def test_scan_keeps_a_folders_clocks_when_its_result_does_not_change(
    card: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """first_seen is when hashwatchd first saw the folder, updated_at when its result last changed:
    neither moves with a second scan that finds the same, and updated_at moves when it changes."""
    assert _run(capsys, "scan")[0] == 0
    first = {f["path"]: f for f in json.loads((card / "state/status.json").read_text())["folders"]}
    time.sleep(1.1)
    write(card / "card/friend/d.jpg", encode(PICS[3], ".jpg"))
    assert _run(capsys, "scan")[0] == 0
    second = {f["path"]: f for f in json.loads((card / "state/status.json").read_text())["folders"]}
    assert second["mine"]["first_seen"] == first["mine"]["first_seen"]
    assert second["mine"]["updated_at"] == first["mine"]["updated_at"]
    assert second["friend"]["first_seen"] == first["friend"]["first_seen"]
    assert second["friend"]["updated_at"] > first["friend"]["updated_at"]


def test_a_change_of_many_decisions_is_one_short_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Fifty folders ignored at once are said in one line that names the first few and counts
    the rest: the journal keeps lines short (every line under 500 characters)."""
    many = Decisions(frozenset(b"/media/card/DCIM/%03dCANON" % i for i in range(50)))
    back = Decisions(frozenset([b"/media/card/DCIM/999CANON"]))
    with caplog.at_level("INFO", logger="hashwatchd.status"):
        status._say_decided(back, many)
    [line] = caplog.messages
    assert line == (
        "now ignored: /media/card/DCIM/000CANON, /media/card/DCIM/001CANON, /media/card/DCIM/002CANON and 47 more; "
        "no longer ignored: /media/card/DCIM/999CANON"
    )
