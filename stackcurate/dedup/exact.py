"""Exact deduplication by content hash, in three passes joined by folders (docs/architecture.md)::

    hash     each task hashes its shard of the input (xxh3-128 of the UTF-8 content) and writes, per hash
             bucket, one small row per file: hash, origin task, position in the task's stream, priority fields
             -> <out>/dedup/exact/hashes/<bucket>/<rank>.parquet
    decide   each task takes whole buckets, groups rows by hash and keeps one copy per hash, by The Stack's
             priority: permissive license first, then stars, then forks, then (repo, path) as a stable
             tie-break; every row gets a decision, written per origin task
             -> <out>/dedup/exact/decisions/<origin>/<bucket>.parquet
    filter   (part of the curate pass) each task reads its shard again, in the same order, with its own
             decisions, each checked against the file's id, repo and path (``join.DecisionJoin``): drops
             the copies (``dropped_exact_duplicate``) and records on the kept copy how many duplicates it
             had and in which other repositories (``duplicate_repos``), so attribution survives.

Memory: the hash pass holds one batch of small rows; the decide pass one bucket at a time
(``buckets`` sets how finely the hash space is cut); the filter pass the decisions of its own shard.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from stackcurate.dedup.join import DecisionJoin
from stackcurate.parquet_io import read_table as read_parquet
from stackcurate.parquet_io import write_table_atomic
from stackcurate.stage import FileFilter

HASH_SCHEMA = pa.schema(
    [
        ("hash", pa.string()),
        ("origin", pa.int32()),
        ("index", pa.int64()),
        ("id", pa.string()),
        ("permissive", pa.bool_()),
        ("stars", pa.int64()),
        ("forks", pa.int64()),
        ("repo", pa.string()),
        ("path", pa.string()),
    ]
)
#: a decision names its file by position and by identity (id, repo, path), checked by the filter
DECISION_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("id", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("keep", pa.bool_()),
        ("duplicate_count", pa.int64()),
        ("duplicate_repos", pa.list_(pa.string())),
    ]
)


def content_hash(text: str) -> str:
    """xxh3-128 of the UTF-8 content, as 32 hex digits."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


class ExactDedupHashes(PipelineStep):
    """Hash pass: one row per input file into ``<folder>/<bucket>/<rank>.parquet`` (every bucket written)."""

    name = "exact dedup: hash"
    type = "🫂 - DEDUP"

    def __init__(self, folder: DataFolderLike, buckets: int = 16, batch_size: int = 4096):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.buckets = buckets
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tag = uuid.uuid4().hex[:8]
        paths = [f"{bucket:05d}/{rank:05d}.parquet" for bucket in range(self.buckets)]
        handles = [self.folder.open(f"{path}.tmp-{tag}", "wb") for path in paths]
        writers = [pq.ParquetWriter(handle, HASH_SCHEMA, compression="zstd") for handle in handles]
        rows: list[list[dict[str, Any]]] = [[] for _ in range(self.buckets)]
        pending = 0
        for index, doc in enumerate(data or ()):
            digest = content_hash(doc.text)
            meta = doc.metadata
            rows[int(digest[:8], 16) % self.buckets].append(
                {
                    "hash": digest,
                    "origin": rank,
                    "index": index,
                    "id": doc.id,
                    "permissive": meta.get("license_class") == "permissive",
                    "stars": meta.get("stars"),
                    "forks": meta.get("forks"),
                    "repo": meta.get("repo"),
                    "path": meta.get("path"),
                }
            )
            pending += 1
            if pending == self.batch_size:  # memory: one batch, whatever the shard's size
                self._flush(writers, rows)
                pending = 0
            self.stat_update("files_in")
            self.stat_update("files_out")
            yield doc
        self._flush(writers, rows)
        for writer, handle, path in zip(writers, handles, paths, strict=True):
            writer.close()  # a ParquetWriter leaves a file object it was given open
            handle.close()
            self.folder.mv(f"{path}.tmp-{tag}", path)

    @staticmethod
    def _flush(writers: list[pq.ParquetWriter], rows: list[list[dict[str, Any]]]) -> None:
        for writer, bucket_rows in zip(writers, rows, strict=True):
            if bucket_rows:
                writer.write_table(pa.Table.from_pylist(bucket_rows, schema=HASH_SCHEMA))
                bucket_rows.clear()


