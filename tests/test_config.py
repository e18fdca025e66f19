"""The configuration file: every key checked, the example file valid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import run_cli

from hashwatchd import config
from hashwatchd.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_parses_with_every_key_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """config.example.yaml is valid, documents every key the parser accepts, and its commented
    alternative roots (macOS Photos, a NAS, cards) are valid once uncommented."""
    monkeypatch.setenv("HOME", "/home/u")
    text = (ROOT / "config.example.yaml").read_text()
    values = config.parse(text, "config.example.yaml")
    assert values["haystack"] == (b"/home/u/Pictures",)
    assert values["needles"] == (b"/home/u/Imports",)
    for key in config._KEYS:
        assert f"{key}:" in text, f"config.example.yaml does not document {key}"
    values = config.parse(text.replace("  # - ", "  - "), "config.example.yaml")
    assert values["haystack"] == (
        b"/home/u/Pictures",
        b"/home/u/Pictures/Photos Library.photoslibrary/originals",
        b"/mnt/nas/photos",
    )
    assert values["needles"] == (b"/home/u/Imports", b"/media/*/*/DCIM")


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("haystack: 3", "haystack", "a list of directory paths"),
        ("workers: 0", "workers", "a whole number >= 1"),
        ("workers: true", "workers", "a whole number >= 1"),
        ("max_pixels: many", "max_pixels", "a whole number >= 1"),
        ("exclude: 3", "exclude", "a list of glob patterns"),
        ("on_folder_complete: notify-send photos", "on_folder_complete", "a command as a list of words"),
        ("colour: blue", "colour", "one of the keys"),
        ("- a\n- b", "(top level)", "a mapping"),
        ("haystack: [unclosed", "(file)", "valid YAML"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(text: str, key: str, allowed: str) -> None:
    """Each bad key or value raises ConfigError naming the file, the key and what is allowed."""
    with pytest.raises(ConfigError) as err:
        config.parse(text, "my.yaml")
    assert err.value.key == key
    assert str(err.value).startswith("my.yaml: " + key) or key == "(file)"
    assert allowed in str(err.value)


def test_one_string_is_a_list_of_one_for_every_list_key() -> None:
    """Every key that takes a list takes one string too, as haystack takes one path."""
    values = config.parse(
        "haystack: /lib\nneedles: /card\nexclude: '*.tmp'\non_folder_complete: /usr/bin/import-folder\n"
    )
    assert values["haystack"] == (b"/lib",) and values["needles"] == (b"/card",)
    assert values["exclude"] == ("*.tmp",)
    assert values["on_folder_complete"] == ("/usr/bin/import-folder",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "haystack: [unclosed",
            "my.yaml: line 1, column 20: not valid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 1, column 11)",
        ),
        ("workers: 2\n  settle: 1\n", "my.yaml: line 2, column 9: not valid YAML: mapping values are not allowed here"),
    ],
)
def test_bad_yaml_names_the_line_and_column(text: str, message: str) -> None:
    """A YAML syntax error says where it is in the file, and where what it was reading began."""
    with pytest.raises(ConfigError) as err:
        config.parse(text, "my.yaml")
    assert str(err.value) == message


def test_paths_are_absolute_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative and ~ paths become absolute byte paths."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/u")
    values = config.parse("needles: [card, ~/Imports]\n")
    assert values["needles"] == (os.fsencode(tmp_path / "card"), b"/home/u/Imports")


def test_state_dir_follows_systemd_then_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    """$STATE_DIRECTORY (systemd) wins over $XDG_STATE_HOME."""
    monkeypatch.setenv("XDG_STATE_HOME", "/x")
    assert config.default_state_dir() == Path("/x/hashwatchd")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/hashwatchd")
    assert config.default_state_dir() == Path("/var/lib/hashwatchd")


def test_report_mode_is_checked_octal() -> None:
    """report_mode takes quoted octal read/write permissions and refuses execute or world-write."""
    assert config.parse("report_mode: '0600'")["report_mode"] == 0o600
    for bad in ("'0777'", "'0666'", "rw", "'9'", "0777", "0666", "777"):
        with pytest.raises(ConfigError) as err:
            config.parse(f"report_mode: {bad}")
        assert err.value.key == "report_mode"


@pytest.mark.parametrize("text", ["0644", "644", "'0644'", "'644'"])
def test_report_mode_unquoted_reads_as_chmod_does(text: str) -> None:
    """An unquoted 0644 is octal, as chmod reads it, not YAML 1.1's octal-to-decimal 420; 644 too."""
    assert config.parse(f"report_mode: {text}")["report_mode"] == 0o644


def test_unquoted_mode_error_shows_what_was_written() -> None:
    """A refused unquoted mode is shown as written (0777), not as the number YAML 1.1 made of it (511)."""
    with pytest.raises(ConfigError) as err:
        config.parse("report_mode: 0777")
    assert "'0777' is not allowed" in str(err.value)


@pytest.mark.e2e
def test_nothing_is_written_inside_a_photo_tree(tmp_path: Path) -> None:
    """A state directory or report inside a watched tree is refused with exit 2, naming the flag."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "card").mkdir()
    r = run_cli(
        "scan", "--haystack", tmp_path / "lib", "--needles", tmp_path / "card", "--state-dir", tmp_path / "card/.state"
    )
    assert r.returncode == 2
    assert "--state-dir: " in r.stderr and "never writes into the folders it watches" in r.stderr
    r = run_cli(
        "scan",
        "--haystack",
        tmp_path / "lib",
        "--needles",
        tmp_path / "card",
        "--state-dir",
        tmp_path / "s",
        "--report",
        tmp_path / "lib/status.json",
    )
    assert r.returncode == 2
    assert "--report: " in r.stderr
    assert not (tmp_path / "lib/status.json").exists()


def test_a_config_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    """A config file saved in another encoding is refused with the byte, not a traceback."""
    conf = tmp_path / "c.yaml"
    conf.write_bytes(b"needles: [/caf\xe9]\n")
    with pytest.raises(ConfigError, match=r"expected a UTF-8 text file \(byte 14 is not UTF-8\)"):
        config.load(conf)
