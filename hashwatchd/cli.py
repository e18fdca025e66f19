"""The `hashwatchd` command: argparse in, library calls, text or JSON out.

This is the only module that prints, and `main` is the only place an error becomes a
message and an exit code: `hashwatchd: error: ...` on stderr, 2 for usage and config errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hashwatchd import config, decisions, files, logs, paths, publish, store, visual
from hashwatchd.clocks import Clocks, now
from hashwatchd.daemon import HOUSEKEEPING, Daemon
from hashwatchd.engine import Engine, Progress
from hashwatchd.errors import ConfigError, HashwatchdError, NoInputError, PublishError
from hashwatchd.model import Kind, Outcome, Role, Status
from hashwatchd.pathmap import PathMap
from hashwatchd.report import FolderStatus, Report, State, build
from hashwatchd.thumbcache import ThumbCache
from hashwatchd.workers import Pool

log = logging.getLogger(__name__)


class _Version(argparse.Action):
    """--version, looked up only when asked: importing importlib.metadata slows every start."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from hashwatchd import __version__  # noqa: PLC0415

        parser.exit(message=f"hashwatchd {__version__}\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hashwatchd",
        description="Tell which photos in needle folders are not yet in a photo library.",
    )
    p.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=text, description=text)
        c.add_argument("-v", "--verbose", action="count", default=0, help="more log detail (-vv: debug)")
        c.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            help="config file (default: $XDG_CONFIG_HOME/hashwatchd/config.yaml when it exists)",
        )
        return c

    scan = command("scan", "index the library and the needles, match, write the status file")
    scan.add_argument("--haystack", nargs="+", metavar="DIR", help="library folder(s)")
    scan.add_argument("--needles", nargs="+", metavar="DIR", help="folder(s) to check")
    scan.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where the index lives (default: $XDG_STATE_HOME/hashwatchd)",
    )
    scan.add_argument("--report", type=Path, metavar="FILE", help="status file (default: STATE_DIR/status.json)")
    scan.add_argument("--workers", type=int, metavar="N", help="decoding processes (default: all cores)")
    scan.add_argument("--rebuild", action="store_true", help="discard the index and hash everything again")
    scan.add_argument("--json", action="store_true", help="print the status document instead of a summary")

    run = command("run", "watch the library and the needles, keep the status file up to date (foreground)")
    run.add_argument("--haystack", nargs="+", metavar="DIR", help="library folder(s) or glob patterns")
    run.add_argument("--needles", nargs="+", metavar="DIR", help="folder(s) to check, or glob patterns")
    run.add_argument("--state-dir", type=Path, metavar="DIR", help="where the index lives")
    run.add_argument("--report", type=Path, metavar="FILE", help="status file (default: STATE_DIR/status.json)")
    run.add_argument("--workers", type=int, metavar="N", help="decoding processes (default: all cores)")
    run.add_argument(
        "--settle", type=float, metavar="SECONDS", help="hash a file once it has not changed for this long (default 2)"
    )

    status = command("status", "show the status file")
    status.add_argument("--report", type=Path, metavar="FILE", help="status file to read")
    status.add_argument(
        "--state-dir", type=Path, metavar="DIR", help="read STATE_DIR/status.json (unless --report or report: says)"
    )
    status.add_argument("--files", action="store_true", help="list the missing, edited and unreadable files too")
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when every online folder is imported, 1 when one is not, 3 while analysis is still running, "
        "4 when no folder is online (none seen yet, or every card pulled out)",
    )
    status.add_argument("--json", action="store_true", help="print the file as it is")

    matches = command("matches", "one line per needle image: its status and library matches")
    matches.add_argument("--state-dir", type=Path, metavar="DIR", help="where the index lives")
    matches.add_argument("--json", action="store_true", help="JSON Lines (see README)")

    query = command("query", "match image files against the library index")
    query.add_argument("images", nargs="+", metavar="IMAGE")
    query.add_argument("--state-dir", type=Path, metavar="DIR", help="where the index lives")
    query.add_argument("--json", action="store_true", help="JSON Lines, as `matches --json`")

    ign = command("ignore", "record needle folders or files not to import; without PATH, list what is ignored")
    ign.add_argument("paths", nargs="*", metavar="PATH")
    ign.add_argument("--state-dir", type=Path, metavar="DIR", help="where the index lives")

    unign = command("unignore", "take back `hashwatchd ignore PATH`")
    unign.add_argument("paths", nargs="+", metavar="PATH")
    unign.add_argument("--state-dir", type=Path, metavar="DIR", help="where the index lives")

    rep = command("report", "write the visual report (an HTML page and its previews) from the index")
    rep.add_argument("--html", type=Path, metavar="DIR", required=True, help="write DIR/index.html and DIR/thumbs/")
    rep.add_argument("--state-dir", type=Path, metavar="DIR", help="where the index lives")
    rep.add_argument("--needles", nargs="+", metavar="DIR", help="needle roots to show (default: all in the index)")

    hsh = command("hash", "print the perceptual hashes of image files")
    hsh.add_argument("images", nargs="+", metavar="IMAGE")
    hsh.add_argument("--json", action="store_true", help="JSON Lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args = _parser().parse_args(argv)
    logs.setup(args.verbose)
    try:
        return int(_COMMANDS[args.command](args))
    except HashwatchdError as exc:
        print(f"hashwatchd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0


def _settings(args: argparse.Namespace) -> config.Settings:
    """The settings of this command: the config file, then the flags it was given."""
    overrides: dict[str, Any] = {}
    for key in ("haystack", "needles"):
        if getattr(args, key, None):
            overrides[key] = config.parse_dirs(f"--{key}", getattr(args, key))
    for key in ("state_dir", "report"):
        if getattr(args, key, None):
            overrides[key] = getattr(args, key).absolute()
    settle = getattr(args, "settle", None)
    if settle is not None and settle < 0:
        raise ConfigError("--settle", settle, "a number of seconds >= 0")
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise ConfigError("--workers", workers, "a whole number >= 1")
    return config.resolve(args.config, {**overrides, "settle": settle, "workers": workers})


def _require_roots(s: config.Settings) -> None:
    """Roots are given, and nothing hashwatchd writes lies inside them (it never writes there)."""
    missing = [
        (key, what)
        for key, dirs, what in (
            ("haystack", s.haystack, "library folder"),
            ("needles", s.needles, "folder to check"),
        )
        if not dirs
    ]
    if missing:
        keys = [key for key, _ in missing]
        file = s.config_file or config.default_config_path()
        absent = "" if file.exists() else " (there is none yet: copy config.example.yaml there)"
        raise ConfigError(
            keys[0],
            None,
            message=f"no {' and no '.join(f'{what} ({key})' for key, what in missing)} given: "
            f"pass {' and '.join(f'--{key} DIR' for key in keys)}, "
            f"or set {' and '.join(f'`{key}:`' for key in keys)} in the config file {file}{absent}",
        )
    for key, path in (("state_dir", s.state_dir), ("report", s.report_path)):
        inside = paths.pattern_of(os.fsencode(path.absolute()), s.haystack + s.needles)
        if inside is not None:
            source, name = s.origin(key)
            raise ConfigError(
                name,
                str(path),
                f"a path outside the photo tree {os.fsdecode(inside)} "
                "(hashwatchd never writes into the folders it watches)",
                source,
            )


def _given(s: config.Settings, key: str) -> str:
    """Where a setting came from, in words: `--state-dir`, `state_dir in FILE`, or `the default`."""
    source, name = s.origin(key)
    return f"{name} in {source}" if source else ("the default" if name == key else name)


def _read_index(s: config.Settings) -> store.Store:
    """The index, opened to read one snapshot; when there is none yet, say where it was looked for
    and which command makes it."""
    try:
        return store.Store.open(s.state_dir, write=False)
    except NoInputError:
        where = _given(s, "state_dir")
        scan = "hashwatchd scan" + (f" --state-dir {shlex.quote(str(s.state_dir))}" if where == "--state-dir" else "")
        raise NoInputError(
            f"no index yet in {s.state_dir} (from {where}): `{scan}` creates it, as does the daemon (`hashwatchd run`)"
        ) from None


def _pool(s: config.Settings, tasks: int | None = None) -> Pool:
    """The decoder pool of a command: no more workers than tasks, when it knows how many."""
    workers = s.workers if tasks is None else max(1, min(tasks, s.workers))
    return Pool(workers, s.max_pixels, s.decode_timeout, follow_symlinks=s.follow_symlinks)


def _run(args: argparse.Namespace) -> int:
    s = _settings(args)
    _require_roots(s)
    return Daemon(s, lambda: _settings(args)).run()


def _scan(args: argparse.Namespace) -> int:
    s = _settings(args)
    _require_roots(s)
    for key, dirs in (("haystack", s.haystack), ("needles", s.needles)):
        for d in dirs:
            if not files.expand_roots([d]):
                source, name = s.origin(key)
                raise ConfigError(name, os.fsdecode(d), "an existing directory", source)
    haystack, needles = files.expand_roots(s.haystack), files.expand_roots(s.needles)
    decided = decisions.load(s.state_dir, s.ignore_folders)
    s.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if args.rebuild:
        store.rebuild(s.state_dir)
    with store.Store.open(s.state_dir) as st, _pool(s) as pool:
        previews = ThumbCache(s.state_dir / "thumbs") if s.html_report else None
        engine = Engine(st, pool, s, previews=previews)
        engine.set_roots({**dict.fromkeys(haystack, Role.HAYSTACK), **dict.fromkeys(needles, Role.NEEDLE)})
        engine.load()
        engine.prune({Role.HAYSTACK: haystack, Role.NEEDLE: needles})
        engine.sync(_progress_bar)
        engine.refresh()
        stamp = now()
        library = engine.counts(Role.HAYSTACK)
        doc = build(engine.sorted_outcomes(), needles, library, state=State.DONE, decided=decided, now=stamp)
        clocks = Clocks(st)
        clocks.stamp(doc.folders, stamp)
        clocks.save((f.root, f.path) for f in doc.folders)
        if previews is not None:
            visual.PageWriter(engine, previews).try_write(doc, visual.page_path(s.report_path), s.report_mode)
    publish.write_json(s.report_path, doc.to_json(), s.report_mode)
    if args.json:
        print(json.dumps(doc.to_json(), indent=1))
    else:
        _print_summary(doc, needles, engine.counters.hashed, engine.counters.checked, s.report_path)
    return 0


def _progress_bar(role: Role) -> Progress | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rhashing {role.value}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


_KIND_NOUNS = {Kind.PHOTO: "photo", Kind.RAW: "raw file", Kind.VIDEO: "video", Kind.OTHER: "other file"}


def _count(n: int, noun: str, many: str | None = None) -> str:
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def _print_summary(doc: Report, needles: list[bytes], hashed: int, checked: int, report_path: Path) -> None:
    todo = [f for f in doc.folders if f.todo]
    ignored = sum(f.ignored for f in doc.folders)
    if todo:
        print(f"Not yet imported ({_count(len(todo), 'folder')}):")
        for f in todo:
            parts = [
                (n, label)
                for n, label in (
                    (f.counts[Status.MISSING], "missing"),
                    (f.counts[Status.EDITED], "edited"),
                    (f.counts[Status.UNREADABLE], "could not be read"),
                )
                if n
            ]
            first, *rest = parts
            detail = ", ".join([f"{first[0]} of {f.images} {first[1]}"] + [f"{n} {label}" for n, label in rest])
            print(f"  {os.fsdecode(f.directory)}  {detail}")
    elif not doc.folders:
        print(f"No needle files found under {', '.join(os.fsdecode(n) for n in needles)}.")
    elif ignored == len(doc.folders):
        print("Every needle folder is ignored (`hashwatchd ignore` lists why).")
    else:
        apart = f", apart from {_count(ignored, 'ignored folder')}" if ignored else ""
        print(f"Every needle folder is imported{apart}.")
    by_status: dict[str, int] = {}
    for f in doc.folders:
        label = "ignored" if f.ignored else f.status.value.replace("_", " ")
        by_status[label] = by_status.get(label, 0) + 1
    kinds = {kind: sum(f.kinds[kind] for f in doc.folders) for kind in Kind}
    what = ", ".join(_count(n, _KIND_NOUNS[kind]) for kind, n in kinds.items() if n)
    unreadable = sum(f.counts[Status.UNREADABLE] for f in doc.folders)
    print(
        f"library: {_count(doc.haystack[0], 'file')} ({doc.haystack[1]} unreadable); "
        f"needles: {_count(sum(kinds.values()), 'file')}{f' ({what})' if what else ''}, {unreadable} unreadable, "
        f"in {_count(len(doc.folders), 'folder')}"
        + ": " * bool(by_status)
        + ", ".join(f"{n} {label}" for label, n in sorted(by_status.items()))
    )
    if hashed or checked:
        extra = f" and confirmed {_count(checked, 'match', 'matches')} at full resolution" if checked else ""
        print(f"hashed {_count(hashed, 'new or changed file')}{extra}; status written to {report_path}")
    else:
        print(f"index up to date: nothing decoded; status written to {report_path}")


def _status_looked_at(s: config.Settings) -> str:
    """Where `status` looked for the status file and why there: what every command would use."""
    if s.report is not None:
        return f"{s.report_path} (from {_given(s, 'report')})"
    others = (
        f"neither --report nor `report:` in {s.config_file} names another"
        if s.config_file is not None and s.config_file.exists()
        else "no --report given, and no config file read"
    )
    return f"{s.report_path} (STATE_DIR/status.json, STATE_DIR from {_given(s, 'state_dir')}; {others})"


def _status(args: argparse.Namespace) -> int:
    s = _settings(args)
    path = s.report_path
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
    except FileNotFoundError:
        raise NoInputError(
            f"no status file at {_status_looked_at(s)}: `hashwatchd scan` and the daemon (`hashwatchd run`) "
            "write it; if yours were given another --state-dir, --report or --config, give the same here"
        ) from None
    except OSError as exc:
        source, name = s.origin("report")
        raise ConfigError(name, str(path), f"a readable status file ({exc.strerror})", source) from None
    except ValueError:
        source, name = s.origin("report")
        raise ConfigError(name, str(path), "a hashwatchd status file (this is not JSON)", source) from None
    code = _check(doc) if args.check else 0
    if args.json:
        sys.stdout.write(raw.decode("ascii", "replace"))
        return code
    print(f"state: {doc['state']}, generated {doc['generated_at']}, pending {doc['pending']}")
    if not doc["folders"]:
        print("  no needle folder seen yet")
    for f in doc["folders"]:
        print(
            f"  {f['status']:<13} {_progress(f):<10} {_shown(os.path.normpath(os.path.join(f['root'], f['path'])))}  "
            f"{f['imported']}/{f['images']} imported, {f['edited']} edited, "
            f"{f['missing']} missing, {f['unreadable']} unreadable"
            + (f", {f['ignored_files']} ignored" if f.get("ignored_files") else "")
        )
        if args.files:
            for kind in ("missing", "edited"):
                for path in f[f"{kind}_paths"]:
                    print(f"      {kind:<11} {_shown(path)}")
            for item in f["unreadable_paths"]:
                print(f"      unreadable  {_shown(item['path'])}  ({_shown(item['error'])})")
    return code


#: `status --check` exit codes: everything imported, something not yet, the answer is not final yet,
#: nothing to judge (no folder online: calling that "imported" would tell a script a card is safe to wipe).
CHECK_IMPORTED, CHECK_NOT_IMPORTED, CHECK_RUNNING, CHECK_NOTHING = 0, 1, 3, 4


def _check(doc: dict[str, Any]) -> int:
    """The exit code of `status --check` for a status document. Offline folders (their card is
    out; nothing can change) and ignored ones do not count; a file that could not be read is not
    imported. While the daemon scans or a folder has pending files, the answer is not final: 3.
    With no folder online (none seen yet, or every card pulled out) there is nothing to judge: 4.
    Folders that are all ignored are a person's decision that nothing there is to import: 0."""
    folders = [f for f in doc["folders"] if f["online"] and not f.get("ignored")]
    if doc["state"] == State.SCANNING.value or not all(f["complete"] for f in folders):
        return CHECK_RUNNING
    todo = (FolderStatus.PARTIAL.value, FolderStatus.NOT_IMPORTED.value)
    if any(f["status"] in todo or f["unreadable"] for f in folders):
        return CHECK_NOT_IMPORTED
    return CHECK_IMPORTED if any(f["online"] for f in doc["folders"]) else CHECK_NOTHING


def _progress(folder: dict[str, Any]) -> str:
    """Where a folder's analysis stands: complete, N pending, offline (counts last known) or ignored."""
    if folder.get("ignored"):
        return "ignored"
    if not folder["online"]:
        return "offline"
    return "complete" if folder["complete"] else f"{folder['pending']} pending"


def _shown(text: str) -> str:
    """A path from the status file, printable whatever its bytes: a byte that is not UTF-8 (a lone
    surrogate once decoded) is shown as \\xNN instead of making print() fail."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _outcome_json(out: Outcome) -> str:
    return json.dumps(
        {
            "path": os.fsdecode(out.path),
            "status": out.status.value,
            "matches": [
                {"path": os.fsdecode(m.path), "tier": m.tier.label, "distance": m.distance} for m in out.matches
            ],
            "error": str(out.problem) if out.problem else None,
        }
    )


def _print_outcomes(outcomes: list[Outcome], as_json: bool) -> None:
    for out in outcomes:
        if as_json:
            print(_outcome_json(out))
            continue
        detail = str(out.problem or "") or ", ".join(f"{m.tier.label} {os.fsdecode(m.path)}" for m in out.matches)
        print(f"{out.status.value:<10} {os.fsdecode(out.path)}" + (f"  ({detail})" if detail else ""))


def _matches(args: argparse.Namespace) -> int:
    s = _settings(args)
    with _read_index(s) as st, _pool(s) as pool:
        engine = Engine(st, pool, s)
        engine.load()
        engine.refresh()
        _print_outcomes(engine.sorted_outcomes(), args.json)
    return 0


def _query(args: argparse.Namespace) -> int:
    s = _settings(args)
    paths_ = [os.fsencode(p) for p in args.images]
    with _read_index(s) as st, _pool(s, len(paths_)) as pool:
        engine = Engine(st, pool, s)
        engine.load_library()
        outs = engine.query(paths_)
    _print_outcomes(outs, args.json)
    return 0


def _absolute(text: str) -> bytes:
    """The absolute path a person typed, through the directory they see: `hashwatchd ignore .`
    in a folder reached through a symbolic link names it by the link, as $PWD does (and as the
    needle roots may be configured), not by where the link points."""
    text = os.path.expanduser(text)
    if not os.path.isabs(text):
        cwd = os.environ.get("PWD", "")
        with contextlib.suppress(OSError):
            if cwd and os.path.isabs(cwd) and os.path.samefile(cwd, "."):
                return os.fsencode(os.path.normpath(os.path.join(cwd, text)))
    return os.fsencode(os.path.abspath(text))


def _decision_path(text: str, s: config.Settings, indexed: PathMap | None) -> bytes:
    """The absolute path a person named, checked to be one `ignore` can decide: in a needle folder
    (a card to come under a configured one included) or, when no needle folders are configured,
    at or above a needle file of the index (`indexed`, its needle paths)."""
    path = _absolute(text)
    shown = _shown(os.fsdecode(path))
    if not s.needles:
        assert indexed is not None, "read when no needle folders are configured"
        if path not in indexed and not indexed.under(path):
            raise ConfigError(
                "PATH",
                text,
                message=f"{shown}: the index in {s.state_dir} holds no needle file there, and no needle folders are "
                f"configured to tell whether one will be ({_needles_unknown(s)}); a decision there would change "
                "nothing: name a folder or file of a card the daemon or a scan has seen (`hashwatchd status` lists "
                "the folders), or give the config file that names your needle folders (--config FILE)",
            )
    elif paths.pattern_of(path, s.needles) is None:
        where = "the library" if paths.pattern_of(path, s.haystack) else "no needle folder"
        raise ConfigError(
            "PATH",
            text,
            message=f"{shown}: it is in {where}; only what lies in a needle folder ({_roots_given(s)}) can be ignored",
        )
    return path


def _needles_unknown(s: config.Settings) -> str:
    """Why the needle folders are not known, in words."""
    if s.config_file is not None and s.config_file.exists():
        return f"no `needles:` in {s.config_file}"
    return "no config file read"


def _indexed_needles(s: config.Settings) -> PathMap:
    """The needle paths the index holds."""
    with _read_index(s) as st:
        return st.table(Role.NEEDLE).stats


def _roots_given(s: config.Settings) -> str:
    return f"{', '.join(os.fsdecode(n) for n in s.needles)}, from {_given(s, 'needles')}"


def _decisions(s: config.Settings) -> decisions.Decisions:
    """The decisions of the state directory a daemon or a scan uses: refused where there is no
    index, which means the wrong state directory (a decision there would change nothing)."""
    if not (s.state_dir / "index" / "data.mdb").exists():
        raise NoInputError(
            f"no index in {s.state_dir} (from {_given(s, 'state_dir')}): give the state directory of your daemon or "
            "scan (--state-dir DIR, or --config FILE with its state_dir); decisions there would change nothing"
        )
    return decisions.load(s.state_dir, s.ignore_folders)


def _save_decisions(s: config.Settings, ignored: frozenset[bytes]) -> None:
    try:
        decisions.save(s.state_dir, ignored)
    except PublishError as exc:
        raise PublishError(f"{exc}: run it as the user the daemon runs as (sudo -u USER hashwatchd ...)") from None


def _ignore(args: argparse.Namespace) -> int:
    s = _settings(args)
    current = _decisions(s)
    if not args.paths:
        for path in sorted(current.ignored):
            print(_shown(os.fsdecode(path)))
        for glob in current.globs:
            print(f"{glob}  (ignore_folders in {s.config_file})")
        if not current.ignored and not current.globs:
            print("Nothing is ignored: `hashwatchd ignore PATH` records a needle folder or file not to import.")
        return 0
    added = set()
    indexed = None if s.needles else _indexed_needles(s)
    for text in args.paths:
        path = _decision_path(text, s, indexed)
        shown = _shown(os.fsdecode(path))
        if (by := current.covering(path)) is not None:
            print(f"{shown}: already ignored" + ("" if by == path else f" (through {_shown(os.fsdecode(by))})"))
            continue
        if not os.path.lexists(path):
            log.warning("%s does not exist now (a card that is out?); recorded all the same", shown)
        added.add(path)
    if added:
        _save_decisions(s, current.ignored | added)
        for path in sorted(added):
            print(f"ignored {_shown(os.fsdecode(path))}")
        print(_applies_when(s))
    return 0


def _unignore(args: argparse.Namespace) -> int:
    """Take decisions back; when one of the paths cannot be (it was not recorded by itself), say
    why for each and change nothing."""
    s = _settings(args)
    current = _decisions(s)
    removed, problems = set(), []
    for text in args.paths:
        path = _absolute(text)
        shown = _shown(os.fsdecode(path))
        root = paths.root_of(path, files.expand_roots(s.needles))
        if path in current.ignored:
            removed.add(path)
        elif (by := current.covering(path)) is not None:
            by_shown = _shown(os.fsdecode(by))
            problems.append(
                f"{shown} was not ignored by itself but through {by_shown}: "
                f"`hashwatchd unignore {shlex.quote(by_shown)}` takes that back"
            )
        elif (glob := current.glob_covering(path, root)) is not None:
            problems.append(
                f"{shown} is ignored by the pattern {glob!r} of ignore_folders in {s.config_file}: change it there "
                "(then `systemctl reload hashwatchd`, or the next scan)"
            )
        else:
            problems.append(f"{shown} is not ignored (`hashwatchd ignore` lists what is)")
    if problems:
        unchanged = "; nothing was changed" if len(args.paths) > 1 else ""
        raise ConfigError("PATH", args.paths, message="; ".join(problems) + unchanged)
    kept = decisions.Decisions(current.ignored - removed, current.globs)
    _save_decisions(s, kept.ignored)
    for path in sorted(removed):
        root = paths.root_of(path, files.expand_roots(s.needles))
        still = kept.covering(path) or kept.glob_covering(path, root)
        why = f" (it stays ignored through {_shown(os.fsdecode(still)) if isinstance(still, bytes) else repr(still)})"
        print(f"unignored {_shown(os.fsdecode(path))}" + (why if still else ""))
    print(_applies_when(s))
    return 0


def _applies_when(s: config.Settings) -> str:
    return (
        f"The running daemon shows it in {s.report_path} within {HOUSEKEEPING:g} s; "
        "without one, the next `hashwatchd scan` does."
    )


def _report(args: argparse.Namespace) -> int:
    s = _settings(args)
    out = args.html.absolute()
    # The index holds what was judged; what a running daemon has not analysed yet, and whether it
    # still scans, only its status file says (found as `status` finds it).
    try:
        status = json.loads(s.report_path.read_bytes())
    except FileNotFoundError:
        status = None
    except (OSError, ValueError) as exc:
        log.warning("cannot read the status file %s (%s): the page shows the index alone", s.report_path, exc)
        status = None
    with _read_index(s) as st, _pool(s) as pool:
        engine = Engine(st, pool, s)
        engine.load()
        engine.refresh()
        roots = visual.index_roots(engine, s.needles)
        offline = [r for r in roots if not os.path.isdir(r)]
        outcomes = engine.sorted_outcomes()
        decided = decisions.load(s.state_dir, s.ignore_folders)
        library = engine.counts(Role.HAYSTACK)
        doc = build(outcomes, roots, library, state=State.DONE, offline=offline, decided=decided, now=now())
        if status is not None:
            try:
                visual.add_status(doc, status, roots=roots, offline=offline, decided=decided)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("%s is no status file (%r): the page shows the index alone", s.report_path, exc)
                status = None
        writer = visual.PageWriter(engine, ThumbCache(s.state_dir / "thumbs"), store=False)
        writer.write(doc, out / "index.html", from_index=status is None)
    print(f"visual report of {_count(len(doc.folders), 'folder')} written to {out / 'index.html'}")
    return 0


def _hash(args: argparse.Namespace) -> int:
    from hashwatchd.features import to_hex  # noqa: PLC0415 (OpenCV loads only for commands that decode here)

    paths_ = [os.fsencode(p) for p in args.images]
    with _pool(_settings(args), len(paths_)) as pool:
        results = {r.path: r for r in pool.map(paths_)}
    failed = 0
    for p in paths_:
        r, name = results[p], os.fsdecode(p)
        fp = r.fingerprint
        if args.json:
            print(
                json.dumps(
                    {
                        "path": name,
                        "dhash": to_hex(fp.dhash) if fp else None,
                        "phash": to_hex(fp.phash) if fp else None,
                        "sha256_128": fp.digest.hex() if fp else None,
                        "error": str(r.problem) if r.problem else None,
                    }
                )
            )
        elif fp:
            print(f"{to_hex(fp.dhash)} {to_hex(fp.phash)}  {name}")
        else:
            print(f"unreadable: {name}: {r.problem}", file=sys.stderr)
        failed += fp is None
    return 1 if failed else 0


_COMMANDS = {
    "run": _run,
    "scan": _scan,
    "status": _status,
    "matches": _matches,
    "query": _query,
    "ignore": _ignore,
    "unignore": _unignore,
    "report": _report,
    "hash": _hash,
}
