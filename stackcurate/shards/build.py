"""Training shards: curated files -> StarCoder's metadata formatting -> token ids -> Parquet shards with a
manifest (``stackcurate shards build`` / ``verify``).

Formatting (StarCoder, arXiv 2305.06161 sec. 5.1): each of ``<reponame>REPO``, ``<filename>PATH`` and
``<gh_stars>BUCKET`` is prepended to a file with probability 0.2, independently, followed by a newline
before the code; the metadata markers are encoded as their special-token ids, everything else as plain
text; stars are bucketed (0, 1-10, 10-100, 100-1000, 1000+). The draws come from a generator
seeded with ``(seed, file id, repo, path)``, so a build is reproducible whatever the order or the sharding.
``<|endoftext|>`` is not stored: the loader adds it between documents when it packs them.

A shard is a Parquet file, one row per document: ``input_ids`` (list<int32>), ``n_tokens`` (int32),
``repo``, ``path``, ``language``, ``license``; row groups of ``row_group_rows`` rows so a reader streams it.
A shard is closed once it holds ``shard_tokens`` tokens. ``manifest.json`` records the tokenizer's sha256,
the seed and formatting, totals per language, and every shard's rows, tokens, bytes and sha256. Shards are
written under a temporary name and renamed when complete; the manifest is written last.
"""

from __future__ import annotations

import functools
import json
import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stackcurate.errors import FatalError
from stackcurate.shards.tokenizer import (
    FILENAME,
    GH_STARS,
    REPONAME,
    fast_encoder,
    file_sha256,
    load_tokenizer,
)

SHARD_SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("n_tokens", pa.int32()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("license", pa.string()),
    ]
)
#: the encodings of a shard file's columns: zstd; dictionaries and min/max statistics for every column but the
#: token ids (``input_ids``) and a part's ``key`` (a hash). Token ids in a dictionary are larger under zstd
#: than plain, and slower to write and read: a StarCoder shard of the sample run took 53 MB and 0.76 s to
#: encode with one, 39 MB and 0.61 s without; their statistics are of no use to a reader.
PLAIN_COLUMNS = ("input_ids", "key")


def shard_write_options(schema: pa.Schema) -> dict[str, Any]:
    """``pyarrow.parquet`` writer options for a file of shard rows (``SHARD_SCHEMA`` or a part of it)."""
    encoded = [name for name in schema.names if name not in PLAIN_COLUMNS]
    return {"compression": "zstd", "use_dictionary": encoded, "write_statistics": encoded}


SOURCE_COLUMNS = ["id", "repo", "path", "language", "license", "stars", "content"]
METADATA_PROBABILITY = 0.2


def stars_bucket(stars: int | None) -> str:
    """StarCoder's star buckets."""
    stars = stars or 0
    if stars == 0:
        return "0"
    if stars <= 10:
        return "1-10"
    if stars <= 100:
        return "10-100"
    if stars <= 1000:
        return "100-1000"
    return "1000+"


def document_parts(
    row: dict[str, Any], seed: int, probability: float = METADATA_PROBABILITY
) -> tuple[list[tuple[str, str]], str]:
    """``(header, body)``: the metadata drawn for a document -- ``(special token, value)`` pairs -- and the
    text that follows them (a newline then the code when there is a header, else the code)."""
    rng = random.Random(f"{seed}|{row.get('id')}|{row.get('repo')}|{row.get('path')}")
    header = []
    if rng.random() < probability:
        header.append((REPONAME, str(row.get("repo") or "")))
    if rng.random() < probability:
        header.append((FILENAME, str(row.get("path") or "")))
    if rng.random() < probability:
        header.append((GH_STARS, stars_bucket(row.get("stars"))))
    return header, (f"\n{row['content']}" if header else row["content"])


def format_document(row: dict[str, Any], seed: int, probability: float = METADATA_PROBABILITY) -> str:
    """The text a document is trained on, as one string (metadata tokens, then the code)."""
    header, body = document_parts(row, seed, probability)
    return "".join(token + value for token, value in header) + body


def iter_curated_rows(curated: str | Path, batch_rows: int) -> Iterator[list[dict[str, Any]]]:
    files = sorted(Path(curated).glob("*.parquet"))
    if not files:
        raise FatalError(f"no Parquet files in {curated}")
    for path in files:
        parquet = pq.ParquetFile(path)
        columns = [c for c in SOURCE_COLUMNS if c in parquet.schema_arrow.names]
        if "content" not in columns:
            raise FatalError(f"{path} has no content column: not a curated folder")
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pylist()


