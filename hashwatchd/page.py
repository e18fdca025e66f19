"""The visual report: one self-contained HTML page a person opens in a browser to decide what
to import (README, "The visual report").

Pure: it takes the Report, each needle's Outcome (the library copies behind `same` and
`edited`), the preview each path may show (a relative URL, `thumbs/<digest hex>.jpg`) and the
pictures' sizes, and returns the page's text. Folders still to import come first, each with its
counts, the previews of its missing pictures, its `edited` pictures beside their library copy
and the reason, and its unreadable files; then folders still being analysed in which nothing to
import was found so far (never to be taken for imported); then folders with nothing to import,
their matches folded away. Offline and incomplete folders are marked. The page says every folder
is imported only when that is final, as `status --check` has it: otherwise it says what is
still being analysed.

Every text that comes from the disk (a file name is data, never markup) goes through `_t`:
html.escape with quotes, so it is safe in attributes too, and file names that are not UTF-8
shown with \\udcXX escapes, as the status file shows them. No script and no external asset
(a Content-Security-Policy forbids both), so the page works from file://.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence

from hashwatchd.model import Kind, Match, Outcome, Status, Tier
from hashwatchd.report import FolderReport, FolderStatus, Report, State

#: Matches of imported pictures shown per folder (they are folded away; the rest are counted).
PAIRS_SHOWN = 200

Size = tuple[int, int]

_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STATE = {
    State.DONE: "scan finished",
    State.SCANNING: "scanning",
    State.WATCHING: "watching for changes",
    State.STOPPED: "daemon stopped",
}
#: What the page says instead of a state when it was made from the index alone.
_FROM_INDEX = "from the index; a running daemon may have files pending"

_FOLDER_STATUS = {
    FolderStatus.NOT_IMPORTED: ("not imported", "miss"),
    FolderStatus.PARTIAL: ("partly imported", "part"),
    FolderStatus.IMPORTED: ("imported", "ok"),
    FolderStatus.EMPTY: ("no readable file", "none"),
}


def _t(value: str | bytes) -> str:
    """Text for the page: escaped, and with a path's non-UTF-8 bytes as visible \\udcXX escapes."""
    text = os.fsdecode(value) if isinstance(value, bytes) else value
    return html.escape(text.encode("utf-8", "backslashreplace").decode("utf-8"), quote=True)


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _folder_title(f: FolderReport) -> str:
    root = os.fsdecode(f.root).rstrip("/") + "/"
    rel = "" if f.path == b"." else os.fsdecode(f.path)
    return f'<span class="root">{_t(root)}</span>{_t(rel)}'


def _by_folder(outcomes: Mapping[bytes, Outcome]) -> dict[bytes, list[Outcome]]:
    out: dict[bytes, list[Outcome]] = {}
    for path in sorted(outcomes):
        out.setdefault(os.path.dirname(path), []).append(outcomes[path])
    return out


def _imported(f: FolderReport, by_dir: Mapping[bytes, Sequence[Outcome]]) -> list[Outcome]:
    return [o for o in by_dir.get(f.directory, ()) if o.status.imported]


def _groups(report: Report) -> tuple[list[FolderReport], list[FolderReport], list[FolderReport]]:
    """The folders in the page's order: those to import; those still being analysed with nothing
    to import found so far; the rest (nothing to import, or decided not to)."""
    todo = [f for f in report.folders if f.todo]
    busy = [f for f in report.folders if not f.todo and not f.ignored and not f.complete]
    rest = [f for f in report.folders if not f.todo and (f.ignored or f.complete)]
    return todo, busy, rest


def _final(report: Report) -> bool:
    """Whether the answer is final, as `status --check` has it (0 or 1, not 3): the daemon is not
    scanning, and every folder not decided against is analysed. (`status --check` leaves offline
    folders out; the daemon forgets the files that wait on a card pulled out, so those are
    complete anyway, and a folder shown under "Still being analysed" never sits beside an
    "everything is imported".)"""
    return report.state is not State.SCANNING and all(f.complete for f in report.folders if not f.ignored)


