"""Cold scans: `hashwatchd scan` against the decode-only limit, the seed and imagehash; what a card costs to read.

usage: python bench/cold.py [N] [WORKDIR]   (default 500 files; needs pip install -e '.[bench]')

Builds N camera-sized JPEGs (4032x3024, quality 90) from real photos (the public corpus sources in
WORKDIR/corpus/haystack if bench/accuracy.py built them there, else scikit-image's sample photos, else
synthetic ones), each upscaled with its own noise so no two files are alike. Then, in one run, on the same
files from the page cache:
  limit      DCT-scaled 1/8 grayscale decode of every file with OpenCV on all cores, nothing else;
  hashwatchd a cold `hashwatchd scan` of the files (fresh index, all cores, process start included);
  seed       the 2017 script's method: full colour decode, cvtColor, resize, one process;
  imagehash  imagehash.dhash with Pillow, one process.
Prints img/s and the ratios; exits non-zero if hashwatchd is under 0.8x the limit, 4x the seed or 6x imagehash.

Then the bytes a card costs to read. It also builds (once, cached in WORKDIR/cards) 20 raw files shaped like
CR2, NEF and DNG files in turn (tests/cards.py's tiff_raw: a full-size JPEG preview and 16-bit CFA data,
4032x3024, from the same photos with their own noise) and one video of at least 500 MB (10 s of 1080p H.264
at 45 Mbit/s, a keyframe a second, a pan across three photos with sensor-like noise, its packets remuxed in
a loop into one MP4 with its index at the end). Each set is scanned as the needles of a cold `hashwatchd
scan` (fresh state dir, empty library); the bytes it read are this process's /proc/self/io rchar before
and after: the kernel adds what a reaped child read, with what its own reaped children read, to its
parent's counts (checked first, with a grandchild reading a known file), so the decoder processes count.
A scan of one small JPEG (the program and its decoder processes starting, mostly Python modules) is
subtracted. Sets: the JPEGs; the raw files; the video; a mix (100 JPEGs, the raw files, the video); the video
with a byte-identical copy in the library, which the engine reads whole, both files, to call it identical.
Prints, per set, the files, their bytes, the bytes read, the ratio, seconds and files/s; exits non-zero if
the raw files cost more than 30% of their bytes (their previews are 5-17%), the video more than 5% (the
design's bound, four whole groups of pictures with the probe and the index, is 4.7% of it with its average
group), the identical copy less than its size, or the JPEGs less than theirs (a photo's digest is its
SHA-256: less would mean reads went uncounted).
"""

from __future__ import annotations

import collections
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import av
import cv2
import imagehash
import numpy as np
from PIL import Image

WIDTH, HEIGHT = 4032, 3024
#: `hashwatchd` as the interpreter running this bench has it (no activated venv needed).
HASHWATCHD = [sys.executable, "-m", "hashwatchd"]
TESTS = Path(__file__).resolve().parent.parent / "tests"

RAWS = 20
RAW_KINDS = ("cr2", "nef", "dng")
VIDEO_SIZE = (1920, 1080)
VIDEO_FPS, VIDEO_GOP, VIDEO_SECONDS, VIDEO_RATE = 30, 30, 10, 45_000_000
VIDEO_BYTES = 500_000_000
MIX_JPEGS = 100

RAW_FLOOR, VIDEO_FLOOR = 0.30, 0.05
KIND_OF = {".JPG": "photos", ".CR2": "raws", ".NEF": "raws", ".DNG": "raws", ".MP4": "videos"}


def sources(work: Path) -> list[np.ndarray]:
    found = sorted((work / "corpus/haystack/library").glob("*.png"))
    if not found:
        try:
            import skimage.data  # noqa: PLC0415 - optional source of real photos

            return [
                skimage.data.astronaut()[:, :, ::-1],
                skimage.data.chelsea()[:, :, ::-1],
                skimage.data.coffee()[:, :, ::-1],
                skimage.data.rocket()[:, :, ::-1],
            ]
        except ImportError:
            rng = np.random.default_rng(0)
            return [cv2.resize(rng.random((24, 32, 3)).astype(np.float32) * 255, (640, 480)).astype(np.uint8)]
    return [cv2.imread(str(p)) for p in found]


