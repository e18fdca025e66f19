"""The configuration file: every key checked, the example file valid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashwatchd import config
from hashwatchd.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_parses_with_every_key_known() -> None:
    """config.example.yaml is valid, and documents every key the parser accepts."""
    text = (ROOT / "config.example.yaml").read_text()
    values = config.parse(text, "config.example.yaml")
    assert values["haystack"][1] == b"/mnt/nas/photos"
    for key in config._KEYS:
        assert f"{key}:" in text, f"config.example.yaml does not document {key}"


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("haystack: 3", "haystack", "a list of directory paths"),
        ("workers: 0", "workers", "a whole number >= 1"),
        ("workers: true", "workers", "a whole number >= 1"),
        ("max_pixels: many", "max_pixels", "a whole number >= 1"),
        ("exclude: '*.tmp'", "exclude", "a list of glob patterns"),
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
