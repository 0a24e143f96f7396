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


#: Progress bookkeeping's request budget on the run's storage, for the whole run (``docs/scaling.md``,
#: object storage). Tasks together write at most this many progress files a second: at 2,000 tasks each
#: writes every 200 s (S3 bills a PUT at $0.005 per 1,000: ~$0.18 an hour at 10/s).
PROGRESS_WRITES_PER_S = 10.0
#: The driver reads at most this many progress files a second (one list and one GET per task per poll).
PROGRESS_READS_PER_S = 50.0


def progress_write_interval(tasks: int) -> float:
    """Seconds between one task's progress writes: 1 s, or longer so that ``tasks`` tasks stay within
    ``PROGRESS_WRITES_PER_S`` together."""
    return max(1.0, tasks / PROGRESS_WRITES_PER_S)


def progress_poll_interval(tasks: int) -> float:
    """Seconds between the driver's polls of a pass's ``tasks`` progress files: 0.5 s, or longer so that
    a poll (a listing plus one read per task) stays within ``PROGRESS_READS_PER_S``."""
    return max(0.5, (tasks + 1) / PROGRESS_READS_PER_S)


def write_text_atomic(folder: DataFolder, name: str, text: str) -> None:
    """``text`` as the file ``name`` of ``folder``, whole or not at all: on object storage in one request (an
    object is replaced whole: a reader sees the old one or the new one; a temporary name and a rename would
    be a copy and a delete more, and folder checks), elsewhere under a temporary name, then renamed."""
    if not folder.is_local():
        folder.pipe_file(name, text.encode())
        return
    folder.makedirs(name.rpartition("/")[0], exist_ok=True)
    with folder.open(f"{name}.tmp", "w") as handle:
        handle.write(text)
    folder.mv(f"{name}.tmp", name)


class ProgressReporter:
    """Writes ``progress/<rank>.json`` ({"done", "total", "unit"}) in a pass's logging folder.

    The driver polls these files to draw one progress bar per pass, whatever executor runs the tasks (the
    files live on the run's shared storage). Writes are throttled to one every ``every_s`` seconds
    (default: ``progress_write_interval(tasks)``), the first and the last always written. On object
    storage a write is one PUT (a rename there is a copy and a delete); locally a temporary file is
    renamed, so the driver never reads half a file.
    """

    def __init__(
        self,
        folder: DataFolder,
        rank: int,
        total: int,
        unit: str,
        every_s: float | None = None,
        tasks: int = 1,
    ):
        self.folder = folder
        self.rank = rank
        self.total = total
        self.unit = unit
        self.every_s = every_s if every_s is not None else progress_write_interval(tasks)
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
        value = {"done": self.done, "total": self.total, "unit": self.unit}
        write_text_atomic(self.folder, name, json.dumps(value))
