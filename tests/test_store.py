"""The LMDB index: any path, rescans, crash safety, one writer, schema checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import lmdb
import pytest
from helpers import FP, STAT

from hashwatchd import records, store
from hashwatchd.errors import StoreError, StoreFormatError, StoreLockedError
from hashwatchd.matching import Library
from hashwatchd.model import Entry, Problem, Role, Tier


def test_round_trip_of_long_and_non_utf8_paths(tmp_path: Path) -> None:
    """Paths of 4000 bytes and with non-UTF-8 bytes come back exactly, with their fingerprint."""
    paths = [b"/p/" + b"x" * 4000 + b".jpg", b"/p/caf\xe9\n\\.jpg", b"/p/plain.jpg"]
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(p, Role.NEEDLE, STAT, FP) for p in paths])
        st.write(put=[Entry(b"/lib/bad.jpg", Role.HAYSTACK, STAT, None, Problem("corrupt", "caf\udce9"))])
    with store.Store.open(tmp_path, write=False) as st:
        got = {e.path: e for e in st.entries(Role.NEEDLE)}
        assert set(got) == set(paths)
        assert all(e.fingerprint == FP and e.stat == STAT for e in got.values())
        [bad] = st.entries(Role.HAYSTACK)
        assert (bad.fingerprint, bad.problem) == (None, Problem("corrupt", "caf\udce9"))
        assert st.get(Role.NEEDLE, paths[1]) == got[paths[1]]
        assert st.get(Role.HAYSTACK, paths[1]) is None


def test_entry_is_small(tmp_path: Path) -> None:
    """An entry costs at most 512 bytes besides its path."""
    entry = Entry(b"/p.jpg", Role.NEEDLE, STAT, FP)
    assert len(records.encode(entry)) - len(entry.path) <= 512


def test_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    """While one process writes the index, another one fails at once with its pid."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from hashwatchd.store import Store
            st = Store.open(Path({str(tmp_path)!r}))
            print("open", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLockedError) as err:
            store.Store.open(tmp_path)
        assert f"pid {holder.pid}" in str(err.value)
        with store.Store.open(tmp_path, write=False) as reader:
            assert list(reader.entries(Role.NEEDLE)) == []
    finally:
        holder.kill()
        holder.wait()
    store.Store.open(tmp_path).close()


def test_schema_mismatch_says_how_to_rebuild(tmp_path: Path) -> None:
    """An index from another schema is refused with the rebuild command; rebuild() clears it."""
    store.Store.open(tmp_path).close()
    env = lmdb.open(str(tmp_path / "index"), max_dbs=4)
    with env.begin(write=True, db=env.open_db(b"meta")) as txn:
        txn.put(b"schema", b"0")
    env.close()
    with pytest.raises(StoreFormatError) as err:
        store.Store.open(tmp_path)
    assert "hashwatchd scan --rebuild" in str(err.value)
    store.rebuild(tmp_path)
    store.Store.open(tmp_path).close()