def shown(report: Report, outcomes: Mapping[bytes, Outcome]) -> list[bytes]:
    """The paths (needles and library files) whose previews the page shows, the most useful
    first: missing pictures (of the folders to import first), then edited ones with their
    library copies, then imported ones with theirs; the pictures of folders decided not to
    import, folded away, come last. A writer that cannot make every preview at once makes them
    in this order."""
    by_dir = _by_folder(outcomes)
    first: list[bytes] = []
    then: list[bytes] = []
    last: list[bytes] = []
    decided: list[bytes] = []
    for f in (f for group in _groups(report) for f in group):
        missing, edited, imported = (decided,) * 3 if f.ignored else (first, then, last)
        missing += sorted(f.missing_paths)
        for p in sorted(f.edited_paths):
            edited.append(p)
            out = outcomes.get(p)
            if out is not None and out.matches:
                edited.append(out.matches[0].path)
        for out in _imported(f, by_dir)[:PAIRS_SHOWN]:
            imported.append(out.path)
            if out.matches:
                imported.append(out.matches[0].path)
    return list(dict.fromkeys(first + then + last + decided))


def render(
    report: Report,
    outcomes: Mapping[bytes, Outcome],
    previews: Mapping[bytes, str],
    sizes: Mapping[bytes, Size] | None = None,
    *,
    kinds: Mapping[bytes, Kind] | None = None,
    previews_pending: int = 0,
    from_index: bool = False,
) -> str:
    """The page's text. `previews` maps a path to its preview's URL relative to the page (paths
    without one show a placeholder); `sizes` gives a picture's displayed size, for the reasons;
    `kinds` what a file is (a raw file or a video says so under its preview; a needle's kind is
    its outcome's); `previews_pending` says how many previews are still being made (the page says so).
    `from_index`: the report comes from the index alone, without a status file to say what a
    daemon has not analysed yet (`report --html`): the page says so instead of a state."""
    by_dir = _by_folder(outcomes)
    ctx = _Context(previews, sizes or {}, {**(kinds or {}), **{p: o.kind for p, o in outcomes.items()}})
    todo, busy, rest = _groups(report)
    final = _final(report)
    ids = {id(f): f"folder-{i}" for i, f in enumerate(todo + busy + rest, 1)}
    title, answer = _answer(report, todo, final, from_index)
    header = _header(report, todo, busy, ids, previews_pending=previews_pending, final=final, from_index=from_index)
    parts = [_head(title), header, "<main>"]
    if answer:
        parts.append(answer)
    for group, heading in (
        (todo, "To import"),
        (busy, "Still being analysed"),
        (rest, "Nothing to import" if final else "Nothing to import so far"),
    ):
        if group:
            parts.append(f"<h2>{heading} <span>{_n(len(group), 'folder')}</span></h2>")
            parts += [_folder(f, ids[id(f)], by_dir, outcomes, ctx) for f in group]
    parts.append("</main>")
    parts.append(
        "<footer>Written by hashwatchd with its status file; previews are small copies made when "
        "a picture is hashed.</footer>\n</body>\n</html>\n"
    )
    return "\n".join(parts)


class _Context:
    def __init__(self, previews: Mapping[bytes, str], sizes: Mapping[bytes, Size], kinds: Mapping[bytes, Kind]) -> None:
        self.previews, self.sizes, self.kinds = previews, sizes, kinds

    def figure(self, path: bytes, caption: str, note: str = "") -> str:
        """A preview (or its placeholder) with a caption; the whole path shows on hover."""
        src = self.previews.get(path)
        name = os.path.basename(path)
        if src:
            img = f'<img src="{_t(src)}" alt="{_t(name)}" loading="lazy" decoding="async">'
        else:
            img = '<span class="noprev">no preview</span>'
        extra = f'<span class="note">{note}</span>' if note else ""
        return (
            f'<figure title="{_t(path)}"><div class="box">{img}</div><figcaption>{caption}{extra}</figcaption></figure>'
        )

    def size(self, path: bytes) -> str:
        """The note under a preview: the picture's size, and `raw` or `video` for those."""
        s = self.sizes.get(path)
        kind = self.kinds.get(path, Kind.PHOTO)
        label = f" {kind.label}" if kind in (Kind.RAW, Kind.VIDEO) else ""
        return (f"{s[0]}\u00d7{s[1]}" if s else "") + label


