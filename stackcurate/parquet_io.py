"""Read and write a stage folder: Parquet files of file records, one or more per task.

``StageParquetWriter`` writes every file under ``<folder>/.tmp/`` and renames it to its final name
(``<rank>.parquet``, or ``<rank>-<part>.parquet`` once a task's output passes ``max_file_bytes``) only after
the whole task succeeded, so a killed task never leaves a file that looks complete. A task that produces no
rows still writes an empty file with the schema, so every folder has a readable, typed file per task.

``StageParquetReader`` reads the ``*.parquet`` files of a folder, shard ``files[rank::world_size]``, in
record batches, so memory is bounded by ``batch_size`` rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from stackcurate.schema import FILE_COLUMNS, document_to_row, rows_to_documents
from stackcurate.stage import ProgressReporter, content_bytes

TMP_DIR = ".tmp"


def list_parquet_files(folder: DataFolderLike) -> list[str]:
    """Final (visible) Parquet files of a stage folder, sorted; temporary files are never listed."""
    data_folder = get_datafolder(folder)
    if not data_folder.isdir(""):
        return []
    return sorted(
        path for path in data_folder.list_files(glob_pattern="*.parquet") if not path.startswith(TMP_DIR)
    )


def file_sizes(folder: Any) -> dict[str, int]:
    """``{path: bytes}`` of every file under the data folder ``folder`` (recursively, relative paths), from
    one listing: on object storage, no request per file."""
    listing = folder.find("", detail=True) if folder.isdir("") else {}
    return {name: int(info["size"]) for name, info in listing.items() if info.get("type") != "directory"}


def read_table(handle: Any, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table:
    """One Parquet file from an open (Python) file object, read whole on the calling thread.

    ``pq.read_table(handle)`` goes through Arrow's dataset scanner, whose pool threads can keep the last
    reference to the Python file after the call returns. Dropped while the interpreter shuts down, that
    reference needs the GIL on a thread Python will no longer run: ``std::terminate``, exit -6 (seen on
    ``opt-out check`` about once in 40 runs). ``ParquetFile.read`` without threads or pre-buffering reads
    the file on this thread only (with threads, a decoding task too could still hold it after the call, under
    load). ``schema`` selects and casts the file's columns to it (a field the file lacks reads as nulls).
    """
    parquet = pq.ParquetFile(handle, pre_buffer=False)
    try:
        if schema is None:
            return _read_groups(parquet, columns)
        present = set(parquet.schema_arrow.names)
        table = _read_groups(parquet, [name for name in schema.names if name in present])
    finally:
        parquet.close()
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def _read_groups(parquet: pq.ParquetFile, columns: list[str] | None) -> pa.Table:
    """``parquet``'s ``columns`` (all: None) on this thread, row group by row group (one chunk each). Read
    whole, a column's buffer grows by reallocation, each step copied into fresh memory that the kernel must
    zero: two 50 MB token shards took 1.2-3.0 s that way (mostly system time), 0.8 s this way."""
    if parquet.num_row_groups <= 1:
        return parquet.read(columns=columns, use_threads=False)
    groups = range(parquet.num_row_groups)
    return pa.concat_tables([parquet.read_row_group(i, columns=columns, use_threads=False) for i in groups])


def read_columns(handle: Any, columns: list[str]) -> pa.Table | None:
    """Only ``columns`` of the Parquet file open as ``handle`` (read as ``read_table`` does), or None when
    the file lacks one of them."""
    parquet = pq.ParquetFile(handle, pre_buffer=False)
    try:
        if not set(columns) <= set(parquet.schema_arrow.names):
            return None
        return _read_groups(parquet, columns)
    finally:
        parquet.close()


def write_table_atomic(folder: Any, name: str, table: pa.Table, **options: Any) -> None:
    """Write ``table`` as ``name`` in ``folder`` under a temporary name, then rename it (zstd);
    ``options``: more keyword arguments of ``pyarrow.parquet.write_table`` (``use_dictionary=False``...)."""
    tmp = f"{name}.tmp-{uuid.uuid4().hex[:8]}"
    with folder.open(tmp, "wb") as handle:
        pq.write_table(table, handle, **{"compression": "zstd", **options})
    folder.mv(tmp, name)


def count_rows(folder: DataFolderLike) -> int:
    """Rows of a stage folder, from the Parquet footers (no data read)."""
    data_folder = get_datafolder(folder)
    total = 0
    for path in list_parquet_files(data_folder):
        with data_folder.open(path, "rb") as handle:
            total += pq.read_metadata(handle).num_rows
    return total


def folder_schema(folder: DataFolderLike) -> pa.Schema:
    """Schema of a stage folder (of its first file; every file of a folder is written with one schema)."""
    data_folder = get_datafolder(folder)
    files = list_parquet_files(data_folder)
    if not files:
        return pa.schema([])
    with data_folder.open(files[0], "rb") as handle:
        return pq.read_schema(handle)


class StageParquetReader(PipelineStep):
    """Yield the documents of a stage folder, files ``[rank::world_size]``, ``batch_size`` rows at a time."""

    name = "parquet reader"
    type = "📖 - READER"

    def __init__(
        self, folder: DataFolderLike, batch_size: int = 1024, progress_folder: DataFolderLike | None = None
    ):
        super().__init__()
        self.folder = get_datafolder(folder)
        #: the tag columns earlier passes added, carried on to this pass's output
        self.adds_columns = {
            field.name: field.type for field in folder_schema(self.folder) if field.name not in FILE_COLUMNS
        }
        self.batch_size = batch_size
        self.progress_folder = get_datafolder(progress_folder) if progress_folder is not None else None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        files = list_parquet_files(self.folder)[rank::world_size]
        progress = (
            ProgressReporter(self.progress_folder, rank, len(files), "files", tasks=world_size)
            if self.progress_folder
            else None
        )
        for path in files:
            with self.folder.open(path, "rb") as handle:
                parquet = pq.ParquetFile(handle)
                for batch in parquet.iter_batches(batch_size=self.batch_size):
                    for doc in rows_to_documents(batch.to_pylist()):
                        self.stat_update("files_out")
                        self.stat_update("bytes_out", value=content_bytes(doc))
                        yield doc
            if progress:
                progress.advance()


class _TaskSink:
    """The files one task writes into a stage folder: temporary parts, published together at the end."""

    def __init__(self, writer: StageParquetWriter, rank: int):
        self.writer = writer
        self.folder = writer.folder
        self.rank = rank
        self.attempt = uuid.uuid4().hex[:8]
        self.parts: list[str] = []
        self._pq: pq.ParquetWriter | None = None
        self._handle: Any = None
        self._batch: list[dict[str, Any]] = []
        self._batch_bytes = 0
        self._file_bytes = 0
        if self.folder.isdir(TMP_DIR):
            for path in self.folder.list_files(TMP_DIR, glob_pattern=f"{rank:05d}-*"):
                self.folder.rm(path)  # left by a killed attempt of this task

    def add(self, doc: Document) -> None:
        size = content_bytes(doc)
        self._batch.append(document_to_row(doc, self.writer.schema))
        self._batch_bytes += size
        if self._batch_bytes >= self.writer.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._pq is None:
            tmp = f"{TMP_DIR}/{self.rank:05d}-{self.attempt}-{len(self.parts):04d}.parquet"
            self.parts.append(tmp)
            self._handle = self.folder.open(tmp, "wb")
            self._pq = pq.ParquetWriter(self._handle, self.writer.schema, compression=self.writer.compression)
            self._file_bytes = 0
        self._pq.write_batch(pa.RecordBatch.from_pylist(self._batch, schema=self.writer.schema))
        self._file_bytes += self._batch_bytes
        self._batch, self._batch_bytes = [], 0
        if self._file_bytes >= self.writer.max_file_bytes:
            self._close_part()

    def _close_part(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._handle.close()
            self._pq = self._handle = None

    def commit(self) -> None:
        """Write what is buffered (an empty, typed file when nothing was written) and publish the parts."""
        if self._batch or not self.parts:
            self._flush()
        self._close_part()
        names = (
            [f"{self.rank:05d}.parquet"]
            if len(self.parts) == 1
            else [f"{self.rank:05d}-{i:04d}.parquet" for i in range(len(self.parts))]
        )
        for stale in list_parquet_files(self.folder):
            if stale.startswith(f"{self.rank:05d}") and stale not in names:
                self.folder.rm(stale)  # left by an earlier attempt that split its output differently
        for tmp, final in zip(self.parts, names, strict=True):
            self.folder.mv(tmp, final)

    def abort(self) -> None:
        self._close_part()
        for tmp in self.parts:
            if self.folder.exists(tmp):
                self.folder.rm(tmp)


class StageParquetWriter(PipelineStep):
    """Write documents to ``<folder>/<rank>.parquet`` with an explicit schema, atomically per task.

    ``row_group_bytes`` (default 64 MB of content) bounds memory and sets the row-group size readers stream
    by; ``max_file_bytes`` (default 1 GB of content) starts a new part file. Besides being the last step of a
    pass, it serves as a datatrove filter's ``exclusion_writer`` (``with writer: writer.write(doc, rank)``).
    """

    name = "parquet writer"
    type = "💽 - WRITER"

    def __init__(
        self,
        folder: DataFolderLike,
        schema: pa.Schema,
        compression: str = "zstd",
        row_group_bytes: int = 64 * 2**20,
        max_file_bytes: int = 2**30,
    ):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.schema = schema
        self.compression = compression
        self.row_group_bytes = row_group_bytes
        self.max_file_bytes = max_file_bytes
        self._sink: _TaskSink | None = None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        sink = _TaskSink(self, rank)
        try:
            for doc in data or ():
                sink.add(doc)
                self.stat_update("files_in")
                self.stat_update("bytes_in", value=content_bytes(doc))
                yield doc
            sink.commit()
        except BaseException:
            sink.abort()
            raise

    # exclusion-writer protocol (datatrove's BaseFilter)
    def __enter__(self) -> StageParquetWriter:
        return self

    def write(self, doc: Document, rank: int = 0) -> None:
        if self._sink is None:
            self._sink = _TaskSink(self, rank)
        self._sink.add(doc)
        self.stat_update("files_in")

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        sink, self._sink = self._sink, None
        if sink is None:
            return
        if exc_type is None:
            sink.commit()
        else:
            sink.abort()


def iter_rows(folder: DataFolderLike, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every row of a stage folder as a dict, file by file (for tools and tests)."""
    data_folder = get_datafolder(folder)
    for path in list_parquet_files(folder):
        with data_folder.open(path, "rb") as handle:
            table = read_table(handle, columns=columns)
        yield from table.to_pylist()
