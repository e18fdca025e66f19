"""What the full-resolution confirmation costs: a cold scan where every needle is `same`, and the
daemon's latency for one new needle with a `same` match.

usage: python bench/confirm.py [N] [ROUNDS] [WORKDIR]   (default 100 files, 10 rounds; needs
       pip install -e '.[bench]'; WORKDIR/corpus from bench/accuracy.py gives real photos)

Builds (once, cached in WORKDIR) N camera-sized library JPEGs (4032x3024, quality 90), each a
different window of a real photo (four windows 30% apart, mirrored or not, upside down or not) upscaled with its own
noise, so that no two of them are one picture; N needles that re-export them (decoded, written
again at quality 85: a library exported anew, every needle `same`); and N needles made the same
way from other windows, in no library (`missing`: hashed, never confirmed). Then, on files in the
page cache:
  scan     a cold `hashwatchd scan` (fresh index, all cores, process start included) of the library
           with the re-exports, and of the library with the new pictures: the difference is what the
           N confirmations cost beside hashing 2N files;
  daemon   `hashwatchd run --settle 0.5` on the library; each round copies in one re-export and one
           new picture and times each until the status file shows it (same, missing).
Prints both; exits non-zero when a scan does not call every re-export `same` and every new picture
`missing`. The interpreter running this bench runs hashwatchd (`python -m hashwatchd`), so
PYTHONPATH=OTHER_CHECKOUT measures another version on the same files.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

WIDTH, HEIGHT = 4032, 3024
HASHWATCHD = [sys.executable, "-m", "hashwatchd"]
SETTLE = 0.5


def sources(work: Path) -> list[np.ndarray]:
    """Real photos: the public corpus's (bench/accuracy.py builds it in WORKDIR; not its Sway
    wallpapers, one artwork rendered at six sizes), else scikit-image's."""
    found = sorted((work / "corpus/haystack/library").glob("skimage_*.png"))
    found += sorted((work / "corpus/haystack/library").glob("wall_backgrounds_*.png"))
    if found:
        return [cv2.imread(str(p)) for p in found]
    import skimage.data  # noqa: PLC0415 - the fallback source of real photos

    names = ("astronaut", "chelsea", "coffee", "rocket", "cat", "retina", "immunohistochemistry")
    return [getattr(skimage.data, n)()[:, :, ::-1] for n in names]