def _answer(report: Report, todo: Sequence[FolderReport], final: bool, from_index: bool) -> tuple[str, str]:
    """The page's title, and its answer in a sentence (a paragraph, or nothing when the folders to
    import say it). "Imported" only when it is final: the worst this page can do is call a card
    imported that is not (a person wipes it)."""
    pending = _n(report.pending, "file")
    if not final:
        if report.state is State.SCANNING:
            title = "scanning" + (f", {pending} pending" if report.pending else "")
            text = "Still scanning" + (f" ({pending} pending)" if report.pending else "")
            text += ": no folder can be taken for imported yet."
        elif report.state is State.STOPPED:
            title = f"stopped with {pending} not analysed"
            text = f"Not finished: the daemon stopped with {pending} not analysed; their folders are not done."
        else:
            title = f"analysing, {pending} pending"
            text = f"Still analysing {pending}: the folders they are in are not done yet."
        if todo:
            title = f"{_n(len(todo), 'folder')} to import, {title}"
        return title, f'<p class="notyet">{text}</p>'
    if todo:
        return f"{_n(len(todo), 'folder')} to import", ""
    if not report.folders:
        return "no needle file yet", '<p class="quiet">No needle folder holds a file yet.</p>'
    ignored = sum(f.ignored for f in report.folders)
    if ignored == len(report.folders):
        return "every folder ignored", (
            '<p class="quiet">Every needle folder is ignored (`hashwatchd ignore` lists why).</p>'
        )
    apart = f", apart from {_n(ignored, 'ignored folder')}" if ignored else ""
    if not any(f.online for f in report.folders):  # status --check says 4: nothing to judge now
        return "no needle folder online", (
            '<p class="quiet">No needle folder is online (every card is pulled out): as last seen, '
            f"nothing in them was left to import{apart}.</p>"
        )
    if from_index:
        return "nothing to import in the index", (
            f'<p class="alldone">Every needle folder in the index is imported{apart}; '
            "files a running daemon has not analysed yet are not in it.</p>"
        )
    return "nothing to import", f'<p class="alldone">Every needle folder is imported{apart}.</p>'


def _head(title: str) -> str:
    title = f"hashwatchd: {title}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light">\n'
        f'<meta name="generator" content="hashwatchd">\n<title>{_t(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>"
    )


def _header(
    report: Report,
    todo: Sequence[FolderReport],
    busy: Sequence[FolderReport],
    ids: Mapping[int, str],
    *,
    previews_pending: int,
    final: bool,
    from_index: bool,
) -> str:
    missing = sum(f.counts[Status.MISSING] for f in todo)
    edited = sum(f.counts[Status.EDITED] for f in todo)
    bad = sum(f.counts[Status.UNREADABLE] for f in todo)
    offline = sum(not f.online for f in report.folders)
    needles = sum(f.images for f in report.folders)
    state = _FROM_INDEX if from_index else _STATE[report.state]
    if report.pending:
        state += f", {_n(report.pending, 'file')} pending"
    when = report.generated_at.isoformat(sep=" ", timespec="seconds")
    # Counts of files, not pictures: raw files and videos count, and so do files that cannot be read.
    library = f"library {_n(report.haystack[0], 'file')}"
    if report.haystack[1]:
        library += f" ({report.haystack[1]:,} unreadable)"
    none = "ok" if final else "zero"  # no folder to import is good news only once it is final
    totals = [
        (len(todo), "folder to import", "folders to import", "miss" if todo else none),
        (missing, "file missing", "files missing", "miss" if missing else none),
        (edited, "edited in the library", "edited in the library", "edit" if edited else "zero"),
        (bad, "unreadable", "unreadable", "bad" if bad else "zero"),
    ]
    if report.pending:
        totals.append((report.pending, "file to analyse", "files to analyse", "busy"))
    if offline:
        totals.append((offline, "folder offline", "folders offline", "off"))
    items = "".join(f'<li class="{cls}"><b>{n:,}</b> {one if n == 1 else many}</li>' for n, one, many, cls in totals)
    nav = ""
    if todo or busy:
        links = "".join(
            f'<li><a href="#{ids[id(f)]}">{_t(f.directory)}</a> <span>{_todo_summary(f)}</span></li>'
            for f in [*todo, *busy]
        )
        nav = f'<nav><ol class="toc">{links}</ol></nav>'
    return (
        f'<body data-state="{"index" if from_index else report.state.value}" '
        f'data-previews-pending="{previews_pending}">\n<header>'
        "<h1>Photos not yet in the library</h1>"
        f'<p class="meta">{_t(state)} \u00b7 written {_t(when)} \u00b7 {library} \u00b7 '
        f"{_n(needles, 'file')} in {_n(len(report.folders), 'needle folder')}"
        + (f" \u00b7 {_n(previews_pending, 'preview')} still being made" if previews_pending else "")
        + f'</p><ul class="totals">{items}</ul>{nav}</header>'
    )


