"""Connected components of the verified near-duplicate pairs as rounds of sharded tasks (no task holds
the whole graph), and the kept file of each component.

Algorithm: large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond",
SoCC 2014; the algorithm of text-dedup's Spark MinHash). Edges are stored both ways, partitioned by the
hash of their first node into ``partitions`` folders: ``edges/r<R>/<partition>/<source task>.parquet``. A
round's task ``p`` reads partition ``p`` -- every neighbour of its nodes -- and for each node ``u`` with
neighbours ``N(u)``:

- large-star (even rounds): ``m = min(N(u) + u)``; every neighbour ``v > u`` is linked to ``m`` instead;
- small-star (odd rounds): with ``S = {v in N(u): v < u}`` non-empty, ``m = min(S)``; every ``w`` of
  ``S + u`` other than ``m`` is linked to ``m``.

It writes the new edges, routed by partition, into round ``R + 1``, and counts its changes (large-star:
nodes that are not the minimum of their neighbourhood yet have larger neighbours; small-star: nodes with
several smaller neighbours) in ``changes/r<R>/<p>.json``. When a large-star round and the small-star round
after it change nothing, every component is a star around its smallest node: the component's label. Both
operations keep the components and the rounds needed grow as ``O(log^2 n)`` (the paper; a handful here).

Memory per task: one partition of edges, ``2 x edges / partitions`` rows of 16 bytes plus the sort's
copies (``EDGE_ROW_BYTES``); the planner picks ``partitions`` from ``near_dedup.component_memory_mb``.
When every file that can be in a pair fits that memory in one task (``one_task_fits``), the planner skips
the rounds and clusters in one task (``near.NearDedupClusters``): the same decisions, without a pass per
round.

``ComponentDecide`` then takes, in partition ``p``, the star centres it owns: a centre's neighbours are its
whole component, so ranking them by exact dedup's priority (permissive license, stars, forks, repo, path,
file) needs no other partition; ``ClusterMerge`` gathers each origin task's decisions into
``clusters/<origin>.parquet`` as the single-task clustering wrote them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from stackcurate.dedup.near_records import DECISION_SCHEMA, DOC_SCHEMA, read_members
from stackcurate.parquet_io import read_table as read_parquet
from stackcurate.parquet_io import write_table_atomic

EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])
#: bytes one stored (directed) edge of a partition costs at a round task's peak, above the idle task (a
#: round on a 3-edge graph, 132 MB): the edges, the sort order and one sorted column while reading; the new
#: edges both ways, their sort order and one sorted column while writing. Measured with
#: ``benchmarks/scaling.py --graph`` (the largest VmHWM of any round task; docs/scaling.md): 61 B with one
#: partition of 3.98M stored edges (``--files 2000000 --edges 2000000 --memory-mb 2000 --graph-tasks 1``:
#: 367 MB), 62 B with seven of 2.85M (``--files 10000000 --edges 10000000 --memory-mb 256``: 302-303 MB),
#: 62 B with one of 1.99M (``--quick --memory-mb 1000 --graph-tasks 1``: 249 MB), 66-67 B with two of
#: 0.99M (``--quick --memory-mb 128 --graph-tasks 2``: 192-194 MB); rounded up by a fifth for the
#: allocators and uneven partitions
EDGE_ROW_BYTES = 80


#: one task clustering every verified pair (``near.NearDedupClusters``: scipy's components, then the
#: decisions), at its peak above the idle task: a fixed part plus bytes per file in a pair. Measured (VmHWM
#: of one process; ``benchmarks/scaling_graph.py``'s graph with 40-character ids, repo and path strings in
#: ``docs/``; idle 180 MB): 158 MB at 10^5 files in pairs, 349 MB at 4 x 10^5, 647 MB at 10^6, 1,074 MB at
#: 2 x 10^6; the line through the first two bounds them all
ONE_TASK_FIXED_MB = 100
ONE_TASK_FILE_BYTES = 640


def one_task_fits(files_in_pairs: int, memory_mb: int) -> bool:
    """Whether one task clusters ``files_in_pairs`` files within ``memory_mb`` (then the rounds are not
    needed: the planner runs ``NearDedupClusters`` in one task, with the same decisions)."""
    return ONE_TASK_FIXED_MB * 1_000_000 + files_in_pairs * ONE_TASK_FILE_BYTES <= memory_mb * 1_000_000


def partitions_for(files: int, memory_mb: int, edges_per_file: float = 1.0, minimum: int = 1) -> int:
    """Edge partitions so that one partition (``2 x files x edges_per_file / partitions`` directed edges)
    stays within ``memory_mb``. ``edges_per_file``: verified pairs per file, an estimate (1: every file
    near a copy is paired with its cluster's first member once; LSH gives up to ``bands`` candidates)."""
    need = math.ceil(2 * files * edges_per_file * EDGE_ROW_BYTES / (memory_mb * 1_000_000))
    return max(minimum, need)


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each node: a multiplicative hash (file keys are (task, position), not uniform).
    One array the size of ``nodes`` (the hash is computed in place)."""
    mixed = nodes.astype(np.uint64)
    mixed *= np.uint64(0x9E3779B97F4A7C15)
    mixed >>= np.uint64(33)
    mixed %= np.uint64(partitions)
    return mixed.view(np.int64)  # values < partitions: the same numbers as int64, no copy


#: Parquet options of the edge files: plain int64 columns (a dictionary of 64-bit node keys is about as
#: large as the column, and building it costs the writer a hash table)
EDGE_WRITE_OPTIONS: dict[str, Any] = {"use_dictionary": False, "row_group_size": 1 << 17}
#: rows of edges read at a time, and the read buffer: what Arrow holds besides the arrays stays small
EDGE_BATCH_ROWS = 1 << 16
READ_BUFFER_BYTES = 1 << 20


def write_edges(folder: Any, path: str, source: int, u: np.ndarray, v: np.ndarray, partitions: int) -> None:
    """Store undirected edges ``(u[i], v[i])`` both ways under ``path/<partition>/<source>.parquet``,
    without self-loops or repeats, each file sorted by ``(u, v)``; every partition gets a file (empty ones
    too: a rerun replaces them). numpy only, each big temporary freed once used: at the peak (the sort) it
    holds the directed edges, the sort order and one sorted column."""
    keep = u != v
    both_u = np.concatenate([u[keep], v[keep]])
    both_v = np.concatenate([v[keep], u[keep]])
    del keep
    # one sort by (partition, u, v) puts each partition's rows together, in order, repeats side by side
    part = partition_of(both_u, partitions).astype(np.int32)
    order = np.lexsort((both_v, both_u, part))
    both_u = both_u[order]
    both_v = both_v[order]
    part = part[order]
    del order
    if len(both_u) > 1:
        first = np.empty(len(both_u), dtype=bool)  # the first of equal rows (equal u: equal partition)
        first[0] = True
        np.not_equal(both_u[1:], both_u[:-1], out=first[1:])
        first[1:] |= both_v[1:] != both_v[:-1]
        if not first.all():
            both_u, both_v, part = both_u[first], both_v[first], part[first]
        del first
    bounds = np.searchsorted(part, np.arange(partitions + 1, dtype=np.int32))
    del part
    for p in range(partitions):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        table = pa.table([pa.array(both_u[lo:hi]), pa.array(both_v[lo:hi])], schema=EDGE_SCHEMA)
        write_table_atomic(folder, f"{path}/{p:05d}/{source:05d}.parquet", table, **EDGE_WRITE_OPTIONS)
    pa.default_memory_pool().release_unused()  # what Arrow's allocator kept of the writers' buffers


def _edge_files(folder: Any, path: str) -> list[str]:
    if not folder.isdir(path):
        return []
    return [n for n in sorted(folder.list_files(path, glob_pattern="*.parquet")) if ".tmp-" not in n]


def read_edges(folder: Any, path: str) -> tuple[np.ndarray, np.ndarray]:
    """All edges of one partition folder, sorted by ``(u, v)``. The files' row groups are copied one at a
    time into two arrays allocated from the footers' row counts, then sorted: at the peak it holds the
    edges, the sort order and one sorted column."""
    names = _edge_files(folder, path)
    counts = []
    for name in names:
        with folder.open(name, "rb") as handle:
            counts.append(pq.read_metadata(handle).num_rows)
    u = np.empty(sum(counts), dtype=np.int64)
    v = np.empty(sum(counts), dtype=np.int64)
    at = 0
    for name, count in zip(names, counts, strict=True):
        if not count:
            continue
        with folder.open(name, "rb") as handle:
            parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
            batches = parquet.iter_batches(batch_size=EDGE_BATCH_ROWS, columns=["u", "v"], use_threads=False)
            for batch in batches:
                rows = batch.num_rows
                u[at : at + rows] = batch.column("u").to_numpy()
                v[at : at + rows] = batch.column("v").to_numpy()
                at += rows
    pa.default_memory_pool().release_unused()  # what Arrow's allocator kept of the batches
    if at != len(u):
        raise ValueError(f"{path}: {at} edges read, the footers say {len(u)}")
    order = np.lexsort((v, u))
    u = u[order]
    v = v[order]
    return u, v


def _group_min(u: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted by ``u``: each row's group number, the minimum of ``values`` over each group, and
    each group's first row."""
    starts = np.ones(len(u), dtype=bool)
    starts[1:] = u[1:] != u[:-1]
    first = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    minima = np.minimum.reduceat(values, first) if len(first) else values[:0]
    return group, minima, first


def _distinct_sorted(values: np.ndarray) -> int:
    """Distinct values of a sorted array."""
    return int(len(values) and 1 + np.count_nonzero(values[1:] != values[:-1]))


def large_star(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Large-star on edges sorted by ``u`` (both ways): ``(new u, new v, changed nodes)``."""
    if len(u) == 0:
        return u, v, 0
    group, minima, _ = _group_min(u, v)
    m = minima[group]
    del group, minima
    np.minimum(m, u, out=m)
    larger = v > u
    changed = _distinct_sorted(u[larger & (m < u)])  # u is sorted
    return v[larger], m[larger], changed


def small_star(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Small-star on edges sorted by ``u`` (both ways): ``(new u, new v, changed nodes)``."""
    smaller = v < u
    su, sv = u[smaller], v[smaller]
    del smaller
    if len(su) == 0:
        return su, sv, 0
    group, minima, first = _group_min(su, sv)
    changed = int((np.bincount(group) >= 2).sum())
    m = minima[group]
    del group
    owners = su[first]  # every u of S + u, linked to its m
    del su, first
    new_u = np.concatenate([sv, owners])
    del sv, owners
    new_v = np.concatenate([m, minima])
    return new_u, new_v, changed


class _PartitionStep(PipelineStep):
    """A step over the edge partitions ``[rank::world_size]`` of round ``round_`` in ``folder``."""

    def __init__(self, folder: DataFolderLike, round_: int, partitions: int):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.round, self.partitions = round_, partitions


class ComponentRound(_PartitionStep):
    """One round (``round_``: even large-star, odd small-star) for partitions ``[rank::world_size]``."""

    name = "near dedup: components round"
    type = "🫂 - DEDUP"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for p in range(rank, self.partitions, world_size):
            with self.track_time("partition"):
                u, v = read_edges(self.folder, f"edges/r{self.round:03d}/{p:05d}")
                star = large_star if self.round % 2 == 0 else small_star
                new_u, new_v, changed = star(u, v)
                self.stat_update("edges_in", value=len(u))
                del u, v  # the round's peak is then the new edges' write alone
                self.stat_update("changed_nodes", value=changed)
                write_edges(self.folder, f"edges/r{self.round + 1:03d}", p, new_u, new_v, self.partitions)
                name = f"changes/r{self.round:03d}/{p:05d}.json"
                write_json_atomic(self.folder, name, {"changed": changed})
        return
        yield


def write_json_atomic(folder: Any, name: str, value: dict[str, Any]) -> None:
    with folder.open(f"{name}.tmp", "w") as handle:
        json.dump(value, handle)
    folder.mv(f"{name}.tmp", name)


def round_changes(folder: DataFolderLike, round_: int, partitions: int) -> int | None:
    """Nodes a finished round changed (None when a partition's count is missing: not finished)."""
    data_folder = get_datafolder(folder)
    total = 0
    for p in range(partitions):
        name = f"changes/r{round_:03d}/{p:05d}.json"
        if not data_folder.exists(name):
            return None
        with data_folder.open(name, "r") as handle:
            total += int(json.load(handle)["changed"])
    return total


def converged(folder: DataFolderLike, round_: int, partitions: int) -> bool:
    """Whether the rounds are done after ``round_``: a small-star round and the large-star round before it
    changed nothing (every component is then a star around its smallest node)."""
    if round_ % 2 == 0 or round_ < 1:
        return False
    before = round_changes(folder, round_ - 1, partitions)
    return before == 0 and round_changes(folder, round_, partitions) == 0


def star_clusters(u: np.ndarray, v: np.ndarray) -> pl.DataFrame:
    """``(doc, cluster)`` rows of the converged stars whose centre is among ``u`` (edges sorted by ``u``,
    both ways): a centre has no smaller neighbour; it and its neighbours form its cluster."""
    if len(u) == 0:
        return pl.DataFrame(schema={"doc": pl.Int64, "cluster": pl.Int64})
    group, _, _ = _group_min(u, v)
    smaller = np.bincount(group, weights=(v < u).astype(np.float64))
    centre = smaller[group] == 0
    cu, cv = u[centre], v[centre]
    centres = np.unique(cu)
    return pl.DataFrame(
        {"doc": np.concatenate([centres, cv]), "cluster": np.concatenate([centres, cu])},
        schema={"doc": pl.Int64, "cluster": pl.Int64},
    )


def rank_members(members: pl.DataFrame, docs: pl.DataFrame) -> pl.DataFrame:
    """Decision rows ``origin, index, id, repo, path, keep, cluster_id, cluster_size`` (a decision names its
    file by position and by identity, checked by the filter) for ``members`` (``doc, cluster``):
    one kept file per cluster by exact dedup's priority (permissive, stars, forks; then repo, path, file
    key so ties resolve the same everywhere); ``docs``: the members' priority rows
    (``near_records.DOC_SCHEMA``)."""
    ranked = (
        members.join(docs, on="doc", how="left")
        .sort(
            ["cluster", "permissive", "stars", "forks", "repo", "path", "doc"],
            descending=[False, True, True, True, False, False, False],
            nulls_last=True,
        )
        .with_columns(
            (pl.int_range(pl.len()).over("cluster") == 0).alias("keep"),
            pl.col("id").first().over("cluster").alias("cluster_id"),
            pl.len().over("cluster").cast(pl.Int64).alias("cluster_size"),
        )
    )
    return ranked.select(
        (pl.col("doc") // (1 << 32)).alias("origin"),
        (pl.col("doc") % (1 << 32)).alias("index"),
        "id",
        "repo",
        "path",
        "keep",
        "cluster_id",
        "cluster_size",
    )


class ComponentDecide(_PartitionStep):
    """After the last round: the decisions of the clusters whose centres partitions ``[rank::world_size]``
    own -> ``cluster_parts/<origin>/<partition>.parquet`` (see the module doc)."""

    name = "near dedup: decide"
    type = "🫂 - DEDUP"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for p in range(rank, self.partitions, world_size):
            u, v = read_edges(self.folder, f"edges/r{self.round:03d}/{p:05d}")
            members = star_clusters(u, v)
            docs = read_members(self.folder, "docs", DOC_SCHEMA, members["doc"])
            decided = rank_members(members, docs)
            self.stat_update("stars", value=int(decided["keep"].sum()) if decided.height else 0)
            origins = decided.partition_by("origin", as_dict=True)
            for (origin,), part in origins.items():
                table = part.drop("origin").sort("index").to_arrow().cast(DECISION_SCHEMA)
                write_table_atomic(self.folder, f"cluster_parts/{int(origin):05d}/{p:05d}.parquet", table)
        return
        yield


class ClusterMerge(PipelineStep):
    """Each origin task's decisions from every partition, in index order -> ``clusters/<origin>.parquet``
    (what ``NearDedupFilter`` reads); ``origins``: the signatures pass's task count."""

    name = "near dedup: clusters"
    type = "🫂 - DEDUP"

    def __init__(self, folder: DataFolderLike, origins: int):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.origins = origins

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for origin in range(rank, self.origins, world_size):
            path = f"cluster_parts/{origin:05d}"
            if not self.folder.isdir(path):
                continue
            tables = []
            for name in sorted(self.folder.list_files(path, glob_pattern="*.parquet")):
                if ".tmp-" not in name:
                    with self.folder.open(name, "rb") as handle:
                        tables.append(read_parquet(handle, schema=DECISION_SCHEMA))
            table = pa.concat_tables(tables).sort_by("index")
            kept = int(sum(table.column("keep").to_pylist()))
            self.stat_update("files_in_clusters", value=table.num_rows)
            self.stat_update("clusters", value=kept)  # a cluster's kept file is in one origin only
            self.stat_update("near_duplicates", value=table.num_rows - kept)
            write_table_atomic(self.folder, f"clusters/{origin:05d}.parquet", table)
        return
        yield