def test_map_grows_when_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny initial map, writing 20,000 entries grows it instead of failing."""
    monkeypatch.setattr(store, "_INITIAL_MAP", 1 << 20)
    with store.Store.open(tmp_path) as st:
        for chunk in range(10):
            st.write(put=[Entry(f"/p/{chunk}/{i}.jpg".encode(), Role.NEEDLE, STAT, FP) for i in range(2000)])
        assert sum(1 for _ in st.entries(Role.NEEDLE)) == 20000


def test_kill_during_writes_leaves_whole_batches(tmp_path: Path) -> None:
    """kill -9 during a stream of 100-entry batches leaves a multiple of 100 entries, all intact."""
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            from pathlib import Path
            from hashwatchd.store import Store
            from hashwatchd.model import Entry, Role
            from helpers import FP, STAT
            st = Store.open(Path({str(tmp_path)!r}))
            n = 0
            while True:
                st.write(put=[Entry(f"/p/{{n}}/{{i}}.jpg".encode(), Role.NEEDLE, STAT, FP) for i in range(100)])
                n += 1
                if n == 3:
                    print("writing", flush=True)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    with store.Store.open(tmp_path) as st:
        entries = list(st.entries(Role.NEEDLE))
    assert len(entries) >= 300
    assert len(entries) % 100 == 0
    assert all(e.fingerprint == FP and e.stat == STAT for e in entries)


def test_deleted_state_directory_is_noticed(tmp_path: Path) -> None:
    """After the index directory is removed, check_alive() raises instead of writing into the void."""
    st = store.Store.open(tmp_path / "state")
    try:
        st.check_alive()
        shutil.rmtree(tmp_path / "state")
        with pytest.raises(StoreError, match="disappeared"):
            st.check_alive()
    finally:
        st.close()


def test_reader_slots_of_killed_processes_are_reclaimed(tmp_path: Path) -> None:
    """130 readers (more than LMDB's 126 slots) killed -9 inside a read transaction do not lock
    out an index that stays open: its next read clears their slots."""
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(b"/p/a.jpg", Role.NEEDLE, STAT, FP)])
        code = textwrap.dedent(f"""
            import sys, lmdb
            env = lmdb.open({str(tmp_path / "index")!r}, max_dbs=4, readonly=True)
            txn = env.begin()
            print("reading", flush=True)
            sys.stdin.read()
        """)
        readers = [
            subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(130)
        ]
        started = 0
        for r in readers:
            assert r.stdout is not None
            started += r.stdout.readline().strip() == "reading"
            r.kill()
            r.wait()
        assert started >= 120
        assert [e.path for e in st.entries(Role.NEEDLE)] == [b"/p/a.jpg"]


def test_index_files_are_private(tmp_path: Path) -> None:
    """The index directory is 0700 and its files 0600, whatever the umask allows."""
    store.Store.open(tmp_path / "state").close()
    index = tmp_path / "state/index"
    assert oct(index.stat().st_mode & 0o777) == oct(0o700)
    assert {oct(p.stat().st_mode & 0o777) for p in index.iterdir()} == {oct(0o600)}


def test_table_gives_columns_matching_the_entries(tmp_path: Path) -> None:
    """table() returns every stat, the unreadable paths and records that decode to the same fingerprints."""
    with store.Store.open(tmp_path) as st:
        st.write(
            put=[
                Entry(b"/l/a.jpg", Role.HAYSTACK, STAT, FP),
                Entry(b"/l/bad.jpg", Role.HAYSTACK, STAT, None, Problem("corrupt", "x")),
            ]
        )
        table = st.table(Role.HAYSTACK)
        assert table.stats == {b"/l/a.jpg": records.pack_stat(*STAT), b"/l/bad.jpg": records.pack_stat(*STAT)}
        assert (table.fp_paths, table.unreadable) == ([b"/l/a.jpg"], [b"/l/bad.jpg"])
        lib = Library()
        lib.load(table.fp_paths, table.keys, table.records)
        assert lib.fingerprint(b"/l/a.jpg") == FP


def _mapped_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1].isdigit() or line[:1] in "abcdef":
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_release_pages_unmaps_the_index_and_keeps_it_usable(tmp_path: Path) -> None:
    """After a pass over every entry, release_pages leaves at most the few pages that reopening
    reads (meta pages and the database roots, with read-ahead) of data.mdb resident in this
    process; reads and writes go on as before."""
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(f"/l/{i:05d}.jpg".encode(), Role.HAYSTACK, STAT, FP) for i in range(10_000)])
        table = st.table(Role.HAYSTACK)
        assert len(table.fp_paths) == 10_000
        data = (tmp_path / "index/data.mdb").resolve()
        before = _mapped_kib(data)
        assert before > 4000
        st.release_pages()
        assert _mapped_kib(data) < before // 10
        assert table.records.read(table.fp_paths[::9_999])["dhash"].tolist() == [FP.dhash, FP.dhash]  # after the reopen
        st.write(put=[Entry(b"/l/new.jpg", Role.HAYSTACK, STAT, FP)])
        assert st.get(Role.HAYSTACK, b"/l/00042.jpg") is not None
        assert len(st.table(Role.HAYSTACK).fp_paths) == 10_001


def test_reader_sees_one_snapshot_while_the_writer_deletes(tmp_path: Path) -> None:
    """A read-only store (a CLI command beside the daemon) reads the records its table listed,
    even after the writer, another process, deleted them."""
    paths = [f"/l/{i}.jpg".encode() for i in range(3)]
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(p, Role.HAYSTACK, STAT, FP) for p in paths])
    with store.Store.open(tmp_path, write=False) as reader:
        table = reader.table(Role.HAYSTACK)
        code = textwrap.dedent(f"""
            from pathlib import Path
            from hashwatchd import store
            from hashwatchd.model import Role
            with store.Store.open(Path({str(tmp_path)!r})) as st:
                st.write(delete=[(Role.HAYSTACK, p) for p in {paths!r}])
        """)
        subprocess.run([sys.executable, "-c", code], check=True)
        lib = Library()
        lib.load(table.fp_paths, table.keys, table.records)
        assert [lib.fingerprint(p) for p in paths] == [FP, FP, FP]
    with store.Store.open(tmp_path, write=False) as reader:
        assert reader.table(Role.HAYSTACK).fp_paths == []


def test_record_gone_from_the_index_matches_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """If the index lost a loaded entry (a bug: the daemon changes its memory with the index), its
    record reads as empty: no match, no crash, and a warning naming the file."""
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(b"/l/a.jpg", Role.HAYSTACK, STAT, FP), Entry(b"/l/b.jpg", Role.HAYSTACK, STAT, FP)])
        table = st.table(Role.HAYSTACK)
        lib = Library()
        lib.load(table.fp_paths, table.keys, table.records)
        assert {m.path for m in lib.match(FP)} == {b"/l/a.jpg", b"/l/b.jpg"}
        st.write(delete=[(Role.HAYSTACK, b"/l/a.jpg")])
        assert [m.path for m in lib.match(FP)] == [b"/l/b.jpg"]
        assert lib.fingerprint(b"/l/a.jpg") is None
    assert "no fingerprint for /l/a.jpg" in caplog.text


def test_new_decoders_forget_the_confirmations_of_the_old(tmp_path: Path) -> None:
    """A cached confirmation compared pixels as the old decoders made them; once the decoders
    change (engine.load records them), every pair is confirmed again, and everything else stays."""
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(b"/p.jpg", Role.NEEDLE, STAT, FP)])
        st.set_decoders(b"opencv 4.13")
        st.put_confirmed([(b"pair-1", Tier.SAME), (b"pair-2", None)])
        assert st.confirmed([b"pair-1", b"pair-2"]) == {b"pair-1": Tier.SAME, b"pair-2": None}
        st.set_decoders(b"opencv 5.0")
        assert st.confirmed([b"pair-1", b"pair-2"]) == {}
        assert (st.decoders(), st.get(Role.NEEDLE, b"/p.jpg")) == (
            b"opencv 5.0",
            Entry(b"/p.jpg", Role.NEEDLE, STAT, FP),
        )
        st.put_confirmed([(b"pair-1", Tier.EDITED)])
    with store.Store.open(tmp_path, write=False) as st:
        assert st.confirmed([b"pair-1"]) == {b"pair-1": Tier.EDITED}


def test_a_batch_larger_than_a_transaction_lands_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LMDB refuses a transaction that dirties too many pages (MDB_TXN_FULL): deleting a million
    entries in one did, so the daemon could never write the start-up reconcile of an emptied
    library (it kept the change in memory and retried forever). A batch is written in parts of
    TXN_OPS changes (3 here): every change lands, deletes before puts, the last put of a path
    wins, and each changed entry's remembered digest goes with it."""
    monkeypatch.setattr(store, "TXN_OPS", 3)
    paths = [b"/lib/%d.jpg" % i for i in range(10)]
    with store.Store.open(tmp_path) as st:
        st.write(put=[Entry(p, Role.HAYSTACK, STAT, FP) for p in paths])
        st.put_full_digests(Role.HAYSTACK, [(p, records.pack_stat(*STAT), b"d" * 32) for p in paths])
        other = Entry(paths[0], Role.HAYSTACK, STAT, None, Problem("corrupt", "rewritten"))
        st.write(
            put=[Entry(p, Role.HAYSTACK, STAT, FP) for p in paths[:2]] + [other],
            delete=[(Role.HAYSTACK, p) for p in paths[:7]],
        )
        assert sorted(e.path for e in st.entries(Role.HAYSTACK)) == sorted([paths[0], paths[1], *paths[7:]])
        assert st.get(Role.HAYSTACK, paths[0]) == other
        assert set(st.full_digests(Role.HAYSTACK, paths)) == set(paths[7:])
