"""The index: one LMDB environment in the state directory, holding an entry per file.

Keys are the role plus BLAKE2b-128 of the path bytes, because LMDB keys stop at 511 bytes and
a path can be 4096; the full path is in the value and is compared on read. Values are laid out
as records.py says, about 460 bytes plus the path.

Safety, from shared/research/reliability.md section 3: never `writemap` (a full disk would
kill the process with SIGBUS; without it a commit fails cleanly); `reader_check()` at open
clears reader slots of killed processes; the map grows in this, the only writing process,
between transactions; one writer per directory, enforced with an flock on `writer.lock`
that names its holder; a schema record checked at open.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from hashwatchd import records
from hashwatchd.errors import NoInputError, StoreError, StoreFormatError, StoreLockedError, StoreWriteError
from hashwatchd.model import Entry, Fingerprint, Role, Tier
from hashwatchd.pathmap import PathMap

log = logging.getLogger(__name__)

SCHEMA = 2
#: Changing any feature parameter invalidates every stored fingerprint, so it is part of the schema.
FEATURES = b"base64-area/dhash9x8/phash32-dct/thumb16-gray/chroma8-lab/decode-min128/pixels-blur1/sha256-128"

_INITIAL_MAP = 64 << 20
#: Changes per write transaction. A change dirties a few pages at most (a leaf, a path's
#: overflow pages, the branch pages above them, shared with its neighbours'), well within
#: LMDB's 131,071 dirty pages per transaction.
TXN_OPS = 20_000
_ROLE_BYTE = {Role.HAYSTACK: b"H", Role.NEEDLE: b"N"}


def _open_env(path: Path, write: bool, map_size: int) -> lmdb.Environment:
    return lmdb.open(
        str(path),
        map_size=map_size,
        max_dbs=16,
        subdir=True,
        readonly=not write,
        writemap=False,
        mode=0o700,
        lock=True,
        max_spare_txns=0,
    )


_IDENTITY = struct.Struct("<QQ")  # a root directory's device and inode, then its path
#: A folder's first seen and last changed, the digest of its result, then its root, NUL, relative path.
_TIMES = struct.Struct("<dd16s")


def _key(role: Role, path: bytes) -> bytes:
    return _ROLE_BYTE[role] + hashlib.blake2b(path, digest_size=16).digest()


@dataclass(frozen=True)
class Table:
    """One role of the index as columns (see Store.table)."""

    stats: PathMap  # every path's stat, as records.pack_stat packs it
    fp_paths: list[bytes]
    keys: np.ndarray  # records.KEYS_DTYPE, one per path in fp_paths: what candidate search reads
    records: Records  # reads the whole fingerprint records of this role, when verification asks
    unreadable: list[bytes]  # the paths without a fingerprint


class Records:
    """The fingerprint records (records.FP_DTYPE) of one role, read from the index when
    verification asks for them: at 10^6 entries the records are 424 MB that the daemon does not
    hold, and a needle needs at most a few dozen.

    An entry that is gone from the index reads as a zero record (width 0), which matches nothing;
    that would be a bug (the daemon changes its memory with the index), so it is logged.
    """

    def __init__(self, store: Store, role: Role) -> None:
        self._store, self._role = store, role

    def read(self, paths: Sequence[bytes]) -> np.ndarray:
        out = bytearray()
        with self._store._read() as txn:
            for path in paths:
                value = txn.get(_key(self._role, path), db=self._store._files)
                found = None if value is None else records.record(value, path)
                if found is None:
                    log.warning("the index has no fingerprint for %s any more", os.fsdecode(path))
                    found = bytes(records.FP_DTYPE.itemsize)
                out += found
        return np.frombuffer(out, records.FP_DTYPE)

    def fingerprint(self, path: bytes) -> Fingerprint | None:
        with self._store._read() as txn:
            value = txn.get(_key(self._role, path), db=self._store._files)
        if value is None or records.record(value, path) is None:
            return None
        return records.fingerprint(value)


class Store:
    """The LMDB index of one state directory. Open with `Store.open`; use as a context manager."""

    def __init__(self, env: lmdb.Environment, path: Path, lock_fd: int | None) -> None:
        self._env = env
        self.path = path
        self._lock_fd = lock_fd
        self._open_dbs(env, lock_fd is not None)
        self._identity = os.stat(path / "data.mdb")
        # A reader (a CLI command beside the running daemon) sees one snapshot for its whole life:
        # the records it reads after the table pass must be the ones that pass listed.
        self._snapshot = None if lock_fd is not None else self._begin()

    def _open_dbs(self, env: lmdb.Environment, write: bool) -> None:
        self._files = env.open_db(b"files", create=write)
        # Confirmed tiers. An index from before they were cached keeps its upscale checks under
        # b"checks", never read again; read by a command beside it, it has no b"confirmed" yet.
        self._confirmed: Any = None
        with contextlib.suppress(lmdb.NotFoundError):
            self._confirmed = env.open_db(b"confirmed", create=write)
        self._roots = env.open_db(b"roots", create=write)
        self._digests = env.open_db(b"digests", create=write)
        self._meta = env.open_db(b"meta", create=write)
        # Only the writer keeps the folders' clocks; a reader of an index older than them must still open it.
        self._folders = env.open_db(b"folders", create=True) if write else None

    @property
    def writable(self) -> bool:
        """Whether this process holds the writer lock (else it reads one snapshot)."""
        return self._lock_fd is not None

    @classmethod
    def open(cls, state_dir: Path, *, write: bool = True) -> Store:
        """Open (creating when writing) the index in `state_dir`.

        Raises NoInputError when there is no index to read, StoreLockedError when another process
        writes it, StoreFormatError when it has another schema, StoreError for anything else LMDB
        refuses, each naming the directory.
        """
        path = state_dir / "index"
        lock_fd = None
        try:
            if write:
                path.mkdir(parents=True, exist_ok=True, mode=0o700)
                lock_fd = _lock_writer(state_dir)
            elif not (path / "data.mdb").exists():
                raise NoInputError(f"no index yet in {state_dir}: `hashwatchd scan` creates it")
            env = _open_env(path, write, _INITIAL_MAP)
        except lmdb.Error as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            raise StoreError(f"cannot open the index in {path}: {exc}") from None
        try:
            env.reader_check()
            if write:
                cls._grow_to_fit(env)
            _check_schema(env, path, write)
            return cls(env, path, lock_fd)
        except BaseException:
            env.close()
            if lock_fd is not None:
                os.close(lock_fd)
            raise

    def release_pages(self) -> None:
        """Unmap every page of the index from this process by reopening its environment.

        A pass over all entries (the daemon's start-up) leaves the whole file mapped: at 10^6
        entries 860 MB of RSS that is only page cache, which the kernel reclaims more readily
        once no process maps it. Raises StoreError if the index cannot be reopened.
        """
        write = self._lock_fd is not None
        map_size = self._env.info()["map_size"]
        if self._snapshot is not None:
            self._snapshot.abort()
        self._env.close()
        try:
            self._env = _open_env(self.path, write, map_size)
        except lmdb.Error as exc:
            raise StoreError(f"cannot reopen the index in {self.path}: {exc}") from None
        self._open_dbs(self._env, write)
        self._snapshot = None if write else self._begin()

    @staticmethod
    def _grow_to_fit(env: lmdb.Environment) -> None:
        info, stat = env.info(), env.stat()
        used = (info["last_pgno"] + 1) * stat["psize"]
        if info["map_size"] < 2 * used:
            env.set_mapsize(2 * used)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.abort()
            self._snapshot = None
        self._env.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _read(self) -> contextlib.AbstractContextManager[lmdb.Transaction[bytes]]:
        """A read transaction: the snapshot of a read-only store, else a new one."""
        if self._snapshot is not None:
            return contextlib.nullcontext(self._snapshot)
        return self._begin()

    def _begin(self) -> lmdb.Transaction[bytes]:
        """Begin a read transaction. If the reader table is full of slots left by killed
        processes (e.g. a `hashwatchd matches` killed with -9), clear them and try once more."""
        try:
            return self._env.begin()
        except lmdb.ReadersFullError:
            cleared = self._env.reader_check()
            log.warning("cleared %d reader slots of killed processes in %s", cleared, self.path)
            return self._env.begin()

    def entries(self, role: Role) -> Iterator[Entry]:
        """Every entry of one role, in key order (not path order)."""
        prefix = _ROLE_BYTE[role]
        with self._read() as txn:
            cur = txn.cursor(db=self._files)
            if not cur.set_range(prefix):
                return
            for key, value in cur:
                if not key.startswith(prefix):
                    return
                yield records.decode(role, value)

    def table(self, role: Role) -> Table:
        """One role's entries as columns, in one pass and without an object per entry: what a
        rescan needs (every stat) and what candidate search needs (the keys of each record)."""
        prefix = _ROLE_BYTE[role][0]
        paths: list[bytes] = []
        fp_paths: list[bytes] = []
        unreadable: list[bytes] = []
        # Growing buffers, not a bytes object per record or stat: at 10^6 entries the objects
        # cost 65 MB for the stats alone, and short-lived ones interleaved with the paths that
        # stay would leave freed memory scattered in arenas the process never returns.
        stats = bytearray()
        keys = bytearray()
        split = records.split
        with self._read() as txn:
            cur = txn.cursor(db=self._files)
            if cur.set_range(_ROLE_BYTE[role]):
                for key, value in cur:
                    if key[0] != prefix:
                        break
                    stat, search, path = split(value)
                    if search is None:
                        unreadable.append(path)
                    else:
                        keys += search
                        fp_paths.append(path)
                    paths.append(path)
                    stats += stat
        return Table(
            PathMap(paths, stats, records.STAT_SIZE),
            fp_paths,
            np.frombuffer(keys, records.KEYS_DTYPE),
            Records(self, role),
            unreadable,
        )

    def get(self, role: Role, path: bytes) -> Entry | None:
        """The entry of `path`, or None (also when another path shares the key's hash)."""
        with self._read() as txn:
            value = txn.get(_key(role, path), db=self._files)
        if value is None:
            return None
        entry = records.decode(role, value)
        return entry if entry.path == path else None

    def write(self, put: Iterable[Entry] = (), delete: Iterable[tuple[Role, bytes]] = ()) -> None:
        """Apply a batch in one transaction, or one per TXN_OPS changes of a larger batch: each
        transaction lands whole or not at all (kill -9 safe). The whole-file digest remembered
        for a path goes with any change to its entry, in the same transaction."""
        items = [(_key(e.role, e.path), records.encode(e)) for e in put]
        keys = [_key(role, path) for role, path in delete]
        self._commit(self._files, items, keys, stale=self._digests)

    def confirmed(self, keys: Iterable[bytes]) -> dict[bytes, Tier | None]:
        """Cached full-resolution confirmations by key (confirmation.cache_key): the tier confirmed,
        None for "not that picture"; a key without an entry is absent."""
        out: dict[bytes, Tier | None] = {}
        if self._confirmed is None:
            return out
        with self._read() as txn:
            for key in keys:
                value = txn.get(key, db=self._confirmed)
                if value is not None:
                    out[key] = Tier(value[0]) if value[0] else None
        return out

    def put_confirmed(self, results: Iterable[tuple[bytes, Tier | None]]) -> None:
        """Remember confirmations; a pair of contents gives the same answer wherever the files are."""
        self._commit(self._confirmed, [(key, bytes([tier or 0])) for key, tier in results], [])

    def full_digests(self, role: Role, paths: Iterable[bytes]) -> dict[bytes, tuple[bytes, bytes]]:
        """(packed stat, whole-file digest) remembered for each path that has one."""
        out = {}
        with self._read() as txn:
            for path in paths:
                value = txn.get(_key(role, path), db=self._digests)
                if value is not None:
                    out[path] = (value[: records.STAT_SIZE], value[records.STAT_SIZE :])
        return out

    def put_full_digests(self, role: Role, items: Iterable[tuple[bytes, bytes, bytes]]) -> None:
        """Remember (path, packed stat, digest): the digest of the file as that stat describes it."""
        self._commit(self._digests, [(_key(role, path), stat + digest) for path, stat, digest in items], [])

    def decoders(self) -> bytes | None:
        """The decoders (name and version of each) that wrote the index's problems, as last set."""
        with self._read() as txn:
            return txn.get(b"decoders", db=self._meta)

    def set_decoders(self, signature: bytes) -> None:
        """Record the decoders now in use, and forget every cached confirmation first: a
        confirmation compares decoded pixels (a raw file's preview as LibRaw finds it, a JPEG as
        OpenCV scales it), so it holds for the decoders that made it. Killed in between, the
        next start forgets them again, which costs only time."""
        if self._confirmed is not None:
            try:
                with self._env.begin(write=True) as txn:
                    txn.drop(self._confirmed, delete=False)
            except lmdb.Error as exc:
                raise StoreWriteError(f"cannot write the index in {self.path}: {exc}") from None
        self._commit(self._meta, [(b"decoders", signature)], [])

    def root_identities(self) -> dict[bytes, tuple[int, int]]:
        """(device, inode) of each root directory when its entries were last read (see
        roots.RootSet: an empty directory that is not that one does not mean deleted files)."""
        with self._read() as txn:
            values = [bytes(value) for _, value in txn.cursor(db=self._roots)]
        return {v[_IDENTITY.size :]: _IDENTITY.unpack_from(v) for v in values}

    def put_root_identity(self, root: bytes, identity: tuple[int, int]) -> None:
        key = hashlib.blake2b(root, digest_size=16).digest()
        self._commit(self._roots, [(key, _IDENTITY.pack(*identity) + root)], [])

    def folder_times(self) -> dict[tuple[bytes, bytes], tuple[float, float, bytes]]:
        """(first seen, last changed, digest of the result then), times in Unix seconds, of each
        needle folder (root, relative path) the status file showed (clocks.Clocks)."""
        assert self._folders is not None, "only the writer keeps folder times"
        with self._read() as txn:
            values = [bytes(value) for _, value in txn.cursor(db=self._folders)]
        out = {}
        for v in values:
            root, _, path = v[_TIMES.size :].partition(b"\0")
            out[root, path] = _TIMES.unpack_from(v)
        return out

    def put_folder_times(
        self,
        times: Mapping[tuple[bytes, bytes], tuple[float, float, bytes]],
        forget: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """Remember these folders' clocks and forget those of folders that are gone."""
        assert self._folders is not None, "only the writer keeps folder times"
        items = [(_folder_key(k), _TIMES.pack(*t) + k[0] + b"\0" + k[1]) for k, t in times.items()]
        self._commit(self._folders, items, [_folder_key(k) for k in forget])

    def _commit(self, db: Any, items: list[tuple[bytes, bytes]], deletes: list[bytes], stale: Any = None) -> None:
        """Delete `deletes`, then write `items`, in `db`, and delete the same keys in the `stale`
        db; in transactions of at most TXN_OPS of those changes. The map grows as needed.

        Without that bound a large batch can never be written: LMDB refuses a transaction that
        dirties more than 131,071 pages (MDB_TXN_FULL), and the start-up reconcile of a library
        of a million files emptied while the daemon was stopped deletes them in one batch. Each
        part is in key order, so that it dirties neighbouring pages: deleting a million entries
        took 8 s so, 45 s in the order given."""
        changes: list[tuple[bytes, bytes | None]] = [(key, None) for key in sorted(deletes)]
        changes += sorted(items, key=lambda item: item[0])  # stable: of two puts of a key, the last wins
        for start in range(0, len(changes), TXN_OPS):
            self._commit_once(db, changes[start : start + TXN_OPS], stale)

    def _commit_once(self, db: Any, changes: list[tuple[bytes, bytes | None]], stale: Any) -> None:
        while True:
            try:
                with self._env.begin(write=True, db=db) as txn:
                    for key, value in changes:
                        if value is None:
                            txn.delete(key)
                        else:
                            txn.put(key, value)
                        if stale is not None:
                            txn.delete(key, db=stale)
                return
            except lmdb.MapFullError:
                size = self._env.info()["map_size"] * 2
                log.info("index map full, growing it to %d MiB", size >> 20)
                self._env.set_mapsize(size)
            except lmdb.Error as exc:
                raise StoreWriteError(f"cannot write the index in {self.path}: {exc}") from None

    def check_alive(self) -> None:
        """Raise StoreError if the directory no longer holds the file we opened, or went read-only.

        LMDB goes on committing into an unlinked data.mdb without error, so a deleted state
        directory would silently lose everything written afterwards; and it goes on writing
        through its open descriptor into a directory made read-only, while nothing else can.
        """
        try:
            now = os.stat(self.path / "data.mdb")
        except OSError as exc:
            raise StoreError(f"the index {self.path} disappeared: {exc.strerror}") from None
        if (now.st_dev, now.st_ino) != (self._identity.st_dev, self._identity.st_ino):
            raise StoreError(f"the index {self.path} was replaced by another file")
        if not os.access(self.path, os.W_OK):
            raise StoreError(f"the state directory {self.path} is no longer writable; make it writable and restart")


def _folder_key(folder: tuple[bytes, bytes]) -> bytes:
    """A fixed-size key: LMDB keys are at most 511 bytes, paths are not."""
    return hashlib.blake2b(folder[0] + b"\0" + folder[1], digest_size=16).digest()


def _check_schema(env: lmdb.Environment, path: Path, write: bool) -> None:
    meta = env.open_db(b"meta", create=write)
    with env.begin(db=meta, write=write) as txn:
        schema, features = txn.get(b"schema"), txn.get(b"features")
        if schema is None and write:
            txn.put(b"schema", str(SCHEMA).encode())
            txn.put(b"features", FEATURES)
            return
    if schema != str(SCHEMA).encode() or features != FEATURES:
        found = schema.decode() if schema else "unknown"
        raise StoreFormatError(
            f"the index in {path} was written with schema {found} ({(features or b'?').decode()}); "
            f"this hashwatchd uses schema {SCHEMA}: run `hashwatchd scan --rebuild` to rebuild it "
            "from the photos (nothing else is stored there)"
        )


def _lock_writer(state_dir: Path) -> int:
    """Take the writer lock of `state_dir`; name the holder if another process has it."""
    fd = os.open(state_dir / "writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise StoreLockedError(
                f"the index in {state_dir} is being written by another hashwatchd (pid {holder}); "
                "stop it or use another --state-dir"
            ) from None
        raise StoreError(f"cannot lock {state_dir}: {exc.strerror}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def rebuild(state_dir: Path) -> None:
    """Delete the index of `state_dir` (under its writer lock) so the next open starts empty."""
    fd = _lock_writer(state_dir)
    try:
        for name in ("data.mdb", "lock.mdb"):
            (state_dir / "index" / name).unlink(missing_ok=True)
    finally:
        os.close(fd)