class DocumentEncoder:
    """Formats and encodes curated rows into shard rows (``SHARD_SCHEMA``). ``encoder``: ``hf`` (the
    tokenizers library, exact; its threads follow ``RAYON_NUM_THREADS``), ``tiktoken`` (the same vocabulary,
    about 5x faster, see ``tokenizer.fast_encoder``) or ``auto`` (tiktoken when the tokenizer allows it);
    ``threads``: tiktoken's threads per batch."""

    def __init__(self, tokenizer_path: str | Path, encoder: str = "auto", threads: int = 1):
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.tokenizer.encode_special_tokens = True  # HF otherwise matches added tokens anywhere in the code
        self.fast = fast_encoder(self.tokenizer) if encoder in ("auto", "tiktoken") else None
        if encoder == "tiktoken" and self.fast is None:
            raise FatalError(
                f"{tokenizer_path} cannot be encoded with tiktoken (not a byte-level BPE like ours)"
            )
        self.name = "tiktoken" if self.fast is not None else "hf"
        self.threads = threads
        self.special = {token: self.tokenizer.token_to_id(token) for token in (REPONAME, FILENAME, GH_STARS)}
        if None in self.special.values():
            raise FatalError(f"tokenizer {tokenizer_path} lacks the metadata tokens {list(self.special)}")

    def _encode(self, texts: list[str]) -> list[Any]:
        """Each text's token ids, as plain text: a uint32 array with tiktoken (its buffer, no Python int per
        token), a list with HF."""
        if self.fast is not None:
            # no special token allowed, none refused: a "<|endoftext|>" in the code is plain text, as with
            # encode_ordinary
            encode = functools.partial(
                self.fast.encode_to_numpy, allowed_special=set(), disallowed_special=()
            )
            if self.threads > 1 and len(texts) > 1:  # tiktoken releases the GIL while it encodes
                with ThreadPoolExecutor(self.threads) as pool:
                    return list(pool.map(encode, texts))
            return [encode(text) for text in texts]
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def _encode_one(self, text: str) -> list[int]:
        # one call per metadata value: a batch call would start a thread pool each time
        if self.fast is not None:
            return self.fast.encode_ordinary(text)
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_table(self, rows: list[dict[str, Any]], seed: int) -> pa.Table:
        """Shard rows (``SHARD_SCHEMA``) for curated ``rows``: metadata tokens are the special ids, their
        values and the code plain text (a "<|endoftext|>" written in a file's code never becomes the special
        token, with either encoder). The token ids go from the encoder's buffers into one Arrow column."""
        parts = [document_parts(row, seed) for row in rows]
        bodies = self._encode([body for _, body in parts])
        ids: list[list[Any]] = []
        for (header, _), body in zip(parts, bodies, strict=True):
            head = [i for token, value in header for i in (self.special[token], *self._encode_one(value))]
            ids.append([np.asarray(head, dtype=np.int32), np.asarray(body, dtype=np.int32)])
        input_ids = _list_column(ids)
        lengths = pc.list_value_length(input_ids)
        return pa.table(
            {
                "input_ids": input_ids,
                "n_tokens": lengths,
                "repo": pa.array([row.get("repo") for row in rows], pa.string()),
                "path": pa.array([row.get("path") for row in rows], pa.string()),
                "language": pa.array([row.get("language") or "unknown" for row in rows], pa.string()),
                "license": pa.array([row.get("license") for row in rows], pa.string()),
            },
            schema=SHARD_SCHEMA,
        )

    def encode_rows(self, rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
        """``encode_table`` as one dict per row."""
        return self.encode_table(rows, seed).to_pylist()


#: the most values one chunk of a ``list<int32>`` column holds (its offsets are int32)
_MAX_LIST_VALUES = 2**31 - 1


def _list_column(ids: list[list[Any]]) -> pa.ChunkedArray:
    """A ``list<int32>`` column whose row ``i`` holds the int32 arrays ``ids[i]`` one after the other,
    chunked so that no chunk's offsets pass int32."""
    chunks: list[pa.Array] = []
    values: list[Any] = []
    counts: list[int] = []
    total = 0
    for arrays in ids:
        length = sum(len(array) for array in arrays)
        if counts and total + length > _MAX_LIST_VALUES:
            chunks.append(_list_chunk(values, counts))
            values, counts, total = [], [], 0
        values += arrays
        counts.append(length)
        total += length
    chunks.append(_list_chunk(values, counts))
    return pa.chunked_array(chunks, pa.list_(pa.int32()))


def _list_chunk(values: list[Any], counts: list[int]) -> pa.Array:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.concatenate(values) if values else np.zeros(0, dtype=np.int32)
    # a row past int32 alone (a file of over 2^31 tokens) is an error here, never a wrapped offset
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.int32()))


def add_language(languages: dict[str, dict[str, int]], language: str, tokens: int) -> None:
    """Count one document of ``tokens`` tokens in the manifest's per-language totals."""
    stats = languages.setdefault(language, {"rows": 0, "tokens": 0})
    stats["rows"] += 1
    stats["tokens"] += tokens