def _todo_summary(f: FolderReport) -> str:
    parts = [f"{f.counts[Status.MISSING]:,} of {f.images:,} missing"] if f.todo else []
    if f.counts[Status.EDITED]:
        parts.append(f"{f.counts[Status.EDITED]:,} edited")
    if f.counts[Status.UNREADABLE]:
        parts.append(f"{f.counts[Status.UNREADABLE]:,} unreadable")
    if not f.complete:
        parts.append(f"analysing: {_n(f.pending, 'file')} to go")
    return ", ".join(parts)


def _badges(f: FolderReport) -> str:
    out = []
    if f.todo or f.complete:  # else what its files analysed so far say is no verdict on the folder
        label, cls = _FOLDER_STATUS[f.status]
        out.append(f'<span class="badge {cls}">{label}</span>')
    if f.ignored:
        out.append('<span class="badge off">ignored: decided not to import</span>')
    if not f.online:
        out.append('<span class="badge off">offline: counts as last seen</span>')
    if not f.complete:
        out.append(f'<span class="badge busy">analysing: {_n(f.pending, "file")} to go</span>')
    return "".join(out)


def _counts(f: FolderReport) -> str:
    c = f.counts
    if not f.images and not f.complete:
        return "no file analysed yet" + (f" \u00b7 <b>{f.ignored_files:,}</b> ignored" if f.ignored_files else "")
    parts = [("so far: " if not f.complete else "") + f"<b>{c[Status.MISSING]:,}</b> of {f.images:,} missing"]
    for status, word in ((Status.EDITED, "edited"), (Status.UNREADABLE, "unreadable")):
        if c[status]:
            parts.append(f"<b>{c[status]:,}</b> {word}")
    parts.append(f"<b>{f.imported:,}</b> in the library")
    if f.ignored_files:
        parts.append(f"<b>{f.ignored_files:,}</b> ignored")
    return " \u00b7 ".join(parts)


def _folder(
    f: FolderReport,
    anchor: str,
    by_dir: Mapping[bytes, Sequence[Outcome]],
    outcomes: Mapping[bytes, Outcome],
    ctx: _Context,
) -> str:
    classes = ["folder", "todo" if f.todo else "done" if f.complete or f.ignored else "busy"]
    if f.ignored:
        classes.append("ignored")
    if not f.online:
        classes.append("offline")
    if not f.complete:
        classes.append("incomplete")
    out = [
        f'<section class="{" ".join(classes)}" id="{anchor}">',
        f"<h3>{_folder_title(f)}</h3>",
        f'<div class="sub">{_badges(f)}<span class="counts">{_counts(f)}</span></div>',
    ]
    decided = len(out)  # an ignored folder's missing and edited pictures are folded away
    if f.missing_paths:
        items = "".join(
            f"<li>{ctx.figure(p, _t(os.path.basename(p)), ctx.size(p))}</li>" for p in sorted(f.missing_paths)
        )
        out.append(f'<h4 class="miss">Missing: not in the library <span>{f.counts[Status.MISSING]:,}</span></h4>')
        out.append(f'<ul class="grid">{items}</ul>')
    if f.edited_paths:
        pairs = [_pair(outcomes.get(p) or Outcome(p, Status.EDITED), ctx) for p in sorted(f.edited_paths)]
        out.append(
            f'<h4 class="edit">Edited: the library holds an edited version, not this picture '
            f"<span>{f.counts[Status.EDITED]:,}</span></h4>"
        )
        out.append(f'<ul class="pairs">{"".join(pairs)}</ul>')
    if f.ignored and len(out) > decided:
        shown = "".join(out[decided:])
        del out[decided:]
        out.append(f"<details><summary>Decided not to import</summary>{shown}</details>")
    if f.unreadable:
        rows = "".join(
            f'<li><span class="file" title="{_t(p)}">{_t(os.path.basename(p.rstrip(b"/")) or p)}</span> '
            f'<span class="reason">{_t(str(problem) if problem else "unreadable")}</span></li>'
            for p, problem in sorted(f.unreadable, key=lambda item: item[0])
        )
        out.append(f'<h4 class="bad">Unreadable <span>{f.counts[Status.UNREADABLE]:,}</span></h4>')
        out.append(f'<ul class="unreadable">{rows}</ul>')
    imported = _imported(f, by_dir)
    if imported:
        pairs = [_pair(o, ctx) for o in imported[:PAIRS_SHOWN]]
        if len(imported) > PAIRS_SHOWN:
            pairs.append(
                f'<li class="more">and {len(imported) - PAIRS_SHOWN:,} more (`hashwatchd matches` lists them all)</li>'
            )
        out.append(
            f"<details><summary>Already in the library <span>{len(imported):,}</span></summary>"
            f'<ul class="pairs">{"".join(pairs)}</ul></details>'
        )
    out.append("</section>")
    return "\n".join(out)


