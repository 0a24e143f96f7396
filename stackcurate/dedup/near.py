"""Near deduplication with MinHash LSH, in four passes joined by folders (docs/architecture.md)::

    signatures  each task computes the MinHash signatures of its shard in batches (``minhash.MinHasher``),
                cuts each into bands and writes one row per (file, band) -- band, band key, file -- into
                ``groups`` hash partitions of the (band, key) space, plus one row per file with the
                priority fields -> <out>/minhash/buckets/<group>/<rank>.parquet and docs/<rank>.parquet
                (with ``verify``, each file's sorted shingle hashes too -> shingles/<rank>.parquet)
    pairs       each task takes whole groups; files sharing a (band, key) bucket are candidate pairs: every
                other member is paired with the bucket's first member (with ``verify``, every pair of a
                bucket of up to ``verify_max_bucket`` members, and pairs whose true shingle Jaccard is
                below the threshold dropped) -> <out>/minhash/pairs/<group>.parquet and the round-0 edges
    clusters    connected components of the pairs as sharded rounds (``components.py``); one file kept
                per component by exact dedup's priority (permissive license, stars, forks, repo, path)
                -> <out>/minhash/clusters/<origin>.parquet (``NearDedupClusters``: the same in one task)
    filter      (part of the curate pass) drops the other members (``dropped_near_duplicate``) and tags every
                file with ``cluster_id`` (the blob id of its cluster's kept file; its own id when alone) and
                ``cluster_size``.

Files are named by ``(task, position in the task's stream)``: the curate pass reads the same shard in the
same order, so decisions need no content; each decision also carries the file's id, repo and path, which the
filter checks (``join.DecisionJoin``). Files with fewer than ``ngram`` tokens get no signature: they are
counted (``too_short``) and kept as singletons.

Memory: the signatures pass holds one batch; the pairs pass one group (about ``files * bands / groups``
rows of 17 bytes; the planner picks ``groups`` so that a group fits ``bucket_memory_mb``), plus with
``verify`` the shingles of the files in its pairs; a components task one edge partition.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from stackcurate.dedup.components import rank_members, write_edges
from stackcurate.dedup.join import DecisionJoin
from stackcurate.dedup.minhash import MinHasher, band_keys, pair_jaccard, shingle_hashes
from stackcurate.dedup.near_records import (
    BUCKET_SCHEMA,
    DECISION_SCHEMA,
    DOC_SCHEMA,
    PAIR_SCHEMA,
    SHINGLE_SCHEMA,
    frame,
    iter_folder,
    read_members,
)
from stackcurate.parquet_io import read_table as read_parquet
from stackcurate.parquet_io import write_table_atomic
from stackcurate.stage import FileFilter

#: bytes one bucket row costs at the pairs pass's peak: 17 read from the file, 17 as a frame, and sorting
#: and pairing took 51-66 more above that (measured on 4M and 16M synthetic rows); rounded up
BUCKET_ROW_BYTES = 112


def groups_for(files: int, bands: int, memory_mb: int, minimum: int = 1) -> int:
    """How many bucket groups keep one group of ``files * bands`` rows within ``memory_mb``."""
    need = math.ceil(files * bands * BUCKET_ROW_BYTES / (memory_mb * 1_000_000))
    return max(minimum, need)


class NearDedupSignatures(PipelineStep):
    """Signatures pass (last step of its pipeline): bucket rows per group, priority rows per file."""

    name = "near dedup: signatures"
    type = "🫂 - DEDUP"

    def __init__(
        self,
        folder: DataFolderLike,
        groups: int,
        num_perm: int = 256,
        ngram: int = 5,
        bands: int = 25,
        rows: int = 10,
        seed: int = 42,
        verify: bool = False,
        batch_size: int = 512,
    ):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.groups = groups
        self.num_perm, self.ngram, self.bands, self.rows, self.seed = num_perm, ngram, bands, rows, seed
        self.verify = verify
        self.batch_size = batch_size

    def _batches(self, data: DocumentsPipeline) -> Iterator[list[Document]]:
        batch: list[Document] = []
        for doc in data or ():
            batch.append(doc)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        hasher = MinHasher(self.num_perm, self.ngram, self.seed)
        tag = uuid.uuid4().hex[:8]
        bucket_paths = [f"buckets/{group:05d}/{rank:05d}.parquet" for group in range(self.groups)]
        handles = [self.folder.open(f"{path}.tmp-{tag}", "wb") for path in bucket_paths]
        writers = [pq.ParquetWriter(handle, BUCKET_SCHEMA, compression="zstd") for handle in handles]
        docs: list[pa.RecordBatch] = []
        shingle_path = f"shingles/{rank:05d}.parquet"
        shingle_handle = self.folder.open(f"{shingle_path}.tmp-{tag}", "wb") if self.verify else None
        shingle_writer = (
            pq.ParquetWriter(shingle_handle, SHINGLE_SCHEMA, compression="zstd") if shingle_handle else None
        )
        index = 0
        for batch in self._batches(data):
            with self.track_time("batch"):
                sigs, tokens = hasher.signatures([doc.text for doc in batch])
                keys_of = np.arange(index, index + len(batch), dtype=np.int64) + (np.int64(rank) << 32)
                index += len(batch)
                long_enough = tokens >= self.ngram
                self.stat_update("files_in", value=len(batch))
                self.stat_update("files_out", value=len(batch))
                self.stat_update("too_short", value=int((~long_enough).sum()))
                if not long_enough.any():
                    continue
                kept = [doc for doc, ok in zip(batch, long_enough, strict=True) if ok]
                doc_keys = keys_of[long_enough]
                keys = band_keys(sigs[long_enough], self.bands, self.rows)
                band = np.broadcast_to(np.arange(self.bands, dtype=np.uint8), keys.shape)
                doc_col = np.broadcast_to(doc_keys[:, None], keys.shape)
                flat_keys = keys.ravel()
                group = (flat_keys % np.uint64(self.groups)).astype(np.int64)
                order = np.argsort(group, kind="stable")
                bounds = np.searchsorted(group[order], np.arange(self.groups + 1))
                flat_band, flat_doc = band.ravel()[order], doc_col.ravel()[order]
                flat_keys = flat_keys[order]
                for g in range(self.groups):
                    lo, hi = bounds[g], bounds[g + 1]
                    if hi > lo:
                        writers[g].write_batch(
                            pa.record_batch(
                                [flat_band[lo:hi], flat_keys[lo:hi], flat_doc[lo:hi]], schema=BUCKET_SCHEMA
                            )
                        )
                docs.append(self._doc_rows(kept, doc_keys))
                if self.verify:
                    hashes = shingle_hashes([doc.text for doc in kept], self.ngram)
                    offsets = np.zeros(len(hashes) + 1, dtype=np.int64)
                    np.cumsum([len(h) for h in hashes], out=offsets[1:])
                    values = pa.array(np.concatenate(hashes) if hashes else [], type=pa.uint32())
                    assert shingle_writer is not None
                    shingle_writer.write_batch(
                        pa.record_batch(
                            [pa.array(doc_keys), pa.LargeListArray.from_arrays(pa.array(offsets), values)],
                            schema=SHINGLE_SCHEMA,
                        )
                    )
                self.stat_update("signatures", value=len(kept))
        for writer, handle, path in zip(writers, handles, bucket_paths, strict=True):
            writer.close()  # a ParquetWriter leaves a file object it was given open
            handle.close()
            self.folder.mv(f"{path}.tmp-{tag}", path)
        write_table_atomic(self.folder, f"docs/{rank:05d}.parquet", pa.Table.from_batches(docs, DOC_SCHEMA))
        if shingle_writer is not None and shingle_handle is not None:
            shingle_writer.close()
            shingle_handle.close()
            self.folder.mv(f"{shingle_path}.tmp-{tag}", shingle_path)
        return
        yield

    @staticmethod
    def _doc_rows(docs: list[Document], keys: np.ndarray) -> pa.RecordBatch:
        meta = [doc.metadata for doc in docs]
        return pa.record_batch(
            [
                pa.array(keys),
                pa.array([doc.id for doc in docs], type=pa.string()),
                pa.array([m.get("license_class") == "permissive" for m in meta]),
                pa.array([m.get("stars") for m in meta], type=pa.int64()),
                pa.array([m.get("forks") for m in meta], type=pa.int64()),
                pa.array([m.get("repo") for m in meta], type=pa.string()),
                pa.array([m.get("path") for m in meta], type=pa.string()),
            ],
            schema=DOC_SCHEMA,
        )


def candidate_pairs(buckets: pl.DataFrame, all_pairs_up_to: int = 0) -> pl.DataFrame:
    """Pairs ``(a, b)``, ``a < b``, of files sharing a (band, key) bucket: each member with the bucket's
    first (smallest) member, and every pair in buckets of at most ``all_pairs_up_to`` members.

    One sort of the rows (numpy, about 60 bytes a row at the peak) finds the buckets; only the rows of
    buckets with several members go further."""
    band = buckets["band"].to_numpy()
    key = buckets["key"].to_numpy()
    doc = buckets["doc"].to_numpy()
    order = np.lexsort((doc, key, band))
    band, key, doc = band[order], key[order], doc[order]
    del order
    starts = np.ones(len(doc), dtype=bool)
    starts[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
    bucket = np.cumsum(starts) - 1
    first_rows = np.flatnonzero(starts)
    sizes = np.diff(np.append(first_rows, len(doc)))
    member = ~starts
    parts = [pl.DataFrame({"a": doc[first_rows][bucket[member]], "b": doc[member]})]
    if all_pairs_up_to > 2:
        in_small = (sizes[bucket] > 2) & (sizes[bucket] <= all_pairs_up_to)
        small = pl.DataFrame({"bucket": bucket[in_small], "doc": doc[in_small]})
        parts.append(
            small.join(small, on="bucket", suffix="_b")
            .filter(pl.col("doc") < pl.col("doc_b"))
            .select(pl.col("doc").alias("a"), pl.col("doc_b").alias("b"))
        )
    return pl.concat(parts).unique().sort("a", "b")


class NearDedupPairs(PipelineStep):
    """Pairs pass: for groups ``[rank::world_size]``, the candidate pairs of every bucket in the group."""

    name = "near dedup: pairs"
    type = "🫂 - DEDUP"

    def __init__(
        self,
        folder: DataFolderLike,
        groups: int,
        all_pairs_up_to: int = 0,
        threshold: float | None = None,
        partitions: int = 0,
    ):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.groups = groups
        self.all_pairs_up_to = all_pairs_up_to
        self.threshold = threshold
        self.partitions = partitions

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """``threshold``: verify the group's pairs here (reading only their files' shingles);
        ``partitions`` > 0: also write them as round-0 edges of the sharded components
        (``components.py``)."""
        for group in range(rank, self.groups, world_size):
            with self.track_time("group"):
                buckets = frame(list(iter_folder(self.folder, f"buckets/{group:05d}")), BUCKET_SCHEMA)
                pairs = candidate_pairs(buckets, self.all_pairs_up_to)
                self.stat_update("bucket_rows", value=buckets.height)
                self.stat_update("candidate_pairs", value=pairs.height)
                if self.threshold is not None and pairs.height:
                    pairs, dropped = verified_pairs(self.folder, pairs, self.threshold)
                    self.stat_update("pairs_below_threshold", value=dropped)
                write_table_atomic(
                    self.folder, f"pairs/{group:05d}.parquet", pairs.to_arrow().cast(PAIR_SCHEMA)
                )
                if self.partitions:
                    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
                    write_edges(self.folder, "edges/r000", group, a, b, self.partitions)
        return
        yield


def verified_pairs(folder: Any, pairs: pl.DataFrame, threshold: float) -> tuple[pl.DataFrame, int]:
    """``(pairs whose true shingle Jaccard is >= threshold, pairs dropped)``, reading only the shingles
    of the files in ``pairs``."""
    nodes = pl.concat([pairs["a"], pairs["b"]]).unique()
    shingles = read_members(folder, "shingles", SHINGLE_SCHEMA, nodes).sort("doc")
    position = {int(doc): i for i, doc in enumerate(shingles["doc"].to_list())}
    lengths = shingles["shingles"].list.len().to_numpy()
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = shingles["shingles"].explode().drop_nulls().to_numpy().astype(np.uint32)
    left = np.array([position[int(doc)] for doc in pairs["a"].to_list()], dtype=np.int64)
    right = np.array([position[int(doc)] for doc in pairs["b"].to_list()], dtype=np.int64)
    keep = pair_jaccard(values, offsets, left, right) >= threshold
    return pairs.filter(pl.Series(keep)), int((~keep).sum())


def connected_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, labels)``: the files named in pairs ``(a[i], b[i])`` and a component label for each."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as components

    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(nodes)
    if n == 0:
        return nodes, np.empty(0, dtype=np.int64)
    left, right = inverse[: len(a)], inverse[len(a) :]
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = components(graph, directed=False)
    return nodes, labels.astype(np.int64)


class NearDedupClusters(PipelineStep):
    """Clusters in one task: connected components (scipy) of the candidate pairs; one kept file per
    component. The pipeline runs the sharded rounds of ``components.py`` instead; this is their reference
    (same decisions) and the tool for small folders."""

    name = "near dedup: clusters"
    type = "🫂 - DEDUP"

    def __init__(self, folder: DataFolderLike, verify: bool = False, threshold: float = 0.7):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.verify = verify
        self.threshold = threshold

    def _verified(self, pairs: pl.DataFrame) -> pl.DataFrame:
        kept, dropped = verified_pairs(self.folder, pairs, self.threshold)
        self.stat_update("pairs_below_threshold", value=dropped)
        return kept

    def decide(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Rows ``origin, index, id, repo, path, keep, cluster_id, cluster_size`` for every file in a
        component."""
        nodes, labels = connected_components(pairs["a"].to_numpy(), pairs["b"].to_numpy())
        members = pl.DataFrame({"doc": nodes, "cluster": labels})
        docs = read_members(self.folder, "docs", DOC_SCHEMA, pl.Series(nodes))
        return rank_members(members, docs)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if rank != 0:
            return
        with self.track_time("clusters"):
            pairs = frame(list(iter_folder(self.folder, "pairs")), PAIR_SCHEMA).unique()
            self.stat_update("candidate_pairs", value=pairs.height)
            if self.verify and pairs.height:
                pairs = self._verified(pairs)
            decided = self.decide(pairs)
        clusters = int(decided["keep"].sum()) if decided.height else 0
        self.stat_update("files_in_clusters", value=decided.height)
        self.stat_update("clusters", value=clusters)
        self.stat_update("near_duplicates", value=decided.height - clusters)
        for (origin,), part in decided.partition_by("origin", as_dict=True).items():
            table = part.drop("origin").sort("index").to_arrow().cast(DECISION_SCHEMA)
            write_table_atomic(self.folder, f"clusters/{int(origin):05d}.parquet", table)
        return
        yield


