"""Near dedup after a purge: only the clusters a purged file took part in are clustered again.

The near-dedup tables name a file by its task and its position among the files exact dedup kept
(``positions.NearStream``). After a purge the purged files leave them, a copy that exact dedup promoted in
place of a purged one enters them with the purged file's signature (same content, same bucket rows and
shingles), and the tasks whose positions moved are renumbered. Then the affected files are clustered again:
the members of every LSH bucket that held a purged or promoted file, and every file of the old clusters
they belonged to. Their candidate pairs are found again from all the buckets they are in, with the pairs
pass's own code (``near.candidate_pairs``, verified with ``near.verified_pairs`` as the run verified), then
their connected components, and one kept file per component by the same priority
(``components.rank_members``). A bucket that held no purged or promoted file gives the same pairs as
before, so a cluster none of whose members shares a bucket with one keeps its decisions unchanged. The
components rounds' scratch (``pairs``, ``edges``, ``changes``, ``cluster_parts``) names files by the old
positions and is removed. See docs/architecture.md, "Opt-out".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from stackcurate.dedup.components import rank_members
from stackcurate.dedup.near import candidate_pairs, connected_components, verified_pairs
from stackcurate.dedup.near_records import BUCKET_SCHEMA, DECISION_SCHEMA, DOC_SCHEMA, SHINGLE_SCHEMA
from stackcurate.optout.pending import READS_AT_ONCE, PendingWrites
from stackcurate.optout.positions import NearStream, TaskStream

MINHASH = "minhash"
#: the components rounds' scratch, named by old positions
SCRATCH = ("pairs", "edges", "changes", "cluster_parts")
NODE = "doc"
#: working columns of ``_rewrite_rows`` (not in any table)
RANK, TARGET = "_successor_rank", "_successor_task"


@dataclass
class NearOutcome:
    """What near dedup decided again: one row per file of the affected clusters and per file promoted
    into the near stream (``origin``, ``near`` position, ``id``, ``repo``, ``path``, ``keep``,
    ``cluster_id``, ``cluster_size``), and how many files were clustered again."""

    decided: pl.DataFrame
    clustered: int


def _task(path: str) -> int:
    return int(path.rsplit("/", 1)[1].split(".")[0])


class KeyMap:
    """Old near keys -> new ones, for the tasks whose near stream changed (others keep their keys)."""

    def __init__(self, streams: dict[int, TaskStream], near: dict[int, NearStream]):
        self.streams, self.near = streams, near

    def apply(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(survives, new keys of the survivors)``."""
        keys = np.asarray(keys, dtype=np.int64)
        tasks, positions = keys >> 32, keys & 0xFFFFFFFF
        survives = np.ones(len(keys), dtype=bool)
        new = keys.copy()
        for task, near in self.near.items():
            mine = tasks == task
            if not mine.any():
                continue
            ok, moved = near.new_keys(self.streams[task], positions[mine])
            survives[np.flatnonzero(mine)[~ok]] = False
            new[np.flatnonzero(mine)[ok]] = (np.int64(task) << 32) | moved
        return survives, new[survives]

    def remap(self, table: pa.Table, column: str) -> pa.Table:
        survives, keys = self.apply(table.column(column).to_numpy())
        kept = table.filter(pa.array(survives))
        return kept.set_column(kept.schema.get_field_index(column), column, pa.array(keys, pa.int64()))


