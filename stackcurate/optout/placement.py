"""Where each file a purge touched ends up, and the output folders rewritten to match.

A file of a duplicate group decided again goes to ``curated/`` when exact and near dedup both keep it, to
``rejects/exact_dedup/`` or ``rejects/near_dedup/`` (with ``keep_rejects``) when one drops it. Its row
there carries the dedup tags (``duplicate_count``, ``duplicate_repos``, ``cluster_id``,
``cluster_size``) as the curate pass writes them. Only the task files that hold a purged row or a touched
file are rewritten: purged rows removed, tags updated in place, and a file promoted into ``curated/`` made
from its ``02_filtered`` row, redacted (``PiiRedactor.redact_document``: PII runs on the promoted files
only; their spans go to ``pii_audit/`` when the run audits) and put at its place in the task's stream
order, as a fresh curate pass would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from datatrove.data import Document

from stackcurate.optout.apply import OptOutList
from stackcurate.optout.pending import PendingWrites
from stackcurate.optout.positions import TaskStream, covered_mask, stage_files
from stackcurate.pii.stage import AUDIT_SCHEMA, PiiRedactor
from stackcurate.schema import rows_to_documents

CURATED = "curated"
#: the folder of each place a file can end up in, and the reason its rejects carry
PLACES = {
    "curated": (CURATED, None),
    "exact": ("rejects/exact_dedup", "exact_duplicate"),
    "near": ("rejects/near_dedup", "near_duplicate"),
}
EXACT_TAGS = ("duplicate_count", "duplicate_repos")
NEAR_TAGS = ("cluster_id", "cluster_size")
FileKey = tuple[str, str]


@dataclass
class FileState:
    """Where a touched file goes and its tags; ``origin``/``position``: its new place in the streams."""

    origin: int
    position: int
    place: str
    tags: dict[str, Any]


@dataclass
class Rewritten:
    """What the folders' rewrite did: files promoted into ``curated/``, curated rows removed, and those rows
    (``new_curated``, redacted; ``gone_curated``: id, repo, path) for the shards."""

    promoted: int = 0
    curated_removed: int = 0
    new_curated: list[dict[str, Any]] = field(default_factory=list)
    gone_curated: list[dict[str, Any]] = field(default_factory=list)


def _task_files(pending: PendingWrites, folder: str, task: int) -> list[str]:
    prefix = f"{folder}/{task:05d}"
    return [path for path in stage_files(pending, folder) if path.startswith(prefix)]


def _stream_rows(pending: PendingWrites, stream: TaskStream, columns: list[str] | None = None) -> pa.Table:
    tables = pending.read_each(stream.files, lambda path: pending.read_table(path, columns=columns))
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def rewrite_places(
    pending: PendingWrites,
    streams: dict[int, TaskStream],
    states: dict[FileKey, FileState],
    opt_out: OptOutList,
    redactor: Callable[[], PiiRedactor | None],
    audit: bool,
) -> Rewritten:
    """Rewrite ``curated/``, the dedup rejects and ``pii_audit/`` for the tasks with a purged row or a
    touched file (see the module docstring); ``states``: the touched files by ``(repo, path)``;
    ``redactor``: the run's PII redactor (called only when a file is promoted into ``curated/``)."""
    done = Rewritten()
    tasks = sorted({s.origin for s in states.values()} | {t for t, s in streams.items() if len(s.removed)})
    for task in tasks:
        mine = {key: state for key, state in states.items() if state.origin == task}
        order = _stream_rows(pending, streams[task], columns=["repo", "path"])
        position = {
            (repo, path): i
            for i, (repo, path) in enumerate(
                zip(order.column("repo").to_pylist(), order.column("path").to_pylist(), strict=True)
            )
        }
        source: pa.Table | None = None
        audit_rows: list[dict[str, Any]] = []
        for place, (folder, reason) in PLACES.items():
            files = _task_files(pending, folder, task)
            tables = dict(zip(files, pending.read_each(files, pending.read_table), strict=True))
            if not tables:  # a rejects writer writes no file for a task that dropped nothing
                others = stage_files(pending, folder)
                if not others or not any(state.place == place for state in mine.values()):
                    continue
                tables = {f"{folder}/{task:05d}.parquet": pending.schema(others[0]).empty_table()}
            present = {key for table in tables.values() for key in _keys(table)}
            arriving = [key for key, state in mine.items() if state.place == place and key not in present]
            new_rows: list[dict[str, Any]] = []
            if arriving:
                if source is None:
                    source = _stream_rows(pending, streams[task])
                for key in arriving:
                    row = source.slice(mine[key].position, 1).to_pylist()[0]
                    assert (row["repo"], row["path"]) == key, (row["repo"], row["path"], key)
                    row.update(mine[key].tags)
                    if reason is not None:
                        row["filter_reason"] = reason
                    elif (pii := redactor()) is not None:
                        doc = next(iter(rows_to_documents([row])))
                        audit_rows += pii.redact_document(doc)
                        row = _row(doc)
                    new_rows.append(row)
                    if place == "curated":
                        done.new_curated.append(row)
            _rewrite_task(pending, place, tables, mine, opt_out, new_rows, position, done)
        if audit:
            _rewrite_audit(pending, task, opt_out, audit_rows)
    done.promoted = len(done.new_curated)
    return done