class ExactDedupDecide(PipelineStep):
    """Decide pass: for buckets ``[rank::world_size]``, one kept copy per hash; decisions per origin task."""

    name = "exact dedup: decide"
    type = "🫂 - DEDUP"

    def __init__(self, hashes: DataFolderLike, decisions: DataFolderLike, buckets: int = 16):
        super().__init__()
        self.hashes = get_datafolder(hashes)
        self.decisions = get_datafolder(decisions)
        self.buckets = buckets

    def _read_bucket(self, bucket: int) -> pl.DataFrame:
        tables = []
        for path in sorted(self.hashes.list_files(f"{bucket:05d}", glob_pattern="*.parquet")):
            with self.hashes.open(path, "rb") as handle:
                tables.append(read_parquet(handle))
        table = pa.concat_tables(tables) if tables else HASH_SCHEMA.empty_table()
        return pl.from_arrow(table)  # type: ignore[return-value]

    def decide(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rank the copies of each hash (priority order) and mark the first as kept."""
        ranked = frame.sort(
            ["hash", "permissive", "stars", "forks", "repo", "path"],
            descending=[False, True, True, True, False, False],
            nulls_last=True,
        ).with_columns(
            (pl.int_range(pl.len()).over("hash") == 0).alias("keep"),
            (pl.len().over("hash") - 1).cast(pl.Int64).alias("duplicate_count"),
        )
        others = (
            ranked.filter(~pl.col("keep"))
            .group_by("hash")
            .agg(pl.col("repo").unique().sort().alias("duplicate_repos"))
        )
        return ranked.join(others, on="hash", how="left")

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for bucket in range(rank, self.buckets, world_size):
            with self.track_time("bucket"):
                decided = self.decide(self._read_bucket(bucket))
            self.stat_update("files_in", value=decided.height)
            self.stat_update("duplicates", value=int((~decided["keep"]).sum()) if decided.height else 0)
            for origin, table in decision_tables(decided).items():
                write_table_atomic(self.decisions, f"{origin:05d}/{bucket:05d}.parquet", table)


def decision_tables(decided: pl.DataFrame) -> dict[int, pa.Table]:
    """A bucket's decisions (``ExactDedupDecide.decide``) as the decide pass writes them, by origin task:
    ``duplicate_repos`` on the kept copy only."""
    tables = {}
    for origin, part in decided.partition_by("origin", as_dict=True).items():
        table = part.select(
            "index",
            "id",
            "repo",
            "path",
            "keep",
            "duplicate_count",
            pl.when(pl.col("keep")).then(pl.col("duplicate_repos")).otherwise(None).alias("duplicate_repos"),
        ).to_arrow()
        origin_rank = origin[0] if isinstance(origin, tuple) else origin
        tables[int(origin_rank)] = table.cast(DECISION_SCHEMA)
    return tables


class ExactDedupFilter(FileFilter):
    """Curate-pass filter: drop the copies the decide pass did not keep (``dropped_exact_duplicate``); tag the
    kept copy with ``duplicate_count`` and ``duplicate_repos`` (repositories holding the dropped copies)."""

    name = "exact dedup"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {
        "duplicate_count": pa.int64(),
        "duplicate_repos": pa.list_(pa.string()),
    }

    def __init__(self, decisions: DataFolderLike, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.decisions = get_datafolder(decisions)
        self._join = DecisionJoin(self.name, complete=True)

    def _load(self, rank: int) -> None:
        # every file the hash pass saw has a decision: a file without one is an error, not a keep
        self._join = DecisionJoin(self.name, complete=True)
        if not self.decisions.isdir(f"{rank:05d}"):
            return
        for path in self.decisions.list_files(f"{rank:05d}", glob_pattern="*.parquet"):
            with self.decisions.open(path, "rb") as handle:
                for row in read_parquet(handle).to_pylist():
                    self._join.add(row, row["keep"], row["duplicate_count"], row["duplicate_repos"])

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._load(rank)
        yield from super().run(data, rank, world_size)
        self._join.finish()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        keep, count, repos = self._join.next(doc) or (True, 0, None)
        doc.metadata["duplicate_count"] = count
        doc.metadata["duplicate_repos"] = repos or []
        return True if keep else (False, "exact_duplicate")


class ExactDedupReplay(ExactDedupFilter):
    """The exact dedup filter replayed by a later dedup pass that must see the same stream as the curate
    pass (no rejects written; its counters are reported under their own step name)."""

    name = "exact dedup: replay"

    def __init__(self, decisions: DataFolderLike):
        super().__init__(decisions, None)


def iter_decisions(folder: DataFolderLike) -> Iterator[dict[str, Any]]:
    """Every decision row of a run (for tools and tests)."""
    data_folder = get_datafolder(folder)
    for path in sorted(data_folder.list_files(glob_pattern="*/*.parquet")):
        with data_folder.open(path, "rb") as handle:
            yield from read_parquet(handle).to_pylist()
