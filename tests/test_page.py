"""The visual report's page (page.py), rendered from a Report: what it shows, in which order,
and that a file name is always text, never markup."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from hashwatchd import page, report
from hashwatchd.model import Kind, Match, Outcome, Problem, Status, Tier
from hashwatchd.report import Report, State

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

#: Every element the page is made of: anything else would have come from a file name.
ELEMENTS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "p", "ul", "ol", "li", "b", "nav", "a",
    "span", "main", "h2", "section", "h3", "div", "h4", "figure", "img", "figcaption", "br", "details",
    "summary", "footer",
}  # fmt: skip


class Page(HTMLParser):
    """The page as a browser's parser reads it: its elements, and the text of each h3 (folder)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.folders: list[str] = []
        self.text: list[str] = []
        self._in_h3 = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "h3":
            self._in_h3 = True
            self.folders.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self._in_h3 = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h3:
            self.folders[-1] += data

    def attrs(self, tag: str, name: str) -> list[str | None]:
        return [a.get(name) for t, a in self.tags if t == tag]


def _report(outcomes: list[Outcome], roots: list[bytes], **kwargs: object) -> Report:
    return report.build(outcomes, roots, (10, 0), state=State.WATCHING, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_file_names_are_text_never_markup() -> None:
    """Folders named `<script>` and `"&'`, a file named like an <img> tag, bytes that are not
    UTF-8: all appear as text (\\udcXX escapes, as in the status file), in element text and in
    attributes, and the page holds no element a file name could have brought."""
    root = b"/media/card"
    evil = b"/media/card/DCIM/<script>alert(1)</script>"
    quotes = b"/media/card/DCIM/\"&'"
    outs = [
        Outcome(evil + b"/<img src=x onerror=alert(2)>.jpg", Status.MISSING),
        Outcome(quotes + b"/a\xff\xfe.jpg", Status.MISSING),
        Outcome(quotes + b'/b".jpg', Status.UNREADABLE, problem=Problem("corrupt", "bad <b>bytes</b> & more")),
    ]
    previews = {outs[0].path: "thumbs/00.jpg", outs[1].path: "thumbs/11.jpg"}
    text = page.render(_report(outs, [root]), {o.path: o for o in outs}, previews)
    text.encode("utf-8")  # no lone surrogate left
    parsed = Page(text)
    assert {tag for tag, _ in parsed.tags} <= ELEMENTS
    assert "script" not in {tag for tag, _ in parsed.tags}
    assert parsed.folders == ["/media/card/DCIM/\"&'", "/media/card/DCIM/<script>alert(1)</script>"]
    assert parsed.attrs("img", "src") == ["thumbs/11.jpg", "thumbs/00.jpg"]
    assert "<img src=x onerror=alert(2)>.jpg" in parsed.attrs("img", "alt")
    assert "a\\udcff\\udcfe.jpg" in parsed.attrs("img", "alt")
    titles = parsed.attrs("figure", "title")
    assert "/media/card/DCIM/<script>alert(1)</script>/<img src=x onerror=alert(2)>.jpg" in titles
    assert "corrupt: bad <b>bytes</b> & more" in "".join(parsed.text)


def test_folders_to_import_come_first_then_the_rest() -> None:
    """Partial and not-imported folders, and folders with unreadable files (not in the library
    either), first (by root then path), then imported ones; the header counts them and links to
    each folder still to import."""
    lib = (Match(b"/lib/x.png", Tier.SAME, 2),)
    outs = [
        Outcome(b"/n/a/1.jpg", Status.SAME, lib),
        Outcome(b"/n/b/1.jpg", Status.MISSING),
        Outcome(b"/n/c/1.jpg", Status.SAME, lib),
        Outcome(b"/n/c/2.jpg", Status.MISSING),
        Outcome(b"/n/d/1.jpg", Status.UNREADABLE, problem=Problem("empty", "the file is empty")),
    ]
    parsed = Page(page.render(_report(outs, [b"/n"]), {o.path: o for o in outs}, {}))
    assert parsed.folders == ["/n/b", "/n/c", "/n/d", "/n/a"]
    assert [a for a in parsed.attrs("a", "href")] == ["#folder-1", "#folder-2", "#folder-3"]
    assert [a["id"] for t, a in parsed.tags if t == "section"] == [f"folder-{i}" for i in range(1, 5)]
    text = "".join(parsed.text)
    assert "3 folders to import" in text and "2 files missing" in text
    toc = [
        a.split("<span>", 1)[1].split("</span>", 1)[0]
        for a in page.render(_report(outs, [b"/n"]), {o.path: o for o in outs}, {}).split('<li><a href="#folder-')[1:]
    ]
    assert toc == ["1 of 1 missing", "1 of 2 missing", "0 of 1 missing, 1 unreadable"]
    assert "To import" in text and "Nothing to import" in text


def test_offline_and_incomplete_folders_are_marked() -> None:
    """A folder of an offline root and a folder with files still to hash say so."""
    outs = [Outcome(b"/card/DCIM/1.jpg", Status.MISSING), Outcome(b"/usb/x/1.jpg", Status.MISSING)]
    doc = _report(outs, [b"/card", b"/usb"], offline=[b"/card"], pending=[b"/usb/x/2.jpg", b"/usb/x/3.jpg"])
    parsed = Page(page.render(doc, {o.path: o for o in outs}, {}))
    sections = {a["id"]: (a["class"] or "").split() for t, a in parsed.tags if t == "section"}
    assert sections == {"folder-1": ["folder", "todo", "offline"], "folder-2": ["folder", "todo", "incomplete"]}
    text = "".join(parsed.text)
    assert "offline: counts as last seen" in text
    assert "analysing: 2 files to go" in text
    assert "1 folder offline" in text


def _title(text: str) -> str:
    return text[text.index("<title>") + 7 : text.index("</title>")]


def _badges(text: str, anchor: str) -> list[str]:
    """The badges of the folder section `anchor`."""
    section = text[text.index(f'id="{anchor}"') :]
    section = section[: section.index("</section>")]
    return [chunk.split('">', 1)[1].split("<", 1)[0] for chunk in section.split('<span class="badge ')[1:]]


@pytest.mark.parametrize("state", [State.WATCHING, State.STOPPED])
def test_a_folder_still_being_analysed_is_never_shown_as_done(state: State) -> None:
    """One picture found in the library and three files not analysed yet is not an imported
    folder, and three files not analysed yet are not "no readable file": both sit in a
    section of their own, before the folders with nothing to import, marked as being analysed;
    the page does not say every folder is imported (a person would wipe the card) but what is
    left to analyse, and its title is neutral."""
    outs = [
        Outcome(b"/n/a/1.jpg", Status.IDENTICAL, (Match(b"/lib/1.jpg", Tier.IDENTICAL, 0),)),
        Outcome(b"/n/done/1.jpg", Status.SAME, (Match(b"/lib/2.jpg", Tier.SAME, 1),)),
    ]
    pending = [b"/n/a/2.jpg", b"/n/a/3.jpg", b"/n/a/4.jpg", b"/n/b/1.jpg", b"/n/b/2.jpg"]
    doc = report.build(outs, [b"/n"], (10, 0), state=state, pending=pending, now=NOW)
    text = page.render(doc, {o.path: o for o in outs}, {})
    parsed = Page(text)
    words = " ".join(parsed.text)
    assert "imported." not in words and "Every needle folder" not in words
    assert "5 files" in words and ("Still analysing" if state is State.WATCHING else "stopped") in words
    assert "nothing to import" not in _title(text) and "5 files" in _title(text)
    assert parsed.folders == ["/n/a", "/n/b", "/n/done"]
    sections = {a["id"]: (a["class"] or "").split() for t, a in parsed.tags if t == "section"}
    assert sections == {
        "folder-1": ["folder", "busy", "incomplete"],
        "folder-2": ["folder", "busy", "incomplete"],
        "folder-3": ["folder", "done"],
    }
    assert _badges(text, "folder-1") == ["analysing: 3 files to go"]
    assert _badges(text, "folder-2") == ["analysing: 2 files to go"]
    assert _badges(text, "folder-3") == ["imported"]
    main = text[text.index("<main>") :]
    assert main.index("Still being analysed") < main.index('id="folder-1"') < main.index("Nothing to import")
    assert [a for a in parsed.attrs("a", "href")] == ["#folder-1", "#folder-2"]


def test_while_scanning_nothing_is_final() -> None:
    """While the daemon scans, a page whose every folder is imported so far says the scan goes
    on, not that everything is imported."""
    outs = [Outcome(b"/n/a/1.jpg", Status.IDENTICAL, (Match(b"/lib/1.jpg", Tier.IDENTICAL, 0),))]
    doc = report.build(outs, [b"/n"], (10, 0), state=State.SCANNING, now=NOW)
    text = page.render(doc, {o.path: o for o in outs}, {})
    words = " ".join(Page(text).text)
    assert "Every needle folder" not in words and "Still scanning" in words
    assert "nothing to import" not in _title(text)
    assert "Nothing to import so far" in words


def test_every_folder_imported_or_ignored_is_said_as_the_cli_says_it() -> None:
    """Every folder analysed and imported, one of them decided not to import: "Every needle folder
    is imported, apart from 1 ignored folder"; every folder ignored: "Every needle folder is
    ignored", not imported."""
    outs = [
        Outcome(b"/n/a/1.jpg", Status.IDENTICAL, (Match(b"/lib/1.jpg", Tier.IDENTICAL, 0),)),
        Outcome(b"/n/old/1.jpg", Status.MISSING),
    ]
    doc = report.build(outs, [b"/n"], (10, 0), state=State.WATCHING, decided=_Folders(b"/n/old"), now=NOW)
    text = page.render(doc, {o.path: o for o in outs}, {})
    assert "Every needle folder is imported, apart from 1 ignored folder." in " ".join(Page(text).text)
    assert _title(text) == "hashwatchd: nothing to import"
    doc = report.build(outs[1:], [b"/n"], (10, 0), state=State.WATCHING, decided=_Folders(b"/n/old"), now=NOW)
    text = page.render(doc, {o.path: o for o in outs}, {})
    words = " ".join(Page(text).text)
    assert "Every needle folder is ignored" in words and "imported." not in words
    assert "nothing to import" not in _title(text)


def test_every_card_pulled_out_is_no_imported_card() -> None:
    """Every needle folder offline (the cards pulled out): the page does not say "Every needle
    folder is imported" (status --check says 4, nothing to judge), only what was last seen."""
    outs = [Outcome(b"/card/a/1.jpg", Status.IDENTICAL, (Match(b"/lib/1.jpg", Tier.IDENTICAL, 0),))]
    doc = _report(outs, [b"/card"], offline=[b"/card"])
    words = " ".join(Page(page.render(doc, {o.path: o for o in outs}, {})).text)
    assert "Every needle folder is imported" not in words
    assert "No needle folder is online (every card is pulled out): as last seen, nothing in them" in words


def test_edited_and_same_pictures_beside_their_library_copy_with_the_reason() -> None:
    """An edited picture is shown beside its library copy with the reason; same and identical
    ones are folded away beside theirs; a picture without a preview gets a placeholder."""
    edited_lib = Match(b"/lib/2019/edit.jpg", Tier.EDITED, 9)
    outs = [
        Outcome(b"/n/trip/edited.jpg", Status.EDITED, (edited_lib,)),
        Outcome(b"/n/trip/same.jpg", Status.SAME, (Match(b"/lib/2019/same.png", Tier.SAME, 1),)),
        Outcome(b"/n/trip/twin.jpg", Status.IDENTICAL, (Match(b"/lib/twin.jpg", Tier.IDENTICAL, 0),)),
        Outcome(b"/n/trip/new.jpg", Status.MISSING),
    ]
    previews = {
        b"/n/trip/edited.jpg": "thumbs/e.jpg",
        b"/lib/2019/edit.jpg": "thumbs/l.jpg",
        b"/n/trip/same.jpg": "thumbs/s.jpg",
        b"/lib/2019/same.png": "thumbs/t.jpg",
    }
    sizes = {b"/n/trip/edited.jpg": (4000, 3000), b"/lib/2019/edit.jpg": (3600, 2700)}
    text = page.render(_report(outs, [b"/n"]), {o.path: o for o in outs}, previews, sizes)
    parsed = Page(text)
    assert parsed.attrs("img", "src") == ["thumbs/e.jpg", "thumbs/l.jpg", "thumbs/s.jpg", "thumbs/t.jpg"]
    words = " ".join(parsed.text)
    assert "3600\u00d72700" in words and "4000\u00d73000" in words
    assert "differs by an edit" in words and "/lib/2019/edit.jpg" in words
    assert "the same file, byte for byte" in words and "/lib/twin.jpg" in words
    assert words.count("no preview") == 3  # new.jpg, twin.jpg and its library copy
    assert text.index("edited.jpg") < text.index("<details>") < text.index("same.jpg")


def test_shown_lists_previews_most_useful_first() -> None:
    """Missing pictures first, then edited ones with their library copy, then imported ones with theirs."""
    outs = [
        Outcome(b"/n/a/same.jpg", Status.SAME, (Match(b"/lib/s.jpg", Tier.SAME, 1),)),
        Outcome(b"/n/a/edit.jpg", Status.EDITED, (Match(b"/lib/e.jpg", Tier.EDITED, 5),)),
        Outcome(b"/n/b/new.jpg", Status.MISSING),
        Outcome(b"/n/b/bad.jpg", Status.UNREADABLE, problem=Problem("corrupt", "x")),
    ]
    shown = page.shown(_report(outs, [b"/n"]), {o.path: o for o in outs})
    assert shown == [b"/n/b/new.jpg", b"/n/a/edit.jpg", b"/lib/e.jpg", b"/n/a/same.jpg", b"/lib/s.jpg"]


def test_shown_puts_what_a_person_decided_not_to_import_last() -> None:
    """An ignored folder's pictures are folded away: their previews come after every other
    folder's, imported ones included, so the budget of a write goes on what the page shows open."""
    outs = [
        Outcome(b"/n/a/old.jpg", Status.MISSING),
        Outcome(b"/n/b/same.jpg", Status.SAME, (Match(b"/lib/s.jpg", Tier.SAME, 1),)),
        Outcome(b"/n/c/new.jpg", Status.MISSING),
    ]
    doc = report.build(outs, [b"/n"], (10, 0), state=State.WATCHING, decided=_Folders(b"/n/a"), now=NOW)
    shown = page.shown(doc, {o.path: o for o in outs})
    assert shown == [b"/n/c/new.jpg", b"/n/b/same.jpg", b"/lib/s.jpg", b"/n/a/old.jpg"]


def test_an_empty_report_is_a_page_too() -> None:
    """No folder yet: the page says so."""
    text = page.render(_report([], [b"/n"]), {}, {})
    assert "No needle folder holds a file yet." in text
    assert 'data-state="watching"' in text


def test_raw_files_and_videos_say_so_under_their_preview() -> None:
    """A raw file and a video are labelled under their preview (a needle by its outcome's kind, a
    library copy by the kind it was given); a photo is not."""
    outs = [
        Outcome(b"/n/a/IMG_1.CR2", Status.MISSING, kind=Kind.RAW),
        Outcome(b"/n/a/MVI_2.MP4", Status.SAME, (Match(b"/lib/MVI_2.mov", Tier.SAME, 0),), kind=Kind.VIDEO),
        Outcome(b"/n/a/IMG_3.JPG", Status.MISSING),
    ]
    sizes = {o.path: (640, 480) for o in outs} | {b"/lib/MVI_2.mov": (640, 480)}
    text = page.render(
        _report(outs, [b"/n"]), {o.path: o for o in outs}, {}, sizes, kinds={b"/lib/MVI_2.mov": Kind.VIDEO}
    )
    notes = [n for n in Page(text).text if "640\u00d7480" in n]
    assert notes == ["640\u00d7480 raw", "640\u00d7480", "640\u00d7480 video", "640\u00d7480 video"]


def test_the_header_counts_files_raw_files_and_videos_included() -> None:
    """Raw files and videos are counted as what they are, files (not pictures), in the singular for one."""
    outs = [
        Outcome(b"/n/a/IMG_1.CR2", Status.MISSING, kind=Kind.RAW),
        Outcome(b"/n/a/MVI_2.MP4", Status.MISSING, kind=Kind.VIDEO),
    ]
    doc = report.build(outs, [b"/n"], (1, 0), state=State.WATCHING, now=NOW)
    text = page.render(doc, {o.path: o for o in outs}, {})
    header = "".join(Page(text[text.index("<header>") : text.index("</header>")]).text)
    assert "library 1 file \u00b7 2 files in 1 needle folder" in header
    assert "1 folder to import" in header and "2 files missing" in header
    assert "picture" not in header.replace("Photos not yet in the library", "")


class _Decided:
    """A person decided not to import /n/old and the single file /n/mix/skip.jpg."""

    def folder(self, root: bytes, directory: bytes) -> bool:
        return directory == b"/n/old"

    def file(self, root: bytes, path: bytes) -> bool:
        return path == b"/n/mix/skip.jpg"


def test_a_folder_decided_not_to_import_is_not_to_import() -> None:
    """An ignored folder comes after the folders to import, says so, folds its missing pictures
    away and is left out of the header's totals; a file ignored by itself is counted as such."""
    outs = [
        Outcome(b"/n/mix/new.jpg", Status.MISSING),
        Outcome(b"/n/mix/skip.jpg", Status.MISSING),
        Outcome(b"/n/old/1.jpg", Status.MISSING),
        Outcome(b"/n/old/2.jpg", Status.MISSING),
    ]
    doc = report.build(outs, [b"/n"], (10, 0), state=State.WATCHING, decided=_Decided(), now=NOW)
    text = page.render(doc, {o.path: o for o in outs}, {o.path: "thumbs/x.jpg" for o in outs})
    parsed = Page(text)
    assert parsed.folders == ["/n/mix", "/n/old"]
    sections = {a["id"]: (a["class"] or "").split() for t, a in parsed.tags if t == "section"}
    assert sections == {"folder-1": ["folder", "todo"], "folder-2": ["folder", "done", "ignored"]}
    words = "".join(parsed.text)
    assert "ignored: decided not to import" in words and "1 ignored" in words
    assert "1 folder to import" in words and "1 file missing" in words
    old = text[text.index('id="folder-2"') :]
    assert old.index("<details><summary>Decided not to import") < old.index("1.jpg")


class _Folders:
    """A person decided not to import these folders."""

    def __init__(self, *folders: bytes) -> None:
        self.folders = set(folders)

    def folder(self, root: bytes, directory: bytes) -> bool:
        return directory in self.folders

    def file(self, root: bytes, path: bytes) -> bool:
        return False
