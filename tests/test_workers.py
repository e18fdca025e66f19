"""The decoder pool: results for every file, and a dead or stuck worker costs one file."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import cv2
from helpers import encode, photo, write

from hashwatchd import store
from hashwatchd.engine import Engine
from hashwatchd.formats import DEFAULT_MAX_PIXELS
from hashwatchd.model import Role
from hashwatchd.workers import Pool


def test_every_path_gets_one_result(tmp_path: Path) -> None:
    """Good, corrupt and vanished files each get exactly one result with a fingerprint or reason."""
    paths = []
    for i in range(6):
        p = tmp_path / f"{i}.jpg"
        write(p, encode(photo(i, 160, 120), ".jpg"))
        paths.append(os.fsencode(p))
    write(tmp_path / "bad.jpg", b"not an image at all")
    paths += [os.fsencode(tmp_path / "bad.jpg"), os.fsencode(tmp_path / "gone.jpg")]
    with Pool(2, DEFAULT_MAX_PIXELS) as pool:
        results = {r.path: r for r in pool.map(paths)}
    assert set(results) == set(paths)
    assert all(results[p].fingerprint is not None for p in paths[:6])
    assert [results[p].problem.code for p in paths[6:]] == ["not-an-image", "vanished"]  # type: ignore[union-attr]


def test_worker_killed_while_idle_is_replaced_silently(tmp_path: Path) -> None:
    """Workers that died between batches are replaced; no file is blamed for it."""
    write(tmp_path / "a.jpg", encode(photo(1, 160, 120), ".jpg"))
    path = os.fsencode(tmp_path / "a.jpg")
    with Pool(2, DEFAULT_MAX_PIXELS) as pool:
        assert next(iter(pool.map([path]))).fingerprint is not None
        for w in pool._workers:
            w.process.kill()
            w.process.join()
        again = list(pool.map([path, path]))
    assert [r.problem for r in again] == [None, None]


def test_stuck_decode_times_out_and_the_pool_goes_on(tmp_path: Path) -> None:
    """A file that overruns the time limit is reported as a timeout; the worker is replaced."""
    big = cv2.resize(photo(3, 400, 300), (6000, 4500))
    write(tmp_path / "big.png", encode(big, ".png"))
    with Pool(1, DEFAULT_MAX_PIXELS, timeout=0.01) as pool:
        [result] = pool.map([os.fsencode(tmp_path / "big.png")])
        assert result.problem is not None and result.problem.code == "decoder-timeout"
        assert pool._workers[0].process.is_alive()


class _DeleteFirst:
    """A real pool, except that each file is deleted just before it is handed to a worker:
    the window between listing a tree and reading a file, made wide enough to hit."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def start(self) -> None:
        self._pool.start()

    def map(self, paths):  # type: ignore[no-untyped-def]
        def doomed():  # type: ignore[no-untyped-def]
            for p in paths:
                os.unlink(p)
                yield p

        return self._pool.map(doomed())


def test_file_vanishing_after_listing_leaves_no_entry(tmp_path: Path) -> None:
    """A file listed, then deleted before it is read, leaves no stale entry in the index."""
    write(tmp_path / "lib/a.jpg", encode(photo(1, 160, 120), ".jpg"))
    with store.Store.open(tmp_path / "s") as st, Pool(1, DEFAULT_MAX_PIXELS) as pool:
        engine = Engine(st, _DeleteFirst(pool))  # type: ignore[arg-type]
        engine.set_roots({os.fsencode(tmp_path / "lib"): Role.HAYSTACK})
        engine.sync()
        assert engine.counters.hashed == 1
        assert list(st.entries(Role.HAYSTACK)) == []


def test_idle_decoders_exit_and_start_again_when_work_comes(tmp_path: Path) -> None:
    """With idle_exit, retire() stops decoders that had no work for that long (and not before);
    the next task starts them again and is hashed as usual."""
    write(tmp_path / "a.jpg", encode(photo(1, 160, 120), ".jpg"))
    path = os.fsencode(tmp_path / "a.jpg")
    with Pool(2, DEFAULT_MAX_PIXELS, idle_exit=0.5) as pool:
        assert next(iter(pool.map([path]))).fingerprint is not None
        processes = [w.process for w in pool._workers]
        pool.retire()
        assert [p.is_alive() for p in processes] == [True, True]  # not idle for long enough yet
        due = pool.retire_at()
        assert due is not None
        time.sleep(max(0.0, due - time.monotonic()) + 0.05)
        pool.retire()
        assert pool._workers == [] and pool.retire_at() is None
        assert [p.exitcode for p in processes] == [0, 0]  # asked to stop, not killed
        assert [r.problem for r in pool.map([path, path])] == [None, None]
        assert len(pool._workers) == 2
    with Pool(1, DEFAULT_MAX_PIXELS) as staying:  # without idle_exit they stay
        list(staying.map([path]))
        assert staying.retire_at() is None


def test_a_decoder_dies_with_the_thread_that_started_it(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a decoder whose parent goes (here the thread that spawned it, as the
    kernel sees it) is killed by the kernel without polling for its parent."""
    write(tmp_path / "a.jpg", encode(photo(1, 160, 120), ".jpg"))
    pool = Pool(1, DEFAULT_MAX_PIXELS)
    starter = threading.Thread(target=lambda: list(pool.map([os.fsencode(tmp_path / "a.jpg")])))
    starter.start()
    starter.join()
    [worker] = pool._workers
    worker.process.join(10)
    assert worker.process.exitcode == -signal.SIGKILL
    pool.close()
