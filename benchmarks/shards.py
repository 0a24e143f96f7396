"""Training shards on real code: tokenizer training, shard build throughput per core (tiktoken and HF
encoders), the two encoders' agreement, and the PyTorch loader's throughput per worker
(``stackcurate.shards``: ``train_tokenizer``, ``build_shards``, ``ShardDataset``).

    python benchmarks/shards.py [--files 6000] [--seed 0] [--curated DIR] [--work-dir DIR]
                                [--vocab-size 49152] [--shard-tokens 5000000] [--row-group-rows 1024]
                                [--seq-len 2048] [--loader-samples N] [--quick]

Corpus: without ``--curated``, every ``*.py`` file (UTF-8, non-empty, under 1 MB) under this interpreter's
site-packages (real code nobody on this project wrote), ordered by sha1(``--seed``, path) (a seeded shuffle
that a package installed later does not reorder), the first ``--files`` N of them (default 6000), written as a
curated folder (Parquet files of 1000 rows with the curated columns id, repo, path, language, license, stars,
content: ``id`` the git blob sha1, ``repo`` ``pypi/<top-level name>``, ``path`` the path under site-packages,
``language`` python, ``license`` NOASSERTION, ``stars`` a number drawn per repo so every star bucket occurs).
``--curated DIR`` uses an existing run's curated folder instead (with ``--files`` or ``--quick``: its first N
files). Everything is written under ``--work-dir`` (default: a temporary folder removed at the end).
``--quick``: 500 files, vocabulary 2000, row groups of 128 rows, a test-sized run (about 30 s). MB is the
UTF-8 size of the content, 10^6 bytes.

1. Tokenizer: ``train_tokenizer(curated, vocab_size)`` timed in this process (tokenizers' own thread pool,
   every core; wall and CPU seconds printed), and the size of the vocabulary it made.
2. Build, one core: each measurement runs in a child process (``benchmarks/shards.py --_child ...``)
   started with ``RAYON_NUM_THREADS=1`` (HF tokenizers' thread pool is sized once, from that variable, when
   first used) and with pyarrow's CPU and I/O pools set to one thread; this process never encodes, so its
   own pool does not matter. ``build_shards(..., threads=1)`` with ``encoder="tiktoken"`` and
   ``encoder="hf"``, after an untimed warm-up build of the first 64 files; the time is the whole call
   (tokenizer load, formatting, encoding, Parquet writes, sha256, manifest). Printed: documents/s, MB/s,
   tokens/s, and the child's CPU seconds beside the wall seconds (equal when one core was used). Target:
   >= 5 MB/s per core. Then encode only, one core (wall and CPU seconds; the comparisons with the build
   use CPU seconds, steadier on a shared machine), on the documents as the build formats them
   (``format_document(row, seed)``: header and code as one string), in batches of 1024: tiktoken
   ``encode_ordinary_batch(num_threads=1)`` and HF ``encode_batch(add_special_tokens=False)``. Agreement:
   the documents where tiktoken's ids equal HF's exactly: in the shards the two builds wrote (row by row;
   and whether a document's metadata header starts its row with a metadata special id), and for the two
   encoders alone on ``format_document``'s string and on the raw content;
   the mismatches are split by cause (a metadata header, a special-token string such as ``<|endoftext|>``
   in the code, neither: a merge-order difference); every tiktoken output must decode (tiktoken's
   ``decode_bytes``, and HF's ``decode(skip_special_tokens=False)`` which the loader's FIM uses) to its
   input text.
3. Loader, from the shards of the tiktoken build: ``ShardDataset(shards, seq_len, fim_rate=0.5,
   shuffle_buffer=1000)`` iterated in a child process (one core, as above), then with ``fim_rate=0``, then
   through ``ShardLoader(batch_size=8, num_workers=2, persistent_workers=True)`` with ``fim_rate=0.5``. Each
   is warmed up first (the first two items of a pass, dropped: tokenizer load, file opening, for the
   DataLoader starting the workers), then one pass from the start (the shuffle buffer's fill included) is
   timed, at most ``--loader-samples`` samples (default: the whole epoch). tokens/s = samples x seq_len /
   wall seconds, /worker = that over the workers. The CPU seconds of the loading processes (this process,
   or the DataLoader's workers, read from /proc/PID/stat) give tokens per CPU second of a worker: the
   target, >= 1M tokens/s per worker, is judged on it, because a machine whose cores are shared (as this
   project's 2-CPU VMs: two busy processes get about 1.3 cores) makes wall time over two workers say
   little about one worker. Also printed: the row groups (the loader's unit of work) and how the tokens split
   between the two workers (the loader's ``[reader::readers]`` split of the epoch's row-group order), and
   how many CPUs the DataLoader pass kept busy.
4. The corpus (files, MB), the shards written (files, rows, tokens), the CPU count, and a calibration loop
   (fixed pure-Python work) timed at the start and at the end: on a machine whose cores are shared, a
   slower loop says the figures between were measured on a slower machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import candidate_files

from stackcurate.shards.build import build_shards, format_document, iter_curated_rows
from stackcurate.shards.tokenizer import (
    FILENAME,
    GH_STARS,
    REPONAME,
    SPECIAL_TOKENS,
    fast_encoder,
    load_tokenizer,
    train_tokenizer,
)
from stackcurate.shards.verify import verify_shards

MAX_BYTES = 1_000_000
ROWS_PER_FILE = 1000
WARMUP_FILES = 64
BATCH_ROWS = 1024
QUICK_FILES = 500
QUICK_VOCAB = 2000
QUICK_ROW_GROUP_ROWS = 128
BUILD_TARGET_MB_S = 5.0
LOADER_TARGET_TOKENS_S = 1_000_000
ONE_CORE = {"RAYON_NUM_THREADS": "1"}
CURATED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("license", pa.string()),
        ("stars", pa.int64()),
        ("content", pa.large_string()),
    ]
)


# ---------------------------------------------------------------------------------------------- corpus


def collect_files(root: Path, files: int, seed: int) -> tuple[list[tuple[str, str]], int]:
    """The first ``files`` readable ``*.py`` files of the shuffled candidates under ``root`` as (path under
    root, text); and how many candidates there were."""
    candidates = candidate_files(root, ("py",), MAX_BYTES)
    # a seeded order that a package installed later does not reshuffle: by a hash of (seed, path)
    candidates.sort(key=lambda full: hashlib.sha1(f"{seed}|{os.path.relpath(full, root)}".encode()).digest())
    corpus: list[tuple[str, str]] = []
    for full in candidates:
        if len(corpus) >= files:
            break
        try:
            text = Path(full).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text.strip():
            corpus.append((Path(full).relative_to(root).as_posix(), text))
    return corpus, len(candidates)


def blob_sha1(text: str) -> str:
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def repo_stars(repo: str) -> int:
    """A star count per repository, log-uniform over 0..10^4, so every bucket occurs."""
    draw = random.Random(repo).random()
    return 0 if draw < 0.1 else int(10 ** (4 * draw))


def write_curated(corpus: list[tuple[str, str]], curated: Path) -> None:
    curated.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, text in corpus:
        top = path.split("/", 1)[0].removesuffix(".py")
        repo = f"pypi/{top}"
        rows.append(
            {
                "id": blob_sha1(text),
                "repo": repo,
                "path": path,
                "language": "python",
                "license": "NOASSERTION",
                "stars": repo_stars(repo),
                "content": text,
            }
        )
    for part, start in enumerate(range(0, len(rows), ROWS_PER_FILE)):
        table = pa.Table.from_pylist(rows[start : start + ROWS_PER_FILE], schema=CURATED_SCHEMA)
        pq.write_table(table, curated / f"part-{part:05d}.parquet", compression="zstd")


def curated_rows(curated: Path) -> list[dict[str, Any]]:
    return [row for batch in iter_curated_rows(curated, BATCH_ROWS) for row in batch]


def write_first_rows(curated: Path, folder: Path, rows: int) -> None:
    """The first ``rows`` rows of a curated folder (in file order), as a curated folder of their own."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    left = rows
    for part, path in enumerate(sorted(curated.glob("*.parquet"))):
        if left <= 0:
            break
        table = pq.read_table(path).slice(0, left)
        pq.write_table(table, folder / f"part-{part:05d}.parquet", compression="zstd")
        left -= table.num_rows


