"""How much text the tokenizer needs: a 49,152-token BPE trained on samples of N MB against one trained on
the whole corpus, compared on held-out files. What ``stages.shards.train_max_bytes`` is sized by.

    python benchmarks/tokenizer_sample.py CURATED [--mb 8,16,32,64,128] [--vocab-size 49152]
                                          [--held-out 10] [--by repo|file] [--work-dir DIR]

``CURATED``: a run's ``curated/`` folder (for example ``runs/starcoder/curated`` after ``make demo``).
Every repository (``--by file``: every file) whose name's (id's) SHA-256 falls in the first ``--held-out``
percent is held out; the others form the training pool, written to a temporary curated folder in their
original order. Held-out repositories are code the tokenizer never saw, not even other files of the same
project (identifiers, vendored copies), which the whole-pool tokenizer would otherwise be favoured on.
A tokenizer is trained on the whole pool, and one on a sample of N MB of it for each ``--mb`` (the
product's sampler, ``sample_curated_texts``, the same code ``stackcurate run`` trains with). For each it
prints the training CPU seconds (every thread of this process: the trainer is multi-threaded), the
vocabulary it shares with the full-pool tokenizer (the share of the full vocabulary also in the sample's),
and the compression on the held-out files (UTF-8 bytes per token, HF encoder) with its difference from the
full-pool tokenizer's. A sample size is good enough when that difference is within 1% (issue 29).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stackcurate.parquet_io import list_parquet_files
from stackcurate.shards.tokenizer import iter_curated_texts, train_on, training_text


def split_pool(curated: str, held_out_pct: int, by: str, pool_dir: Path) -> list[str]:
    """Write the training pool (what is not held out: id, size_bytes, content) to ``pool_dir`` file by
    file, in the curated order and row groups of about 64 MB; return the held-out texts."""
    held: list[str] = []
    pool_dir.mkdir(parents=True, exist_ok=True)
    for name in list_parquet_files(curated):
        table = pq.read_table(Path(curated) / name, columns=["id", "repo", "size_bytes", "content"])
        keep = []
        for index, key in enumerate(table.column("repo" if by == "repo" else "id").to_pylist()):
            bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 100
            if bucket < held_out_pct:
                held.append(table.column("content")[index].as_py())
            else:
                keep.append(index)
        pool = table.take(pa.array(keep, type=pa.int64())).drop_columns(["repo"])
        rows = max(1, int(len(pool) * 64e6 / max(1, sum(len(t.as_py()) for t in pool.column("content")))))
        pq.write_table(pool, pool_dir / Path(name).name, row_group_size=rows, compression="zstd")
    return held


def bytes_per_token(tokenizer: object, texts: list[str]) -> float:
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)  # type: ignore[attr-defined]
    tokens = sum(len(e.ids) for e in encoded)
    return sum(len(t.encode("utf-8")) for t in texts) / tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("curated")
    parser.add_argument("--mb", default="8,16,32,64,128", help="sample sizes in MB (10^6 bytes)")
    parser.add_argument("--vocab-size", type=int, default=49152)
    parser.add_argument("--held-out", type=int, default=10, help="percent held out")
    parser.add_argument(
        "--by", choices=["repo", "file"], default="repo", help="hold out repositories or files"
    )
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="stackcurate-toksample-"))
    pool = work / "pool"
    held = split_pool(args.curated, args.held_out, args.by, pool)
    pool_mb = sum(len(t.encode("utf-8")) for t in iter_curated_texts(pool)) / 1e6
    held_mb = sum(len(t.encode("utf-8")) for t in held) / 1e6
    share = f"{args.held_out}% by {args.by}"
    print(f"pool {pool_mb:.1f} MB, held out {len(held):,} files / {held_mb:.1f} MB ({share})")
    sizes = [int(float(mb) * 1e6) for mb in args.mb.split(",")]
    results = []
    for max_bytes in [None, *sizes]:
        text = training_text(pool, max_bytes)
        cpu, wall = time.process_time(), time.monotonic()
        tokenizer = train_on(text, args.vocab_size)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        results.append((max_bytes, text, tokenizer, cpu, wall, bytes_per_token(tokenizer, held)))
        label = "full" if max_bytes is None else f"{max_bytes / 1e6:g} MB"
        print(f"  trained {label}: {text.bytes / 1e6:.1f} MB, {cpu:.1f} s CPU", flush=True)
    full_vocab = set(results[0][2].get_vocab())
    full_bpt = results[0][5]
    print(
        f"\n{'sample':>8} {'trained MB':>10} {'files':>7} {'CPU s':>7} {'wall s':>7} {'vocab':>7} "
        f"{'shared':>7} {'bytes/token':>11} {'vs full':>8}"
    )
    for max_bytes, text, tokenizer, cpu, wall, bpt in results:
        shared = len(full_vocab & set(tokenizer.get_vocab())) / len(full_vocab)
        label = "full" if max_bytes is None else f"{max_bytes / 1e6:g} MB"
        print(
            f"{label:>8} {text.bytes / 1e6:10.1f} {text.files:7,} {cpu:7.1f} {wall:7.1f} "
            f"{tokenizer.get_vocab_size():7,} {shared:7.1%} {bpt:11.4f} {bpt / full_bpt - 1:+8.2%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
