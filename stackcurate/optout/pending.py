"""The files an ``opt-out purge`` rewrites, made in a folder aside and moved into the run together.

A purge changes files of several folders that must agree (``02_filtered`` and the dedup tables name files
by position; the curated output and the shards hold the same documents). ``PendingWrites`` writes each new
version under ``<run>/.purge/<path>`` while the purge computes, and reads files back through it (a file
already rewritten is read in its new version). ``commit`` then records the moves and deletions in the run's
ledger (``RunManifest.purge_commit``) before doing them: a purge stopped before that point left the run as
it was (the next purge removes ``.purge/``); one stopped after it is finished by the next ``opt-out purge``
(``finish_commit``: moving a file already moved is a no-op). Works on a local folder as on object storage
(fsspec through datatrove's data folders).

On object storage every request is a round trip to the server, and a purge reads and writes hundreds of
small tables: a file read whole is fetched in one request, and so is a small file of which only some
columns are read (its footer and a column would be three); a new version is stored in one request (no
folders to make), and read back from memory while the purge goes on; the commit copies the new versions
into place and deletes the aside folder and the deleted files in batches.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from threading import BoundedSemaphore, Lock
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.io import get_datafolder

from stackcurate.manifest import OutputFile, PurgeCommit, PurgeRecord, RunManifest
from stackcurate.parquet_io import file_sizes, read_columns
from stackcurate.parquet_io import read_table as read_parquet

#: run-relative folder of the new versions until they are moved into place
ASIDE = ".purge"
#: moves done at the same time when a purge commits (threads; the work is waiting on storage)
MOVES_AT_ONCE = 16
#: small reads done at the same time by ``read_each`` (threads: on object storage the round trips overlap)
READS_AT_ONCE = 8
#: new versions stored at the same time (``put_table``)
WRITES_AT_ONCE = 4
#: files read ahead at the same time by ``prefetch``
PREFETCHES_AT_ONCE = 2
#: the most bytes of files one ``prefetch`` reads ahead (they are held, decoded, until read)
PREFETCH_BYTES = 256 << 20
#: on object storage a file up to this size is fetched whole when only some of its columns are read (one
#: request instead of the footer's and each column chunk's)
WHOLE_FETCH_BYTES = 1 << 20
#: the columns of every table put that are kept in memory (small): the checks and the shard update read
#: them without reading the table back
KEY_COLUMNS = ("id", "repo", "path")
#: a new version up to this size in memory is kept and read back from there until the commit, up to
#: ``KEEP_PUT_TOTAL`` in all
KEEP_PUT_BYTES = 64 << 20
KEEP_PUT_TOTAL = 512 << 20
#: old versions of files up to ``WHOLE_FETCH_BYTES`` are kept once read, up to this much memory in all
#: (the dedup updates read some tables more than once)
FOUND_CACHE_BYTES = 256 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class Stored:
    """A new version as stored: its size in bytes, and its sha256 when asked for (``put_table``)."""

    size: int
    sha256: str | None


class PendingWrites:
    """New versions of run files (``put_table``, ``put_bytes``, ``put_text``) and deletions (``delete``),
    read back with ``read_table``/``exists``/``list``, until ``commit``. The run is listed once, when the
    purge begins (``found``): what is written into it afterwards by others is not seen."""

    def __init__(self, run_dir: str):
        self.run = get_datafolder(run_dir)
        self.put: set[str] = set()
        self.deleted: set[str] = set()
        if self.run.isdir(ASIDE):  # left by a purge stopped before its commit: the run is as it was
            self.run.rm(ASIDE, recursive=True)
        # the run's files as the purge found them, listed once: ``list``, ``exists`` and ``in_run`` answer
        # from this, and a file is opened with its size from it (on object storage every listing,
        # existence check or size lookup is a request to the server)
        self._sizes = {
            name: size for name, size in file_sizes(self.run).items() if not name.startswith(f"{ASIDE}/")
        }
        self.found = sorted(self._sizes)
        self.local = bool(self.run.is_local())
        self._kept: dict[str, pa.Table] = {}  # small new versions, as put
        self._kept_bytes = 0
        self._keys: dict[str, pa.Table] = {}  # the ``KEY_COLUMNS`` every table put has, as put
        self._rows: dict[str, int] = {}  # the row count of every table put
        self._found: dict[str, pa.Table] = {}  # small old versions, as read
        self._found_bytes = 0
        self._found_lock = Lock()
        self._writer = ThreadPoolExecutor(max_workers=WRITES_AT_ONCE, thread_name_prefix="purge-writer")
        self._slots = BoundedSemaphore(WRITES_AT_ONCE)
        self._writing: dict[str, Future[Stored]] = {}
        self._reader = ThreadPoolExecutor(max_workers=PREFETCHES_AT_ONCE, thread_name_prefix="purge-prefetch")
        self._prefetched: dict[str, Future[pa.Table]] = {}
        self._columns_ahead: dict[tuple[str, tuple[str, ...]], Future[pa.Table | None]] = {}

    def put_table(self, path: str, table: pa.Table, digest: bool = False, **options: Any) -> Future[Stored]:
        """``table`` as the new ``path`` (zstd; ``options``: more ``pyarrow.parquet.write_table`` ones).
        Encoded and stored by a writer thread while the purge goes on (``WRITES_AT_ONCE`` at a time: the
        encoding runs beside the caller's work on another core); a read of ``path`` and the commit wait for
        it, and raise what encoding or storing it raised. The future gives the file's size, and its sha256
        with ``digest``."""

        def encode() -> pa.Buffer:
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, **{"compression": "zstd", **options})
            return sink.getvalue()

        future = self._submit(path, encode, digest)
        if table.nbytes <= KEEP_PUT_BYTES and self._kept_bytes + table.nbytes <= KEEP_PUT_TOTAL:
            self._kept[path] = table
            self._kept_bytes += table.nbytes
        self._keys[path] = table.select([name for name in KEY_COLUMNS if name in table.column_names])
        self._rows[path] = table.num_rows
        return future

    def _forget(self, path: str) -> None:
        """Drop what is kept of ``path``'s new version (it is replaced or deleted)."""
        kept = self._kept.pop(path, None)
        if kept is not None:
            self._kept_bytes -= kept.nbytes
        self._keys.pop(path, None)
        self._rows.pop(path, None)

    def put_changed(self, path: str, table: pa.Table, schema: pa.Schema) -> bool:
        """``table`` as the new ``path`` unless ``path`` is in the run, not rewritten, and holds the same rows
        already (both read as ``schema``): a file left as it was is neither stored, moved nor read back.
        Returns whether it was put."""
        if (
            self.in_run(path)
            and self.untouched(path)
            and self.read_found(path).cast(schema).equals(table.cast(schema))
        ):
            return False
        self.put_table(path, table)
        return True

    def put_bytes(self, path: str, data: pa.Buffer | bytes, digest: bool = False) -> Future[Stored]:
        """``data`` as the new ``path``, stored by a writer thread (see ``put_table``)."""
        return self._submit(path, lambda: data, digest)

    def _submit(self, path: str, make: Callable[[], pa.Buffer | bytes], digest: bool) -> Future[Stored]:
        self.settle(path)
        self._prefetched.pop(path, None)
        self._forget(path)
        self._slots.acquire()  # at most WRITES_AT_ONCE new versions held in memory
        future = self._writer.submit(self._store, f"{ASIDE}/{path}", make, digest)
        future.add_done_callback(lambda _: self._slots.release())
        self._writing[path] = future
        self.put.add(path)
        self.deleted.discard(path)
        return future

    def _store(self, target: str, make: Callable[[], pa.Buffer | bytes], digest: bool) -> Stored:
        data = memoryview(make())
        if self.local:
            with self.run.open(target, "wb") as handle:  # makes the folders
                handle.write(data)
        else:  # one request: object storage has no folders to make
            self.run.pipe_file(target, data.tobytes())
        return Stored(data.nbytes, hashlib.sha256(data).hexdigest() if digest else None)

    def prefetch(self, paths: list[str]) -> None:
        """Start reading ``paths`` (whole, as they were when the purge began) in the background, in that
        order, as many as ``PREFETCH_BYTES`` of files allow: a later ``read_table`` of one of them, not
        rewritten in between, takes the table read (on object storage the download, and everywhere the
        decoding, overlap the purge's other work)."""
        budget = PREFETCH_BYTES
        for path in paths:
            if path not in self._prefetched and self.in_run(path):
                budget -= self._sizes[path]
                if budget < 0:  # the rest is read when it is needed
                    break
                self._prefetched[path] = self._reader.submit(self.read_found, path)

    def settle(self, path: str | None = None) -> None:
        """Wait until ``path``'s new version (or, without ``path``, every one) is stored; raises what storing
        it raised."""
        names = [path] if path is not None else sorted(self._writing)
        for name in names:
            future = self._writing.get(name)
            if future is not None:
                future.result()

    def put_text(self, path: str, text: str) -> None:
        self.settle(path)
        self._forget(path)
        self._writing.pop(path, None)  # an earlier version's size is not this one's
        with self.run.open(f"{ASIDE}/{path}", "w") as handle:
            handle.write(text)
        self.put.add(path)
        self.deleted.discard(path)

    def delete(self, path: str) -> None:
        self._prefetched.pop(path, None)
        self._forget(path)
        if self.in_run(path) or path in self.put:
            self.deleted.add(path)
        self.put.discard(path)

    def exists(self, path: str) -> bool:
        if path in self.deleted:
            return False
        return path in self.put or self.in_run(path)

    def untouched(self, path: str) -> bool:
        """Whether ``path`` is neither rewritten nor deleted by the purge (its newest version is the old one,
        if it has one)."""
        return path not in self.put and path not in self.deleted

    def in_run(self, path: str) -> bool:
        """Whether the file ``path`` was in the run when the purge began (its old version)."""
        return path in self._sizes

    def read_table(self, path: str, columns: list[str] | None = None) -> pa.Table:
        """``path`` in its newest version (the pending one when rewritten); ``columns``: only those."""
        kept = self.kept_table(path)
        if kept is not None:
            self.settle(path)  # raises what encoding or storing it raised
            return kept if columns is None else kept.select(columns)
        found = self._found.get(path) if self.untouched(path) else None
        if found is not None:
            return found if columns is None else found.select(columns)
        prefetched = self._prefetched.pop(path, None) if columns is None else None
        if prefetched is not None and self.untouched(path):
            return prefetched.result()
        with self._open(path, whole=columns is None) as handle:
            return read_parquet(handle, columns=columns)

    def kept_table(self, path: str) -> pa.Table | None:
        """The table put as ``path``'s new version when it is kept in memory (``KEEP_PUT_BYTES``)."""
        return None if path in self.deleted else self._kept.get(path)

    def put_repos(self, path: str) -> tuple[bool, pa.Table | None]:
        """``(known, repo column)`` of the table put as ``path``'s new version: known for every table put
        (the column is None when the table has none), not for text or bytes put."""
        if path in self.deleted or path not in self._keys:
            return False, None
        keys = self._keys[path]
        return True, keys.select(["repo"]) if "repo" in keys.column_names else None

    def read_found(self, path: str) -> pa.Table:
        """``path`` as it was when the purge began (its old version, even when rewritten since)."""
        cached = self._found.get(path)
        if cached is not None:
            return cached
        size = self._sizes.get(path)
        with self._open_at(path, size, whole=True) as handle:
            table = read_parquet(handle)
        if size is not None and size <= WHOLE_FETCH_BYTES:
            with self._found_lock:
                if self._found_bytes + table.nbytes <= FOUND_CACHE_BYTES:
                    self._found[path] = table
                    self._found_bytes += table.nbytes
        return table

    def cache_found(self, paths: list[str]) -> None:
        """Read the old versions of those of ``paths`` that are in the run, ``READS_AT_ONCE`` at a time, for
        later ``read_found`` calls (only small files are kept: ``WHOLE_FETCH_BYTES``)."""
        self.read_each([path for path in paths if self.in_run(path)], self.read_found)

    def read_columns(self, path: str, columns: list[str]) -> pa.Table | None:
        """Only ``columns`` of ``path`` in its newest version, or None when it lacks one of them. Key columns
        (``KEY_COLUMNS``) of a table put come from memory; columns read ahead
        (``prefetch_columns``) from there; else they are read from storage (on object storage only the
        footer and those columns' chunks are fetched). A small file of the run not rewritten is read whole
        and kept (``read_found``): the purge reads most of those again."""
        keys = self._keys.get(path) if path not in self.deleted else None
        if keys is not None and set(columns) <= set(keys.column_names):
            return keys.select(columns)  # while it is stored (a failure to store it fails the commit)
        ahead = self._columns_ahead.pop((path, tuple(columns)), None)
        if ahead is not None and self.untouched(path):
            return ahead.result()
        return self._read_columns(path, columns)

    def _read_columns(self, path: str, columns: list[str]) -> pa.Table | None:
        size = self._sizes.get(path)
        if self.untouched(path) and size is not None and size <= WHOLE_FETCH_BYTES:
            table = self.read_found(path)
            return table.select(columns) if set(columns) <= set(table.column_names) else None
        with self._open(path, whole=False) as handle:
            return read_columns(handle, columns)

    def prefetch_columns(self, paths: list[str], columns: list[str]) -> None:
        """Start reading ``columns`` of ``paths`` as they were when the purge began, in the background: a
        later ``read_columns`` of those columns of one of them, not rewritten in between, takes them."""
        for path in paths:
            if self.in_run(path) and (path, tuple(columns)) not in self._columns_ahead:
                future = self._reader.submit(self._read_columns, path, columns)
                self._columns_ahead[(path, tuple(columns))] = future

    def read_each(self, paths: list[str], read: Callable[[str], T]) -> list[T]:
        """``read(path)`` for each of ``paths``, in order, ``READS_AT_ONCE`` at a time (for many small reads,
        such as one column of every file: on object storage each is a few round trips to the server)."""
        return list(self.read_ahead(paths, read, READS_AT_ONCE))

    def read_ahead(self, paths: list[str], read: Callable[[str], T], ahead: int = 1) -> Iterator[T]:
        """``read(path)`` for each of ``paths``, in order, reading up to ``ahead`` more files while the caller
        works on one (threads; at most ``ahead + 1`` results held)."""
        with ThreadPoolExecutor(max_workers=max(1, ahead)) as pool:
            waiting: deque[Future[T]] = deque()
            for path in paths:
                waiting.append(pool.submit(read, path))
                if len(waiting) > ahead:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()

    def schema(self, path: str) -> pa.Schema:
        with self._open(path, whole=False) as handle:
            return pq.read_schema(handle)

    def _open(self, path: str, whole: bool) -> Any:
        """``path``'s newest version for reading. ``whole``: the file is read through, as the fsspec default
        (object storage reads ahead 50 MiB blocks); otherwise each read fetches only its own byte range."""
        if path in self.deleted:
            raise FileNotFoundError(path)
        if path in self.put:
            return self._open_at(f"{ASIDE}/{path}", self.stored_size(path), whole)
        return self._open_at(path, self._sizes.get(path), whole)

    def _open_at(self, name: str, size: int | None, whole: bool) -> Any:
        """The run's file ``name`` (of ``size`` bytes when known) for reading: on object storage a file
        read whole, or a small one, is fetched in one request; a part of a larger one, by byte ranges."""
        if not self.local and (whole or (size is not None and size <= WHOLE_FETCH_BYTES)):
            return pa.BufferReader(self.run.cat_file(name))
        options: dict[str, Any] = {} if whole else {"cache_type": "none"}
        return self.run.open(name, "rb", **options, **({"size": size} if size is not None else {}))

    def stored_size(self, path: str) -> int | None:
        """The size of ``path``'s new version, once stored (None for text, whose size was not taken)."""
        self.settle(path)
        future = self._writing.get(path)
        return future.result().size if future is not None else None

    def size_option(self, path: str) -> dict[str, int]:
        """Open options that give a file's size when the listing had it (no size request on object
        storage)."""
        return {"size": self._sizes[path]} if path in self._sizes else {}

    def list_found(self, folder: str, suffix: str = ".parquet") -> list[str]:
        """Like ``list`` (below), the files as they were when the purge began (their old versions)."""
        prefix = f"{folder}/" if folder else ""
        names = []
        for name in self.found[bisect_left(self.found, prefix) :]:
            if not name.startswith(prefix):
                break
            if name.endswith(suffix) and ".tmp" not in name:
                names.append(name)
        return names

    def list(self, folder: str, suffix: str = ".parquet") -> list[str]:
        """Run-relative paths of the finished files under ``folder`` (recursively; ``""``: the whole run)
        ending in ``suffix``, in their newest state (temporary files and the aside folder left out)."""
        prefix = f"{folder}/" if folder else ""
        found = set(self.list_found(folder, suffix))
        found |= {path for path in self.put if path.startswith(prefix) and path.endswith(suffix)}
        return sorted(found - self.deleted)

    def view(self, folder: str) -> FolderView:
        """The files under ``folder`` in their newest state, as the read side of a datatrove data folder
        (``isdir``, ``list_files``, ``open``), for readers written against one."""
        return FolderView(self, folder)

    def _written(self) -> dict[str, OutputFile]:
        """Size and row count of each table put (stored: call after ``settle``)."""
        return {
            path: OutputFile(bytes=self._writing[path].result().size, rows=rows)
            for path, rows in sorted(self._rows.items())
        }

    def commit(self, manifest: RunManifest, record: PurgeRecord) -> None:
        """Record the moves in the ledger, do them, then record the purge (``record``) as done."""
        self.settle()
        self._writer.shutdown()
        self._reader.shutdown(cancel_futures=True)
        manifest.purge_commit = PurgeCommit(
            moves=sorted(self.put), deletes=sorted(self.deleted), written=self._written(), record=record
        )
        manifest.save()
        finish_commit(manifest)


class FolderView:
    """``PendingWrites.view``: reads under ``folder``, rewritten files in their new version."""

    def __init__(self, pending: PendingWrites, folder: str):
        self.pending = pending
        self.folder = folder

    def isdir(self, sub: str) -> bool:
        return bool(self.pending.list(f"{self.folder}/{sub}"))

    def list_files(self, sub: str = "", glob_pattern: str = "*.parquet") -> list[str]:
        start = len(self.folder) + 1
        suffix = glob_pattern.lstrip("*")
        return [path[start:] for path in self.pending.list(f"{self.folder}/{sub}".rstrip("/"), suffix)]

    def exists(self, name: str) -> bool:
        return self.pending.exists(f"{self.folder}/{name}")

    def open(self, name: str, mode: str = "rb") -> Any:
        if mode != "rb":
            raise ValueError("a pending view is read-only")
        path = f"{self.folder}/{name}"
        if path in self.pending.deleted:
            raise FileNotFoundError(path)
        if path in self.pending.put:
            size = self.pending.stored_size(path)
            options = {"size": size} if size is not None else {}
            return self.pending.run.open(f"{ASIDE}/{path}", "rb", **options)
        return self.pending.run.open(path, "rb", **self.pending.size_option(path))


def finish_commit(manifest: RunManifest) -> PurgeRecord | None:
    """Do the moves and deletions the ledger records (``purge_commit``), then record the purge; returns it
    (None when no commit was pending)."""
    commit = manifest.purge_commit
    if commit is None:
        return None
    run = get_datafolder(manifest.out)
    if run.is_local():
        _move_local(run, commit)
    else:
        _move_stored(run, commit)
    manifest.record_purge(commit.record)
    manifest.purge_commit = None
    manifest.record_outputs(changed={*commit.moves, *commit.deletes}, written=commit.written)
    manifest.save()
    return commit.record


def _move_local(run: Any, commit: PurgeCommit) -> None:
    """The commit's moves (renames) and deletions in a local run."""
    # one listing, not one existence check per file; a file no longer aside was moved by an earlier try
    aside = set(run.list_files(ASIDE, recursive=True)) if run.isdir(ASIDE) else set()
    moves = [path for path in commit.moves if f"{ASIDE}/{path}" in aside]
    for parent in sorted({path.rsplit("/", 1)[0] for path in moves if "/" in path}):
        run.makedirs(parent, exist_ok=True)
    with ThreadPoolExecutor(max_workers=MOVES_AT_ONCE) as pool:
        list(pool.map(lambda path: run.mv(f"{ASIDE}/{path}", path), moves))
    for path in commit.deletes:
        if run.exists(path):
            run.rm(path)
    if run.isdir(ASIDE):
        run.rm(ASIDE, recursive=True)


def _move_stored(run: Any, commit: PurgeCommit) -> None:
    """The commit's moves and deletions in a run on object storage, where a move is a copy and a delete:
    every new version is copied into place (several at once), then the deleted files and the aside folder
    go in batch deletions (a request per thousand objects). A try stopped half-way leaves the aside
    folder whole, and the next one copies again."""
    present = file_sizes(run)  # one listing
    moves = [path for path in commit.moves if f"{ASIDE}/{path}" in present]
    with ThreadPoolExecutor(max_workers=MOVES_AT_ONCE) as pool:
        list(pool.map(lambda path: run.copy(f"{ASIDE}/{path}", path), moves))
    gone = [path for path in commit.deletes if path in present]
    gone += [path for path in present if path.startswith(f"{ASIDE}/")]
    if gone:
        run.rm(gone)
