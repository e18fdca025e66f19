"""Where a path lies, answered the same way everywhere."""

from __future__ import annotations

from hashwatchd import paths


def test_below_and_within_do_not_confuse_siblings_sharing_a_prefix() -> None:
    """/a/bc is not under /a/b; a trailing slash and the root / behave."""
    assert paths.below(b"/a/b/x.jpg", b"/a/b")
    assert paths.below(b"/a/b/x.jpg", b"/a/b/")
    assert not paths.below(b"/a/bc/x.jpg", b"/a/b")
    assert not paths.below(b"/a/b", b"/a/b")
    assert paths.within(b"/a/b", b"/a/b/")
    assert paths.below(b"/x.jpg", b"/")


def test_the_innermost_root_holds_a_file() -> None:
    """With a needle root inside a library root, its files belong to the needle root."""
    roots = [b"/home/me/Pictures", b"/home/me/Pictures/Imports"]
    assert paths.root_of(b"/home/me/Pictures/Imports/card/a.jpg", roots) == b"/home/me/Pictures/Imports"
    assert paths.root_of(b"/home/me/Pictures/2020/a.jpg", roots) == b"/home/me/Pictures"
    assert paths.root_of(b"/elsewhere/a.jpg", roots) is None


def test_folder_key_is_the_directory_relative_to_its_root() -> None:
    """A file directly in the root is in folder `.`; deeper ones keep their relative path."""
    assert paths.folder_key(b"/card/a.jpg", [b"/card"]) == (b"/card", b".")
    assert paths.folder_key(b"/card/2019/Misc/a.jpg", [b"/card/"]) == (b"/card/", b"2019/Misc")


def test_hidden_and_excluded() -> None:
    """Any hidden component below the root hides a path; excludes match the whole path."""
    assert paths.hidden_below(b"/r/.tmp/a.jpg", b"/r")
    assert not paths.hidden_below(b"/r/a/b.jpg", b"/r")
    assert paths.excluded(b"/r/@eaDir/a.jpg", ["*/@eaDir/*"])
    assert not paths.excluded(b"/r/a.jpg", [])


def test_glob_patterns_match_component_by_component() -> None:
    """A path under /media/*/DCIM belongs to that pattern; one beside it does not."""
    assert paths.pattern_of(b"/media/sdb1/DCIM/100/a.jpg", [b"/media/*/DCIM"]) == b"/media/*/DCIM"
    assert paths.pattern_of(b"/media/sdb1/OTHER/a.jpg", [b"/media/*/DCIM"]) is None
    assert paths.pattern_of(b"/lib", [b"/lib/"]) == b"/lib/"
