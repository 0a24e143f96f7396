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
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from stackcurate.shards.build import (
    SHARD_SCHEMA,
    SOURCE_COLUMNS,
    DocumentEncoder,
    add_language,
    make_manifest,
    write_manifest,
)
from stackcurate.shards.tokenizer import file_sha256

#: UTF-8 bytes of code per token, to size ``shard_count`` before encoding. 3.3 is what the sample
#: repositories gave with the 49,152-token byte-level BPE trained on them (``benchmarks/shards.py``'s
#: manifest: bytes / tokens); a wrong guess only makes shards larger or smaller than ``shard_tokens``.
BYTES_PER_TOKEN = 3.3
PART_SCHEMA = SHARD_SCHEMA.append(pa.field("shard", pa.int32())).append(pa.field("key", pa.uint64()))


def document_key(row: dict[str, Any], seed: int) -> int:
    """The document's place in the shards: a hash of the seed and the document, never of the task."""
    return xxhash.xxh3_64_intdigest(f"{seed}|{row.get('id')}|{row.get('repo')}|{row.get('path')}")


def shard_count(curated: str | Path, shard_tokens: int) -> int:
    """How many shards: the curated rows' ``size_bytes`` total over ``shard_tokens x BYTES_PER_TOKEN``."""
    total = 0
    for path in sorted(Path(curated).glob("*.parquet")):
        column = pq.read_table(path, columns=["size_bytes"]).column(0)
        total += int(pc.sum(column).as_py() or 0)
    return max(1, math.ceil(total / (shard_tokens * BYTES_PER_TOKEN)))


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
        encoder = DocumentEncoder(self.tokenizer, self.encoder, threads=1)
        parts = Path(self.out) / ".parts"
        parts.mkdir(parents=True, exist_ok=True)
        names = [parts / f"g{group:05d}-t{rank:05d}.parquet" for group in range(self.groups)]
        writers = [pq.ParquetWriter(f"{name}.tmp", PART_SCHEMA, compression="zstd") for name in names]
        files = sorted(Path(self.curated).glob("*.parquet"))[rank::world_size]
        for path in files:
            parquet = pq.ParquetFile(path)
            columns = [c for c in SOURCE_COLUMNS if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=columns):
                rows = batch.to_pylist()
                by_group: list[list[dict[str, Any]]] = [[] for _ in range(self.groups)]
                for source, row in zip(rows, encoder.encode_rows(rows, self.seed), strict=True):
                    key = document_key(source, self.seed)
                    row["key"] = key
                    row["shard"] = key % self.shard_count
                    by_group[row["shard"] % self.groups].append(row)
                    self.stat_update("documents")
                    self.stat_update("tokens", value=row["n_tokens"])
                for writer, group_rows in zip(writers, by_group, strict=True):
                    if group_rows:
                        writer.write_table(pa.Table.from_pylist(group_rows, schema=PART_SCHEMA))
        for writer, name in zip(writers, names, strict=True):
            writer.close()  # an empty part still says "this task has nothing for the group"
            Path(f"{name}.tmp").replace(name)
        return
        yield


class ShardWrite(PipelineStep):
    """Writes the shards of a task's write group from every encode task's part (see the module doc)."""

    name = "shards write"
    type = "🔢 - SHARDS"

    def __init__(self, out: str, shard_count: int, encode_tasks: int, row_group_rows: int = 1024):
        super().__init__()
        self.out, self.shard_count = out, shard_count
        self.encode_tasks, self.row_group_rows = encode_tasks, row_group_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = Path(self.out)
        parts = [out / ".parts" / f"g{rank:05d}-t{task:05d}.parquet" for task in range(self.encode_tasks)]
        missing = [str(part) for part in parts if not part.exists()]
        if missing:
            raise FileNotFoundError(f"shards_encode parts missing: {missing[:3]}")
        table = pa.concat_tables([pq.read_table(part, schema=PART_SCHEMA) for part in parts])
        entries = out / ".parts" / "entries"
        entries.mkdir(parents=True, exist_ok=True)
        for shard in range(rank, self.shard_count, world_size):
            rows = table.filter(pc.equal(table.column("shard"), shard))
            if rows.num_rows == 0:
                continue
            rows = rows.sort_by([("key", "ascending"), ("repo", "ascending"), ("path", "ascending")])
            rows = rows.select(SHARD_SCHEMA.names).cast(SHARD_SCHEMA)
            name = f"shard-{shard:05d}.parquet"
            pq.write_table(rows, out / f"{name}.tmp", row_group_size=self.row_group_rows, compression="zstd")
            (out / f"{name}.tmp").replace(out / name)
            languages: dict[str, dict[str, int]] = {}
            for language, tokens in zip(
                rows.column("language").to_pylist(), rows.column("n_tokens").to_pylist(), strict=True
            ):
                add_language(languages, language, tokens)
            entry = {
                "file": name,
                "rows": rows.num_rows,
                "tokens": sum(rows.column("n_tokens").to_pylist()),
                "bytes": (out / name).stat().st_size,
                "sha256": file_sha256(out / name),
                "languages": languages,
            }
            (entries / f"{shard:05d}.json.tmp").write_text(json.dumps(entry))
            (entries / f"{shard:05d}.json.tmp").replace(entries / f"{shard:05d}.json")
            self.stat_update("shards")
        return
        yield


def merge_manifest(
    out: str | Path, tokenizer: str | Path, seed: int, source: str, encoder: str, shard_count: int
) -> dict[str, Any]:
    """The manifest from the write tasks' entries (shard order), written last; the parts are removed."""
    root = Path(out)
    shards: list[dict[str, Any]] = []
    languages: dict[str, dict[str, int]] = {}
    for path in sorted((root / ".parts" / "entries").glob("*.json")):
        entry = json.loads(path.read_text())
        for language, stats in entry.pop("languages").items():
            total = languages.setdefault(language, {"rows": 0, "tokens": 0})
            total["rows"] += stats["rows"]
            total["tokens"] += stats["tokens"]
        shards.append(entry)
    document_encoder = DocumentEncoder(tokenizer, encoder)
    vocab_size = document_encoder.tokenizer.get_vocab_size()
    manifest = make_manifest(shards, languages, tokenizer, vocab_size, seed, source)
    manifest["encoder"] = document_encoder.name
    manifest["shard_count"] = shard_count
    manifest["order"] = "xxh3_64(seed|id|repo|path): shard = key % shard_count, rows by key"
    write_manifest(root, manifest)
    for path in sorted((root / ".parts").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / ".parts").rmdir()
    return manifest
