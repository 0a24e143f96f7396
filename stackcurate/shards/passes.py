"""Training shards as two passes of the executor, so encoding scales with the cluster like every pass.

``shards_encode`` (``tasks`` tasks): task ``t`` reads its share of ``curated/`` (files ``[t::tasks]``),
formats and encodes each document (``build.DocumentEncoder``), and routes it to shard
``key % shard_count``, where ``key`` is a 64-bit hash of ``(seed, id, repo, path)`` -- the same inputs as the
document's metadata draw. It writes one part file per write group (``shards/.parts/g<G>-t<T>.parquet``).

``shards_write`` (``groups`` tasks): group ``g`` owns shards ``g, g + groups, ...``; for each it reads that
shard's rows from every encode task's part, orders them by ``(key, repo, path)``, writes
``shards/shard-<S>.parquet`` (temporary name, then renamed) and a small JSON entry (rows, tokens, bytes,
sha256, per-language totals). The driver merges the entries into ``manifest.json`` last.

So which shard a document lands in, and its place there, depend only on the seed and the document: the
shards and the manifest are the same for any number of tasks (and the same curated rows however the
curate pass split them). ``shard_count`` is fixed from the curated content's total size (so a shard holds
about ``shard_tokens`` tokens); empty shards are not written.

Every path is an fsspec folder (a local directory or ``s3://...``): on object storage the tasks read
``curated/`` and write the parts and shards there themselves, the tokenizer is fetched once per task, and a
shard is written to a local temporary file (to hash it) then uploaded under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from stackcurate.parquet_io import list_parquet_files
from stackcurate.parquet_io import read_table as read_parquet
from stackcurate.shards.build import (
    SHARD_SCHEMA,
    SOURCE_COLUMNS,
    DocumentEncoder,
    add_language,
    make_manifest,
    shard_write_options,
)

#: UTF-8 bytes of code per token, to size ``shard_count`` before encoding. 3.3 is what the sample
#: repositories gave with the 49,152-token byte-level BPE trained on them (``benchmarks/shards.py``'s
#: manifest: bytes / tokens); a wrong guess only makes shards larger or smaller than ``shard_tokens``.
BYTES_PER_TOKEN = 3.3
PART_SCHEMA = SHARD_SCHEMA.append(pa.field("shard", pa.int32())).append(pa.field("key", pa.uint64()))


def document_key(row: dict[str, Any], seed: int) -> int:
    """The document's place in the shards: a hash of the seed and the document, never of the task."""
    return xxhash.xxh3_64_intdigest(f"{seed}|{row.get('id')}|{row.get('repo')}|{row.get('path')}")


def shard_count(curated: DataFolderLike | Path, shard_tokens: int) -> int:
    """How many shards: the curated rows' ``size_bytes`` total over ``shard_tokens x BYTES_PER_TOKEN``."""
    folder = _folder(curated)
    total = 0
    for name in list_parquet_files(folder):
        with folder.open(name, "rb") as handle:
            column = read_parquet(handle, columns=["size_bytes"]).column(0)
        total += int(pc.sum(column).as_py() or 0)
    return max(1, math.ceil(total / (shard_tokens * BYTES_PER_TOKEN)))


