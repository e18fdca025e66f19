"""Files on a card that are not photos, raw files or videos of their own: sidecars, system litter,
and the housekeeping folders cameras keep (thumbnails, proxies, indexes). They are left out of a
folder's count; every other file counts, and one hashwatchd cannot check is listed as such, so a
folder is never `imported` while it holds something that was not checked.

Names decide only what is ignored (a sidecar is known by its name and place); what a counted file
is, its content decides. The list is the `ignore` config key: the word `defaults` in it stands for
DEFAULTS below, so `ignore: [defaults, "*.txt"]` adds one pattern.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

#: (pattern, why). A pattern ending in "/" is a folder: everything below it is ignored; it is
#: matched against the folder's path below the root. Other patterns match file names. Both are
#: case-insensitive (cameras write .THM, phones .thm).
DEFAULTS: tuple[tuple[str, str], ...] = (
    ("*.xmp", "metadata sidecar (darktable, Lightroom, Capture One, digiKam): no pixels"),
    ("*.pp3", "RawTherapee edit sidecar"),
    ("*.dop", "DxO edit sidecar"),
    ("*.aae", "iPhone edit sidecar (the edited render, IMG_E*, counts)"),
    ("*.thm", "a clip's thumbnail JPEG (Canon, GoPro, Nikon): made from the clip beside it"),
    ("*.lrv", "GoPro low-resolution proxy of the .MP4 beside it"),
    ("*.lrf", "DJI low-resolution proxy of the .MP4 beside it"),
    ("*.srt", "DJI telemetry of a clip"),
    ("*.xml", "clip metadata (Sony C0001M01.XML, Canon and Panasonic clip XML): no pixels"),
    ("*.ctg", "Canon card catalogue"),
    ("*.mrk", "DPOF print order"),
    ("*.cpi", "AVCHD clip information"),
    ("*.mpl", "AVCHD playlist"),
    ("*.bdm", "AVCHD index"),
    ("*.dat", "camera database (Nikon NC_FLLST.DAT and others)"),
    ("*.bin", "camera status and index files (Sony STATUS.BIN, AVCHD)"),
    ("*.ind", "camera index files"),
    ("nikon*.dsc", "Nikon card marker"),
    ("thumbs.db", "Windows thumbnail cache"),
    ("desktop.ini", "Windows folder settings"),
    ("*/PRIVATE/M4ROOT/THMBNL/", "Sony clip thumbnails (the clips in PRIVATE/M4ROOT/CLIP count)"),
    ("*/PRIVATE/M4ROOT/SUB/", "Sony proxy clips"),
    ("*/PRIVATE/M4ROOT/GENERAL/", "Sony clip index"),
    ("*/PRIVATE/AVCHD/BDMV/CLIPINF/", "AVCHD clip information (the .MTS in BDMV/STREAM count)"),
    ("*/PRIVATE/AVCHD/BDMV/PLAYLIST/", "AVCHD playlists"),
    ("*/PRIVATE/AVCHD/BDMV/BACKUP/", "AVCHD index backups"),
    ("*/AVF_INFO/", "Sony still-camera index"),
    ("*/CANONMSC/", "Canon card catalogue"),
    ("*/EOSMISC/", "Canon EOS R housekeeping"),
    ("*/System Volume Information/", "Windows volume data on a FAT or exFAT card"),
    ("*/$RECYCLE.BIN/", "Windows recycle bin"),
)

#: Hidden names (`.DS_Store`, `.Trashes`, `._IMG_1.JPG`, Android's `.thumbnails`, `.trashed-*`,
#: rsync's temporaries) are always left out: they are litter, caches or files still being written.


@dataclass(frozen=True)
class Rules:
    """The ignore list in force: file-name patterns and folder patterns, lower case."""

    names: tuple[str, ...]
    folders: tuple[str, ...]

    @classmethod
    def of(cls, patterns: Sequence[str]) -> Rules:
        """Rules from config patterns; `defaults` stands for DEFAULTS."""
        expanded: list[str] = []
        for p in patterns:
            expanded += [d for d, _ in DEFAULTS] if p == "defaults" else [p]
        names = tuple(p.lower() for p in expanded if not p.endswith("/"))
        folders = tuple(p.rstrip("/").lower() for p in expanded if p.endswith("/"))
        return cls(names, folders)

    def file(self, name: bytes) -> bool:
        """Whether a file of this name is left out."""
        text = name.decode("utf-8", "surrogateescape").lower()
        return any(fnmatch.fnmatchcase(text, p) for p in self.names)

    def folder(self, rel: bytes) -> bool:
        """Whether the folder at `rel` (its path below the root, no leading slash) is left out, with
        everything below it. Matched as "*/" + rel, so `*/CANONMSC` matches a CANONMSC at any depth."""
        text = "*/" + rel.decode("utf-8", "surrogateescape").lower()
        return any(fnmatch.fnmatchcase(text, p) for p in self.folders)


DEFAULT_RULES = Rules.of(["defaults"])
NO_RULES = Rules((), ())
