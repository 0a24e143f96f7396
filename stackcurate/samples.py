"""A bounded, reproducible sample of the files each filter drops, recorded during every run.

``stackcurate inspect RUN --reason R`` shows what a removal reason took out without a rerun: every filter of
the filter and curate passes hands what it drops to a ``ReasonSampler`` (datatrove's exclusion-writer
protocol), which keeps, per reason, the ``SAMPLE_PER_REASON`` files whose (repo, path) hash lowest
(bottom-k sampling). The hash is seeded by a constant, so the sample is the same whatever the task count or
the order files arrive in, and the tasks' samples merge by keeping the lowest hashes of their union: a
rerun, a resumed run or a run cut into other tasks shows the same files. The sample is not part of the run's
identity (nothing about the output depends on it), costs one 64-bit hash per dropped file, and holds at most
``SAMPLE_PER_REASON`` files of ``PREVIEW_CHARS`` characters per reason and task in memory.

Each task writes ``<out>/samples/<stage>/<rank>.parquet`` atomically when it ends. The content is raw (not
PII-redacted): ``stackcurate clean --intermediates`` removes ``samples/`` with the other raw folders, and an
opt-out purge removes an opted-out repository's rows from it as from every Parquet file of the run.
"""

from __future__ import annotations

import heapq
import json
from typing import Any

import pyarrow as pa
import xxhash
from datatrove.data import Document
from datatrove.io import DataFolderLike, get_datafolder

from stackcurate.parquet_io import write_table_atomic

#: Files kept per removal reason (and per task before the merge). 20 is what one screen of ``inspect``
#: shows with a few lines each; a user who wants more turns on ``keep_rejects`` (every dropped file).
SAMPLE_PER_REASON = 20
#: Characters of content kept per sampled file (the head of the file; ``truncated`` says when it is cut):
#: a quality decision (long lines, a generated-file header) shows in the first lines.
PREVIEW_CHARS = 16_384
#: Seed of the sampling hash: fixed, so every run of the same input samples the same files.
SEED = 0x5AC0
#: Metadata a sample row keeps as columns; other scalar metadata (scores, tags) goes to ``details`` (JSON).
COLUMNS = ("repo", "path", "commit", "repo_url", "language", "license", "size_bytes")

SAMPLE_SCHEMA = pa.schema(
    [
        pa.field("priority", pa.uint64()),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("repo", pa.string()),
        pa.field("path", pa.string()),
        pa.field("commit", pa.string()),
        pa.field("repo_url", pa.string()),
        pa.field("language", pa.string()),
        pa.field("license", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("content", pa.large_string()),
        pa.field("truncated", pa.bool_()),
        pa.field("details", pa.string()),
    ]
)


def sample_priority(repo: str, path: str) -> int:
    """The file's sampling rank (lower is sampled first): a seeded 64-bit hash of its (repo, path) key."""
    return xxhash.xxh64_intdigest(f"{repo}\0{path}".encode("utf-8", "surrogatepass"), seed=SEED)


def _details(metadata: dict[str, Any]) -> str:
    scalars = {
        key: value
        for key, value in metadata.items()
        if key not in COLUMNS and key != "filter_reason" and isinstance(value, (str, int, float, bool))
    }
    return json.dumps(scalars, sort_keys=True, default=str)


class ReasonSampler:
    """Exclusion writer that keeps a bottom-k sample per reason of what a filter drops (module docstring).

    ``forward``: another exclusion writer that also gets every dropped file (the ``keep_rejects`` writer).
    """

    def __init__(self, folder: DataFolderLike, stage: str, forward: Any = None, k: int = SAMPLE_PER_REASON):
        self.folder = get_datafolder(folder)
        self.stage = stage
        self.forward = forward
        self.k = k
        self._heaps: dict[str, list[tuple[int, str, dict[str, Any]]]] | None = None
        self._rank = 0

    def __enter__(self) -> ReasonSampler:
        self._heaps = {}
        if self.forward is not None:
            self.forward.__enter__()
        return self

    def write(self, doc: Document, rank: int = 0) -> None:
        self._rank = rank
        if self.forward is not None:
            self.forward.write(doc, rank)
        assert self._heaps is not None, "write() outside a with-block"
        metadata = doc.metadata
        reason = str(metadata.get("filter_reason") or "unspecified")
        repo, path = str(metadata.get("repo") or ""), str(metadata.get("path") or "")
        priority = sample_priority(repo, path)
        heap = self._heaps.setdefault(reason, [])  # a max-heap of the k lowest priorities (negated)
        if len(heap) >= self.k and -heap[0][0] <= priority:
            return  # not among the k lowest: the common case costs one hash and one comparison
        text = doc.text or ""
        row = {column: metadata.get(column) for column in COLUMNS}
        row.update(
            priority=priority,
            stage=self.stage,
            reason=reason,
            content=text[:PREVIEW_CHARS],
            truncated=len(text) > PREVIEW_CHARS,
            details=_details(metadata),
        )
        entry = (-priority, f"{repo}\0{path}", row)
        if len(heap) < self.k:
            heapq.heappush(heap, entry)
        else:
            heapq.heapreplace(heap, entry)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        heaps, self._heaps = self._heaps, None
        if self.forward is not None:
            self.forward.__exit__(exc_type, exc, traceback)
        if exc_type is not None or heaps is None:
            return  # a failed task writes nothing; its retry samples again
        rows = sorted((entry[2] for heap in heaps.values() for entry in heap), key=lambda r: r["priority"])
        if rows:  # a task that dropped nothing has nothing to show (and ``write`` never saw its rank)
            table = pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)
            write_table_atomic(self.folder, f"{self._rank:05d}.parquet", table)