def camera_picture(src: np.ndarray, seed: int) -> np.ndarray:
    """`src` at the camera's size with its own noise: no two pictures alike."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(src, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    big += rng.integers(-6, 7, big.shape, dtype=np.int16)
    return np.clip(big, 0, 255).astype(np.uint8)


def make(args: tuple[int, np.ndarray, Path]) -> None:
    i, src, out = args
    cv2.imwrite(str(out / f"IMG_{i:04d}.JPG"), camera_picture(src, i), [cv2.IMWRITE_JPEG_QUALITY, 90])


def build(n: int, work: Path) -> Path:
    out = work / f"camera-{n}"
    if len(list(out.glob("*.JPG"))) == n:
        return out
    out.mkdir(parents=True, exist_ok=True)
    src = sources(work)
    with multiprocessing.Pool() as pool:
        pool.map(make, [(i, src[i % len(src)], out) for i in range(n)])
    return out


def make_raw(args: tuple[int, np.ndarray, Path]) -> None:
    """One raw file through tests/cards.py's maker (the one the tests use), written whole or not at all."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import cards  # noqa: PLC0415 - test code, reached through sys.path

    i, src, out = args
    kind = RAW_KINDS[i % len(RAW_KINDS)]
    name = f"IMG_{i:04d}.{kind.upper()}"
    (out / f".{name}").write_bytes(cards.tiff_raw(kind, camera_picture(src, 10_000 + i)))
    (out / f".{name}").rename(out / name)


def build_raws(work: Path) -> Path:
    out = work / "cards" / f"raw-{RAWS}-{WIDTH}x{HEIGHT}"
    if len(list(out.glob("IMG_*"))) == RAWS:
        return out
    out.mkdir(parents=True, exist_ok=True)
    src = sources(work)
    with multiprocessing.Pool() as pool:
        pool.map(make_raw, [(i, src[(7 * i + 3) % len(src)], out) for i in range(RAWS)])
    return out


