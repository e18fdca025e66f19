"""Camera cards as a photographer sees them: every file of the shared card world against what its
truth.tsv says a photographer expects of it, then the same cards copied into a running daemon.

usage: python bench/cards.py [WORKDIR]   (builds ../shared/corpus/build_cards.py WORKDIR/world once:
about 25 minutes and 3 GB of memory, apt-get and pip downloads; later runs reuse it)

1. A cold `scan` of the world's library against every card dump (Canon, Nikon, Sony, GoPro, Pixel,
   iPhone, a burst, a 200-frame card): raw files with previews, DNG, HEIC, MP4/MOV, sidecars.
   Each file's description in truth.tsv is read as what hashwatchd should say (an exact copy:
   identical; an export or conversion: same; an edit in the library: edited; not in the library:
   missing, or edited for a raw file whose rendering the library holds; a sidecar: not listed).
   The 200-frame card is not described: none of its frames is in the library.
2. The folders: a folder may be `imported` only if every file in it is in the library.
3. A daemon watching the library and the world's Imports (three cards) while the Nikon, GoPro and
   200-frame cards are copied in with `cp -r`: the time until it is idle, then every difference
   from a cold scan of the same trees (there must be none).

Exits 1 when a file or folder is called imported that is not, when a sidecar is listed, or when
the daemon and the cold scan disagree.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemonproc import DaemonProc
from differential import cold_scan, compare_matches, compare_status, matches, wait_idle

SHARED = next(
    (p / "shared" / "corpus" for p in Path(__file__).resolve().parents if (p / "shared" / "corpus").is_dir()),
    Path(__file__).resolve().parent.parent.parent / "shared" / "corpus",
)
IMPORTED = {"identical", "same"}
COPIED_IN = ("nikon_d750", "gopro_hero9", "bulk200")


def build(work: Path) -> Path:
    world = work / "world"
    if not (world / "truth.tsv").exists():
        subprocess.run([sys.executable, SHARED / "build_cards.py", world], check=True)
    return world


def expected(description: str) -> str:
    """What hashwatchd should say of a file, from the photographer's words in truth.tsv."""
    t = description.lower()
    if "ignore" in t:
        return "not listed"
    if "not in library" in t:
        return "missing"
    if "(edited)" in t:
        return "edited"
    if "exact" in t:
        return "identical"
    if any(word in t for word in ("export", "conversion", "photo is imported")):
        return "same"
    raise SystemExit(f"bench/cards.py: no expectation known for {description!r}: teach expected() its words")


def acceptable(want: str, got: str, kind: str) -> bool:
    """Whether `got` is right for `want`. A raw file whose camera JPEG the library holds is
    `edited` by default (the library holds a rendering of it, not the raw: README, Matching)."""
    if want == "missing" and got == "edited":
        return kind.lower().startswith("raw")
    return got == want


def score(world: Path, rows: list[dict[str, Any]], status: dict[str, Any]) -> int:
    """Print the table of expectations against statuses; return the number of unsafe results."""
    got = {r["path"]: r["status"] for r in rows}
    truth = [line.split("\t") for line in (world / "truth.tsv").read_text().splitlines()[1:]]
    described = {str(world / path) for path, _, _ in truth}
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    unsafe, wrong = [], []
    for path, kind, description in truth:
        want, said = expected(description), got.get(str(world / path), "not listed")
        table[want][said] += 1
        if (want not in IMPORTED and said in IMPORTED) or (want == "not listed" and said != "not listed"):
            unsafe.append(f"{path}: {said}, expected {want} ({description})")
        elif not acceptable(want, said, kind):
            wrong.append(f"{path}: {said}, expected {want} ({description})")
    for path, said in got.items():
        if path not in described:
            table["missing (200-frame card)"][said] += 1
            if said in IMPORTED:
                unsafe.append(f"{path}: {said}, but the library holds none of the 200 frames")
    statuses = ["identical", "same", "edited", "missing", "unreadable", "not listed"]
    print(f"{'expected':28}" + "".join(f"{s:>12}" for s in statuses))
    for want in sorted(table):
        print(f"{want:28}" + "".join(f"{table[want][s]:12d}" for s in statuses))
    print(f"files called imported (or listed) against the truth: {len(unsafe)}")
    for line in unsafe:
        print("  UNSAFE", line)
    print(f"files not as expected, on the safe side: {len(wrong)}")
    for line in wrong:
        print("  ", line)
    bad_folders = []
    wants = {str(world / p): expected(d) for p, _, d in truth}
    placed = 0
    for folder in status["folders"]:
        where = os.path.normpath(os.path.join(folder["root"], folder["path"]))  # "path" is relative to "root"
        inside = [p for p in got if os.path.dirname(p) == where]
        placed += len(inside)
        if folder["status"] == "imported" and any(wants.get(p, "missing") not in IMPORTED for p in inside):
            bad_folders.append(where)
    if placed != len(got):  # the check above must see every listed file, or it proves nothing
        raise SystemExit(f"bench/cards.py: {len(got) - placed} listed files are in no folder of the status file")
    print(
        f"folders: {len(status['folders'])}, imported {sum(f['status'] == 'imported' for f in status['folders'])}, "
        f"called imported against the truth: {len(bad_folders)}"
    )
    for path in bad_folders:
        print("  UNSAFE folder", path)
    return len(unsafe) + len(bad_folders)


def daemon_run(world: Path, work: Path) -> int:
    """Copy three cards into a watched Imports while the daemon runs; the differences from a cold scan."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    shutil.copytree(world / "library", run / "lib", symlinks=True)
    shutil.copytree(world / "Imports", run / "Imports", symlinks=True)
    config = run / "config.yaml"
    config.write_text(f"haystack: [{run / 'lib'}]\nneedles: [{run / 'Imports'}]\nreport_interval: 0.5\n")
    daemon = DaemonProc(run, config, state=run / "state", settle=2.0, workers=2)
    t0 = time.monotonic()
    daemon.start(timeout=600)
    print(f"daemon ready on {run / 'Imports'} in {time.monotonic() - t0:.1f} s")
    try:
        t0 = time.monotonic()
        for card in COPIED_IN:
            subprocess.run(["cp", "-r", str(world / "cards" / card), str(run / "Imports" / card)], check=True)
        copied = time.monotonic() - t0
        doc, waited = wait_idle(daemon, timeout=900)
        if doc is None:
            print(f"the daemon was not idle {waited:.0f} s after the copies")
            return 1
        print(f"cp -r of {', '.join(COPIED_IN)}: {copied:.1f} s; the daemon idle {waited:.1f} s after the copies began")
        own = matches(daemon.state)
        scan, theirs, _ = cold_scan(run / "lib", run / "Imports", run / "cold")
        diffs = compare_status(doc, scan, run) + compare_matches(own, theirs, run)
        print(f"daemon against a cold scan of the same trees: {len(diffs)} differences")
        for line in diffs:
            print("  ", line)
        return len(diffs)
    finally:
        daemon.stop()


def main() -> int:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/hashwatchd-cards").resolve()
    work.mkdir(parents=True, exist_ok=True)
    world = build(work)
    state = work / "scan-state"
    shutil.rmtree(state, ignore_errors=True)
    t0 = time.monotonic()
    status, rows, _ = cold_scan(world / "library", world / "cards", state)
    print(f"cold scan of {world / 'cards'} against {world / 'library'}: {time.monotonic() - t0:.1f} s")
    print(json.dumps(status["needles"]))
    unsafe = score(world, rows, status)
    differences = daemon_run(world, work)
    return 1 if unsafe or differences else 0


if __name__ == "__main__":
    sys.exit(main())