def _pair(out: Outcome, ctx: _Context) -> str:
    """A needle beside its best library copy, and why hashwatchd judged them so."""
    name = os.path.basename(out.path)
    left = ctx.figure(out.path, _t(name), ctx.size(out.path))
    if not out.matches:
        return f'<li class="pair">{left}<p class="why">no library copy recorded</p></li>'
    best = out.matches[0]
    right = ctx.figure(best.path, "library copy", ctx.size(best.path))
    why = _reason(best, ctx.sizes.get(out.path), ctx.sizes.get(best.path))
    more = f"<br>{_n(len(out.matches) - 1, 'more library copy', 'more library copies')}" if len(out.matches) > 1 else ""
    return (
        f'<li class="pair {best.tier.label}">{left}<span class="arrow" aria-hidden="true">\u2194</span>{right}'
        f'<p class="why"><b>{best.tier.label}</b>: {_t(why)}'
        f'<span class="lib" title="{_t(best.path)}">{_t(best.path)}</span>{more}</p></li>'
    )


def _reason(match: Match, needle: Size | None, library: Size | None) -> str:
    resized = needle is not None and library is not None and needle != library
    at = f" at {library[0]}\u00d7{library[1]}" if resized and library else ""
    if match.tier is Tier.IDENTICAL:
        return "the same file, byte for byte, in the library:"
    if match.tier is Tier.SAME:
        if resized:
            return f"the same picture{at} (resized or converted) in the library:"
        return "the same picture, re-encoded or with other metadata, in the library:"
    return (
        f"the library copy{at} differs by an edit (tone, colour, a crop or a caption); "
        f"hash distance {match.distance} of 64:"
    )


