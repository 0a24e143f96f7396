"""Exact dedup after a purge: only the hash groups that held a purged file are decided again.

The hash rows of the purged files give their hashes, and so their buckets; each such bucket is decided
again without them, by the decide pass's own code (``ExactDedupDecide.decide``), so the next copy by the
same priority becomes the kept one and ``duplicate_count``/``duplicate_repos`` stop counting the purged
copies. The hash and decision tables of the tasks whose positions moved are renumbered
(``positions.TaskStream.shift``); those of other tasks in the buckets decided again are rewritten whole,
as the decide pass writes them. Everything goes through ``PendingWrites``; the old versions are read from
the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from stackcurate.dedup.exact import DECISION_SCHEMA, HASH_SCHEMA, ExactDedupDecide, decision_tables
from stackcurate.optout.pending import PendingWrites
from stackcurate.optout.positions import TaskStream, kept_positions

HASHES = "dedup/exact/hashes"
DECISIONS = "dedup/exact/decisions"
FILE_KEY = ["origin", "index"]


@dataclass
class ExactOutcome:
    """What exact dedup decided again. ``changed``: every surviving file of a group that lost a member,
    with its new decision (``origin``, ``index`` in the new positions, ``id``, ``repo``, ``path``, the
    priority fields, ``keep``, ``duplicate_count``, ``duplicate_repos``) and ``kept_before``;
    ``replaced``: for each file promoted to kept copy, the purged kept copy whose place it takes
    (``origin``, ``index``: new position of the promoted file; ``old_origin``, ``old_index``: old position
    of the purged one); ``kept_before``/``kept_after``: the sorted positions exact dedup keeps, per task
    whose near-dedup stream changed."""

    changed: pl.DataFrame
    replaced: pl.DataFrame
    kept_before: dict[int, np.ndarray] = field(default_factory=dict)
    kept_after: dict[int, np.ndarray] = field(default_factory=dict)


def _bucket_names(pending: PendingWrites) -> list[str]:
    return sorted({path.split("/")[3] for path in pending.list(HASHES)})


def _renumber(table: pa.Table, stream: TaskStream) -> pa.Table:
    """Rows of ``stream``'s task without the purged ones, ``index`` in the new positions."""
    if not table.num_rows:
        return table
    index = table.column("index").to_numpy()
    survives = ~stream.purged(index)
    kept = table.filter(pa.array(survives))
    return kept.set_column(
        kept.schema.get_field_index("index"), "index", pa.array(stream.shift(index[survives]), pa.int64())
    )


def regroup_exact(
    pending: PendingWrites, streams: dict[int, TaskStream], near_tasks: set[int]
) -> ExactOutcome:
    """Decide again the groups that lost a member (see the module docstring). ``near_tasks``: tasks whose
    exact-kept positions the near-dedup update needs in any case (``kept_before``/``kept_after`` are
    filled for them and for every task whose kept files changed)."""
    moved = {task: stream for task, stream in streams.items() if len(stream.removed)}
    buckets = _bucket_names(pending)
    purged_rows = []
    mine = [(bucket, task, f"{HASHES}/{bucket}/{task:05d}.parquet") for bucket in buckets for task in moved]
    mine = [(bucket, task, path) for bucket, task, path in mine if pending.in_run(path)]
    # the moved tasks' decisions are renumbered below: read with their hashes, at once
    pending.cache_found([f"{DECISIONS}/{task:05d}/{bucket}.parquet" for bucket, task, _ in mine])
    found = pending.read_each([path for _, _, path in mine], pending.read_found)
    for (bucket, task, _), table in zip(mine, found, strict=True):
        mask = moved[task].purged(table.column("index").to_numpy())
        if mask.any():
            purged_rows.append(
                pl.DataFrame(table.filter(pa.array(mask))).with_columns(pl.lit(bucket).alias("bucket"))
            )
    purged = (
        pl.concat(purged_rows)
        if purged_rows
        else pl.DataFrame(HASH_SCHEMA.empty_table()).with_columns(pl.lit("").alias("bucket"))
    )
    decide = ExactDedupDecide(".", ".", len(buckets))
    changed_parts, replaced_parts = [], []
    affected = sorted(set(purged["bucket"].to_list()))
    for bucket in buckets:
        files = pending.list(f"{HASHES}/{bucket}")
        if bucket not in affected:
            for task, stream in moved.items():  # positions moved, decisions unchanged
                for folder, name in ((HASHES, f"{bucket}/{task:05d}"), (DECISIONS, f"{task:05d}/{bucket}")):
                    path = f"{folder}/{name}.parquet"
                    if pending.in_run(path):
                        pending.put_table(path, _renumber(pending.read_found(path), stream))
            continue
        old_tables = dict(zip(files, pending.read_each(files, pending.read_found), strict=True))
        new_tables = {}
        for path, table in old_tables.items():
            task = int(path.rsplit("/", 1)[1].split(".")[0])
            new_tables[path] = _renumber(table, moved[task]) if task in moved else table
        new = pl.DataFrame(
            pa.concat_tables(list(new_tables.values())) if new_tables else HASH_SCHEMA.empty_table()
        )
        for path, table in new_tables.items():
            task = int(path.rsplit("/", 1)[1].split(".")[0])
            if task in moved:
                pending.put_table(path, table.cast(HASH_SCHEMA))
        hashes = purged.filter(pl.col("bucket") == bucket)["hash"].unique()
        # a group's decision depends on its own members only: the old ones are needed for these groups
        old = pa.concat_tables(list(old_tables.values())) if old_tables else HASH_SCHEMA.empty_table()
        wanted = hashes.to_arrow().cast(old.schema.field("hash").type)
        before = decide.decide(pl.DataFrame(old.filter(pc.is_in(old.column("hash"), value_set=wanted))))
        after = decide.decide(new)
        tables = decision_tables(after)
        for origin, table in tables.items():  # an origin none of whose files changed is left as it is
            pending.put_changed(f"{DECISIONS}/{origin:05d}/{bucket}.parquet", table, DECISION_SCHEMA)
        for path in pending.list(DECISIONS):
            origin = int(path.split("/")[3])
            if path.endswith(f"/{bucket}.parquet") and origin not in tables:
                pending.delete(path)
        changed, replaced = _compare(before, after, hashes, moved)
        changed_parts.append(changed)
        replaced_parts.append(replaced)
    outcome = ExactOutcome(
        changed=pl.concat(changed_parts) if changed_parts else _empty_changed(),
        replaced=pl.concat(replaced_parts) if replaced_parts else _empty_replaced(),
    )
    flipped = set(outcome.changed.filter(pl.col("keep") != pl.col("kept_before"))["origin"].to_list())
    for task in sorted(set(moved) | flipped | near_tasks):
        folder = f"{DECISIONS}/{task:05d}"
        before_paths = pending.list_found(folder)
        outcome.kept_before[task] = _kept(pending.read_each(before_paths, pending.read_found))
        outcome.kept_after[task] = _kept(pending.read_each(pending.list(folder), pending.read_table))
    return outcome


