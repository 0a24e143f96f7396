"""The one place where the per-file record's Arrow schema lives.

Every stage reads and writes Parquet with one row per file. The base columns below are produced by the clone
stage; later stages add *tag columns* (license, quality scores, cluster ids, ...) which they declare through
``PipelineStage.adds_columns`` so that a pass's writer schema is derived once, from the stages in that pass.

In datatrove terms a row is a ``Document``: ``content`` is ``Document.text``, ``id`` is ``Document.id`` and
every other column lives in ``Document.metadata`` under its column name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from datatrove.data import Document

CONTENT = "content"
ID = "id"

#: Columns of every file record, in output order. ``id`` is the git blob sha1 of the content, so identical
#: files share an id across repositories (exact dedup relies on it); (``repo``, ``path``) is the unique key.
FILE_COLUMNS: dict[str, pa.DataType] = {
    ID: pa.string(),
    "repo": pa.string(),
    "repo_url": pa.string(),
    "commit": pa.string(),
    "path": pa.string(),
    "language": pa.string(),
    "extension": pa.string(),
    "size_bytes": pa.int64(),
    CONTENT: pa.large_string(),
    "stars": pa.int64(),
    "forks": pa.int64(),
}

#: Columns an exclusion (rejects) writer adds.
REJECT_COLUMNS: dict[str, pa.DataType] = {"filter_reason": pa.string()}


def file_schema(extra: Mapping[str, pa.DataType] | None = None) -> pa.Schema:
    """Base file schema plus ``extra`` tag columns (appended in the given order).

    Raises ``ValueError`` when a tag column would redefine a base column with another type, which would mean
    two stages disagree about what a column holds.
    """
    columns = dict(FILE_COLUMNS)
    for name, dtype in (extra or {}).items():
        if name in columns and columns[name] != dtype:
            raise ValueError(f"column {name!r} declared as {dtype} but already defined as {columns[name]}")
        columns[name] = dtype
    return pa.schema([pa.field(name, dtype) for name, dtype in columns.items()])


def document_to_row(doc: Document, schema: pa.Schema) -> dict[str, Any]:
    """Flatten a ``Document`` into a row for ``schema``; metadata keys the schema lacks are an error.

    Failing loudly here is deliberate: a stage that adds a column without declaring it would otherwise lose
    that column silently.
    """
    row: dict[str, Any] = {ID: doc.id, CONTENT: doc.text}
    unknown = [key for key in doc.metadata if schema.get_field_index(key) < 0]
    if unknown:
        raise KeyError(
            f"document {doc.id} carries undeclared columns {unknown}; declare them in adds_columns"
        )
    row.update(doc.metadata)
    return row


def rows_to_documents(rows: Iterable[Mapping[str, Any]]) -> Iterable[Document]:
    """Inverse of :func:`document_to_row` for rows read back from Parquet."""
    for row in rows:
        metadata = {key: value for key, value in row.items() if key not in (ID, CONTENT)}
        yield Document(text=row[CONTENT], id=row[ID], metadata=metadata)
