"""What every stackcurate pipeline step shares.

Stages are datatrove ``PipelineStep`` s: an executor calls ``run(data, rank, world_size)`` in each task. The
conventions the runner and ``stackcurate stats`` rely on:

- counters ``files_in`` / ``files_out`` and ``bytes_in`` / ``bytes_out`` (UTF-8 bytes of the content);
- every removed file counted as ``dropped_<reason>`` (filters) or ``skipped_<reason>`` (the clone walk);
- ``adds_columns``: the tag columns a stage writes into ``Document.metadata`` (see ``stackcurate.schema``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolder
from datatrove.pipeline.filters.base_filter import BaseFilter


def content_bytes(doc: Document) -> int:
    """Size of a document in bytes: ``size_bytes`` when the clone stage recorded it, else UTF-8 length."""
    size = doc.metadata.get("size_bytes")
    return int(size) if size is not None else len(doc.text.encode("utf-8"))


class FileFilter(BaseFilter):
    """A datatrove ``BaseFilter`` that also counts files and bytes in and out.

    Subclasses implement ``filter(doc) -> bool | (False, reason)``; scoring belongs in columns so that a
    threshold change never needs a re-score (docs/architecture.md, "Code layout").
    """

    adds_columns: ClassVar[dict[str, pa.DataType]] = {}

    def _count_in(self, data: DocumentsPipeline) -> Iterator[Document]:
        for doc in data or ():
            self.stat_update("files_in")
            self.stat_update("bytes_in", value=content_bytes(doc))
            yield doc

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in super().run(self._count_in(data), rank, world_size):
            self.stat_update("files_out")
            self.stat_update("bytes_out", value=content_bytes(doc))
            yield doc


class ProgressReporter:
    """Writes ``progress/<rank>.json`` ({"done", "total", "unit"}) in a pass's logging folder.

    The driver polls these files to draw one progress bar per pass, whatever executor runs the tasks (the
    files live on the run's shared storage). Writes are throttled to one every ``every_s`` seconds.
    """

    def __init__(self, folder: DataFolder, rank: int, total: int, unit: str, every_s: float = 1.0):
        self.folder = folder
        self.rank = rank
        self.total = total
        self.unit = unit
        self.every_s = every_s
        self.done = 0
        self._last = 0.0
        self._write()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._write()

    def _write(self) -> None:
        self._last = time.monotonic()
        name = f"progress/{self.rank:05d}.json"
        with self.folder.open(name + ".tmp", "w") as handle:
            json.dump({"done": self.done, "total": self.total, "unit": self.unit}, handle)
        self.folder.mv(name + ".tmp", name)