_CSS = """
:root{--bg:#f4f5f7;--card:#fff;--ink:#1f2933;--muted:#616e7c;--line:#e1e4e8;--miss:#c2410c;--part:#b45309;
--ok:#15803d;--edit:#7c3aed;--bad:#b91c1c;--off:#475569;--busy:#1d4ed8;--box:#e9ecf0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header{background:#1f2933;color:#f5f7fa;padding:22px 32px 18px}
header h1{font-size:21px;font-weight:650;margin:0 0 2px}
.meta{color:#bcc6d3;margin:0;font-size:13px}
.totals{display:flex;flex-wrap:wrap;gap:8px;list-style:none;margin:14px 0 0;padding:0}
.totals li{background:rgba(255,255,255,.07);border:1px solid rgba(255,255,255,.12);border-radius:8px;
padding:5px 12px;color:#d9e2ec}
.totals b{font-size:18px;margin-right:3px;color:#fff}
.totals .miss b{color:#fdba74}.totals .edit b{color:#c4b5fd}.totals .bad b{color:#fca5a5}
.totals .ok b{color:#86efac}.totals .busy b{color:#93c5fd}.totals .zero{opacity:.6}
.toc{margin:12px 0 0;padding-left:22px;font-size:13px;color:#9aa5b1}
.toc li{margin:1px 0}.toc a{color:#e4ecf5;word-break:break-all}.toc span{margin-left:6px}
main{max-width:1320px;margin:0 auto;padding:6px 32px 32px}
h2{font-size:13px;font-weight:650;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:26px 0 10px}
h2 span,h4 span,summary span{font-weight:400;color:var(--muted);margin-left:6px;text-transform:none;letter-spacing:0}
.alldone{font-size:16px;color:var(--ok);margin:24px 0}
.quiet{font-size:16px;color:var(--muted);margin:24px 0}
.notyet{font-size:16px;font-weight:600;color:var(--busy);background:#eff6ff;border:1px solid #bfdbfe;
border-radius:8px;padding:10px 14px;margin:20px 0}
.folder{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--line);border-radius:10px;
padding:14px 18px 16px;margin:0 0 14px;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.folder.todo{border-left-color:var(--miss)}
.folder.done{border-left-color:var(--ok);padding-bottom:12px}
.folder.busy{border-left-color:var(--busy);background:#f8fbff}
.folder.offline{border-left-color:var(--off);background:#f8f9fb}
.folder.ignored{border-left-color:var(--off)}
.folder.ignored summary{color:var(--muted)}
.folder h3{margin:0;font-size:16px;font-weight:650;word-break:break-all}
.folder h3 .root{color:var(--muted);font-weight:400}
.sub{margin:5px 0 2px;display:flex;flex-wrap:wrap;align-items:center;gap:6px}
.counts{color:var(--muted);margin-left:4px}.counts b{color:var(--ink)}
.badge{font-size:12px;font-weight:600;border-radius:999px;padding:1px 9px;border:1px solid currentColor}
.badge.miss{color:var(--miss)}.badge.part{color:var(--part)}.badge.ok{color:var(--ok)}.badge.none{color:var(--muted)}
.badge.off{color:#fff;background:var(--off);border-color:var(--off)}
.badge.busy{color:#fff;background:var(--busy);border-color:var(--busy)}
h4{font-size:13px;font-weight:650;margin:14px 0 8px}
h4.miss{color:var(--miss)}h4.edit{color:var(--edit)}h4.bad{color:var(--bad)}
ul.grid,ul.pairs,ul.unreadable{list-style:none;margin:0;padding:0}
.grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;width:160px}
.box{width:160px;height:120px;background:var(--box);border-radius:6px;display:flex;align-items:center;
justify-content:center;overflow:hidden}
.box img{max-width:100%;max-height:100%;display:block}
.noprev{color:var(--muted);font-size:12px}
figcaption{font-size:12px;margin-top:4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
figcaption .note{color:var(--muted);margin-left:6px}
.pairs{display:flex;flex-wrap:wrap;gap:12px 28px}
.pair{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px;padding:8px;border-radius:8px;background:#fafbfc;
border:1px solid var(--line);max-width:640px}
.pair.edited{background:#faf7ff;border-color:#e4dafc}
.arrow{align-self:center;color:var(--muted);font-size:18px;margin-top:-18px}
.why{margin:0 0 0 6px;flex:1 1 200px;max-width:260px;font-size:12px;color:var(--muted)}
.why b{color:var(--ink);text-transform:capitalize}
.pair.edited .why b{color:var(--edit)}
.why .lib{display:block;margin-top:4px;color:var(--ink);word-break:break-all;font-family:ui-monospace,
"SFMono-Regular",Menlo,Consolas,monospace;font-size:11px}
.unreadable li{padding:2px 0}
.unreadable .file{font-weight:600;word-break:break-all}.unreadable .reason{margin-left:8px;color:var(--bad)}
details{margin-top:10px}
summary{cursor:pointer;color:var(--ok);font-weight:600;font-size:13px}
details[open] summary{margin-bottom:10px}
li.more{align-self:center;color:var(--muted)}
footer{max-width:1320px;margin:0 auto;padding:0 32px 28px;color:var(--muted);font-size:12px}
"""