def build_video(work: Path) -> Path:
    """A camera-like clip of at least VIDEO_BYTES: VIDEO_SECONDS encoded once, its packets muxed in a loop."""
    w, h = VIDEO_SIZE
    out = work / "cards" / f"video-{w}x{h}-{VIDEO_RATE // 1_000_000}M-{VIDEO_BYTES // 1_000_000}MB" / "C0001.MP4"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = sources(work)
    wide = np.hstack([cv2.resize(src[k * len(src) // 3], (w, h), interpolation=cv2.INTER_CUBIC) for k in range(3)])
    rng = np.random.default_rng(0)
    noise = [rng.integers(-4, 5, (h, w, 3), dtype=np.int16) for _ in range(7)]  # sensor noise, in turn
    clip = out.parent / ".clip.mp4"
    n = VIDEO_FPS * VIDEO_SECONDS
    with av.open(str(clip), "w") as f:
        st = f.add_stream("libx264", rate=VIDEO_FPS)
        st.width, st.height, st.pix_fmt, st.bit_rate = w, h, "yuv420p", VIDEO_RATE
        st.options = {"preset": "ultrafast", "g": str(VIDEO_GOP), "x264-params": "scenecut=0"}
        for i in range(n):
            x = 2 * w * i // (n - 1)  # a pan across three photos
            frame = np.clip(wide[:, x : x + w].astype(np.int16) + noise[i % len(noise)], 0, 255).astype(np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                f.mux(pkt)
        for pkt in st.encode():
            f.mux(pkt)
    tmp = out.parent / ".C0001.MP4"
    with av.open(str(clip)) as src_file, av.open(str(tmp), "w", format="mp4") as dst:
        ins = src_file.streams.video[0]
        packets = [(bytes(p), p.pts, p.dts, p.duration, p.is_keyframe) for p in src_file.demux(ins) if p.size]
        span = max(pts + dur for _, pts, _, dur, _ in packets) - min(pts for _, pts, _, _, _ in packets)
        ost = dst.add_stream_from_template(ins)
        for k in range(math.ceil(VIDEO_BYTES / sum(len(p[0]) for p in packets))):
            for data, pts, dts, dur, key in packets:
                pkt = av.Packet(data)
                pkt.pts, pkt.dts, pkt.duration = pts + k * span, dts + k * span, dur
                pkt.time_base, pkt.is_keyframe, pkt.stream = ins.time_base, key, ost
                dst.mux(pkt)
    clip.unlink()
    tmp.rename(out)
    return out


@dataclass
class CardSet:
    """Files scanned as the needles of one cold scan, and the floors on what that may read."""

    name: str
    files: list[Path]
    needles: Path  # the folder holding them
    copy: Path | None = None  # a file copied into the library for this scan
    least: float | None = None  # the least and the most of its bytes the scan may read
    most: float | None = None
    status: str = "missing"  # what every file must be found to be


def build_small(work: Path) -> Path:
    """One small JPEG (tens of KB): a scan of it costs what starting the program and its decoder processes costs."""
    out = work / "cards" / "small"
    if not (out / "IMG_0001.JPG").exists():
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / "IMG_0001.JPG"), cv2.resize(sources(work)[0], (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return out


def linked(folder: Path, files: list[Path]) -> Path:
    """`folder` holding hard links to `files` and nothing else (a set of the others' files, no copies)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for f in files:
        os.link(f, folder / f.name)
    return folder


def rchar() -> int:
    """Bytes this process read with read() and its kin, plus those of every child it has waited for."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


def read_by(command: list[str], stdout: IO[str] | int = subprocess.DEVNULL) -> int:
    before = rchar()
    subprocess.run(command, check=True, stdout=stdout)
    return rchar() - before


def accounting_error(known: Path) -> int:
    """How far a grandchild reading `known` (a child's child, both waited for) moves our rchar from its size."""
    reader = "import sys\nwith open(sys.argv[1], 'rb') as f:\n    while f.read(1 << 20):\n        pass"
    nested = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', *sys.argv[1:]], check=True)"
    alone = read_by([sys.executable, "-c", nested, reader, os.devnull])
    return read_by([sys.executable, "-c", nested, reader, str(known)]) - alone - known.stat().st_size


def scan(needles: Path, library: Path) -> tuple[int, float, dict[str, Any]]:
    """Bytes read by a cold `hashwatchd scan` (all its processes), its seconds (process start included) and the
    status it printed (into a file, read afterwards: reading a pipe would count)."""
    work = Path(tempfile.mkdtemp(prefix="hashwatchd-cold-"))
    try:
        command = [*HASHWATCHD, "scan", "--haystack", str(library), "--needles", str(needles), "--json"]
        with open(work / "status.json", "w") as out:
            t = time.perf_counter()
            read = read_by([*command, "--state-dir", str(work / "state")], stdout=out)
            seconds = time.perf_counter() - t
        return read, seconds, json.loads((work / "status.json").read_text())
    finally:
        shutil.rmtree(work)


def surprises(cs: CardSet, status: dict[str, Any]) -> list[str]:
    """What the scan found that the set does not hold: every file must be read as its kind, and have its status
    (else a floor could pass because a file was given up on, not read)."""
    want = collections.Counter(KIND_OF[p.suffix] for p in cs.files)
    got = collections.Counter({k: sum(f[k] for f in status["folders"]) for k in ("photos", "raws", "videos")})
    found = sum(f[cs.status] for f in status["folders"])
    out = []
    if +got != want or status["needles"]["unreadable"]:
        out.append(
            f"{cs.name}: scanned as {dict(got)}, {status['needles']['unreadable']} unreadable; {dict(want)} expected"
        )
    if found != len(cs.files):
        out.append(f"{cs.name}: {found} of {len(cs.files)} files {cs.status}")
    return out


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def warm(files: list[Path]) -> None:
    """Into the page cache, so every method and set reads from memory."""
    for p in files:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def limit_one(path: str) -> int:
    with open(path, "rb") as f:
        data = f.read()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    return int(img.shape[0])


def seed_one(path: str) -> int:
    img = cv2.imread(path)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (9, 8))
    return int((small[:, 1:] > small[:, :-1]).sum())


def rate(n: int, seconds: float) -> float:
    return n / seconds


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.gettempdir()) / "hashwatchd-bench"
    t0 = time.perf_counter()
    folder = build(n, work)
    t1 = time.perf_counter()
    raw_folder = build_raws(work)
    t2 = time.perf_counter()
    video = build_video(work)
    t3 = time.perf_counter()
    one_jpeg = build_small(work)
    built = f"JPEGs {t1 - t0:.0f} s, raw files {t2 - t1:.0f} s, video {t3 - t2:.0f} s"
    measuring = time.perf_counter()
    files = sorted(str(p) for p in folder.glob("*.JPG"))
    raws = sorted(raw_folder.glob("IMG_*"))
    warm([Path(p) for p in files] + raws + [video])
    cv2.setNumThreads(1)
    t = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count()) as pool:
        pool.map(limit_one, files, chunksize=8)
    limit = rate(n, time.perf_counter() - t)

    state = Path(tempfile.mkdtemp(prefix="hashwatchd-cold-"))
    (state / "lib").mkdir()
    t = time.perf_counter()
    subprocess.run(
        [
            *HASHWATCHD,
            "scan",
            "--haystack",
            str(folder),
            "--needles",
            str(state / "lib"),
            "--state-dir",
            str(state / "s"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ours = rate(n, time.perf_counter() - t)
    shutil.rmtree(state)

    subset = files[: min(n, 100)]
    t = time.perf_counter()
    for p in subset:
        seed_one(p)
    seed = rate(len(subset), time.perf_counter() - t)
    t = time.perf_counter()
    for p in subset:
        with Image.open(p) as im:
            imagehash.dhash(im)
    ih = rate(len(subset), time.perf_counter() - t)

    # What a card costs to read: every set as the needles of a cold scan, an empty library.
    cards = work / "cards"
    off = accounting_error(raws[0])
    empty, library = cards / "empty", cards / "library"
    for d in (empty, library):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    program = scan(empty, library)[0]
    started = scan(one_jpeg, library)[0]
    jpegs = [Path(p) for p in files]
    mix = [*jpegs[:MIX_JPEGS], *raws, video]
    with av.open(str(video)) as c:
        duration = c.duration / 1e6
    mbits = video.stat().st_size * 8 / duration / 1e6
    sets = [
        CardSet(f"JPEG only ({WIDTH}x{HEIGHT} q90)", jpegs, folder, least=1.0),
        CardSet(
            f"raw files with a full-size preview (CR2, NEF, DNG; {WIDTH}x{HEIGHT})", raws, raw_folder, most=RAW_FLOOR
        ),
        CardSet(
            f"a video: 1080p H.264, {duration:.0f} s at {mbits:.0f} Mbit/s, a keyframe a second",
            [video],
            video.parent,
            most=VIDEO_FLOOR,
        ),
        CardSet(f"the mix: {min(n, MIX_JPEGS)} JPEGs, the raw files, the video", mix, linked(cards / "mix", mix)),
        CardSet(
            "the video, a byte-identical copy in the library",
            [video],
            video.parent,
            copy=video,
            least=1.0,
            status="identical",
        ),
    ]
    rows, missed = [], []
    for cs in sets:
        if cs.copy is not None:
            shutil.copyfile(cs.copy, library / cs.copy.name)
        try:
            read, secs, status = scan(cs.needles, library)
        finally:
            for f in library.iterdir():
                f.unlink()
        read -= started
        missed += surprises(cs, status)
        card = sum(p.stat().st_size for p in cs.files)
        ratio = read / card
        floor = f">= {cs.least:.0%}" if cs.least is not None else f"<= {cs.most:.0%}" if cs.most is not None else ""
        if (cs.least is not None and ratio < cs.least) or (cs.most is not None and ratio > cs.most):
            missed.append(f"{cs.name}: read {ratio:.1%} of its bytes, floor {floor}")
        row = f"| {cs.name} | {len(cs.files)} | {mb(card)} | {mb(read)} | {ratio:.1%} | {floor} | {secs:.1f} | "
        rows.append(row + f"{len(cs.files) / secs:.1f} |")

    print(f"cold hashing of {n} JPEGs {WIDTH}x{HEIGHT} q90, {os.cpu_count()} cores")
    print("| method | img/s | hashwatchd / method | floor |\n|---|---|---|---|")
    print(f"| decode-only limit (1/8 gray, all cores) | {limit:.1f} | {ours / limit:.2f}x | >= 0.8x |")
    print(f"| hashwatchd scan (cold, all cores) | {ours:.1f} | 1.00x | |")
    print(f"| seed method (full decode, one process) | {seed:.1f} | {ours / seed:.2f}x | >= 4x |")
    print(f"| imagehash.dhash + Pillow (one process) | {ih:.1f} | {ours / ih:.2f}x | >= 6x |")
    print()
    print(
        f"bytes read per card set by a cold `hashwatchd scan` of it (the needles; empty library), {os.cpu_count()}"
        " cores, page cache warm: /proc/self/io rchar of the scan and of every process it waited for"
    )
    print(
        f"  minus a scan of one small JPEG, {mb(started)}: the program starting ({mb(program)}, a scan of an empty"
        " folder) and its decoder processes starting, which every set pays"
    )
    print(f"  accounting check: a grandchild reading {mb(raws[0].stat().st_size)} moved rchar by that {off:+,} bytes")
    print("| set | files | on the card | read | read / card | floor | seconds | files/s |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    ok = ours >= 0.8 * limit and ours >= 4 * seed and ours >= 6 * ih
    if abs(off) > 1 << 16:
        missed.append(f"/proc/self/io missed what a grandchild read ({off:+,} bytes): the table is not to be trusted")
    print(f"data built or found in WORKDIR: {built}; measured in {time.perf_counter() - measuring:.0f} s")
    for line in missed:
        print(f"missed: {line}")
    return 0 if ok and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