def shard_rows(folder: Path) -> Iterator[np.ndarray]:
    """The ``input_ids`` of every row of a shards folder, in order, as numpy arrays."""
    for path in sorted(folder.glob("shard-*.parquet")):
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            column = parquet.read_row_group(group, columns=["input_ids"]).column(0).combine_chunks()
            values, offsets = column.values.to_numpy(), column.offsets.to_numpy()
            for row in range(len(column)):
                yield values[offsets[row] : offsets[row + 1]]


# ------------------------------------------------------------------------------------------ child runs


def one_core() -> None:
    """This process on one core: pyarrow's pools (HF tokenizers' comes from RAYON_NUM_THREADS)."""
    if os.environ.get("RAYON_NUM_THREADS") != "1":
        sys.exit("a --_child measurement must be started with RAYON_NUM_THREADS=1")
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def child_build(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work_dir)
    out = work / f"shards-{args.encoder}"
    warm_out = work / f"warmup-shards-{args.encoder}"
    build_shards(work / "warmup-curated", args.tokenizer, warm_out, encoder=args.encoder, threads=1)
    shutil.rmtree(warm_out, ignore_errors=True)
    cpu, started = time.process_time(), time.perf_counter()
    manifest = build_shards(
        args.curated,
        args.tokenizer,
        out,
        seed=args.seed,
        shard_tokens=args.shard_tokens,
        row_group_rows=args.row_group_rows,
        batch_rows=BATCH_ROWS,
        encoder=args.encoder,
        threads=1,
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "encoder": manifest["encoder"],
        "rows": manifest["total_rows"],
        "tokens": manifest["total_tokens"],
        "shards": len(manifest["shards"]),
        "bytes": sum(s["bytes"] for s in manifest["shards"]),
        "out": str(out),
    }