def _row(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "content": doc.text, **doc.metadata}


def _rewrite_task(
    pending: PendingWrites,
    place: str,
    tables: dict[str, pa.Table],
    mine: dict[FileKey, FileState],
    opt_out: OptOutList,
    new_rows: list[dict[str, Any]],
    position: dict[FileKey, int],
    done: Rewritten,
) -> None:
    """One task's files of one place: purged rows and files that left removed, tags set, arrivals put at
    their stream position (in the first part whose rows reach that far; a task's output is split in parts
    only beyond ``StageParquetWriter.max_file_bytes``)."""
    paths = sorted(tables)
    schema = tables[paths[0]].schema
    extra = set().union(*(row.keys() for row in new_rows)) - set(schema.names) if new_rows else set()
    if extra:
        raise ValueError(f"{place}: rows carry columns its files lack: {sorted(extra)}")
    arrivals = pa.Table.from_pylist(new_rows, schema=schema)
    ends = [max((position.get(key, -1) for key in _keys(tables[path])), default=-1) for path in paths]
    target = [
        next((n for n, end in enumerate(ends) if position[(row["repo"], row["path"])] <= end), len(paths) - 1)
        for row in new_rows
    ]
    for number, path in enumerate(paths):
        table = tables[path]
        keys = _keys(table)
        covered = covered_mask(table, opt_out)
        leaving = np.array([key in mine and mine[key].place != place for key in keys], dtype=bool)
        drop = covered | leaving
        if place == "curated":
            done.curated_removed += int(covered.sum())
            done.gone_curated += table.filter(pa.array(drop)).select(["id", "repo", "path"]).to_pylist()
        kept = _set_tags(
            table.filter(pa.array(~drop)), [k for k, d in zip(keys, drop, strict=True) if not d], mine
        )
        here = [i for i, n in enumerate(target) if n == number]
        if not (drop.any() or here or any(key in mine for key in keys)):
            continue
        kept = pa.concat_tables([kept, arrivals.take(pa.array(here, pa.int64()))])
        order = np.argsort([position[key] for key in _keys(kept)], kind="stable")
        pending.put_table(path, kept.take(pa.array(order, pa.int64())))


def _keys(table: pa.Table) -> list[FileKey]:
    return list(zip(table.column("repo").to_pylist(), table.column("path").to_pylist(), strict=True))


def _set_tags(table: pa.Table, keys: list[FileKey], mine: dict[FileKey, FileState]) -> pa.Table:
    """``table`` with the tags of the touched files among ``keys`` (its rows) set."""
    for column in (*EXACT_TAGS, *NEAR_TAGS):
        if column not in table.schema.names or not any(
            key in mine and column in mine[key].tags for key in keys
        ):
            continue
        values = table.column(column).to_pylist()
        for i, key in enumerate(keys):
            if key in mine and column in mine[key].tags:
                values[i] = mine[key].tags[column]
        field_index = table.schema.get_field_index(column)
        table = table.set_column(
            field_index,
            table.schema.field(field_index),
            pa.array(values, table.schema.field(field_index).type),
        )
    return table


def _rewrite_audit(
    pending: PendingWrites, task: int, opt_out: OptOutList, rows: list[dict[str, Any]]
) -> None:
    path = f"pii_audit/{task:05d}.parquet"
    table = pending.read_table(path) if pending.exists(path) else AUDIT_SCHEMA.empty_table()
    covered = covered_mask(table, opt_out)
    if covered.any() or rows:
        extra = pa.Table.from_pylist(rows, schema=AUDIT_SCHEMA)
        pending.put_table(
            path, pa.concat_tables([table.filter(pa.array(~covered)).cast(AUDIT_SCHEMA), extra])
        )
