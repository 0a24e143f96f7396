"""The files an ``opt-out purge`` rewrites, made in a folder aside and moved into the run together.

A purge changes files of several folders that must agree (``02_filtered`` and the dedup tables name files
by position; the curated output and the shards hold the same documents). ``PendingWrites`` writes each new
version under ``<run>/.purge/<path>`` while the purge computes, and reads files back through it (a file
already rewritten is read in its new version). ``commit`` then records the moves and deletions in the run's
ledger (``RunManifest.purge_commit``) before doing them: a purge stopped before that point left the run as
it was (the next purge removes ``.purge/``); one stopped after it is finished by the next ``opt-out purge``
(``finish_commit``: moving a file already moved is a no-op). Works on a local folder as on object storage
(fsspec through datatrove's data folders).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.io import get_datafolder

from stackcurate.manifest import PurgeCommit, PurgeRecord, RunManifest
from stackcurate.parquet_io import read_columns
from stackcurate.parquet_io import read_table as read_parquet

#: run-relative folder of the new versions until they are moved into place
ASIDE = ".purge"
#: moves done at the same time when a purge commits (threads; the work is waiting on storage)
MOVES_AT_ONCE = 16


class PendingWrites:
    """New versions of run files (``put_table``, ``put_text``) and deletions (``delete``), read back with
    ``read_table``/``exists``/``list``, until ``commit``."""

    def __init__(self, run_dir: str):
        self.run = get_datafolder(run_dir)
        self.put: set[str] = set()
        self.deleted: set[str] = set()
        if self.run.isdir(ASIDE):  # left by a purge stopped before its commit: the run is as it was
            self.run.rm(ASIDE, recursive=True)

    def put_table(self, path: str, table: pa.Table, **options: Any) -> None:
        """``table`` as the new ``path`` (zstd; ``options``: more ``pyarrow.parquet.write_table`` ones)."""
        with self.run.open(f"{ASIDE}/{path}", "wb") as handle:
            pq.write_table(table, handle, **{"compression": "zstd", **options})
        self.put.add(path)
        self.deleted.discard(path)

    def put_file(self, local: str, path: str) -> None:
        """A local file as the new ``path``."""
        _parent(self.run, f"{ASIDE}/{path}")
        self.run.put(local, f"{ASIDE}/{path}")
        self.put.add(path)
        self.deleted.discard(path)

    def put_text(self, path: str, text: str) -> None:
        with self.run.open(f"{ASIDE}/{path}", "w") as handle:
            handle.write(text)
        self.put.add(path)
        self.deleted.discard(path)

    def delete(self, path: str) -> None:
        if self.run.exists(path) or path in self.put:
            self.deleted.add(path)
        self.put.discard(path)

    def exists(self, path: str) -> bool:
        if path in self.deleted:
            return False
        return path in self.put or self.run.exists(path)

    def read_table(self, path: str, columns: list[str] | None = None) -> pa.Table:
        """``path`` in its newest version (the pending one when rewritten); ``columns``: only those."""
        with self._open(path, whole=columns is None) as handle:
            return read_parquet(handle, columns=columns)

    def read_columns(self, path: str, columns: list[str]) -> pa.Table | None:
        """Only ``columns`` of ``path`` in its newest version, or None when it lacks one of them (one
        opening; on object storage only the footer and those columns' chunks are fetched)."""
        with self._open(path, whole=False) as handle:
            return read_columns(handle, columns)

    def schema(self, path: str) -> pa.Schema:
        with self._open(path, whole=False) as handle:
            return pq.read_schema(handle)

    def _open(self, path: str, whole: bool) -> Any:
        """``path``'s newest version for reading. ``whole``: the file is read through, as the fsspec default
        (object storage reads ahead 50 MiB blocks); otherwise each read fetches only its own byte range."""
        if path in self.deleted:
            raise FileNotFoundError(path)
        source = f"{ASIDE}/{path}" if path in self.put else path
        return self.run.open(source, "rb") if whole else self.run.open(source, "rb", cache_type="none")

    def list(self, folder: str, suffix: str = ".parquet") -> list[str]:
        """Run-relative paths of the finished files under ``folder`` (recursively; ``""``: the whole run)
        ending in ``suffix``, in their newest state (temporary files and the aside folder left out)."""
        prefix = f"{folder}/" if folder else ""
        found = set()
        if self.run.isdir(folder):
            for name in self.run.list_files(folder, recursive=True):
                if name.endswith(suffix) and ".tmp" not in name and not name.startswith(f"{ASIDE}/"):
                    found.add(name)
        found |= {path for path in self.put if path.startswith(prefix) and path.endswith(suffix)}
        return sorted(found - self.deleted)

    def view(self, folder: str) -> FolderView:
        """The files under ``folder`` in their newest state, as the read side of a datatrove data folder
        (``isdir``, ``list_files``, ``open``), for readers written against one."""
        return FolderView(self, folder)

    def commit(self, manifest: RunManifest, record: PurgeRecord) -> None:
        """Record the moves in the ledger, do them, then record the purge (``record``) as done."""
        manifest.purge_commit = PurgeCommit(
            moves=sorted(self.put), deletes=sorted(self.deleted), record=record
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
        return self.pending.run.open(f"{ASIDE}/{path}" if path in self.pending.put else path, "rb")


def finish_commit(manifest: RunManifest) -> PurgeRecord | None:
    """Do the moves and deletions the ledger records (``purge_commit``), then record the purge; returns it
    (None when no commit was pending)."""
    commit = manifest.purge_commit
    if commit is None:
        return None
    run = get_datafolder(manifest.out)
    # one listing, not one existence check per file; a file no longer aside was moved by an earlier try
    aside = set(run.list_files(ASIDE, recursive=True)) if run.isdir(ASIDE) else set()
    moves = [path for path in commit.moves if f"{ASIDE}/{path}" in aside]
    for parent in sorted({path.rsplit("/", 1)[0] for path in moves if "/" in path}):
        run.makedirs(parent, exist_ok=True)
    # the moves at once: on object storage each is a copy and a delete, a round trip or two to the server
    with ThreadPoolExecutor(max_workers=MOVES_AT_ONCE) as pool:
        list(pool.map(lambda path: run.mv(f"{ASIDE}/{path}", path), moves))
    for path in commit.deletes:
        if run.exists(path):
            run.rm(path)
    if run.isdir(ASIDE):
        run.rm(ASIDE, recursive=True)
    manifest.record_purge(commit.record)
    manifest.purge_commit = None
    manifest.record_outputs()
    manifest.save()
    return commit.record


def _parent(run: Any, path: str) -> None:
    if "/" in path:
        run.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