def child_encode(args: argparse.Namespace) -> dict[str, Any]:
    tokenizer = load_tokenizer(args.tokenizer)
    fast = fast_encoder(tokenizer)
    if fast is None:
        sys.exit(f"{args.tokenizer}: no tiktoken encoder for this tokenizer")
    rows = curated_rows(Path(args.curated))
    raw = [row["content"] for row in rows]
    texts = [format_document(row, args.seed) for row in rows]
    batches = [texts[start : start + BATCH_ROWS] for start in range(0, len(texts), BATCH_ROWS)]

    def tiktoken_ids(batch: list[str]) -> list[list[int]]:
        return fast.encode_ordinary_batch(batch, num_threads=1)

    def hf_ids(batch: list[str]) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch(batch, add_special_tokens=False)]

    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    ids: dict[str, list[list[int]]] = {}
    for name, encode in (("tiktoken", tiktoken_ids), ("hf", hf_ids)):
        encode(texts[:WARMUP_FILES])
        cpu[name], started = time.process_time(), time.perf_counter()
        ids[name] = [one for batch in batches for one in encode(batch)]
        timings[name], cpu[name] = time.perf_counter() - started, time.process_time() - cpu[name]

    literal = [any(token in text for token in SPECIAL_TOKENS) for text in raw]
    header = [text != content for text, content in zip(texts, raw, strict=True)]

    # what the two builds wrote, row by row (a shards folder keeps the curated order)
    work = Path(args.work_dir)
    metadata_ids = {tokenizer.token_to_id(token) for token in (REPONAME, FILENAME, GH_STARS)}
    built: Counter[str] = Counter()
    built_examples: dict[str, str] = {}
    starts_special: Counter[str] = Counter()
    pairs = zip(shard_rows(work / "shards-tiktoken"), shard_rows(work / "shards-hf"), strict=True)
    for i, (a, b) in enumerate(pairs):
        cause = (
            "equal" if np.array_equal(a, b) else "literal" if literal[i] else "header" if header[i] else ""
        )
        built[cause or "merge order"] += 1
        built_examples.setdefault(cause or "merge order", f"{rows[i]['repo']}:{rows[i]['path']}")
        if header[i]:
            starts_special["tiktoken"] += bool(len(a)) and int(a[0]) in metadata_ids
            starts_special["hf"] += bool(len(b)) and int(b[0]) in metadata_ids
    causes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for i, (a, b) in enumerate(zip(ids["tiktoken"], ids["hf"], strict=True)):
        if a == b:
            causes["equal"] += 1
            continue
        cause = "literal" if literal[i] else "header" if header[i] else "merge order"
        causes[cause] += 1
        examples.setdefault(cause, f"{rows[i]['repo']}:{rows[i]['path']}")
    header_tokens = {
        name: sum(len(one) for one, has in zip(ids[name], header, strict=True) if has) for name in ids
    }
    header_special = {
        name: sum(
            1
            for one, has in zip(ids[name], header, strict=True)
            if has and any(i < len(SPECIAL_TOKENS) for i in one)
        )
        for name in ids
    }
    # raw content: the same texts where no header was added, so only the others are encoded again
    again = [i for i, has in enumerate(header) if has]
    raw_ids = {name: list(ids[name]) for name in ids}
    for name, encode in (("tiktoken", tiktoken_ids), ("hf", hf_ids)):
        for start in range(0, len(again), BATCH_ROWS):
            chunk = again[start : start + BATCH_ROWS]
            for i, one in zip(chunk, encode([raw[i] for i in chunk]), strict=True):
                raw_ids[name][i] = one
    raw_causes: Counter[str] = Counter(
        "equal" if a == b else "literal" if has else "merge order"
        for a, b, has in zip(raw_ids["tiktoken"], raw_ids["hf"], literal, strict=True)
    )
    decodes_tiktoken = sum(
        fast.decode_bytes(one) == text.encode("utf-8")
        for one, text in zip(ids["tiktoken"], texts, strict=True)
    )
    hf_decoded = tokenizer.decode_batch(ids["tiktoken"], skip_special_tokens=False)
    decodes_hf = sum(a == b for a, b in zip(hf_decoded, texts, strict=True))
    hf_roundtrip = tokenizer.decode_batch(ids["hf"], skip_special_tokens=False)
    return {
        "documents": len(texts),
        "mb": sum(len(text.encode("utf-8")) for text in texts) / 1e6,
        "content_mb": sum(len(text.encode("utf-8")) for text in raw) / 1e6,
        "seconds": timings,
        "cpu": cpu,
        "tokens": {name: sum(len(one) for one in ids[name]) for name in ids},
        "causes": dict(causes),
        "examples": examples,
        "headers": sum(header),
        "header_tokens": header_tokens,
        "header_special": header_special,
        "literal_docs": sum(literal),
        "raw_causes": dict(raw_causes),
        "decodes_tiktoken": decodes_tiktoken,
        "decodes_hf": decodes_hf,
        "hf_roundtrip": sum(a == b for a, b in zip(hf_roundtrip, texts, strict=True)),
        "built": dict(built),
        "built_examples": built_examples,
        "starts_special": dict(starts_special),
    }