def picture(src: np.ndarray, variant: int, seed: int) -> np.ndarray:
    """Window `variant` (0-15) of `src` at the camera's size, with noise of its own: 70% of it at
    one of four corners (bits 0-1), mirrored (bit 2), upside down (bit 3)."""
    h, w = src.shape[:2]
    x0, y0 = (0.3 * (variant & 1), 0.3 * ((variant >> 1) & 1))
    window = src[int(y0 * h) : int((y0 + 0.7) * h), int(x0 * w) : int((x0 + 0.7) * w)]
    if variant & 4:
        window = window[:, ::-1]
    if variant & 8:
        window = window[::-1]
    big = cv2.resize(window, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    big += np.random.default_rng(seed).integers(-6, 7, big.shape, dtype=np.int16)
    return np.clip(big, 0, 255).astype(np.uint8)


def make(args: tuple[int, np.ndarray, int, Path, Path | None]) -> None:
    """Library file i (or, without a `reexport` folder, new picture i) and its re-export."""
    i, src, variant, out, reexport = args
    data = cv2.imencode(".jpg", picture(src, variant, i), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    (out / f"IMG_{i:04d}.JPG").write_bytes(data.tobytes())
    if reexport is not None:
        again = cv2.imencode(".jpg", cv2.imdecode(data, cv2.IMREAD_COLOR), [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
        (reexport / f"IMG_{i:04d}.JPG").write_bytes(again.tobytes())


def build(n: int, work: Path) -> tuple[Path, Path, Path]:
    """(library, re-exports, new pictures), built once per WORKDIR and N."""
    base = work / f"confirm-{n}"
    lib, same, new = base / "library", base / "reexported", base / "new"
    if all(len(list(d.glob("*.JPG"))) == n for d in (lib, same, new)):
        return lib, same, new
    src = sources(work)
    if 2 * n > 16 * len(src):
        sys.exit(f"{len(src)} source photos make at most {8 * len(src)} distinct pictures of each kind")
    for d in (lib, same, new):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    jobs = [(i, src[i % len(src)], i // len(src), lib, same) for i in range(n)]
    jobs += [(n + i, src[(n + i) % len(src)], (n + i) // len(src), new, None) for i in range(n)]
    with multiprocessing.Pool() as pool:
        pool.map(make, jobs)
    return lib, same, new


def scan(lib: Path, needles: Path, state: Path) -> tuple[float, dict[str, Any], str]:
    """Seconds of a cold scan, its status document, and its summary's last lines."""
    shutil.rmtree(state, ignore_errors=True)
    t0 = time.monotonic()
    out = subprocess.run(
        [*HASHWATCHD, "scan", "--haystack", str(lib), "--needles", str(needles), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - t0
    status = json.loads((state / "status.json").read_text())
    return seconds, status, out.stdout.strip().splitlines()[-1].split(";")[0]


def counts(status: dict[str, Any]) -> dict[str, int]:
    return {k: sum(f[k] for f in status["folders"]) for k in ("images", "identical", "same", "edited", "missing")}


def wait(report: Path, check: Any, start: float, timeout: float = 120) -> float:
    while time.monotonic() - start < timeout:
        try:
            doc = json.loads(report.read_text())
        except (OSError, ValueError):
            doc = None
        if doc is not None and check(doc):
            return time.monotonic() - start
        time.sleep(0.005)
    raise TimeoutError("the status file never showed the change")


def shown(name: str, status: str) -> Any:
    def check(doc: dict[str, Any]) -> bool:
        return any(f["path"] == name and f[status] == f["images"] == 1 and f["complete"] for f in doc["folders"])

    return check


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.gettempdir()) / "hashwatchd-bench"
    lib, same, new = build(n, work)
    for d in (lib, same, new):
        for p in d.iterdir():
            p.read_bytes()  # into the page cache
    base = Path(tempfile.mkdtemp(prefix="hashwatchd-confirm-"))
    failed = False
    try:
        rows = []
        for label, needles, expect in (("re-exports (same)", same, "same"), ("new pictures (missing)", new, "missing")):
            seconds, status, summary = scan(lib, needles, base / "state")
            got = counts(status)
            failed |= got[expect] != n
            rows.append((label, seconds, got, summary))
        needles, report = base / "needles", base / "state/status.json"
        shutil.rmtree(base / "state")
        needles.mkdir()
        run = ["run", "--haystack", str(lib), "--needles", str(needles), "--state-dir", str(base / "state")]
        proc = subprocess.Popen([*HASHWATCHD, *run, "--settle", str(SETTLE)], stderr=subprocess.DEVNULL)
        latency: dict[str, list[float]] = {"same": [], "missing": []}
        try:
            wait(report, lambda d: d["state"] == "watching", time.monotonic(), timeout=600)
            for r in range(rounds):
                for status, folder in (("same", same), ("missing", new)):
                    files = sorted(folder.glob("*.JPG"))
                    name = f"{status}{r}"
                    (needles / name).mkdir()
                    t0 = time.monotonic()
                    shutil.copy(files[r % len(files)], needles / name / "IMG.JPG")
                    latency[status].append(wait(report, shown(name, status), t0))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
    finally:
        shutil.rmtree(base)
    print(f"cold `hashwatchd scan` of {n} library JPEGs ({WIDTH}x{HEIGHT}) with {n} needles")
    print("| needles | seconds | identical/same/edited/missing | summary |\n|---|---|---|---|")
    for label, seconds, got, summary in rows:
        tiers = "/".join(str(got[k]) for k in ("identical", "same", "edited", "missing"))
        print(f"| {label} | {seconds:.1f} | {tiers} | {summary} |")
    print(f"\ndaemon latency, one needle copied in (settle {SETTLE} s, {rounds} rounds)")
    print("| needle | p50 (s) | max (s) |\n|---|---|---|")
    for status, values in latency.items():
        print(f"| a {status} one | {statistics.median(values):.2f} | {max(values):.2f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
