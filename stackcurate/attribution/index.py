"""Attribution indexes over a run's curated output (``stackcurate index build``), as StarCoder shipped them:
a membership filter to flag copied code fast, and a BM25 full-text index that names the source files.

Windows: code is split into tokens -- runs of letters/digits/underscore, or single other characters;
whitespace only separates, so reformatting does not matter -- and a window is ``window`` consecutive
tokens (10 by default: about 40-60 characters of code, the length of a line or two). Shorter windows flag
idioms every project has (``for i in range(len(x)):``); longer ones miss short copied passages. Windows
are hashed to 64 bits and winnowed (``attribution.windows``, compiled kernels): of every ``guard`` (4)
consecutive windows only the smallest hash, a fingerprint, goes into the Bloom filter (``rbloom``), sized
for the corpus' fingerprints at the configured false-positive rate. That is about one window in three:
the filter is three times smaller and faster to fill (rbloom calls a hash function per item, the build's
main cost), and every copied passage of ``window + guard - 1`` (13) tokens or more still has all of its
fingerprints in the filter.

Full text: a tantivy index (BM25) with ``content`` and the provenance fields ``repo``, ``path``,
``commit``, ``license``, ``url``. Both are built streaming from the curated Parquet, one batch at a time,
under ``<run>/index/`` (``membership.bloom``, ``fulltext/``, ``meta.json``), written under temporary names
and swapped in when complete. ``stackcurate opt-out purge`` rebuilds them, so purged code is not found.
"""

from __future__ import annotations

import json
import operator
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from stackcurate.attribution.windows import window_hashes_batch, winnow
from stackcurate.errors import FatalError

FIELDS = ("repo", "path", "commit", "license", "url")

#: rbloom's hash function: the values are already 64-bit hashes, so the identity -- a builtin, which
#: rbloom calls 20% faster than a Python function (rbloom's own ``hash`` cannot be saved to disk)
BLOOM_HASH = operator.index


def index_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "index"


def iter_curated(run_dir: str | Path, batch_rows: int = 512) -> Iterator[list[dict[str, Any]]]:
    files = sorted((Path(run_dir) / "curated").glob("*.parquet"))
    if not files:
        raise FatalError(f"{run_dir} has no curated output (expected {run_dir}/curated/*.parquet)")
    for path in files:
        parquet = pq.ParquetFile(path)
        names = set(parquet.schema_arrow.names)
        columns = [c for c in ("content", "repo", "path", "commit", "license", "repo_url") if c in names]
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pylist()


def curated_bytes(run_dir: str | Path) -> int:
    """UTF-8 bytes of the curated content, from the ``size_bytes`` column (one column read)."""
    total = 0
    for path in sorted((Path(run_dir) / "curated").glob("*.parquet")):
        if "size_bytes" in pq.read_schema(path).names:
            total += sum(v or 0 for v in pq.read_table(path, columns=["size_bytes"]).column(0).to_pylist())
        else:
            total += path.stat().st_size * 4
    return total


def fulltext_schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("content", stored=True)
    for name in FIELDS:
        builder.add_text_field(name, stored=True, tokenizer_name="raw")
    return builder.build()


def build_index(
    run_dir: str | Path,
    fp_rate: float = 0.001,
    window: int = 10,
    guard: int = 4,
    heap_mb: int = 128,
    progress: Any = None,
) -> dict[str, Any]:
    """Build (or rebuild) ``<run>/index``; returns its ``meta.json``."""
    try:
        import tantivy
        from rbloom import Bloom
    except ImportError:
        raise FatalError(
            "the attribution index needs rbloom and tantivy: pip install rbloom tantivy"
        ) from None
    if not 0 < fp_rate < 1:
        raise FatalError(f"--fp-rate must be between 0 and 1, got {fp_rate}")
    if window < 1 or guard < 1:
        raise FatalError(f"--window and --guard must be at least 1, got {window} and {guard}")
    root = index_dir(run_dir)
    work = root.with_name("index.tmp")
    shutil.rmtree(work, ignore_errors=True)
    (work / "fulltext").mkdir(parents=True)
    started = time.monotonic()
    # code has one window per 4.2 bytes (100 MB of site-packages), winnowing by 4 keeps 2/5 of them and
    # about 70% of those are distinct: one distinct fingerprint per ~15 bytes; size for one per 10 bytes
    # (one per 5 without winnowing) so the configured rate holds with a margin
    per_fingerprint = 10 if guard > 1 else 5
    expected = max(1000, curated_bytes(run_dir) // per_fingerprint)
    bloom = Bloom(expected, fp_rate, BLOOM_HASH)
    index = tantivy.Index(fulltext_schema(), path=str(work / "fulltext"))
    writer = index.writer(heap_size=heap_mb * 1_000_000, num_threads=1)
    files = windows = fingerprints = nbytes = 0
    for rows in iter_curated(run_dir):
        hashes, counts = window_hashes_batch([row.get("content") or "" for row in rows], window)
        chosen = hashes[winnow(hashes, counts, guard)]
        windows += len(hashes)
        fingerprints += len(chosen)
        bloom.update(chosen.view(np.int64).tolist())  # (np.unique first measured 2x slower in rbloom)
        for row in rows:
            content = row.get("content") or ""
            url = row.get("repo_url") or ""
            writer.add_document(
                tantivy.Document(
                    content=content,
                    repo=row.get("repo") or "",
                    path=row.get("path") or "",
                    commit=row.get("commit") or "",
                    license=row.get("license") or "",
                    url=url,
                )
            )
            files += 1
            nbytes += len(content.encode("utf-8"))
        if progress is not None:
            progress(files, nbytes)
    writer.commit()
    writer.wait_merging_threads()
    bloom.save(str(work / "membership.bloom"))
    meta = {
        "files": files,
        "bytes": nbytes,
        "windows": windows,
        "fingerprints": fingerprints,
        "window_tokens": window,
        "guard": guard,
        "fp_rate": fp_rate,
        "bloom_capacity": expected,
        "bloom_bytes": (work / "membership.bloom").stat().st_size,
        "fulltext_bytes": sum(p.stat().st_size for p in (work / "fulltext").rglob("*") if p.is_file()),
        "seconds": round(time.monotonic() - started, 2),
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    old = root.with_name("index.old")
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        root.rename(old)
    work.rename(root)
    shutil.rmtree(old, ignore_errors=True)
    return meta
