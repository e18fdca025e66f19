"""Accuracy on the public corpus: hashwatchd beside the seed's method and imagehash, in one run.

usage: python bench/accuracy.py [WORKDIR]   (needs: pip install -e '.[bench]'; builds the corpus with
../shared/corpus/build_public.py, which uses pip and apt-get, and scores every method with score.py)

Prints, per method, score.py's per-category recall and its verdict line, then a summary table with the
burst neighbours (frames 1-12 after a library frame of a clip) counted apart. Exits non-zero when
hashwatchd misses a floor (no negative called same/identical, same-recall >= 99%, edited-recall >= 95%,
negatives called edited <= 3%: score.py's; burst neighbours called edited <= 5%: issue 10's).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import imagehash
import numpy as np
from PIL import Image

#: The shared corpus tools: ../shared/corpus beside the checkout (or beside a parent of it, for a
#: git worktree kept in a subdirectory).
SHARED = next(
    (p / "shared" / "corpus" for p in Path(__file__).resolve().parents if (p / "shared" / "corpus").is_dir()),
    Path(__file__).resolve().parent.parent.parent / "shared" / "corpus",
)


def build(work: Path) -> Path:
    corpus = work / "corpus"
    if not (corpus / "truth.json").exists():
        subprocess.run([sys.executable, SHARED / "build_public.py", corpus], check=True)
    return corpus


def images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def seed_dhash(path: Path) -> int:
    """The 2017 seed script: full colour decode, gray, bilinear 9x8, exact-match key."""
    img = cv2.imread(str(path))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (9, 8))
    diff = small[:, 1:] > small[:, :-1]
    return sum(2**i for i, v in enumerate(diff.flatten()) if v)


def hash_method(
    corpus: Path, out: Path, key: Callable[[Path], object], distance: Callable[[object, object], int], threshold: int
) -> None:
    """Write matches JSONL for a hash method: 'same' when within `threshold` of a library hash."""
    lib = [(p, key(p)) for p in images(corpus / "haystack")]
    with out.open("w") as f:
        for needle in images(corpus / "needles"):
            h = key(needle)
            hits = [str(p) for p, lh in lib if distance(h, lh) <= threshold]
            f.write(
                json.dumps(
                    {
                        "path": str(needle),
                        "status": "same" if hits else "missing",
                        "matches": [{"path": p} for p in hits],
                    }
                )
                + "\n"
            )


def pil_hash(fn: Callable[[Image.Image], imagehash.ImageHash]) -> Callable[[Path], object]:
    def key(path: Path) -> object:
        with Image.open(path) as im:
            return fn(im)

    return key


def score(corpus: Path, matches: Path) -> tuple[int, str]:
    r = subprocess.run(
        [sys.executable, SHARED / "score.py", corpus / "truth.json", corpus / "needles", corpus / "haystack", matches],
        capture_output=True,
        text=True,
        check=False,
    )
    if not r.stdout.strip():
        sys.exit(f"score.py printed nothing (exit {r.returncode}): {r.stderr.strip()}")
    return r.returncode, r.stdout.strip()


#: Burst neighbours hashwatchd may call edited at most (issue 10): another moment is no edit.
MAX_BURST_EDITED = 0.05


def bursts(corpus: Path, matches: Path) -> tuple[int, int, int]:
    """(burst neighbours, those called same or identical, those called edited) in a matches file."""
    truth = json.loads((corpus / "truth.json").read_text())
    needles = os.path.realpath(corpus / "needles")
    status = {}
    for line in matches.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            status[os.path.relpath(os.path.realpath(row["path"]), needles)] = row["status"]
    neighbours = [rel for rel in truth if rel.startswith("burst_neighbour/")]
    strong = sum(status.get(rel) in ("same", "identical") for rel in neighbours)
    return len(neighbours), strong, sum(status.get(rel) == "edited" for rel in neighbours)


def main() -> int:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="hashwatchd-bench-"))
    corpus = build(work)
    state = work / "state"
    subprocess.run(
        [
            "hashwatchd",
            "scan",
            "--haystack",
            corpus / "haystack",
            "--needles",
            corpus / "needles",
            "--state-dir",
            state,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ours = work / "hashwatchd.jsonl"
    with ours.open("w") as f:
        subprocess.run(["hashwatchd", "matches", "--state-dir", state, "--json"], check=True, stdout=f)
    methods = {"hashwatchd": ours}
    methods["seed exact dHash"] = work / "seed.jsonl"
    hash_method(corpus, methods["seed exact dHash"], seed_dhash, lambda a, b: 0 if a == b else 1, 0)
    for name, fn in (("imagehash dHash <= 10", imagehash.dhash), ("imagehash pHash <= 10", imagehash.phash)):
        methods[name] = work / (name.split()[1] + ".jsonl")
        hash_method(corpus, methods[name], pil_hash(fn), lambda a, b: int(a - b), 10)
    rows = []
    verdict = 1
    for name, path in methods.items():
        code, text = score(corpus, path)
        print(f"== {name}\n{text}\n")
        last = text.splitlines()[-1]
        same, edited = re.search(r"same-recall ([\d.]+)", last), re.search(r"edited-recall ([\d.]+)", last)
        false_same, false_edited = re.search(r"false same (\d+/\d+)", last), re.search(r"false edited (\d+/\d+)", last)
        n, strong, loose = bursts(corpus, path)
        figures = [m.group(1) if m else "?" for m in (same, edited, false_same, false_edited)]
        rows.append((name, *figures, f"{strong}/{n}", f"{loose}/{n}"))
        if name == "hashwatchd":
            verdict = code or int(loose > MAX_BURST_EDITED * n)
    print(
        "| method | same-tier recall | edited-tier recall | negatives called same/identical | negatives called"
        " edited | burst neighbours called same/identical | burst neighbours called edited |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\ncorpus: {corpus}  (numpy {np.__version__}, opencv {cv2.__version__})", file=sys.stderr)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
