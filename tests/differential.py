"""Differential test of the daemon against a cold scan (issue 12): the daemon's promise is that,
once idle, its status file says what a fresh `hashwatchd scan` of the same trees would say.

One run: build a corpus of pictures with OpenCV (library photos, re-encodes and resizes of them,
edited and upscaled copies, unrelated photos, low-information pictures, same-size BMPs), start a
real `hashwatchd run`, apply a seeded random sequence of file operations to both trees (copies,
cp -r, rsync-style temp + rename, slow writes, moves of files and folders within and between the
trees and out and back, in-place and same-size rewrites that keep mtime, touch of files and
folders, chmod 000/644 on files and 000/755 on folders and roots, truncation, deletes, rm -r, a
whole root emptied, 80 re-encodings of one photo at once (--bursts), kill -9 with operations
while the daemon is down), open every folder up again, wait until the daemon is idle, and compare
its status file and `matches --json` with a cold `scan` into a fresh state directory (and
`matches --json` there), field by field. The daemon's log must hold no traceback and no line over
500 characters, a SIGTERM must take under 10 s, and the status file, read every 20 ms for the
whole run, must always parse.

Everything runs as the user running this script; run it as an unprivileged user (the pytest
wrapper uses setpriv when it is root), or chmod 000 proves nothing.

    python tests/differential.py --seed 7 --ops 150 [--bursts] [--without OP,...] [--keep] [--workdir DIR] [--json]

Exit status 0 when the daemon and the scan agree, 1 with a report (seed, operations, differences,
log excerpts) when they do not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemonproc import DaemonProc, hashwatchd, log_problems, remove_tree
from helpers import photo

SETTLE = 0.5
#: The daemon is idle when its status says watching, nothing pending, and nothing but timestamps
#: changed for this long (longer than the settle time; a root that comes or goes is an event,
#: rootwatch.py, not the daemon's 10 s check).
STABLE = 3.0
IDLE_TIMEOUT = 60.0
#: A SIGTERM that takes longer than this is a difference too (case 10).
STOP_LIMIT = 10.0
FOLDER_FIELDS = (
    "status",
    "complete",
    "pending",
    "online",
    "images",
    "identical",
    "same",
    "edited",
    "missing",
    "unreadable",
    "imported",
    "missing_paths",
    "edited_paths",
    "unreadable_paths",
)
W, H = 256, 192  # every BMP of the corpus has this size: a same-size rewrite swaps two of them


# -- the corpus ------------------------------------------------------------------------------------


def _jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _enc(img: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


class Poller(threading.Thread):
    """Reads the status file as a poller would, every 20 ms for the whole run: it must always parse
    (the issue's fuzzer read it 700,000 times without a failure: keep it that way)."""

    def __init__(self, report: Path) -> None:
        super().__init__(name="status-poller", daemon=True)
        self.report = report
        self.reads = 0
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            try:
                data = self.report.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.failures.append(f"read: {exc}")
                continue
            self.reads += 1
            try:
                doc = json.loads(data)
                assert isinstance(doc, dict) and doc["schema"] == 2
            except (ValueError, AssertionError, KeyError) as exc:
                self.failures.append(f"{type(exc).__name__} on {len(data)} bytes")


class DaemonDied(Exception):
    """The daemon exited on its own (at start, or while the operations ran)."""


class _Abandon(Exception):
    """The run cannot be compared any more (the daemon is gone)."""


@dataclasses.dataclass
class Corpus:
    """Named blobs: `lib_*` belong in the library, `nee_*` in the needles (copies, variants,
    unrelated and low-information pictures), `bmp_*` are all the same size."""

    blobs: dict[str, bytes]
    ext: dict[str, str]

    @classmethod
    def build(cls, bases: int = 10, unrelated: int = 6) -> Corpus:
        blobs: dict[str, bytes] = {}
        ext: dict[str, str] = {}

        def put(name: str, data: bytes, suffix: str) -> None:
            blobs[name] = data
            ext[name] = suffix

        for i in range(bases):
            img = photo(i, W, H)
            put(f"lib_{i}_png", _enc(img, ".png"), ".png")
            put(f"lib_{i}_jpg", _jpeg(img, 95), ".jpg")
            put(f"bmp_lib_{i}", _enc(img, ".bmp"), ".bmp")
            put(f"nee_{i}_q70", _jpeg(img, 70), ".jpg")
            put(f"nee_{i}_half", _jpeg(cv2.resize(img, (W // 2, H // 2), interpolation=cv2.INTER_AREA), 88), ".jpg")
            put(
                f"nee_{i}_gray",
                _jpeg(cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR), 90),
                ".jpg",
            )
            up = cv2.resize(img, (W * 3 // 2, H * 3 // 2), interpolation=cv2.INTER_CUBIC)
            put(f"nee_{i}_up", _jpeg(up, 92), ".jpg")
        for j in range(unrelated):
            img = photo(500 + j, W, H)
            put(f"nee_u{j}_jpg", _jpeg(img, 85), ".jpg")
            put(f"bmp_u{j}", _enc(img, ".bmp"), ".bmp")
        flat = np.full((H, W, 3), (40, 120, 200), np.uint8)
        grad = np.tile(np.linspace(0, 255, W, dtype=np.uint8)[None, :, None], (H, 1, 3))
        put("low_flat_png", _enc(flat, ".png"), ".png")
        put("low_grad_png", _enc(grad, ".png"), ".png")
        put("bmp_flat", _enc(flat, ".bmp"), ".bmp")
        put("nee_junk", bytes(random.Random(5).randbytes(3000)), ".jpg")
        sizes = {len(v) for k, v in blobs.items() if k.startswith("bmp_")}
        assert len(sizes) == 1, sizes
        return cls(blobs, ext)

    def burst(self, base: int, count: int) -> list[tuple[str, bytes]]:
        """`count` distinct re-encodings of one library photo (case 5: more needles near one
        library picture than the reverse search returns)."""
        img = photo(base, W, H)
        out = []
        for k in range(count):
            scale = 1.0 - 0.004 * (k % 10)
            size = (int(W * scale), int(H * scale))
            out.append((f"burst_{base}_{k}", _jpeg(cv2.resize(img, size, interpolation=cv2.INTER_AREA), 60 + k % 36)))
        return out

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self.blobs if n.startswith(prefix))


# -- the run ---------------------------------------------------------------------------------------


class Run:
    """One seeded run in `work`: trees, the daemon, the operations, the comparison."""

    def __init__(
        self,
        seed: int,
        ops: int,
        work: Path,
        *,
        bursts: bool = False,
        without: Sequence[str] = (),
        say: Callable[[str], None],
    ) -> None:
        self.seed = seed
        self.ops = ops
        self.rng = random.Random(seed)
        self.work = work
        self.lib = work / "lib"
        self.needles = work / "needles"
        self.outside = work / "outside"  # same file system, outside both roots
        self.stage = work / "stage"
        self.bursts = bursts
        self.without = set(without)
        self.say = say
        self.corpus = Corpus.build()
        self.counter = 0
        self.moved_out: list[Path] = []
        self.log: list[str] = []
        self.t0 = time.monotonic()
        self.daemon = DaemonProc(work, self._config(), state=work / "state", settle=SETTLE, workers=1)
        self.notes: list[str] = []

    # -- set-up

    def _start(self) -> None:
        try:
            self.daemon.start()
        except AssertionError as exc:
            self.note(f"the daemon did not start: {str(exc).splitlines()[0]}")
            raise DaemonDied(str(exc).splitlines()[0]) from None

    def _config(self) -> Path:
        cfg = self.work / "config.yaml"
        cfg.write_text(
            f"haystack: [{self.lib}]\nneedles: [{self.needles}]\nreport_interval: 0.2\npoll_interval: 2\n"
            "decode_timeout: 30\n"
        )
        return cfg

    def _name(self, blob: str) -> str:
        self.counter += 1
        return f"IMG_{self.counter:04d}{self.corpus.ext[blob]}"

    def populate(self) -> None:
        for d in (self.lib, self.needles, self.outside, self.stage):
            d.mkdir(parents=True, exist_ok=True)
        for i in range(6):
            kind = ("lib_{}_png", "lib_{}_jpg", "bmp_lib_{}")[i % 3].format(i)
            folder = self.lib / ("2020" if i < 3 else "2021")
            folder.mkdir(exist_ok=True)
            (folder / self._name(kind)).write_bytes(self.corpus.blobs[kind])
        for card, picks in (
            ("card1/DCIM", ["nee_0_q70", "nee_1_half", "bmp_lib_2", "nee_u0_jpg"]),
            ("card2", ["nee_3_up", "nee_7_q70", "bmp_u1", "low_flat_png"]),
        ):
            folder = self.needles / card
            folder.mkdir(parents=True, exist_ok=True)
            for blob in picks:
                (folder / self._name(blob)).write_bytes(self.corpus.blobs[blob])

    # -- choosing targets (the disk as this user sees it, sorted: the same seed makes the same choices)

    def _dirs(self, tree: Path, *, include_root: bool = True, open_only: bool = True) -> list[Path]:
        """Folders of `tree`; with `open_only`, only those this user may list and write into."""
        out = [tree] if include_root else []
        for top, dirs, _ in os.walk(tree):
            dirs.sort()
            out += [Path(top) / d for d in dirs if not d.startswith(".")]
        if open_only:
            out = [d for d in out if os.access(d, os.R_OK | os.W_OK | os.X_OK)]
        return sorted(out)

    def _files(self, *trees: Path) -> list[Path]:
        out = []
        for tree in trees:
            for top, dirs, names in os.walk(tree):
                dirs.sort()
                out += [Path(top) / n for n in names if not n.startswith(".")]
        return sorted(out)

    def _tree(self) -> Path:
        return self.needles if self.rng.random() < 0.6 else self.lib

    def _blob_for(self, tree: Path) -> str:
        if tree == self.lib:
            pool = self.corpus.names("lib_") + self.corpus.names("bmp_") + ["nee_u2_jpg", "low_grad_png"]
        else:
            pool = self.corpus.names("nee_") + self.corpus.names("bmp_") + self.corpus.names("low_")
        return self.rng.choice(pool)

    def _new_dir(self, tree: Path) -> Path:
        parent = self.rng.choice(self._dirs(tree))
        if self.rng.random() < 0.5:
            return parent
        self.counter += 1
        folder = parent / f"d{self.counter:03d}"
        folder.mkdir(exist_ok=True)
        return folder

    def _rel(self, p: Path | str) -> str:
        return os.path.relpath(p, self.work)

    # -- the operations: each returns a shell-like line for the log

    def op_cp(self) -> str:
        tree = self._tree()
        blob = self._blob_for(tree)
        src = self.stage / f"{blob}{self.corpus.ext[blob]}"
        if not src.exists():
            src.write_bytes(self.corpus.blobs[blob])
        dest = self._new_dir(tree) / self._name(blob)
        subprocess.run(["cp", str(src), str(dest)], check=True, capture_output=True)
        return f"cp stage/{src.name} {self._rel(dest)}"

    def op_cp_r(self) -> str:
        tree = self._tree()
        self.counter += 1
        src = self.stage / f"dump{self.counter:03d}"
        sub = src / "DCIM" if self.rng.random() < 0.5 else src
        sub.mkdir(parents=True)
        blobs = [self._blob_for(tree) for _ in range(self.rng.randint(2, 6))]
        for blob in blobs:
            (sub / self._name(blob)).write_bytes(self.corpus.blobs[blob])
        dest = self.rng.choice(self._dirs(tree)) / src.name
        subprocess.run(["cp", "-r", str(src), str(dest)], check=True, capture_output=True)
        return f"cp -r stage/{src.name} {self._rel(dest)}  # {' '.join(blobs)}"

    def op_burst(self) -> str:
        base = self.rng.randrange(6, 10)
        self.counter += 1
        src = self.stage / f"burst{self.counter:03d}"
        src.mkdir()
        for name, data in self.corpus.burst(base, 80):
            (src / f"{name}.jpg").write_bytes(data)
        dest = self.needles / src.name
        subprocess.run(["cp", "-r", str(src), str(dest)], check=True, capture_output=True)
        return f"cp -r stage/{src.name} {self._rel(dest)}  # 80 re-encodings of base {base}"

    def op_rsync(self) -> str:
        tree = self._tree()
        blob = self._blob_for(tree)
        folder = self._new_dir(tree)
        final = folder / self._name(blob)
        tmp = folder / f".{final.name}.{self.rng.randrange(16**6):06x}"
        data = self.corpus.blobs[blob]
        with tmp.open("wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(self.rng.uniform(0.05, 0.3))
            f.write(data[len(data) // 2 :])
        os.utime(tmp, ns=(time.time_ns(), time.time_ns() - 86400 * 10**9))  # rsync -t keeps the source's mtime
        os.rename(tmp, final)
        return f"rsync-style: write {self._rel(tmp)} (mtime - 1 day), mv to {final.name}  # {blob}"

    def op_slow_write(self) -> str:
        tree = self._tree()
        blob = self._blob_for(tree)
        dest = self._new_dir(tree) / self._name(blob)
        data = self.corpus.blobs[blob]
        parts = self.rng.randint(2, 4)
        pauses = [self.rng.choice([0.1, 0.2, 0.3, 0.7]) for _ in range(parts - 1)]
        step = len(data) // parts + 1
        with dest.open("wb") as f:
            for k in range(parts):
                f.write(data[k * step : (k + 1) * step])
                f.flush()
                if k < parts - 1:
                    time.sleep(pauses[k])
        return f"slow write {self._rel(dest)} in {parts} parts, pauses {pauses}  # {blob}"

    def op_mv(self) -> str:
        files = self._files(self.lib, self.needles)
        if not files:
            return self.op_cp()
        src = self.rng.choice(files)
        dest = self._new_dir(self._tree()) / self._name_like(src)
        os.rename(src, dest)
        return f"mv {self._rel(src)} {self._rel(dest)}"

    def _name_like(self, p: Path) -> str:
        self.counter += 1
        return f"IMG_{self.counter:04d}{p.suffix}"

    def op_mv_dir(self) -> str:
        dirs = self._dirs(self.lib, include_root=False, open_only=False)
        dirs += self._dirs(self.needles, include_root=False, open_only=False)
        if not dirs:
            return self.op_cp_r()
        src = self.rng.choice(dirs)
        roll = self.rng.random()
        self.counter += 1
        if roll < 0.3:
            dest = self.outside / f"{src.name}.{self.counter}"
            what = "out of its root"
        else:
            tree = self._tree()
            parents = [d for d in self._dirs(tree) if d != src and src not in d.parents]
            dest = self.rng.choice(parents) / f"{src.name}.{self.counter}"
            what = "within" if tree in src.parents else "between the trees"
        os.rename(src, dest)
        if dest.parent == self.outside:
            self.moved_out.append(dest)
        return f"mv {self._rel(src)} {self._rel(dest)}  # folder {what}"

    def op_mv_back(self) -> str:
        if not self.moved_out:
            return self.op_mv_dir()
        src = self.moved_out.pop(self.rng.randrange(len(self.moved_out)))
        dest = self.rng.choice(self._dirs(self._tree())) / src.name.rsplit(".", 1)[0]
        if dest.exists():
            dest = dest.with_name(f"{dest.name}.back{self.counter}")
        os.rename(src, dest)
        return f"mv {self._rel(src)} {self._rel(dest)}  # folder back in"

    def _pick_file(self, suffix: str | None = None) -> Path | None:
        files = [f for f in self._files(self.lib, self.needles) if suffix is None or f.suffix == suffix]
        return self.rng.choice(files) if files else None

    def op_overwrite(self) -> str:
        f = self._pick_file()
        if f is None:
            return self.op_cp()
        tree = self.lib if self.lib in f.parents else self.needles
        blob = self._blob_for(tree)
        with f.open("r+b") as out:  # in place: same inode
            out.truncate(0)
            out.write(self.corpus.blobs[blob])
        return f"overwrite in place {self._rel(f)} with {blob}"

    def op_same_size(self) -> str:
        f = self._pick_file(".bmp")
        if f is None:
            return self.op_overwrite()
        st = os.stat(f)
        old = f.read_bytes()
        choices = [b for b in self.corpus.names("bmp_") if self.corpus.blobs[b] != old]
        blob = self.rng.choice(choices)
        with f.open("r+b") as out:
            out.write(self.corpus.blobs[blob])
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        return f"same-size rewrite of {self._rel(f)} with {blob}, mtime kept (cp --preserve=timestamps)"

    def op_touch(self) -> str:
        f = self._pick_file()
        if f is None:
            return self.op_cp()
        os.utime(f)
        return f"touch {self._rel(f)}"

    def op_chmod_file(self) -> str:
        f = self._pick_file()
        if f is None:
            return self.op_cp()
        mode = 0o644 if os.stat(f).st_mode & 0o777 == 0 else 0o000
        os.chmod(f, mode)
        return f"chmod {mode:03o} {self._rel(f)}"

    def op_chmod_dir(self) -> str:
        dirs = self._dirs(self.lib, include_root=False, open_only=False)
        dirs += self._dirs(self.needles, include_root=False, open_only=False)
        locked = [d for top in (self.lib, self.needles) for d in self._locked(top)]
        if locked and self.rng.random() < 0.6:
            d = self.rng.choice(locked)
            os.chmod(d, 0o755)
            return f"chmod 755 {self._rel(d)}"
        if not dirs:
            return self.op_cp_r()
        d = self.rng.choice(dirs)
        os.chmod(d, 0o000)
        return f"chmod 000 {self._rel(d)}"

    def _locked(self, tree: Path) -> list[Path]:
        """Folders this user cannot list (their names are visible in their parent)."""
        out = []
        for top, dirs, _ in os.walk(tree):
            for d in sorted(dirs):
                p = Path(top) / d
                if not os.access(p, os.R_OK | os.X_OK):
                    out.append(p)
        return sorted(out)

    def op_truncate(self) -> str:
        f = self._pick_file()
        if f is None:
            return self.op_cp()
        size = os.stat(f).st_size
        os.truncate(f, size // 3)
        return f"truncate -s {size // 3} {self._rel(f)}"

    def op_rm(self) -> str:
        f = self._pick_file()
        if f is None:
            return self.op_cp()
        os.unlink(f)
        return f"rm {self._rel(f)}"

    def op_rm_r(self) -> str:
        dirs = self._dirs(self.lib, include_root=False) + self._dirs(self.needles, include_root=False)
        if not dirs:
            return self.op_rm()
        d = self.rng.choice(dirs)
        shutil.rmtree(d)
        return f"rm -r {self._rel(d)}"

    def op_empty_root(self) -> str:
        tree = self._tree()
        for entry in sorted(os.listdir(tree)):
            p = tree / entry
            if p.is_dir() and not p.is_symlink():
                for top, dirs, _ in os.walk(p):
                    for d in dirs:
                        os.chmod(os.path.join(top, d), 0o755)
                shutil.rmtree(p)
            else:
                p.unlink()
        return f"rm -r {self._rel(tree)}/*  # the whole root emptied"

    def op_touch_dir(self) -> str:
        d = self.rng.choice(self._dirs(self._tree()))
        os.utime(d)
        return f"touch {self._rel(d)}/"

    def op_chmod_root(self) -> str:
        tree = self._tree()
        mode = 0o755 if os.stat(tree).st_mode & 0o777 == 0 else 0o000
        os.chmod(tree, mode)
        return f"chmod {mode:03o} {self._rel(tree)}  # a root"

    def op_pause(self) -> str:
        t = self.rng.uniform(0.8, 2.5)
        time.sleep(t)
        return f"sleep {t:.1f}"

    def op_kill9(self) -> str:
        left = self.daemon.kill9()
        if left:
            self.notes.append(f"decoders still alive 30 s after kill -9: {left}")
        lines = ["kill -9 the daemon"]
        for _ in range(self.rng.randint(1, 4)):
            lines.append("  while down: " + self._one(down=True))
        self._start()
        lines.append("restart the daemon")
        return "\n".join(lines)

    OPS: tuple[tuple[str, float], ...] = (
        ("cp", 10),
        ("cp_r", 4),
        ("rsync", 4),
        ("slow_write", 4),
        ("mv", 8),
        ("mv_dir", 4),
        ("mv_back", 2),
        ("overwrite", 3),
        ("same_size", 3),
        ("touch", 3),
        ("chmod_file", 4),
        ("chmod_dir", 4),
        ("truncate", 2),
        ("rm", 4),
        ("rm_r", 1),
        ("pause", 3),
        ("kill9", 2),
        ("burst", 0.5),
        ("empty_root", 0.3),
        ("touch_dir", 1),
        ("chmod_root", 0.4),
    )

    def _one(self, *, down: bool = False) -> str:
        skip = self.without | ({"kill9", "pause"} if down else set()) | (set() if self.bursts else {"burst"})
        ops = [(n, w) for n, w in self.OPS if n not in skip]
        name = self.rng.choices([n for n, _ in ops], [w for _, w in ops])[0]
        try:
            return getattr(self, f"op_{name}")()  # type: ignore[no-any-return]
        except (OSError, subprocess.CalledProcessError) as exc:  # e.g. a folder of mode 000 moved: EACCES
            return f"{name}: failed: {exc}"
        except IndexError:  # nothing to choose from (everything unreadable or deleted)
            return f"{name}: no target"

    def heal(self) -> list[str]:
        """Open every folder up again (a cold scan could not know what an unreadable folder
        holds); files keep their modes: unreadable ones must be reported the same way by both."""
        done = []
        for tree in (self.lib, self.needles):
            if os.stat(tree).st_mode & 0o777 != 0o755:
                os.chmod(tree, 0o755)
                done.append(f"chmod 755 {self._rel(tree)}")
            for top, dirs, _ in os.walk(tree):
                for d in dirs:
                    p = Path(top) / d
                    if not os.path.islink(p) and os.stat(p).st_mode & 0o777 != 0o755:
                        os.chmod(p, 0o755)
                        done.append(f"chmod 755 {self._rel(p)}")
        return done

    # -- running and comparing

    def note(self, line: str) -> None:
        stamp = f"{time.monotonic() - self.t0:7.2f}"
        for k, part in enumerate(line.splitlines()):
            self.log.append(f"{stamp if k == 0 else ' ' * 7} {part}")

    def execute(self) -> None:
        self.populate()
        self.note("populate: lib/2020, lib/2021 (6 photos), needles/card1/DCIM, needles/card2 (8 pictures)")
        self._start()
        self.note("start the daemon")
        for _ in range(self.ops):
            if not self.daemon.alive():
                raise DaemonDied(f"exited with {self.daemon.proc.returncode if self.daemon.proc else '?'}")
            self.note(self._one())
            time.sleep(self.rng.choice([0.0, 0.05, 0.1, 0.2, 0.3]))
        for line in self.heal():
            self.note(line)


def wait_idle(daemon: DaemonProc, timeout: float = IDLE_TIMEOUT) -> tuple[dict[str, Any] | None, float]:
    """The daemon's status once idle (watching, nothing pending, nothing but timestamps changed
    for STABLE seconds) and how long that took; None if it never was."""
    start = time.monotonic()
    last: Any = None
    since = time.monotonic()
    while time.monotonic() - start < timeout:
        doc = daemon.status()
        if doc is not None and doc["state"] == "watching" and doc["pending"] == 0:
            view = _status_view(doc)
            if view != last:
                last, since = view, time.monotonic()
            elif time.monotonic() - since >= STABLE:
                return doc, time.monotonic() - start
        else:
            last = None
        time.sleep(0.1)
    return None, time.monotonic() - start


def cold_scan(
    haystack: Path, needles: Path, state: Path, *, prefix: Sequence[str] = (), env: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """`hashwatchd scan` into `state` (fresh), then `matches --json` there: (status, matches, scan's log)."""
    args = ["scan", "--haystack", str(haystack), "--needles", str(needles), "--state-dir", str(state)]
    r = subprocess.run(
        [*prefix, *hashwatchd(*args, "--workers", "1", "--json")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd="/",
    )
    if r.returncode != 0:
        raise RuntimeError(f"cold scan failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout), matches(state, prefix=prefix, env=env), r.stderr


def matches(state: Path, *, prefix: Sequence[str] = (), env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`hashwatchd matches --json` on a state directory (a running daemon's too)."""
    r = subprocess.run(
        [*prefix, *hashwatchd("matches", "--state-dir", str(state), "--json")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd="/",
    )
    if r.returncode != 0:
        raise RuntimeError(f"matches failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return [json.loads(line) for line in r.stdout.splitlines()]


def _status_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What the comparison looks at: counts, paths, statuses; not timestamps nor the state name."""
    return {
        "haystack": doc["haystack"],
        "needles": doc["needles"],
        "pending": doc["pending"],
        "folders": {(f["root"], f["path"]): {k: f[k] for k in FOLDER_FIELDS} for f in doc["folders"]},
    }


def _short(value: Any, work: str) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text.replace(work + "/", "")


def compare_status(daemon: dict[str, Any], scan: dict[str, Any], work: Path) -> list[str]:
    """Readable differences between two status documents (daemon first)."""
    a, b = _status_view(daemon), _status_view(scan)
    w = str(work)
    out = []
    for key in ("haystack", "needles", "pending"):
        if a[key] != b[key]:
            out.append(f"status {key}: daemon {_short(a[key], w)}, scan {_short(b[key], w)}")
    for folder in sorted(a["folders"].keys() | b["folders"].keys()):
        name = _short(os.path.join(*folder), w)
        fa, fb = a["folders"].get(folder), b["folders"].get(folder)
        if fa is None or fb is None:
            held = fa or fb
            assert held is not None
            who = "daemon" if fb is None else "scan"
            summary = {k: held[k] for k in ("status", "online", "images", "same", "missing", "unreadable")}
            paths = held["missing_paths"] + [u["path"] for u in held["unreadable_paths"]]
            out.append(f"folder {name}: only in the {who}'s status: {_short(summary, w)} {_short(paths[:6], w)}")
            continue
        for k in FOLDER_FIELDS:
            if fa[k] != fb[k]:
                out.append(f"folder {name}: {k}: daemon {_short(fa[k], w)}, scan {_short(fb[k], w)}")
    return out


def _match_view(row: dict[str, Any]) -> tuple[str, list[tuple[str, str, int]], str | None]:
    ms = sorted((m["path"], m["tier"], m["distance"]) for m in row["matches"])
    return row["status"], ms, row["error"]


def compare_matches(daemon: list[dict[str, Any]], scan: list[dict[str, Any]], work: Path) -> list[str]:
    a = {r["path"]: _match_view(r) for r in daemon}
    b = {r["path"]: _match_view(r) for r in scan}
    w = str(work)
    out = []
    for path in sorted(a.keys() | b.keys()):
        if a.get(path) != b.get(path):
            da = _short(list(a[path]), w) if path in a else "absent"
            db = _short(list(b[path]), w) if path in b else "absent"
            out.append(f"matches {_short(path, w)}: daemon {da}, scan {db}")
    return out


@dataclasses.dataclass
class Outcome:
    seed: int
    differences: list[str]
    ops: list[str]
    seconds: float
    log_tail: str = ""
    replay: str = ""

    def report(self) -> str:
        lines = [f"differential run, seed {self.seed}: {len(self.differences)} differences ({self.seconds:.0f} s)"]
        if self.differences:
            lines += ["", "differences (daemon vs cold scan):", *(f"  {d}" for d in self.differences)]
            lines += ["", "operations:", *(f"  {o}" for o in self.ops)]
            lines += ["", f"replay: python tests/differential.py {self.replay} --keep"]
            if self.log_tail:
                lines += ["", "daemon log (last lines):", self.log_tail]
        return "\n".join(lines)


def run(
    seed: int,
    ops: int,
    work: Path,
    *,
    bursts: bool = False,
    without: Sequence[str] = (),
    say: Callable[[str], None] = print,
) -> Outcome:
    start = time.monotonic()
    r = Run(seed, ops, work, bursts=bursts, without=without, say=say)
    differences: list[str] = []
    poller = Poller(r.daemon.report)
    poller.start()
    try:
        try:
            r.execute()
        except DaemonDied as exc:
            differences.append(f"the daemon died: {exc}")
            differences += [f"daemon log {p}" for p in log_problems(r.daemon.log_text())]
            raise _Abandon from None
        doc, waited = wait_idle(r.daemon)
        r.note(f"daemon idle after {waited:.1f} s" if doc else f"daemon not idle after {waited:.0f} s")
        if doc is None:
            differences.append(f"the daemon was not idle (watching, nothing pending, stable) within {IDLE_TIMEOUT:g} s")
            doc = r.daemon.status()
        offline = r.daemon.log_text().count("is offline (")
        daemon_matches = matches(r.daemon.state)
        code, took = r.daemon.stop()
        r.note(f"SIGTERM: exit {code} after {took:.1f} s")
        if code != 0 or took > STOP_LIMIT:
            differences.append(f"the daemon's stop took {took:.1f} s and exited {code}")
        scan_doc, scan_matches, scan_err = cold_scan(r.lib, r.needles, work / "cold")
        assert doc is not None
        differences += compare_status(doc, scan_doc, work)
        differences += compare_matches(daemon_matches, scan_matches, work)
        if offline:
            r.note(f"the daemon logged {offline} 'is offline' lines")
        differences += [f"daemon log {p}" for p in log_problems(r.daemon.log_text())]
        differences += [f"scan log {p}" for p in log_problems(scan_err)]
        differences += r.notes
    except _Abandon:
        pass
    finally:
        poller.done.set()
        poller.join()
        if r.daemon.alive():
            r.daemon.kill9()
    r.note(f"the status file was read {poller.reads} times while the daemon ran")
    if poller.failures:
        differences.append(f"the status file failed to parse {len(poller.failures)} times: {poller.failures[:3]}")
    tail = "\n".join(line for line in r.daemon.log_text().splitlines() if " DEBUG " not in line)[-4000:]
    replay = (
        f"--seed {seed} --ops {ops}"
        + (" --bursts" if bursts else "")
        + (f" --without {','.join(without)}" if without else "")
    )
    return Outcome(seed, differences, r.log, time.monotonic() - start, tail, replay)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    p.add_argument("--ops", type=int, default=60, help="operations per run")
    p.add_argument("--bursts", action="store_true", help="also copy 80 re-encodings of one photo at once")
    p.add_argument(
        "--without",
        default="",
        metavar="OP,...",
        help=f"leave these operations out, to look past known differences ({', '.join(n for n, _ in Run.OPS)})",
    )
    p.add_argument("--workdir", type=Path, help="work here (default: a fresh directory under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    work = args.workdir or Path(tempfile.mkdtemp(prefix=f"hwdiff-{seed}-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    # No command may read the real user's config (nor fail on an unreadable $HOME: root's is 0700).
    os.environ.update(HOME=str(work), XDG_CONFIG_HOME=str(work / "xdg-config"), XDG_STATE_HOME=str(work / "xdg"))
    os.environ.pop("STATE_DIRECTORY", None)
    os.environ.pop("NOTIFY_SOCKET", None)
    without = [w for w in args.without.split(",") if w]
    unknown = set(without) - {n for n, _ in Run.OPS}
    if unknown:
        p.error(f"unknown operations: {', '.join(sorted(unknown))}")
    out = run(seed, args.ops, work, bursts=args.bursts, without=without)
    if args.json:
        print(json.dumps(dataclasses.asdict(out)))
    else:
        print(out.report())
    if args.keep or out.differences:
        print(f"work directory kept: {work}", file=sys.stderr)
    else:
        remove_tree(work)
    return 1 if out.differences else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through the finally that kills the daemon
    sys.exit(main())
