"""``stackcurate shards export``: training shards -> the formats trainers read.

- ``megatron``: Megatron-LM's indexed dataset (``MMIDIDX`` version 1; StarCoder was trained with
  Megatron-LM on it), ``DIR/stackcurate_text_document.bin`` + ``.idx``, the prefix to give Megatron's
  ``--data-path``. One sequence per document, one document per sequence, ``<|endoftext|>`` appended to
  every document as Megatron's ``tools/preprocess_data.py --append-eod`` does (its GPT dataset packs
  sequences across documents and needs the separator in the data). Token dtype: uint16 when the vocabulary
  has fewer than 65,500 ids, else int32 (Megatron's ``DType.optimal_dtype``). Written here from the format's
  definition; ``megatron-core`` is not needed to export, only to train (the tests read the files back with
  its ``IndexedDataset``).
- ``litdata``: a Lightning ``litdata`` streaming dataset (``DIR/index.json`` + ``chunk-*.bin`` chunks of
  64 MB), one item per document: ``{"input_ids": ndarray, "repo", "path", "language", "license"}``, no
  separator added (the item is the document; read it with ``litdata.StreamingDataset(DIR)``). Needs the
  ``litdata`` extra (``pip install 'stackcurate[litdata]'``).

The shards are checked first with every check of ``stackcurate shards verify`` (``verify.verify_manifest``:
each shard's bytes, sha256, rows and tokens, the totals, the tokenizer file's sha256 and vocabulary size,
and a re-encoding of sampled documents when the curated source is at hand), so neither a damaged shard nor
a tokenizer other than the one the shards were made with (whose end-of-text id is written between
documents) is ever exported. Documents are
written in manifest order (shard by shard, row by row), and ``DIR/export.json`` records the format, the
documents and tokens written (equal to the manifest's ``total_rows`` and ``total_tokens``; separators
counted apart) and the source manifest's sha256. Files are written under ``DIR/.partial`` and moved into
``DIR`` when complete, so a killed export never leaves files that look whole.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.run_copy import is_remote

# numpy, pyarrow and the shard builder are imported where used: the `shards export` parser
# (shards/cli.py) imports FORMATS from here on every `stackcurate` invocation

FORMATS = ("megatron", "litdata")
MEGATRON_PREFIX = "stackcurate_text_document"
#: Megatron's index: magic, version 1, then a dtype code (megatron/core/datasets/indexed_dataset.py, DType)
MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_DTYPE_CODES = {"uint16": 8, "int32": 4}
#: Megatron switches from uint16 to int32 at this vocabulary size (DType.optimal_dtype)
MEGATRON_UINT16_LIMIT = 65500
LITDATA_CHUNK_BYTES = "64MB"  # litdata's examples' chunk size: a few reads per chunk from object storage


def shards_folder(path: str | Path) -> Path:
    """The shards folder of a run directory (``RUN_DIR/shards``), or ``path`` itself when it is one."""
    root = Path(path)
    for candidate in (root, root / "shards"):
        if (candidate / "manifest.json").exists():
            return candidate
    raise FatalError(f"{root} holds no shards: neither {root}/manifest.json nor {root}/shards/manifest.json")


def shown_path(given: str | Path, local: Path, shards: Path) -> str:
    """``shards`` as the user named it: under the URL they gave (``given``), not under ``local``, the local
    copy of a run on object storage (``run_copy.local_run_copy``); ``str(shards)`` for a local run."""
    if not is_remote(given):
        return str(shards)
    inner = shards.relative_to(local).as_posix()
    return str(given).rstrip("/") + ("" if inner == "." else f"/{inner}")


def iter_documents(shards: Path, manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every row of the shards in manifest order: ``input_ids`` as an int32 array, and the row's metadata."""
    import pyarrow.parquet as pq

    columns = ["input_ids", "repo", "path", "language", "license"]
    for entry in manifest["shards"]:
        for batch in pq.ParquetFile(shards / entry["file"]).iter_batches(batch_size=1024, columns=columns):
            ids = batch.column(0)
            values = ids.values.to_numpy(zero_copy_only=False)
            offsets = ids.offsets.to_numpy()
            meta = {name: batch.column(name).to_pylist() for name in columns[1:]}
            for row in range(batch.num_rows):
                yield {
                    "input_ids": values[offsets[row] : offsets[row + 1]],
                    **{name: meta[name][row] for name in meta},
                }