class NearDedupFilter(FileFilter):
    """Curate-pass filter: drops the near copies the clusters pass did not keep (``dropped_near_duplicate``)
    and tags every file with ``cluster_id`` and ``cluster_size``."""

    name = "near dedup"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {
        "cluster_id": pa.string(),
        "cluster_size": pa.int64(),
    }

    def __init__(self, folder: DataFolderLike, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.folder = get_datafolder(folder)
        self._join = DecisionJoin(self.name, complete=False)

    def _load(self, rank: int) -> None:
        # only clustered files have a decision; each one must name the file at its position
        self._join = DecisionJoin(self.name, complete=False)
        name = f"clusters/{rank:05d}.parquet"
        if not self.folder.exists(name):
            return
        with self.folder.open(name, "rb") as handle:
            for row in read_parquet(handle).to_pylist():
                self._join.add(row, row["keep"], row["cluster_id"], row["cluster_size"])

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._load(rank)
        yield from super().run(data, rank, world_size)
        self._join.finish()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        keep, cluster_id, size = self._join.next(doc) or (True, doc.id, 1)
        doc.metadata["cluster_id"] = cluster_id
        doc.metadata["cluster_size"] = size
        return True if keep else (False, "near_duplicate")


def iter_clusters(folder: DataFolderLike) -> Iterator[dict[str, Any]]:
    """Every clustered file's decision (for tools and tests), with its ``origin`` task."""
    data_folder = get_datafolder(folder)
    for path in sorted(data_folder.list_files("clusters", glob_pattern="[0-9]*.parquet")):
        origin = int(path.rsplit("/", 1)[-1].split(".")[0])
        with data_folder.open(path, "rb") as handle:
            for row in read_parquet(handle).to_pylist():
                yield {"origin": origin, **row}
