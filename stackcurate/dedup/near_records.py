"""The records the near-dedup passes exchange (docs/architecture.md, "Passes and folders"): bucket rows,
file (doc) rows with the priority fields, shingles, pairs and the decisions the curate pass applies, with
the file key that names a file across passes, and the readers of those folders. Below both the passes
(``near.py``) and the components rounds (``components.py``), which share them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pyarrow as pa

from stackcurate.parquet_io import read_table as read_parquet

BUCKET_SCHEMA = pa.schema([("band", pa.uint8()), ("key", pa.uint64()), ("doc", pa.int64())])
DOC_SCHEMA = pa.schema(
    [
        ("doc", pa.int64()),
        ("id", pa.string()),
        ("permissive", pa.bool_()),
        ("stars", pa.int64()),
        ("forks", pa.int64()),
        ("repo", pa.string()),
        ("path", pa.string()),
    ]
)
SHINGLE_SCHEMA = pa.schema([("doc", pa.int64()), ("shingles", pa.large_list(pa.uint32()))])
PAIR_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])
#: a decision names its file by position and by identity (id, repo, path), checked by the filter
DECISION_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("id", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("keep", pa.bool_()),
        ("cluster_id", pa.string()),
        ("cluster_size", pa.int64()),
    ]
)


def doc_key(rank: int, index: int) -> int:
    """A file's name across passes: its task in the high 32 bits, its position in the low 32."""
    return (rank << 32) | index


def frame(tables: list[pa.Table], schema: pa.Schema) -> pl.DataFrame:
    """``tables`` as one frame (an empty one of ``schema`` when there is none)."""
    return pl.DataFrame(pa.concat_tables(tables) if tables else schema.empty_table())


def read_members(folder: Any, subdir: str, schema: pa.Schema, nodes: pl.Series) -> pl.DataFrame:
    """The rows of ``subdir``'s files whose ``doc`` is in ``nodes``, one file in memory at a time."""
    wanted = nodes.implode()
    parts = [pl.DataFrame(table).filter(pl.col("doc").is_in(wanted)) for table in iter_folder(folder, subdir)]
    parts = [part for part in parts if part.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema.empty_table())


def iter_folder(folder: Any, subdir: str) -> Iterator[pa.Table]:
    """Each finished Parquet file of ``subdir`` (temporary ones skipped), in name order."""
    if not folder.isdir(subdir):
        return
    for path in sorted(folder.list_files(subdir, glob_pattern="*.parquet")):
        if ".tmp-" not in path:
            with folder.open(path, "rb") as handle:
                yield read_parquet(handle)
