"""Where each file stands in the streams the passes after the filters read, before and after a purge.

The dedup passes name a file by its task and its position in the task's stream (docs/architecture.md,
"Decisions join by id"): task ``t`` reads the ``02_filtered`` files ``[t::tasks]`` in order. A purge
removes rows from those files, so every later file of the task moves up; ``TaskStream`` records which
positions went and maps an old position to its new one (``shift``). The near-dedup passes read a second
stream, the files exact dedup keeps (``NearStream``): a file's near position is its rank among them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stackcurate.optout.apply import OptOutList
from stackcurate.optout.pending import PendingWrites

FILTERED = "02_filtered"


@dataclass
class TaskStream:
    """Task ``task``'s stream: its files, how many rows it had, and the old positions of the purged rows."""

    task: int
    files: list[str]
    rows: int = 0
    removed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def shift(self, old: np.ndarray) -> np.ndarray:
        """New positions of surviving rows at old positions ``old``."""
        old = np.asarray(old, dtype=np.int64)
        return old - np.searchsorted(self.removed, old)

    def purged(self, old: np.ndarray) -> np.ndarray:
        """Which of the old positions ``old`` were purged."""
        return np.isin(np.asarray(old, dtype=np.int64), self.removed)


def covered_mask(table: pa.Table, opt_out: OptOutList) -> np.ndarray:
    """Which rows of ``table`` belong to an opted-out repository (its ``repo`` column). Each distinct
    repository is asked once (a file's rows come from a few repositories)."""
    column = table.column("repo")
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    encoded = pc.dictionary_encode(column.combine_chunks())
    names = encoded.dictionary.to_pylist()
    # one more entry, False, for a row without a repository (its index filled with -1)
    covered = np.fromiter((opt_out.covers(name) for name in [*names, None]), dtype=bool, count=len(names) + 1)
    return covered[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]


def purge_streams(
    pending: PendingWrites,
    tasks: int,
    opt_out: OptOutList,
    counted: Mapping[str, tuple[int, int]] | None = None,
) -> dict[int, TaskStream]:
    """Remove the covered rows of ``02_filtered`` (pending writes) and return every task's stream.
    ``counted``: ``(rows, covered rows)`` of files already counted; one with no covered row is not read."""
    files = stage_files(pending, FILTERED)
    counted = counted or {}
    streams = {}
    for task in range(tasks):
        stream = TaskStream(task, files[task::tasks])
        removed = []
        for path in stream.files:
            if path in counted and counted[path][1] == 0:
                stream.rows += counted[path][0]
                continue
            table = pending.read_table(path)
            mask = covered_mask(table, opt_out)
            if mask.any():
                removed.append(np.flatnonzero(mask) + stream.rows)
                pending.put_table(path, table.filter(pa.array(~mask)))
            stream.rows += table.num_rows
        if removed:
            stream.removed = np.concatenate(removed).astype(np.int64)
        streams[task] = stream
    return streams


def stage_files(pending: PendingWrites, folder: str) -> list[str]:
    """The Parquet files of a stage folder in the order its reader takes them (``list_parquet_files``),
    run-relative."""
    return [path for path in pending.list(folder) if "/" not in path[len(folder) + 1 :]]


@dataclass
class NearStream:
    """Task ``task``'s near-dedup stream: the old positions (in ``TaskStream``) of the files exact dedup
    kept before the purge, and the new positions of those it keeps after."""

    task: int
    kept_before: np.ndarray
    kept_after: np.ndarray

    def new_keys(self, stream: TaskStream, old_near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(survives, new near positions)`` of the files at old near positions ``old_near``."""
        old_positions = self.kept_before[np.asarray(old_near, dtype=np.int64)]
        survives = ~stream.purged(old_positions)
        new_positions = stream.shift(old_positions[survives])
        return survives, np.searchsorted(self.kept_after, new_positions)


def kept_positions(table: pa.Table) -> np.ndarray:
    """Sorted positions of the kept rows of an exact-decisions table (``index``, ``keep``)."""
    kept = table.filter(pc.field("keep")) if table.num_rows else table
    return np.sort(np.asarray(kept.column("index").to_numpy(), dtype=np.int64))