def _kept(tables: list[pa.Table]) -> np.ndarray:
    if not tables:
        return np.empty(0, dtype=np.int64)
    return kept_positions(pa.concat_tables([table.cast(DECISION_SCHEMA) for table in tables]))


def _compare(
    before: pl.DataFrame, after: pl.DataFrame, hashes: pl.Series, moved: dict[int, TaskStream]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The surviving rows of groups ``hashes`` with their new decision and whether they were kept; and the
    promoted rows with the purged kept row each replaces."""
    groups = before.filter(pl.col("hash").is_in(hashes.implode()))
    old = groups.select("hash", "origin", "index", pl.col("keep").alias("kept_before"))
    origins = old["origin"].to_numpy()
    indexes = old["index"].to_numpy().astype(np.int64)
    gone = np.zeros(len(old), dtype=bool)
    new_index = indexes.copy()
    for task, stream in moved.items():
        mine = origins == task
        gone[mine] = stream.purged(indexes[mine])
        new_index[mine] = stream.shift(indexes[mine])
    old = old.with_columns(pl.Series("new_index", new_index), pl.Series("gone", gone))
    new = after.filter(pl.col("hash").is_in(hashes.implode())).select(
        "hash",
        "origin",
        "index",
        "id",
        "repo",
        "path",
        "permissive",
        "stars",
        "forks",
        "keep",
        "duplicate_count",
        "duplicate_repos",
    )
    survivors = old.filter(~pl.col("gone")).select(
        "origin", pl.col("new_index").alias("index"), "kept_before"
    )
    changed = new.join(survivors, on=FILE_KEY, how="left").with_columns(
        pl.when(pl.col("keep")).then(pl.col("duplicate_repos")).otherwise(None).alias("duplicate_repos")
    )
    purged_kept = old.filter(pl.col("gone") & pl.col("kept_before")).select(
        "hash", pl.col("origin").alias("old_origin"), pl.col("index").alias("old_index")
    )
    promoted = changed.filter(pl.col("keep") & ~pl.col("kept_before")).select("hash", "origin", "index")
    replaced = promoted.join(purged_kept, on="hash", how="inner").drop("hash")
    return changed.drop("hash"), replaced


def _empty_changed() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "origin": pl.Int32,
            "index": pl.Int64,
            "id": pl.String,
            "repo": pl.String,
            "path": pl.String,
            "permissive": pl.Boolean,
            "stars": pl.Int64,
            "forks": pl.Int64,
            "keep": pl.Boolean,
            "duplicate_count": pl.Int64,
            "duplicate_repos": pl.List(pl.String),
            "kept_before": pl.Boolean,
        }
    )


def _empty_replaced() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"origin": pl.Int32, "index": pl.Int64, "old_origin": pl.Int32, "old_index": pl.Int64}
    )