def child_loader(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from stackcurate.shards.loader import ShardDataset, ShardLoader

    torch.set_num_threads(1)
    tick = os.sysconf("SC_CLK_TCK")

    def workers_cpu() -> dict[int, float]:
        """CPU seconds of each live child process (the DataLoader's workers), from /proc/PID/stat."""
        seconds = {}
        for child in multiprocessing.active_children():
            try:
                fields = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            seconds[child.pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return seconds

    def dataset(fim_rate: float) -> ShardDataset:
        return ShardDataset(args.shards, seq_len=args.seq_len, fim_rate=fim_rate, shuffle_buffer=1000)

    def measure(stream: Any, warmup: int, workers: int) -> dict[str, Any]:
        """A warm-up (the first ``warmup`` items of one pass, dropped), then one timed pass from the start."""
        started = time.perf_counter()
        iterator = iter(stream)
        for _ in range(warmup):
            if next(iterator, None) is None:
                break
        del iterator
        warm_seconds = time.perf_counter() - started
        before, main_cpu = workers_cpu(), time.process_time()
        samples = 0
        started = time.perf_counter()
        for item in stream:
            samples += item["input_ids"].reshape(-1, args.seq_len).shape[0]
            if args.loader_samples and samples >= args.loader_samples:
                break
        seconds = time.perf_counter() - started
        main_cpu = time.process_time() - main_cpu
        after = workers_cpu()
        return {
            "samples": samples,
            "seconds": seconds,
            "main_cpu": main_cpu,
            "workers_cpu": [after[pid] - before.get(pid, 0.0) for pid in sorted(after)],
            "warmup_seconds": warm_seconds,
            "workers": workers,
        }

    runs = {
        "main process, fim 0.5": measure(dataset(0.5), 2, 1),
        "main process, fim 0": measure(dataset(0.0), 2, 1),
    }
    # persistent workers: the warm-up starts them (and they load the tokenizer); the timed pass reuses them
    probe = dataset(0.5)
    loader = ShardLoader(probe, batch_size=8, num_workers=2, persistent_workers=True)
    runs["DataLoader(batch 8, 2 workers), fim 0.5"] = measure(loader, 2, 2)
    # the loader's unit of work is a row group; reader r of R takes [r::R] of the epoch's row-group order,
    # shuffled with (seed, epoch) (the loader's module docstring): the two workers' shares of the tokens;
    # every worker yields samples_per_reader(2) samples (the shorter share padded by repetition)
    order = probe._order()
    shares = [sum(group[3] for group in order[reader::2]) for reader in range(2)]
    runs["DataLoader(batch 8, 2 workers), fim 0.5"]["samples_per_worker"] = probe.samples_per_reader(2)
    return {"runs": runs, "row_groups": len(order), "worker_tokens": shares}


CHILDREN = {"build": child_build, "encode": child_encode, "loader": child_loader}


def run_child(kind: str, *options: str) -> dict[str, Any]:
    """One measurement in a fresh interpreter on one core; its result is the last line it prints."""
    command = [sys.executable, os.path.abspath(__file__), "--_child", kind, *options]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **ONE_CORE}
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


# ------------------------------------------------------------------------------------------------ report


def calibration() -> float:
    """Seconds of a fixed pure-Python loop: how fast this machine runs now (its cores may be shared)."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return time.perf_counter() - started


def verdict(value: float, target: float) -> str:
    return "met" if value >= target else "MISSED"


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else f"{part}/0"


def report_build(builds: dict[str, dict[str, Any]], files: int, mb: float) -> None:
    print(
        f"\n{'build, one core (build_shards threads=1)':44}{'docs':>7}{'MB':>8}{'tokens':>12}{'seconds':>9}"
        f"{'cpu s':>8}{'docs/s':>8}{'MB/s':>7}{'tokens/s':>11}"
    )
    for name, build in builds.items():
        seconds, rows, tokens = build["seconds"], build["rows"], build["tokens"]
        rate = mb / seconds
        print(
            f"{'  encoder=' + name:44}{rows:>7d}{mb:>8.1f}{tokens:>12d}{seconds:>9.2f}"
            f"{build['cpu']:>8.2f}{rows / seconds:>8.0f}{rate:>7.2f}{tokens / seconds:>11.0f}"
            f"  target >= {BUILD_TARGET_MB_S:g} MB/s: {verdict(rate, BUILD_TARGET_MB_S)}"
        )
    if any(build["rows"] != files for build in builds.values()):
        print(f"  WARNING: the corpus has {files} files; a build wrote another number of rows")


def report_encode(encode: dict[str, Any], builds: dict[str, dict[str, Any]]) -> None:
    n, mb = encode["documents"], encode["mb"]
    print(
        f"\n{'encode only, one core, formatted texts':44}{'docs':>7}{'MB':>8}{'tokens':>12}{'seconds':>9}"
        f"{'cpu s':>8}{'docs/s':>8}{'MB/s':>7}{'tokens/s':>11}"
    )
    for name, call in (
        ("tiktoken", "encode_ordinary_batch"),
        ("hf", "encode_batch"),
    ):
        seconds, tokens = encode["seconds"][name], encode["tokens"][name]
        print(
            f"{'  ' + name + ' ' + call:44}{n:>7d}{mb:>8.1f}{tokens:>12d}{seconds:>9.2f}"
            f"{encode['cpu'][name]:>8.2f}"
            f"{n / seconds:>8.0f}{mb / seconds:>7.2f}{tokens / seconds:>11.0f}"
        )
    for name, build in builds.items():
        encoding = encode["cpu"][name]
        rest = build["cpu"] - encoding
        print(
            f"  build {name}: encoding is {100 * encoding / build['cpu']:.0f}% of the build's CPU seconds;"
            f" the rest (read, format, Parquet write, sha256, manifest) {rest:.2f} s"
            + (" (negative: noise between the two runs)" if rest < 0 else "")
        )
    ratio = encode["cpu"]["hf"] / encode["cpu"]["tiktoken"]
    print(f"  tiktoken encodes {ratio:.1f}x faster than HF on one core (CPU seconds)")

    causes, raw, built = encode["causes"], encode["raw_causes"], encode["built"]
    labels = {
        "literal": "special-token string in the code (e.g. <|endoftext|>)",
        "header": "with a metadata header (<reponame>/<filename>/<gh_stars>), none in the code",
        "merge order": "neither: merge-order difference",
    }
    print("\nagreement, tiktoken ids == HF ids, whole documents")
    print(f"  shards of the two builds, row by row      {share(built.get('equal', 0), n)}")
    for cause, label in labels.items():
        if built.get(cause):
            print(f"    differ, {label}: {built[cause]}  e.g. {encode['built_examples'].get(cause, '')}")
    starts = encode["starts_special"]
    print(
        f"    rows of documents with a metadata header that start with a metadata special id: "
        f"tiktoken {share(starts.get('tiktoken', 0), encode['headers'])}, "
        f"HF {share(starts.get('hf', 0), encode['headers'])}"
    )
    print(f"  the encoders on format_document's string  {share(causes.get('equal', 0), n)}")
    for cause, label in labels.items():
        if causes.get(cause):
            example = encode["examples"].get(cause, "")
            print(f"    differ, {label}: {causes[cause]}  e.g. {example}")
    print(f"  raw content                               {share(raw.get('equal', 0), n)}")
    for cause in ("literal", "merge order"):
        if raw.get(cause):
            print(f"    differ, {labels[cause]}: {raw[cause]}")
    headers, special, header_tokens = encode["headers"], encode["header_special"], encode["header_tokens"]
    print(
        f"  documents with a metadata header: {headers}; with special-token ids in them: "
        f"tiktoken {special['tiktoken']}, HF {special['hf']}; their tokens: "
        f"tiktoken {header_tokens['tiktoken']}, HF {header_tokens['hf']}"
    )
    print(f"  documents whose code holds a special-token string: {encode['literal_docs']}")
    print(
        "  tiktoken output decodes to its input text: tiktoken decode_bytes "
        f"{share(encode['decodes_tiktoken'], n)}, HF decode {share(encode['decodes_hf'], n)}; "
        f"HF ids -> HF decode {share(encode['hf_roundtrip'], n)}"
    )


def report_loader(loader: dict[str, Any], seq_len: int) -> None:
    print(
        f"\n{f'loader (seq_len {seq_len}, shuffle_buffer 1000)':46}{'samples':>8}{'seconds':>8}"
        f"{'tokens/s':>11}{'/worker':>10}{'worker cpu s':>14}{'/worker cpu-s':>14}{'main cpu s':>11}"
    )
    for name, result in loader["runs"].items():
        samples, seconds, workers = result["samples"], result["seconds"], result["workers"]
        tokens = samples * seq_len
        rate = tokens / seconds if seconds > 0 else float("inf")
        # the CPU that loads: the worker processes, or this process when there are none
        cpu = sum(result["workers_cpu"]) or result["main_cpu"]
        per_cpu = tokens / cpu if cpu > 0 else float("inf")
        split = "+".join(f"{c:.1f}" for c in result["workers_cpu"]) or f"{cpu:.1f}"
        main_cpu = f"{result['main_cpu']:.2f}" if result["workers_cpu"] else "-"
        print(
            f"{'  ' + name:46}{samples:>8d}{seconds:>8.2f}{rate:>11.0f}{rate / workers:>10.0f}{split:>14}"
            f"{per_cpu:>14.0f}{main_cpu:>11}  target >= 1M/worker: {verdict(per_cpu, LOADER_TARGET_TOKENS_S)}"
        )
    shares = loader["worker_tokens"]
    total = sum(shares) or 1
    dataloader = next(r for r in loader["runs"].values() if r["workers_cpu"])
    busy = (sum(dataloader["workers_cpu"]) + dataloader["main_cpu"]) / dataloader["seconds"]
    print(
        "  /worker: tokens/s over the workers; /worker cpu-s: tokens per CPU second of the loading processes"
        " (the target is judged on it: a worker with a core of its own)"
    )
    print(
        f"  {loader['row_groups']} row groups (the loader's unit of work); the 2 workers' token shares: "
        + " / ".join(f"{100 * share / total:.0f}%" for share in shares)
        + f"; the DataLoader pass kept {busy:.2f} of {os.cpu_count()} CPUs busy"
    )


# -------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--files", type=int, default=None, help="site-packages files (default 6000); with --curated: first N"
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus shuffle and build_shards seed")
    parser.add_argument("--curated", default=None, help="an existing curated folder instead of the corpus")
    parser.add_argument("--work-dir", default=None, help="default: a temporary folder, removed at the end")
    parser.add_argument("--vocab-size", type=int, default=None, help="default 49152 (--quick: 2000)")
    parser.add_argument("--shard-tokens", type=int, default=5_000_000, help="tokens per shard")
    parser.add_argument(
        "--row-group-rows", type=int, default=None, help="shard row groups (the loader's unit), default 1024"
    )
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--loader-samples", type=int, default=0, help="time at most N samples (0: an epoch)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FILES} files, vocabulary {QUICK_VOCAB}")
    parser.add_argument("--_child", choices=sorted(CHILDREN), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--encoder", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shards", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        one_core()
        print(json.dumps(CHILDREN[args._child](args)))
        return
    if args.quick:
        args.files = min(args.files or QUICK_FILES, QUICK_FILES)
        args.vocab_size = args.vocab_size or QUICK_VOCAB
        args.row_group_rows = args.row_group_rows or QUICK_ROW_GROUP_ROWS
    args.row_group_rows = args.row_group_rows or 1024
    args.vocab_size = args.vocab_size or 49152

    temporary = args.work_dir is None
    # a run stopped with SIGTERM still removes its temporary folder (and its running child)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated (SIGTERM)"))
    work = Path(tempfile.mkdtemp(prefix="shards-bench-")) if temporary else Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(args, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    # 4. corpus
    if args.curated:
        curated = Path(args.curated)
        source = f"{curated} (curated folder)"
        if args.files:
            write_first_rows(curated, work / "curated-first", args.files)
            curated = work / "curated-first"
            source = f"{args.curated} (curated folder), its first {args.files} files"
    else:
        root = Path(sysconfig.get_paths()["purelib"])
        corpus, candidates = collect_files(root, args.files or 6000, args.seed)
        if not corpus:
            sys.exit(f"no *.py files under {root}")
        curated = work / "curated"
        shutil.rmtree(curated, ignore_errors=True)
        write_curated(corpus, curated)
        source = f"{root}: {len(corpus)} of {candidates} candidate *.py files, shuffle seed {args.seed}"
    rows = curated_rows(curated)
    files = len(rows)
    mb = sum(len(row["content"].encode("utf-8")) for row in rows) / 1e6
    repos = len({row.get("repo") for row in rows})
    del rows
    print(f"corpus      {source}")
    print(f"            {files} files, {repos} repos, {mb:.1f} MB (UTF-8 content); work dir {work}")
    print(
        f"machine     {os.cpu_count()} CPUs; tokenizer trained in this process (all cores); build, encode"
        " and loader measured in child processes on one core (RAYON_NUM_THREADS=1, pyarrow pools 1 thread)"
    )
    print(f"            calibration loop (fixed pure-Python work) {calibration():.3f} s at the start")

    # 1. tokenizer
    cpu, started = time.process_time(), time.perf_counter()
    tokenizer = train_tokenizer(curated, vocab_size=args.vocab_size)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    tokenizer_path = work / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    print(
        f"\ntokenizer   train_tokenizer(vocab_size={args.vocab_size}): {seconds:.1f} s wall, {cpu:.1f} s CPU,"
        f" {mb / seconds:.2f} MB/s; {tokenizer.get_vocab_size()} tokens in the vocabulary "
        f"({len(SPECIAL_TOKENS)} special)"
    )
    del tokenizer

    # 2. build and encode, one core each
    write_first_rows(curated, work / "warmup-curated", WARMUP_FILES)
    common = ["--curated", str(curated), "--tokenizer", str(tokenizer_path), "--work-dir", str(work)]
    common += ["--seed", str(args.seed), "--shard-tokens", str(args.shard_tokens)]
    common += ["--row-group-rows", str(args.row_group_rows)]
    builds = {name: run_child("build", *common, "--encoder", name) for name in ("tiktoken", "hf")}
    report_build(builds, files, mb)
    encode = run_child("encode", *common)
    report_encode(encode, builds)

    # 3. loader, from the tiktoken build (the default "auto" encoder's)
    shards = builds["tiktoken"]["out"]
    loader_options = ["--shards", shards, "--seq-len", str(args.seq_len)]
    loader_options += ["--loader-samples", str(args.loader_samples)]
    loader = run_child("loader", *loader_options)
    report_loader(loader, args.seq_len)

    # 4. shards written
    print()
    for name, build in builds.items():
        problems = verify_shards(build["out"])
        print(
            f"shards      encoder={name}: {build['shards']} shard files, {build['rows']} rows, "
            f"{build['tokens']} tokens ({build['tokens'] / files:.0f} per file, "
            f"{mb * 1e6 / build['tokens']:.2f} bytes per token), {build['bytes'] / 1e6:.1f} MB on disk; "
            f"verify: {'ok' if not problems else problems[:3]}"
        )
    print(f"machine     calibration loop {calibration():.3f} s at the end")


if __name__ == "__main__":
    main()