def write_megatron(documents: Iterator[dict[str, Any]], prefix: Path, eod: int, vocab_size: int) -> int:
    """Megatron's ``.bin``/``.idx`` pair at ``prefix``; returns the separators written (one per document)."""
    import numpy as np

    dtype = np.dtype(np.uint16 if vocab_size < MEGATRON_UINT16_LIMIT else np.int32)
    lengths: list[int] = []
    with open(f"{prefix}.bin", "wb") as data:
        for document in documents:
            ids = np.append(document["input_ids"], eod).astype(dtype)
            data.write(ids.tobytes(order="C"))
            lengths.append(len(ids))
    sizes = np.asarray(lengths, dtype=np.int32)
    pointers = np.zeros(len(sizes), dtype=np.int64)
    if len(sizes) > 1:
        pointers[1:] = np.cumsum(sizes[:-1], dtype=np.int64) * dtype.itemsize
    document_indices = np.arange(len(sizes) + 1, dtype=np.int64)  # sequence i is document i
    with open(f"{prefix}.idx", "wb") as index:
        index.write(MEGATRON_MAGIC)
        index.write(struct.pack("<Q", 1))
        index.write(struct.pack("<B", MEGATRON_DTYPE_CODES[dtype.name]))
        index.write(struct.pack("<Q", len(sizes)))
        index.write(struct.pack("<Q", len(document_indices)))
        index.write(sizes.tobytes(order="C"))
        index.write(pointers.tobytes(order="C"))
        index.write(document_indices.tobytes(order="C"))
    return len(sizes)


def write_litdata(documents: Iterator[dict[str, Any]], out: Path, vocab_size: int) -> int:
    """A litdata streaming dataset in ``out``, one item per document; returns 0 (no separators)."""
    try:
        from litdata.streaming.writer import BinaryWriter
    except ImportError:
        raise FatalError("the litdata export needs litdata: pip install 'stackcurate[litdata]'") from None
    import numpy as np

    dtype = np.uint16 if vocab_size < MEGATRON_UINT16_LIMIT else np.int32
    writer = BinaryWriter(str(out), chunk_bytes=LITDATA_CHUNK_BYTES)
    for index, document in enumerate(documents):
        writer.add_item(index, {**document, "input_ids": document["input_ids"].astype(dtype)})
    writer.done()
    writer.merge()
    return 0


def export_shards(
    source: str | Path, out: str | Path, fmt: str, source_name: str | None = None
) -> dict[str, Any]:
    """Export the shards of ``source`` (a run directory or a shards folder) to ``out`` in format ``fmt``
    (``FORMATS``); returns the summary also written as ``out/export.json``. ``source_name``: the URL
    ``source`` is a local copy of, recorded as the export's source."""
    from stackcurate.shards.tokenizer import EOS, file_sha256, load_tokenizer
    from stackcurate.shards.verify import tokenizer_file, verify_manifest

    if fmt not in FORMATS:
        raise FatalError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    shards = shards_folder(source)
    problems, _ = verify_manifest(shards)
    if problems:
        raise FatalError(
            f"{shards} does not match its manifest or tokenizer (`stackcurate shards verify` says the same), "
            "not exported:\n  " + "\n  ".join(problems)
        )
    manifest = json.loads((shards / "manifest.json").read_text())
    out_dir = Path(out)
    if out_dir.exists() and any(p.name != ".partial" for p in out_dir.iterdir()):
        raise FatalError(f"{out_dir} is not empty: export into a new folder")
    partial = out_dir / ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tokenizer_path = tokenizer_file(manifest, shards)  # the file verify_manifest checked
    if tokenizer_path is None:  # verify_manifest reports a missing tokenizer as a problem
        raise FatalError(f"{shards}: the tokenizer file is not found")
    tokenizer = load_tokenizer(tokenizer_path)
    vocab_size = int(manifest["tokenizer"]["vocab_size"])
    counted = {"documents": 0, "tokens": 0}

    def documents() -> Iterator[dict[str, Any]]:
        for document in iter_documents(shards, manifest):
            counted["documents"] += 1
            counted["tokens"] += len(document["input_ids"])
            yield document

    if fmt == "megatron":
        separators = write_megatron(
            documents(), partial / MEGATRON_PREFIX, tokenizer.token_to_id(EOS), vocab_size
        )
    else:
        separators = write_litdata(documents(), partial, vocab_size)
    if (counted["documents"], counted["tokens"]) != (manifest["total_rows"], manifest["total_tokens"]):
        raise FatalError(f"{shards}: read {counted} but the manifest says {manifest['total_rows']} rows")
    summary = {
        "format": fmt,
        "source": shown_path(source_name, Path(source), shards) if source_name else str(shards.resolve()),
        "manifest_sha256": file_sha256(shards / "manifest.json"),
        "documents": counted["documents"],
        "tokens": counted["tokens"],
        "separator_tokens": separators,
        "vocab_size": vocab_size,
        "tokenizer": manifest["tokenizer"]["path"],
        "files": sorted(p.name for p in partial.iterdir()),
    }
    if fmt == "megatron":
        summary["data_path"] = str((out_dir / MEGATRON_PREFIX).resolve())
    for path in partial.iterdir():
        path.replace(out_dir / path.name)
    partial.rmdir()
    (out_dir / "export.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
