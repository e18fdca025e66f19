"""The configuration file: YAML in, a checked frozen Settings out.

Every key is checked; an unknown key or a bad value is a ConfigError naming the file, the key,
the value and what is allowed, so a typo never silently falls back to a default.
Command-line flags override the file (cli.py merges them).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from hashwatchd.errors import ConfigError
from hashwatchd.formats import DEFAULT_MAX_PIXELS

log = logging.getLogger(__name__)


def default_config_path() -> Path:
    """$XDG_CONFIG_HOME/hashwatchd/config.yaml (~/.config when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "hashwatchd" / "config.yaml"


def default_state_dir() -> Path:
    """$STATE_DIRECTORY (set by systemd's StateDirectory=), else $XDG_STATE_HOME/hashwatchd."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "hashwatchd"


@dataclass(frozen=True)
class Settings:
    """Everything a scan needs to know. Paths of photo trees are bytes, like every file path."""

    haystack: tuple[bytes, ...] = ()
    needles: tuple[bytes, ...] = ()
    state_dir: Path = field(default_factory=default_state_dir)
    report: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_timeout: float = 120.0
    report_mode: int = 0o644
    follow_symlinks: bool = False
    exclude: tuple[str, ...] = ()
    settle: float = 2.0
    report_interval: float = 1.0
    watch: str = "auto"
    root_watch: tuple[tuple[bytes, str], ...] = ()
    poll_interval: float = 30.0
    reconcile_interval: float = 3600.0
    on_folder_complete: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ("defaults",)
    raw_match: str = "exact"
    ignore_folders: tuple[str, ...] = ()
    decoder_idle_exit: float = 60.0
    html_report: bool = True
    #: Where each value came from, by field name: (config file, key) or ("", --flag); defaults are absent.
    origins: Mapping[str, tuple[str, str]] = field(default_factory=dict, compare=False, repr=False)
    #: The config file that was read, or the one that would have been (the default one, absent).
    config_file: Path | None = field(default=None, compare=False)

    def origin(self, key: str) -> tuple[str, str]:
        """(source, name) of a setting for a ConfigError: (FILE, key) when the config file set it,
        ("", --flag) when the command line did, ("", key) for a default."""
        return self.origins.get(key, ("", key))

    def watch_mode(self, pattern: bytes) -> str:
        """The watch mode configured for a root pattern (its own, else the global one)."""
        return dict(self.root_watch).get(pattern, self.watch)

    @property
    def report_path(self) -> Path:
        return self.report or self.state_dir / "status.json"


def parse_dirs(key: str, value: Any, source: str = "") -> tuple[bytes, ...]:
    """Absolute byte paths (or glob patterns) of a directory list; one string is a list of one.

    An item may also be a mapping `{path: DIR, watch: auto|inotify|poll}`.
    """
    return tuple(pattern for pattern, _ in _roots(key, value, source))


def _roots(key: str, value: Any, source: str) -> list[tuple[bytes, str | None]]:
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, "a list of directory paths", source)
    out = []
    for raw in value:
        item, watch = raw, None
        if isinstance(item, dict):
            extra = set(item) - {"path", "watch"}
            if extra or "path" not in item:
                raise ConfigError(key, item, "a path, or a mapping with 'path' and optionally 'watch'", source)
            watch = _watch(f"{key}.watch", item.get("watch", "auto"), source)
            item = item["path"]
        if not isinstance(item, str) or not item:
            raise ConfigError(key, item, "a list of directory paths", source)
        out.append((os.fsencode(os.path.abspath(os.path.expanduser(item))), watch))
    return out


def _watch(key: str, value: Any, source: str) -> str:
    if value not in ("auto", "inotify", "poll"):
        raise ConfigError(key, value, "one of auto, inotify, poll", source)
    return str(value)


def _seconds(key: str, value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(key, value, "a number of seconds >= 0", source)
    return float(value)


def _bool(key: str, value: Any, source: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false", source)
    return value


def _mode(key: str, value: Any, source: str) -> int:
    """Octal digits as chmod reads them: 0644, 644 and '0644' are all rw-r--r--."""
    text = str(value)
    if not (isinstance(value, (str, int)) and len(text) in (3, 4) and set(text) <= set("01234567")):
        raise ConfigError(key, value, "file permissions in octal, e.g. 0644 or 0600", source)
    mode = int(text, 8)
    if mode & 0o7133:
        raise ConfigError(key, value, "read/write bits only, no execute, setuid or world-write (e.g. 0644)", source)
    return mode


def _argv(key: str, value: Any, source: str) -> tuple[str, ...]:
    """A list of words; one string is a command of one word (no shell splits it, so one with a
    space in it is refused rather than run as a program named 'notify-send photos')."""
    if isinstance(value, str) and value.split() == [value]:
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            key, value, "a command as a list of words, e.g. ['notify-send', 'photos'] (no shell splits it)", source
        )
    return tuple(value)


def _path(key: str, value: Any, source: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, value, "a path", source)
    return Path(os.path.expanduser(value)).absolute()


def _positive_int(key: str, value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, value, "a whole number >= 1", source)
    return value


def _globs(key: str, value: Any, source: str) -> tuple[str, ...]:
    """A list of patterns; one string is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(key, value, "a list of glob patterns such as '*/.thumbnails/*'", source)
    return tuple(value)


def _decided_globs(key: str, value: Any, source: str) -> tuple[str, ...]:
    """Globs of needle folders or files not to import (decisions.Decisions): a name without a
    slash, or a whole path, `~` being the home. A relative path would never match: refused."""
    globs = tuple(os.path.expanduser(g) for g in _globs(key, value, source))
    for glob in globs:
        if "/" in glob.rstrip("/") and not glob.startswith(("/", "*")):
            raise ConfigError(
                key,
                glob,
                "a folder or file name without a slash (Screenshots), matched at any depth below a needle "
                "root, or a whole path (/media/me/FRIEND*/DCIM, ~/Imports/friends/*)",
                source,
            )
    return globs


def _raw_match(key: str, value: Any, source: str) -> str:
    if value not in ("exact", "any"):
        raise ConfigError(
            key,
            value,
            "exact (a raw file is imported when the library holds a raw file of the shot) or any "
            "(its camera JPEG or an export counts too)",
            source,
        )
    return str(value)


_KEYS: dict[str, Callable[[str, Any, str], Any]] = {
    "haystack": parse_dirs,
    "needles": parse_dirs,
    "state_dir": _path,
    "report": _path,
    "workers": _positive_int,
    "max_pixels": _positive_int,
    "decode_timeout": _seconds,
    "report_mode": _mode,
    "follow_symlinks": _bool,
    "exclude": _globs,
    "settle": _seconds,
    "report_interval": _seconds,
    "watch": _watch,
    "poll_interval": _seconds,
    "reconcile_interval": _seconds,
    "on_folder_complete": _argv,
    "ignore": _globs,
    "raw_match": _raw_match,
    "ignore_folders": _decided_globs,
    "decoder_idle_exit": _seconds,
    "html_report": _bool,
}


class _Loader(yaml.SafeLoader):
    """SafeLoader, except that 0644 stays the string '0644': YAML 1.1 reads a leading zero as
    octal and hands over 420, which no longer shows what was written; `_mode` reads the digits
    as chmod does (a mode is the only key where a leading zero makes sense)."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.yaml_implicit_resolvers["0"].insert(0, ("tag:yaml.org,2002:str", re.compile(r"^0[0-7]+$")))


def parse(text: str, source: str = "<config>") -> dict[str, Any]:
    """Checked values of a YAML document, by Settings field name."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise ConfigError("(file)", source, source=source, message=_yaml_problem(exc)) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError("(top level)", doc, "a mapping of keys to values", source)
    values = {}
    for key, value in doc.items():
        if key not in _KEYS:
            raise ConfigError(str(key), value, "one of the keys " + ", ".join(sorted(_KEYS)), source)
        values[key] = _KEYS[key](key, value, source)
        if key in ("haystack", "needles"):
            own = [(p, w) for p, w in _roots(key, value, source) if w is not None]
            values["root_watch"] = values.get("root_watch", ()) + tuple(own)
    return values


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """`line L, column C: not valid YAML: PROBLEM (CONTEXT at line L, column C)`, 1-based, as editors count."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"not valid YAML: {str(exc).splitlines()[0]}"
    mark, context = exc.problem_mark, exc.context_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {exc.problem}"
    if exc.context and context is not None:
        text += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    return text


def resolve(path: Path | None, overrides: Mapping[str, Any]) -> Settings:
    """The settings every command runs with: the config file (`path`, else the default one when
    it exists), then `overrides` (the command line's flags by field name; None means "not given")."""
    values = load(path)
    file = path or default_config_path()
    origins = {key: (str(file), key) for key in values}
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    origins.update({key: ("", "--" + key.replace("_", "-")) for key in given})
    return replace(Settings(), **values, origins=origins, config_file=file)


def load(path: Path | None) -> dict[str, Any]:
    """Values from `path`, or from the default config file if present; {} when there is none."""
    if path is None:
        path = default_config_path()
        try:
            if not path.exists():
                return {}
        except OSError as exc:  # a $HOME we may not enter (a service user; setpriv from root)
            log.warning("cannot look for the config file %s (%s); going on without one", path, exc.strerror)
            return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", str(path), f"a readable file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("--config", str(path), f"a UTF-8 text file (byte {exc.start} is not UTF-8)") from None
    return parse(text, str(path))