def regroup_near(
    pending: PendingWrites,
    streams: dict[int, TaskStream],
    near: dict[int, NearStream],
    promoted: pl.DataFrame,
    verify_threshold: float | None,
    verify_max_bucket: int,
) -> NearOutcome:
    """Update the near-dedup tables and decide the affected clusters again (see the module docstring).

    ``near``: the tasks whose near stream changed; ``promoted``: files exact dedup promoted in place of a
    purged kept copy (``origin``, ``index``: new stream position; ``old_origin``, ``old_index``: the purged
    copy's old one; ``id``, ``repo``, ``path``, ``permissive``, ``stars``, ``forks``)."""
    keys = KeyMap(streams, near)
    replaced = _replacements(near, promoted)  # old key of the purged copy -> new key of its successor
    removed: set[int] = set()
    moved = [path for path in pending.list(f"{MINHASH}/docs") if _task(path) in near]
    for table in pending.read_each(moved, pending.read_found):
        survives, _ = keys.apply(table.column(NODE).to_numpy())
        removed |= set(table.column(NODE).to_numpy()[~survives].tolist())
    successors = {old: new for old, new in replaced.items() if old in removed}
    _rewrite_docs(pending, keys, near, promoted, successors)
    touched_keys = _rewrite_rows(pending, "buckets", BUCKET_SCHEMA, keys, near, successors, removed)
    if verify_threshold is not None:
        _rewrite_rows(pending, "shingles", SHINGLE_SCHEMA, keys, near, successors, removed)
    for sub in SCRATCH:
        for path in pending.list(f"{MINHASH}/{sub}", suffix=""):
            pending.delete(path)
    bucket_rows = _bucket_rows(pending)  # read once: no bucket table changes from here on
    seeds = _bucket_members(bucket_rows, touched_keys) | set(successors.values())
    old_clusters = _old_clusters(pending, keys, near)
    affected = _close(seeds, old_clusters, removed)
    view = pending.view(MINHASH)
    while True:
        rows = _bucket_members_rows(bucket_rows, affected)
        pairs = candidate_pairs(rows, verify_max_bucket if verify_threshold is not None else 0)
        if verify_threshold is not None and pairs.height:
            pairs, _ = verified_pairs(view, pairs, verify_threshold)
        outside = set(pl.concat([pairs["a"], pairs["b"]]).to_list()) - affected if pairs.height else set()
        if not outside:
            break
        affected = _close(affected | outside, old_clusters, set())
    nodes, labels = connected_components(pairs["a"].to_numpy(), pairs["b"].to_numpy())
    members = pl.DataFrame({"doc": nodes, "cluster": labels})
    docs = _docs_of(pending, affected)
    decided = rank_members(members, docs) if len(nodes) else _empty_decided()
    _rewrite_clusters(pending, keys, near, affected, decided)
    singles = docs.filter(~pl.col("doc").is_in(pl.Series(nodes).implode())).select(
        (pl.col("doc") // (1 << 32)).alias("origin"),
        (pl.col("doc") % (1 << 32)).alias("index"),
        "id",
        "repo",
        "path",
        pl.lit(True).alias("keep"),
        pl.col("id").alias("cluster_id"),
        pl.lit(1, dtype=pl.Int64).alias("cluster_size"),
    )
    outcome = pl.concat([decided.cast(singles.schema), singles]).rename({"index": "near"})
    return NearOutcome(outcome, len(affected))


def _replacements(near: dict[int, NearStream], promoted: pl.DataFrame) -> dict[int, int]:
    found = {}
    for row in promoted.iter_rows(named=True):
        old_near, new_near = near[row["old_origin"]], near[row["origin"]]
        old_position = int(np.searchsorted(old_near.kept_before, row["old_index"]))
        new_position = int(np.searchsorted(new_near.kept_after, row["index"]))
        found[(row["old_origin"] << 32) | old_position] = (row["origin"] << 32) | new_position
    return found


def _rewrite_docs(
    pending: PendingWrites,
    keys: KeyMap,
    near: dict[int, NearStream],
    promoted: pl.DataFrame,
    successors: dict[int, int],
) -> None:
    """docs/<task>: renumbered; a promoted copy gets a row with its own priority fields."""
    new_rows: dict[int, list[dict[str, Any]]] = {}
    incoming = set(successors.values())
    for row in promoted.iter_rows(named=True):
        key = (row["origin"] << 32) | int(np.searchsorted(near[row["origin"]].kept_after, row["index"]))
        if key in incoming:
            entry = {name: row[name] for name in ("id", "permissive", "stars", "forks", "repo", "path")}
            new_rows.setdefault(row["origin"], []).append({"doc": key, **entry})
    for task in sorted(near):
        path = f"{MINHASH}/docs/{task:05d}.parquet"
        table = (
            keys.remap(pending.read_found(path), NODE) if pending.in_run(path) else DOC_SCHEMA.empty_table()
        )
        extra = pa.Table.from_pylist(new_rows.get(task, []), schema=DOC_SCHEMA)
        pending.put_table(path, pa.concat_tables([table.cast(DOC_SCHEMA), extra]).sort_by(NODE))


def _rewrite_rows(
    pending: PendingWrites,
    sub: str,
    schema: pa.Schema,
    keys: KeyMap,
    near: dict[int, NearStream],
    successors: dict[int, int],
    removed: set[int],
) -> set[tuple[int, int]]:
    """buckets/<group>/<task> or shingles/<task>: renumbered, the purged files' rows removed and copied to
    their successors. Returns the (band, key) buckets that held a removed or promoted file."""
    paths = [path for path in pending.list(f"{MINHASH}/{sub}") if _task(path) in near]
    gone = pl.Series(sorted(removed), dtype=pl.Int64).implode()
    touched: set[tuple[int, int]] = set()
    copies: dict[str, list[pa.Table]] = {}
    receiving = {new >> 32 for new in successors.values()}
    olds = pl.Series(list(successors), dtype=pl.Int64)
    news = pl.Series(list(successors.values()), dtype=pl.Int64)
    held: dict[str, pa.Table] = {}  # the tables of the tasks receiving copies: written once, with them
    for path, table in zip(paths, pending.read_ahead(paths, pending.read_found, READS_AT_ONCE), strict=True):
        frame = pl.DataFrame(table).filter(pl.col(NODE).is_in(gone))
        if frame.height:
            if sub == "buckets":
                touched |= set(zip(frame["band"].to_list(), frame["key"].to_list(), strict=True))
            # the rows of each purged file with a successor, as its successor's, by successor (in the
            # order of ``successors``), to the successor's task
            moving = (
                frame.filter(pl.col(NODE).is_in(olds.implode()))
                .with_columns(pl.col(NODE).replace_strict(olds, pl.Series(range(len(olds)))).alias(RANK))
                .sort(RANK, maintain_order=True)
                .with_columns(pl.col(NODE).replace_strict(olds, news, return_dtype=pl.Int64))
            )
            moving = moving.with_columns((pl.col(NODE) // (1 << 32)).alias(TARGET))
            for (task,), part in moving.partition_by(TARGET, maintain_order=True, as_dict=True).items():
                target = f"{path.rsplit('/', 1)[0]}/{int(task):05d}.parquet"
                copies.setdefault(target, []).append(part.drop(RANK, TARGET).to_arrow().cast(schema))
        if _task(path) in receiving:
            held[path] = keys.remap(table, NODE).cast(schema)
        else:
            pending.put_table(path, keys.remap(table, NODE).cast(schema))
    for target in sorted(set(held) | set(copies)):
        base = held.pop(target, None)
        if base is None:  # a file of a task that had none, or outside ``near``
            base = pending.read_table(target).cast(schema) if pending.exists(target) else schema.empty_table()
        pending.put_table(target, pa.concat_tables([base, *copies.get(target, [])]))
    return touched


def _bucket_rows(pending: PendingWrites) -> pl.DataFrame:
    """Every row of the bucket tables in their new versions."""
    tables = pending.read_each(pending.list(f"{MINHASH}/buckets"), pending.read_table)
    frames = [pl.DataFrame(table) for table in tables]
    return pl.concat(frames) if frames else pl.DataFrame(BUCKET_SCHEMA.empty_table())


def _bucket_members(rows: pl.DataFrame, buckets: set[tuple[int, int]]) -> set[int]:
    """Files (new keys) in the (band, key) buckets ``buckets`` of the bucket rows ``rows``."""
    if not buckets:
        return set()
    wanted = pl.DataFrame({"band": [b for b, _ in buckets], "key": [k for _, k in buckets]}).cast(
        {"band": pl.UInt8, "key": pl.UInt64}
    )
    return set(rows.join(wanted, on=["band", "key"], how="semi")[NODE].to_list())


def _bucket_members_rows(rows: pl.DataFrame, nodes: set[int]) -> pl.DataFrame:
    """Every bucket row of every (band, key) bucket that holds one of ``nodes``."""
    wanted = pl.Series(sorted(nodes), dtype=pl.Int64).implode()
    buckets = rows.filter(pl.col(NODE).is_in(wanted)).select("band", "key").unique()
    return rows.join(buckets, on=["band", "key"], how="semi")


def _old_clusters(pending: PendingWrites, keys: KeyMap, near: dict[int, NearStream]) -> pl.DataFrame:
    """Old cluster membership: ``doc`` (old key), ``new`` (new key, null when purged), ``cluster_id``."""
    frames = []
    paths = pending.list(f"{MINHASH}/clusters")
    for path, table in zip(paths, pending.read_each(paths, pending.read_found), strict=True):
        task = _task(path)
        old = (np.int64(task) << 32) | table.column("index").to_numpy().astype(np.int64)
        new = np.full(len(old), -1, dtype=np.int64)
        survives, moved = keys.apply(old) if task in near else (np.ones(len(old), dtype=bool), old)
        new[survives] = moved
        frames.append(
            pl.DataFrame({"doc": old, "new": new, "cluster_id": table.column("cluster_id").to_pylist()})
        )
    if not frames:
        return pl.DataFrame(schema={"doc": pl.Int64, "new": pl.Int64, "cluster_id": pl.String})
    return pl.concat(frames)


def _close(seeds: set[int], clusters: pl.DataFrame, removed: set[int]) -> set[int]:
    """``seeds`` (new keys) and every surviving member of the old clusters of the seeds and of ``removed``
    (old keys)."""
    hit = clusters.filter(
        pl.col("new").is_in(pl.Series(sorted(seeds), dtype=pl.Int64).implode())
        | pl.col("doc").is_in(pl.Series(sorted(removed), dtype=pl.Int64).implode())
    )["cluster_id"].unique()
    members = clusters.filter(pl.col("cluster_id").is_in(hit.implode()) & (pl.col("new") >= 0))["new"]
    return set(seeds) | set(members.to_list())


def _docs_of(pending: PendingWrites, nodes: set[int]) -> pl.DataFrame:
    wanted = pl.Series(sorted(nodes), dtype=pl.Int64).implode()
    frames = [
        pl.DataFrame(table.cast(DOC_SCHEMA)).filter(pl.col(NODE).is_in(wanted))
        for table in pending.read_each(pending.list(f"{MINHASH}/docs"), pending.read_table)
    ]
    return pl.concat(frames) if frames else pl.DataFrame(DOC_SCHEMA.empty_table())


def _rewrite_clusters(
    pending: PendingWrites,
    keys: KeyMap,
    near: dict[int, NearStream],
    affected: set[int],
    decided: pl.DataFrame,
) -> None:
    """clusters/<task>: renumbered, the affected files' decisions replaced by the new ones."""
    wanted = np.array(sorted(affected), dtype=np.int64)
    for task in sorted(set(near) | {node >> 32 for node in affected}):
        path = f"{MINHASH}/clusters/{task:05d}.parquet"
        exists = pending.in_run(path)
        table = pending.read_found(path).cast(DECISION_SCHEMA) if exists else DECISION_SCHEMA.empty_table()
        old = (np.int64(task) << 32) | table.column("index").to_numpy().astype(np.int64)
        survives, new = keys.apply(old)
        table = table.filter(pa.array(survives))
        table = table.set_column(0, "index", pa.array(new & 0xFFFFFFFF, pa.int64()))
        table = table.filter(pa.array(~np.isin(new, wanted)))
        fresh = decided.filter(pl.col("origin") == task).drop("origin").to_arrow().cast(DECISION_SCHEMA)
        merged = pa.concat_tables([table, fresh]).sort_by("index")
        if merged.num_rows or exists:  # a task whose decisions are the same is left as it is
            pending.put_changed(path, merged, DECISION_SCHEMA)


def _empty_decided() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "origin": pl.Int64,
            "index": pl.Int64,
            "id": pl.String,
            "repo": pl.String,
            "path": pl.String,
            "keep": pl.Boolean,
            "cluster_id": pl.String,
            "cluster_size": pl.Int64,
        }
    )
