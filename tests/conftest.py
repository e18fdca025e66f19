"""Fixtures every test gets: no test reads or writes the real user's config or state."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config or state."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in-process (cli.main, logs.setup) points the root logger at the stderr of its
    test, which pytest closes afterwards: a thread of a later test logging there printed '--- Logging
    error ---'. Each test ends without such a handler, and with the root logger's level as it was
    (pytest's own handlers, which it adds and removes around each phase, are left to it)."""
    root = logging.getLogger()
    level = root.level
    yield
    root.handlers[:] = [h for h in root.handlers if type(h) is not logging.StreamHandler]
    root.setLevel(level)