def _folder(path: DataFolderLike | Path) -> Any:
    """A datatrove folder for a path, a ``pathlib.Path`` included."""
    return get_datafolder(str(path) if isinstance(path, Path) else path)


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` is an fsspec URL other than ``file://`` (object storage, ...)."""
    return "://" in str(path) and not str(path).startswith("file://")


@contextlib.contextmanager
def local_file(path: str | Path) -> Iterator[str]:
    """A local path for ``path``: itself, or a temporary copy of an object-storage file."""
    if not is_remote(path):
        yield str(path).removeprefix("file://")
        return
    parent, name = str(path).rsplit("/", 1)
    with tempfile.TemporaryDirectory(prefix="stackcurate-fetch-") as tmp:
        get_datafolder(parent).get(name, os.path.join(tmp, name))
        yield os.path.join(tmp, name)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ShardEncode(PipelineStep):
    """Encodes a task's share of ``curated`` into part files, one per write group (see the module doc).

    ``threads``: tiktoken threads per batch (1: the executor runs a task per CPU)."""

    name = "shards encode"
    type = "🔢 - SHARDS"

    def __init__(
        self,
        curated: str,
        tokenizer: str,
        out: str,
        shard_count: int,
        groups: int,
        seed: int = 0,
        encoder: str = "auto",
        batch_rows: int = 1024,
    ):
        super().__init__()
        self.curated, self.tokenizer, self.out = curated, tokenizer, out
        self.shard_count, self.groups, self.seed = shard_count, groups, seed
        self.encoder, self.batch_rows = encoder, batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with local_file(self.tokenizer) as tokenizer:
            encoder = DocumentEncoder(tokenizer, self.encoder, threads=1)
        curated, out = _folder(self.curated), _folder(self.out)
        names = [f".parts/g{group:05d}-t{rank:05d}.parquet" for group in range(self.groups)]
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(out.open(f"{name}.tmp", "wb")) for name in names]
            writers = [pq.ParquetWriter(h, PART_SCHEMA, **shard_write_options(PART_SCHEMA)) for h in handles]
            for name in list_parquet_files(curated)[rank::world_size]:
                source = stack.enter_context(curated.open(name, "rb"))
                parquet = pq.ParquetFile(source)
                columns = [c for c in SOURCE_COLUMNS if c in parquet.schema_arrow.names]
                for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=columns):
                    self._encode(encoder, batch.to_pylist(), writers)
            for writer in writers:
                writer.close()  # an empty part still says "this task has nothing for the group"
        for name in names:
            out.mv(f"{name}.tmp", name)
        return
        yield

    def _encode(self, encoder: DocumentEncoder, rows: list[dict[str, Any]], writers: list[Any]) -> None:
        table = encoder.encode_table(rows, self.seed)
        keys = np.array([document_key(row, self.seed) for row in rows], dtype=np.uint64)
        shards = keys % np.uint64(self.shard_count)
        table = table.append_column("shard", pa.array(shards, pa.int32()))
        table = table.append_column("key", pa.array(keys))
        for tokens in table.column("n_tokens").to_pylist():
            self.stat_update("documents")
            self.stat_update("tokens", value=tokens)
        groups = shards % np.uint64(self.groups)
        for group, writer in enumerate(writers):
            chosen = groups == group
            if chosen.any():
                writer.write_table(table.filter(pa.array(chosen)))


class ShardWrite(PipelineStep):
    """Writes the shards of a task's write group from every encode task's part (see the module doc)."""

    name = "shards write"
    type = "🔢 - SHARDS"

    def __init__(self, out: str, shard_count: int, encode_tasks: int, row_group_rows: int = 1024):
        super().__init__()
        self.out, self.shard_count = out, shard_count
        self.encode_tasks, self.row_group_rows = encode_tasks, row_group_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = _folder(self.out)
        parts = [f".parts/g{rank:05d}-t{task:05d}.parquet" for task in range(self.encode_tasks)]
        missing = [part for part in parts if not out.exists(part)]
        if missing:
            raise FileNotFoundError(f"shards_encode parts missing in {self.out}: {missing[:3]}")
        tables = []
        for part in parts:
            with out.open(part, "rb") as handle:
                tables.append(read_parquet(handle, schema=PART_SCHEMA))
        table = pa.concat_tables(tables)
        for shard in range(rank, self.shard_count, world_size):
            rows = table.filter(pc.equal(table.column("shard"), shard))
            if rows.num_rows == 0:
                continue
            rows = rows.sort_by([("key", "ascending"), ("repo", "ascending"), ("path", "ascending")])
            rows = rows.select(SHARD_SCHEMA.names).cast(SHARD_SCHEMA)
            name = f"shard-{shard:05d}.parquet"
            with tempfile.TemporaryDirectory(prefix="stackcurate-shard-") as tmp:
                local = os.path.join(tmp, name)
                pq.write_table(
                    rows, local, row_group_size=self.row_group_rows, **shard_write_options(SHARD_SCHEMA)
                )
                size, sha256 = os.path.getsize(local), _sha256(local)
                out.put(local, f"{name}.tmp")
            out.mv(f"{name}.tmp", name)
            languages: dict[str, dict[str, int]] = {}
            for language, tokens in zip(
                rows.column("language").to_pylist(), rows.column("n_tokens").to_pylist(), strict=True
            ):
                add_language(languages, language, tokens)
            entry = {
                "file": name,
                "rows": rows.num_rows,
                "tokens": sum(rows.column("n_tokens").to_pylist()),
                "bytes": size,
                "sha256": sha256,
                "languages": languages,
            }
            with out.open(f".parts/entries/{shard:05d}.json.tmp", "w") as handle:
                handle.write(json.dumps(entry))
            out.mv(f".parts/entries/{shard:05d}.json.tmp", f".parts/entries/{shard:05d}.json")
            self.stat_update("shards")
        return
        yield


def merge_manifest(
    out: str | Path, tokenizer: str | Path, seed: int, source: str, encoder: str, shard_count: int
) -> dict[str, Any]:
    """The manifest from the write tasks' entries (shard order), written last (a temporary name, then
    renamed: a manifest means complete shards); the parts are removed."""
    root = _folder(out)
    tokenizer = str(tokenizer)
    shards: list[dict[str, Any]] = []
    languages: dict[str, dict[str, int]] = {}
    entries = root.list_files(".parts/entries", glob_pattern="*.json") if root.isdir(".parts/entries") else []
    for name in sorted(entries):
        with root.open(name, "r") as handle:
            entry = json.load(handle)
        for language, stats in entry.pop("languages").items():
            total = languages.setdefault(language, {"rows": 0, "tokens": 0})
            total["rows"] += stats["rows"]
            total["tokens"] += stats["tokens"]
        shards.append(entry)
    with local_file(tokenizer) as local:
        document_encoder = DocumentEncoder(local, encoder)
        vocab_size = document_encoder.tokenizer.get_vocab_size()
        manifest = make_manifest(shards, languages, local, vocab_size, seed, source)
    manifest["tokenizer"]["path"] = tokenizer if is_remote(tokenizer) else manifest["tokenizer"]["path"]
    manifest["encoder"] = document_encoder.name
    manifest["shard_count"] = shard_count
    manifest["order"] = "xxh3_64(seed|id|repo|path): shard = key % shard_count, rows by key"
    with root.open("manifest.json.tmp", "w") as handle:
        handle.write(json.dumps(manifest, indent=2) + "\n")
    root.mv("manifest.json.tmp", "manifest.json")
    if root.isdir(".parts"):
        root.rm(".parts", recursive=True)
    return manifest
