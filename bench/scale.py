"""Matching at scale: 1,000,000 library entries and 10,000 needles, through the index API.

usage: python bench/scale.py [LIBRARY] [NEEDLES] [WORKDIR]   (defaults 1000000 10000)

Writes synthetic fingerprints (random hashes, thumbnails of smooth random pictures, typical
photo-library paths) into a real LMDB index with Store.write, then measures in one run: index
bytes per entry, the time and RSS to load the library from the index, one new needle against
the library, one new library picture against the needles (the daemon's reverse search), and
full matching of every needle. A tenth of the needles are near-copies of library entries so that
verification runs too. Exits non-zero when a floor of issue 4 is missed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hashwatchd import indexer, store
from hashwatchd.matching import DEFAULT_POLICY, Library
from hashwatchd.model import Entry, FileStat, Fingerprint, Role


def fingerprints(n: int, seed: int) -> list[Fingerprint]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, (n, 2), dtype=np.int64).astype(np.uint64)
    thumbs = rng.integers(0, 256, (n, 256), dtype=np.uint8)
    chroma = rng.integers(100, 156, (n, 128), dtype=np.uint8)
    digests = rng.bytes(16 * n)
    return [
        Fingerprint(
            int(hashes[i, 0]),
            int(hashes[i, 1]),
            thumbs[i].tobytes(),
            chroma[i].tobytes(),
            4032,
            3024,
            digests[16 * i : 16 * i + 16],
        )
        for i in range(n)
    ]


def rss_mib() -> float:
    """Resident memory now (not the peak of building the data)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    n_lib = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_needles = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tempfile.mkdtemp(prefix="hashwatchd-scale-"))
    stat = FileStat(4_200_000, 1_700_000_000_000_000_000, 1, 2049)
    with store.Store.open(work / "state") as st:
        if not st.table(Role.NEEDLE).stats:
            for start in range(0, n_lib, 50_000):
                fps = fingerprints(min(50_000, n_lib - start), start)
                st.write(
                    put=[
                        Entry(
                            f"/home/user/Pictures/Photos Library/Masters/{(start + i) // 500:04d}/"
                            f"IMG_{start + i:07d}.JPG".encode(),
                            Role.HAYSTACK,
                            stat,
                            fp,
                        )
                        for i, fp in enumerate(fps)
                    ]
                )
            needles = fingerprints(n_needles, 10**9)
            for k in range(0, n_needles, 10):  # near-copies of library entries: verification runs
                lib_fp = fingerprints(1, (k * 7919 % n_lib) // 50_000 * 50_000)[0]
                needles[k] = Fingerprint(
                    lib_fp.dhash ^ 0b11,
                    lib_fp.phash,
                    lib_fp.thumb,
                    lib_fp.chroma,
                    lib_fp.width,
                    lib_fp.height,
                    bytes(16),
                )
            st.write(
                put=[
                    Entry(f"/media/card/DCIM/{k // 1000:03d}CANON/IMG_{k:05d}.JPG".encode(), Role.NEEDLE, stat, fp)
                    for k, fp in enumerate(needles)
                ]
            )
        size = (work / "state/index/data.mdb").stat().st_size
        t = time.perf_counter()
        lib, _ = indexer.library(st)
        load = time.perf_counter() - t
        needle_entries = list(st.entries(Role.NEEDLE))
    rss = rss_mib()
    probe = needle_entries[0].fingerprint
    assert probe is not None
    t = time.perf_counter()
    for _ in range(20):
        lib.match(probe, DEFAULT_POLICY)
    one_needle = (time.perf_counter() - t) / 20
    needles = Library()
    for e in needle_entries:
        assert e.fingerprint is not None
        needles.add(e.path, e.fingerprint)
    new_lib = fingerprints(1, 7)[0]
    t = time.perf_counter()
    for _ in range(200):
        needles.candidates(new_lib, DEFAULT_POLICY)
    one_library = (time.perf_counter() - t) / 200
    t = time.perf_counter()
    for e in needle_entries:
        assert e.fingerprint is not None
        lib.match(e.fingerprint, DEFAULT_POLICY)
    full = time.perf_counter() - t
    per_entry = size / (n_lib + n_needles)
    print(f"matching at scale: {n_lib:,} library entries, {n_needles:,} needles ({os.cpu_count()} cores)")
    print("| figure | measured | floor |\n|---|---|---|")
    rows = [
        ("index size per entry (paths included)", f"{per_entry:.0f} B", "<= 1024 B", per_entry <= 1024),
        ("load the library from the index", f"{load:.1f} s", "", True),
        ("RSS with the library and needles loaded", f"{rss:.0f} MiB", "<= 300 MiB", rss <= 300),
        ("one new needle against the library", f"{one_needle * 1000:.1f} ms", "<= 20 ms", one_needle <= 0.020),
        (
            "one new library picture against the needles",
            f"{one_library * 1000:.2f} ms",
            "<= 5 ms",
            one_library <= 0.005,
        ),
        ("full matching of every needle", f"{full:.1f} s", "<= 10 s", full <= 10),
    ]
    for name, value, floor, _ in rows:
        print(f"| {name} | {value} | {floor} |")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
