"""Hash files in a pool of worker processes, so a decoder crash or hang costs one file.

Image decoders are native code fed untrusted bytes (OpenCV's have had heap overflows; a
crafted JPEG can spin for minutes). Each worker is a separate process started with `spawn`
(it inherits no LMDB environment and no threads), sets OpenCV's pixel limit in its
environment *before* importing cv2 (OpenCV reads it once, at load), and caps its address
space so a bomb kills the worker, not the daemon. The parent gives each worker one file at a
time; a worker that dies or overruns its time is killed and replaced, and the file is
reported `decoder-crashed` / `decoder-timeout`.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from hashwatchd.errors import PhotoError, WorkerError
from hashwatchd.model import FileStat, Fingerprint, Kind, Problem, Tier

if TYPE_CHECKING:
    from hashwatchd.decode import Picture

log = logging.getLogger(__name__)

#: Address-space budget of a worker beyond what it has after importing its libraries.
MEMORY_BUDGET = 2 << 30

#: Tasks queued per worker.
DEPTH = 2

#: The distributions whose decoders read files. When one of them, or this list, changes, files
#: that could not be read are tried again (Engine.load): a newer LibRaw knows newer cameras.
DECODERS = ("opencv-python-headless", "pillow-heif", "rawpy", "av")
#: Bumped when hashwatchd itself learns to read more (a new format, a new kind of file).
READS = 2


@dataclass(frozen=True, slots=True)
class HashTask:
    """Read, decode and fingerprint the file at `path` (and make its preview, when `preview`)."""

    path: bytes
    preview: bool = False


@dataclass(frozen=True, slots=True)
class PixelTask:
    """Confirm what the thumbnails claim of a needle and a library file (`claim`: SAME or EDITED)
    on both decoded at (at least) `short_side` pixels (confirm.py). `digests` are what the index
    says the two files hold: the result is cached under them, so it must be of them."""

    needle: bytes
    library: bytes
    claim: Tier
    short_side: int
    digests: tuple[bytes, bytes]

    @property
    def path(self) -> bytes:
        return self.needle


@dataclass(frozen=True, slots=True)
class DigestTask:
    """Read the whole file at `path` for its digest (to prove two raw files or videos identical)."""

    path: bytes


@dataclass(frozen=True, slots=True)
class PreviewTask:
    """Make the preview (thumbnail.py) of the file at `path`, for the visual report."""

    path: bytes


Task = HashTask | PixelTask | DigestTask | PreviewTask

#: Seconds close() gives all decoders together to stop by themselves before it kills them.
CLOSE_GRACE = 2.0

#: Seconds to wait for a killed decoder to go. SIGKILL takes effect when the process leaves the
#: kernel, which a read from a failing card can delay for minutes (state D): we do not wait that.
KILL_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Hashed:
    """The outcome for one path: a fingerprint, or the problem that prevents one; what the file
    holds, as far as its content told before the problem."""

    path: bytes
    stat: FileStat | None
    fingerprint: Fingerprint | None
    problem: Problem | None
    kind: Kind = Kind.OTHER
    preview: bytes | None = None  # a JPEG, when the task asked for one (never stored in the index)


@dataclass(frozen=True, slots=True)
class Digested:
    """The digest of a whole file (media.py's definition for photos), or why there is none."""

    path: bytes
    stat: FileStat | None
    digest: bytes | None
    problem: Problem | None = None


@dataclass(frozen=True, slots=True)
class PixelCheck:
    """The tier a needle and a library file are confirmed at: at most the claim, None when they
    are two pictures (or, by their capture metadata, two shots). When either file could not be
    read the check was not made: `problem` says why (and `tier` is None)."""

    needle: bytes
    library: bytes
    tier: Tier | None
    problem: Problem | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """The preview of one file, and the content digest (its fingerprint's) of what it was made from."""

    path: bytes
    digest: bytes | None
    jpeg: bytes | None
    problem: Problem | None = None


Result = Hashed | PixelCheck | Digested | Preview

_CRASHED = Problem("decoder-crashed", "the decoder process died")
_OUT_OF_MEMORY = Problem("too-large", "out of memory while decoding")
_NO_PREVIEW = Problem("no-preview", "the picture was read, but its preview could not be encoded")


def decoders() -> bytes:
    """Which decoders this installation reads files with: their versions, and READS."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - slow to import, rarely needed

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    return "; ".join([f"hashwatchd-reads {READS}", *(f"{name} {of(name)}" for name in DECODERS)]).encode()


def hash_one(path: bytes, max_pixels: int, follow_symlinks: bool = False, preview: bool = False) -> Hashed:
    """Read, decode and fingerprint one file in this process (what a worker does per task); with
    `preview`, also encode the preview of the picture it decoded (a preview that fails is only missing)."""
    from hashwatchd import files, media, thumbnail  # noqa: PLC0415 - the decoders load only in workers

    fs, kind = None, Kind.OTHER
    previews: list[bytes] = []

    def seen(picture: Picture) -> None:
        # A preview that cannot be made (out of memory, an OpenCV error) costs the preview, never the verdict.
        try:
            previews.append(thumbnail.encode(picture))
        except Exception as exc:
            log.debug("no preview of %s: %r", os.fsdecode(path), exc)

    try:
        with files.open_source(path, follow_symlinks=follow_symlinks) as (src, fs):
            kind = media.kind_of(src)
            fp = media.fingerprint(src, kind, max_pixels, picture_seen=seen if preview else None)
        return Hashed(path, fs, fp, None, kind, previews[0] if previews else None)
    except PhotoError as exc:
        return Hashed(path, fs, None, _problem(exc, path), kind)
    except MemoryError:
        return Hashed(path, fs, None, _OUT_OF_MEMORY, kind)


def _problem(exc: PhotoError, path: bytes) -> Problem:
    """A file whose content is no photo, raw or video: 'not-an-image' when its name says it should
    be one (a damaged or disguised file), 'unsupported-format' for any other file on a card."""
    from hashwatchd import formats  # noqa: PLC0415

    if exc.code == "not-an-image" and formats.suffix(os.path.basename(path)) not in formats.MEDIA_SUFFIXES:
        return Problem("unsupported-format", "not a photo, raw file or video that hashwatchd can check")
    return Problem(exc.code, exc.detail)


def check_pair(task: PixelTask, max_pixels: int, *, follow_symlinks: bool = False) -> PixelCheck:
    """Read both files once, make sure they still hold what was indexed (`task.digests`: a file
    rewritten since would have its result cached under the old content's name), compare the
    shots their metadata records (two shots: no match), decode both at (at least)
    `task.short_side` and confirm the claim on their pixels."""
    from hashwatchd import confirm, files, media, shotmeta  # noqa: PLC0415

    needle, library = task.needle, task.library
    try:
        with contextlib.ExitStack() as stack:
            sides = []
            for path, digest in zip((needle, library), task.digests, strict=True):
                opened, _ = stack.enter_context(files.open_source(path, follow_symlinks=follow_symlinks))
                kind = media.kind_of(opened)
                src = media.loaded(opened, kind)
                if media.content_digest(src, kind) != digest:
                    raise PhotoError("changed", f"{os.fsdecode(path)} changed since it was indexed")
                sides.append((src, kind))
            if shotmeta.different_shot(*(shotmeta.shot_meta(src) for src, _ in sides)):
                return PixelCheck(needle, library, None)
            pictures = [media.picture(src, kind, max_pixels, task.short_side) for src, kind in sides]
        tier = confirm.confirm(pictures[0], pictures[1], task.claim).tier
    except PhotoError as exc:
        return PixelCheck(needle, library, None, Problem(exc.code, exc.detail))
    except MemoryError:
        return PixelCheck(needle, library, None, _OUT_OF_MEMORY)
    except Exception as exc:  # an OpenCV or NumPy failure on an odd pair costs that pair, not the decoder
        reason = f"the comparison failed: {type(exc).__name__}: {str(exc).strip()[:200]}"
        return PixelCheck(needle, library, None, Problem("confirm-failed", reason))
    return PixelCheck(needle, library, tier)


def digest_one(path: bytes, follow_symlinks: bool = False) -> Digested:
    """The digest of the whole file at `path`, streamed."""
    from hashwatchd import files  # noqa: PLC0415

    fs = None
    try:
        with files.open_source(path, follow_symlinks=follow_symlinks) as (src, fs):
            digest = src.full_digest()
        return Digested(path, fs, digest)
    except PhotoError as exc:
        return Digested(path, fs, None, Problem(exc.code, exc.detail))


def preview_one(path: bytes, max_pixels: int, follow_symlinks: bool = False) -> Preview:
    """Read and decode one file and encode its preview, with its fingerprint's digest (what the
    index holds for the content the preview shows)."""
    hashed = hash_one(path, max_pixels, follow_symlinks, preview=True)
    if hashed.fingerprint is None:
        return Preview(path, None, None, hashed.problem)
    if hashed.preview is None:
        return Preview(path, hashed.fingerprint.digest, None, _NO_PREVIEW)
    return Preview(path, hashed.fingerprint.digest, hashed.preview)


def _perform(task: Task, max_pixels: int, follow_symlinks: bool) -> Result:
    _injected_fault(task.path)
    if isinstance(task, HashTask):
        return hash_one(task.path, max_pixels, follow_symlinks, task.preview)
    if isinstance(task, PreviewTask):
        return preview_one(task.path, max_pixels, follow_symlinks)
    if isinstance(task, DigestTask):
        return digest_one(task.path, follow_symlinks)
    return check_pair(task, max_pixels, follow_symlinks=follow_symlinks)


def _injected_fault(path: bytes) -> None:
    """Fault injection for the test suite (as Watchman's debug commands): a worker given a path
    containing $HASHWATCHD_FAULT_CRASH dies of SIGSEGV, one containing $HASHWATCHD_FAULT_HANG hangs.
    Unset (always, outside tests) this does nothing."""
    for variable, action in (("HASHWATCHD_FAULT_CRASH", "crash"), ("HASHWATCHD_FAULT_HANG", "hang")):
        marker = os.environ.get(variable)
        if marker and os.fsencode(marker) in path:
            if action == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(1e6)


def _failed(task: Task, problem: Problem) -> Result:
    if isinstance(task, HashTask):
        return Hashed(task.path, None, None, problem)
    if isinstance(task, DigestTask):
        return Digested(task.path, None, None, problem)
    if isinstance(task, PreviewTask):
        return Preview(task.path, None, None, problem)
    return PixelCheck(task.needle, task.library, None, problem)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Have the kernel kill this process when its parent goes (killed with -9, say): nobody will
    read a result, and a decoder stuck in a pathological file would otherwise keep its core for
    ever. prctl(PR_SET_PDEATHSIG) instead of a thread that polls the parent: an idle decoder
    must not wake up."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))


def _worker_main(conn: Connection, max_pixels: int, follow_symlinks: bool, parent: int) -> None:
    # The parent owns our life: it hands out work, sends None to stop us, or kills us. A SIGTERM or
    # SIGINT sent to the whole group (systemd's default KillMode, Ctrl-C in a terminal) must not
    # kill a decoder mid-file: the parent would record that file as decoder-crashed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:
        return  # the parent died while we were starting, before the kernel would have told us
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(max_pixels)
    os.environ["OPENCV_LOG_LEVEL"] = "ERROR"  # no [ WARN:0@...] lines: each file's problem is reported once, by us
    os.environ.pop("OPENCV_IO_ENABLE_OPENEXR", None)
    os.environ["OMP_NUM_THREADS"] = "1"  # LibRaw's OpenMP threads would share the address-space cap
    import resource  # noqa: PLC0415

    import cv2  # noqa: PLC0415 - must follow the environment set above

    cv2.setNumThreads(1)
    with open("/proc/self/statm") as statm:
        vm_bytes = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_bytes + MEMORY_BUDGET
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        # A closed or reset connection means the parent is gone or done with us: no result can be
        # delivered any more, so exit quietly (a traceback here only ever said "parent killed").
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        result = _perform(task, max_pixels, follow_symlinks)
        try:
            conn.send(result)
        except OSError:
            return


@dataclass
class _Worker:
    """One decoder process and the tasks sent to it, oldest (the one it works on) first."""

    process: BaseProcess
    conn: Connection
    tasks: collections.deque[Task] = field(default_factory=collections.deque)
    deadline: float = 0.0


class Pool:
    """A fixed number of decoding processes, replaced when they die, started when work comes and,
    with `idle_exit`, stopped after that many seconds without work (a decoder holds 40-70 MB of
    libraries and heap that an idle home server wants back; it starts again in about a second).

    Use it from one thread that outlives it: the kernel kills a decoder when the thread that
    started it ends (PR_SET_PDEATHSIG is tied to a thread, not to a process)."""

    def __init__(
        self,
        workers: int,
        max_pixels: int,
        timeout: float = 120.0,
        *,
        follow_symlinks: bool = False,
        idle_exit: float | None = None,
    ) -> None:
        self._follow = follow_symlinks
        self._ctx = multiprocessing.get_context("spawn")
        self._max_pixels = max_pixels
        self._timeout = timeout
        self._size = max(1, workers)
        self._workers: list[_Worker] = []
        self._cancelled = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.idle_exit = idle_exit
        self._last_used = time.monotonic()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        """Start one decoder process; WorkerError when the system refuses (no memory, no pids)."""
        try:
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=_worker_main,
                args=(child, self._max_pixels, self._follow, os.getpid()),
                name="hashwatchd-decoder",
                daemon=True,
            )
            proc.start()
        except OSError as exc:
            raise WorkerError(f"cannot start a decoder process: {exc.strerror or exc}") from None
        child.close()
        return _Worker(proc, parent)

    def start(self) -> None:
        """Start the workers now (they take a while to import OpenCV), without waiting for them.

        Called as soon as work is known to be coming, so the start-up overlaps with walking the
        tree; `map` and `check` start them anyway.
        """
        self._last_used = time.monotonic()
        while len(self._workers) < self._size:
            self._workers.append(self._spawn())

    def retire_at(self) -> float | None:
        """When (time.monotonic) idle decoders are to exit: None when none runs or they stay."""
        if not self._workers or not self.idle_exit:
            return None
        return self._last_used + self.idle_exit

    def retire(self) -> None:
        """Stop the decoders if they have been idle for `idle_exit` seconds; `start` (or the next
        task) starts them again."""
        due = self.retire_at()
        if due is not None and time.monotonic() >= due:
            log.info("decoders idle for %g s: stopping them until work comes", self.idle_exit)
            self._stop_workers()

    def map(self, paths: Iterable[bytes], previews: Container[bytes] = ()) -> Iterator[Hashed]:
        """Hash every path; results come in completion order, one per path. Paths in `previews`
        come back with their preview."""
        for result in self._run(HashTask(p, p in previews) for p in paths):
            assert isinstance(result, Hashed)
            yield result

    def check(self, tasks: Iterable[PixelTask]) -> Iterator[PixelCheck]:
        """Confirm each pair at full resolution (check_pair); completion order."""
        for result in self._run(iter(tasks)):
            assert isinstance(result, PixelCheck)
            yield result

    def digests(self, paths: Iterable[bytes]) -> Iterator[Digested]:
        """The digest of each whole file; completion order."""
        for result in self._run(DigestTask(p) for p in paths):
            assert isinstance(result, Digested)
            yield result

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """A stop was asked for: every running and later map() and check() returns at once, without
        further results; the decoders busy with them are killed. Safe to call from a signal handler
        (it sets a flag and writes one byte to a pipe the pool waits on)."""
        self._cancelled = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def previews(self, paths: Iterable[bytes]) -> Iterator[Preview]:
        """Make the preview of each path; completion order."""
        for result in self._run(PreviewTask(p) for p in paths):
            assert isinstance(result, Preview)
            yield result

    def _run(self, tasks: Iterable[Task]) -> Iterator[Result]:
        """Each worker holds up to DEPTH tasks, so it never waits for this process to hand it the
        next one (on a busy 2-core machine that wait cost a few percent of the throughput). A
        worker that dies or overruns costs its current task; the ones queued behind it are
        given out again.

        A caller that stops iterating early (or a cancel) leaves tasks in flight: their decoders
        are discarded when this generator ends, so no later call receives a result it did not ask
        for."""
        try:
            yield from self._serve(tasks)
        finally:
            for w in [w for w in self._workers if w.tasks]:
                self._discard(w)
            self._last_used = time.monotonic()

    def _serve(self, tasks: Iterable[Task]) -> Iterator[Result]:
        source = iter(tasks)
        todo: collections.deque[Task] = collections.deque()
        while not self._cancelled:
            for i in range(self._size):
                if i == len(self._workers):
                    if not todo and (nxt := next(source, None)) is not None:
                        todo.append(nxt)
                    if not todo:
                        break
                    self.start()
                while len(self._workers[i].tasks) < DEPTH:
                    if not todo and (nxt := next(source, None)) is not None:
                        todo.append(nxt)
                    if not todo:
                        break
                    self._send(self._workers[i], todo.popleft())
            busy = [w for w in self._workers if w.tasks]
            if not busy:
                return
            wait_for = min(w.deadline for w in busy) - time.monotonic()
            waited = [w.conn for w in busy] + [w.process.sentinel for w in busy] + [self._wake_r]
            ready = set(wait(waited, timeout=max(0.0, wait_for)))
            if self._cancelled:
                return
            for w in busy:
                if w.conn in ready:
                    yield self._receive(w, todo)
                elif w.process.sentinel in ready:
                    yield self._replace(w, _CRASHED, todo)
                elif time.monotonic() >= w.deadline:
                    yield self._replace(w, Problem("decoder-timeout", f"no result after {self._timeout:g} s"), todo)

    def _send(self, w: _Worker, task: Task) -> None:
        """Give `task` to `w`, first replacing it if it died while idle (no file is to blame)."""
        for _ in range(2):
            if w.process.is_alive():
                try:
                    w.conn.send(task)
                except OSError:
                    pass
                else:
                    if not w.tasks:
                        w.deadline = time.monotonic() + self._timeout
                    w.tasks.append(task)
                    return
            w = self._respawn(w)
        raise WorkerError(f"cannot start a decoder process for {os.fsdecode(task.path)}")

    def _respawn(self, w: _Worker) -> _Worker:
        self._kill(w)
        fresh = self._spawn()
        self._workers[self._workers.index(w)] = fresh
        return fresh

    def _discard(self, w: _Worker) -> None:
        """Kill a decoder whose results nobody will read; start() replaces it when work comes."""
        self._kill(w)
        self._workers.remove(w)

    @staticmethod
    def _kill(w: _Worker) -> None:
        w.process.kill()
        w.process.join(KILL_WAIT)
        if w.process.is_alive():
            log.warning(
                "decoder pid %s did not exit %g s after SIGKILL (stuck in the kernel, e.g. reading a "
                "failing card); not waiting for it",
                w.process.pid,
                KILL_WAIT,
            )
        w.conn.close()

    def _receive(self, w: _Worker, todo: collections.deque[Task]) -> Result:
        try:
            result: Result = w.conn.recv()
        except (EOFError, OSError):
            return self._replace(w, _CRASHED, todo)
        w.tasks.popleft()
        w.deadline = time.monotonic() + self._timeout
        return result

    def _replace(self, w: _Worker, problem: Problem, todo: collections.deque[Task]) -> Result:
        task = w.tasks.popleft()
        todo.extendleft(reversed(w.tasks))
        w.tasks.clear()
        log.warning("%s: %s", os.fsdecode(task.path), problem)
        self._respawn(w)
        return _failed(task, problem)

    def close(self) -> None:
        """Stop every worker, bounded (_stop_workers), and release the pool."""
        self._stop_workers()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _stop_workers(self) -> None:
        """Ask every worker to stop, give them CLOSE_GRACE seconds together, kill the rest
        (waiting at most KILL_WAIT for each). Bounded: a stop never hangs on a decoder."""
        for w in self._workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        deadline = time.monotonic() + CLOSE_GRACE
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
        for w in self._workers:
            if w.process.is_alive():
                self._kill(w)
            else:
                w.conn.close()
        self._workers.clear()