class _ShardWriter:
    def __init__(self, out: Path, shard_tokens: int, row_group_rows: int):
        self.out = out
        self.shard_tokens = shard_tokens
        self.row_group_rows = row_group_rows
        self.shards: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.writer: pq.ParquetWriter | None = None
        self.rows = self.tokens = 0

    def _open(self) -> None:
        name = f"shard-{len(self.shards):05d}.parquet"
        self.name = name
        self.writer = pq.ParquetWriter(
            self.out / f"{name}.tmp", SHARD_SCHEMA, **shard_write_options(SHARD_SCHEMA)
        )
        self.rows = self.tokens = 0

    def _flush(self) -> None:
        if self.pending:
            assert self.writer is not None
            self.writer.write_table(pa.Table.from_pylist(self.pending, schema=SHARD_SCHEMA))
            self.pending = []

    def add(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            self._open()
        self.pending.append(row)
        self.rows += 1
        self.tokens += row["n_tokens"]
        if len(self.pending) >= self.row_group_rows:
            self._flush()
        if self.tokens >= self.shard_tokens:
            self.close_shard()

    def close_shard(self) -> None:
        if self.writer is None:
            return
        self._flush()
        self.writer.close()
        self.writer = None
        final = self.out / self.name
        (self.out / f"{self.name}.tmp").replace(final)
        self.shards.append(
            {
                "file": self.name,
                "rows": self.rows,
                "tokens": self.tokens,
                "bytes": final.stat().st_size,
                "sha256": file_sha256(final),
            }
        )


def build_shards(
    curated: str | Path,
    tokenizer_path: str | Path,
    out: str | Path,
    seed: int = 0,
    shard_tokens: int = 50_000_000,
    row_group_rows: int = 1024,
    batch_rows: int = 1024,
    encoder: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Tokenize a curated folder into ``out``; returns the manifest (also written as manifest.json).

    ``encoder``: ``hf`` (the tokenizers library, exact; its threads follow ``RAYON_NUM_THREADS``, not
    ``threads``), ``tiktoken`` (the same vocabulary, about 5x faster, see ``tokenizer.fast_encoder``) or
    ``auto`` (tiktoken when the tokenizer allows it). With either, a special-token string written in a
    file's code (``<|endoftext|>``) stays plain text (HF's ``encode_special_tokens`` is switched on)."""
    document_encoder = DocumentEncoder(tokenizer_path, encoder, threads or os.cpu_count() or 1)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("shard-*.parquet"), *out_dir.glob("*.tmp"), out_dir / "manifest.json"]:
        stale.unlink(missing_ok=True)
    writer = _ShardWriter(out_dir, shard_tokens, row_group_rows)
    languages: dict[str, dict[str, int]] = {}
    for rows in iter_curated_rows(curated, batch_rows):
        for row in document_encoder.encode_rows(rows, seed):
            writer.add(row)
            add_language(languages, row["language"], row["n_tokens"])
    writer.close_shard()
    vocab_size = document_encoder.tokenizer.get_vocab_size()
    manifest = make_manifest(writer.shards, languages, tokenizer_path, vocab_size, seed, str(curated))
    manifest["encoder"] = document_encoder.name
    write_manifest(out_dir, manifest)
    return manifest


def make_manifest(
    shards: list[dict[str, Any]],
    languages: dict[str, dict[str, int]],
    tokenizer_path: str | Path,
    vocab_size: int,
    seed: int,
    source: str,
) -> dict[str, Any]:
    return {
        "format": "stackcurate-shards/1",
        "source": source,
        "seed": seed,
        "metadata_probability": METADATA_PROBABILITY,
        "tokenizer": {
            "path": str(Path(tokenizer_path).resolve()),
            "sha256": file_sha256(tokenizer_path),
            "vocab_size": vocab_size,
        },
        "schema": {field.name: str(field.type) for field in SHARD_SCHEMA},
        "total_rows": sum(s["rows"] for s in shards),
        "total_tokens": sum(s["tokens"] for s in shards),
        "languages": dict(sorted(languages.items())),
        "shards": shards,
    }


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    tmp = out_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out_dir / "manifest.json")


def refresh_manifest(shards_dir: str | Path) -> None:
    """Recompute a manifest's per-shard and total figures from the files (after ``opt-out purge``)."""
    root = Path(shards_dir)
    manifest = json.loads((root / "manifest.json").read_text())
    languages: dict[str, dict[str, int]] = {}
    for entry in manifest["shards"]:
        path = root / entry["file"]
        table = pq.read_table(path, columns=["n_tokens", "language"])
        entry.update(
            rows=table.num_rows,
            tokens=sum(table.column("n_tokens").to_pylist()),
            bytes=path.stat().st_size,
            sha256=file_sha256(path),
        )
        for n, language in zip(
            table.column("n_tokens").to_pylist(), table.column("language").to_pylist(), strict=True
        ):
            stats = languages.setdefault(language, {"rows": 0, "tokens": 0})
            stats["rows"] += 1
            stats["tokens"] += n
    manifest["languages"] = dict(sorted(languages.items()))
    manifest["total_rows"] = sum(s["rows"] for s in manifest["shards"])
    manifest["total_tokens"] = sum(s["tokens"] for s in manifest["shards"])
    write_manifest(root, manifest)
