"""Near dedup (MinHash LSH) on real code: signature throughput against datasketch, time and peak memory of
each pass as the corpus grows, and precision / recall against exact Jaccard.

    python benchmarks/dedup.py [--files 4000] [--scales 1,2,4] [--seed 0] [--corpus DIR ...] [--tasks 2]
                               [--bucket-memory-mb 512] [--datasketch-files 1000] [--work-dir DIR] [--quick]

Corpus: every ``*.py`` file (UTF-8, non-empty, under 1 MB) under this interpreter's site-packages plus each
``--corpus`` folder, shuffled with ``--seed``. The first ``--files`` N files are the 1x corpus, the first 2N
the 2x corpus, and so on (a scale past the end of the corpus stops there; the run says so). Site-packages
holds real near copies nobody on this project made: vendored packages (pip/_vendor, setuptools/_vendor),
generated modules, copied helpers. Parameters are StarCoder's: 5-gram shingles of ``[A-Za-z_0-9]+`` tokens,
256 permutations, 25 bands x 10 rows, Jaccard threshold 0.7.

1. Signature throughput, 1x corpus, one process, one core: ``MinHasher().signatures`` in batches of 512 after
   one warm-up call (numba's compile or cache load is not timed), against datasketch used the way
   bigcode-dataset's near-dedup script uses it: ``NON_ALPHA.split``, the set of 5-gram strings,
   ``MinHash(num_perm=256, seed=42).update_batch`` per file, tokenizing, shingling and hashing all timed, on
   the first ``--datasketch-files`` files (ours is timed on the same files for the ratio). datasketch 2 hashes
   with its new ``affine32`` scheme by default; the ``legacy`` scheme (what datasketch < 2, and so the
   script, ran) is timed too.
2. End to end at each scale, verify off and on: the signatures pass (``--tasks`` tasks, task r reading
   files[r::tasks] of the corpus, written once per scale as JSON lines, in order; one task after the other),
   the pairs pass (one task, every bucket group) and the clusters pass, each in a fresh child process. Time
   is the pass's ``run()`` (for signatures that includes reading the corpus and making the Documents); the
   process wall time (interpreter start, imports, numba kernels loaded from their cache) is printed beside
   it. Peak RSS is ``ru_maxrss`` from ``os.wait4``. A process started straight from this one would report this
   process's own high-water mark (Linux keeps the high-water mark of the memory an exec replaces, and
   subprocess starts children with vfork), so every child runs under a tiny launcher that starts it and
   waits for it. The baseline is an idle child that imports what every pass imports.
3. Quality at 0.7 on the 1x corpus, from the runs of step 2: verify off, and verify on (``verify=True`` in
   the signatures and clusters passes, all pairs of buckets up to 64 files in the pairs pass). Ground
   truth: the exact Jaccard of the shingle string sets (``minhash.shingles``) of every pair of files sharing
   a shingle (a sparse files x shingles matrix times its transpose); files under 5 tokens have none. True
   pairs have J >= 0.7. Printed: pair recall (true pairs whose files end in one cluster), precision of the
   candidate pairs LSH found (and, with verify, of those that pass verification), and per file: a removed
   file is correct when it has J >= 0.7 with another file of its cluster; should-be-removed counts size - 1
   files per connected component of the true-pair graph, and a component's removed files count up to
   size - 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document

from stackcurate.dedup.minhash import (
    BANDS,
    NGRAM,
    NUM_PERM,
    ROWS,
    MinHasher,
    band_keys,
    pair_jaccard,
    shingle_hashes,
    shingles,
    tokenize,
)
from stackcurate.dedup.near import (
    NearDedupClusters,
    NearDedupPairs,
    NearDedupSignatures,
    connected_components,
    groups_for,
    iter_clusters,
)
from stackcurate.lsh import optimal_bands

#: with verify on, pipelines/starcoder.yaml weighs misses 0.9 in the banding search (32 x 8)
VERIFY_BANDING = optimal_bands(0.7, NUM_PERM, 0.1, 0.9)

THRESHOLD = 0.7
BATCH = 512
MAX_BYTES = 1_000_000
#: bigcode-dataset's tokenizer for the datasketch reference
NON_ALPHA = re.compile("[^A-Za-z_0-9]")
TARGET_SPEEDUP, TARGET_PRECISION, TARGET_RECALL = 10.0, 0.98, 0.95
WARM_TEXT = "def warm_up(a, b):\n    return a + b  # five tokens at least\n"

#: starts the command in its argv, waits for it and prints its rusage: run from a small process, so the
#: child's ``ru_maxrss`` is its own peak, not the benchmark's (see the module docstring)
LAUNCHER = """\
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
wall = time.perf_counter() - started
print("RUSAGE " + json.dumps({"maxrss_kb": usage.ru_maxrss, "wall": wall, "rc": proc.returncode}), flush=True)
sys.exit(proc.returncode)
"""


# --- corpus ------------------------------------------------------------------------------------------------


@dataclass
class SourceFile:
    id: str
    repo: str
    path: str
    text: str
    size: int  # UTF-8 bytes


def collect_corpus(roots: list[tuple[str, Path]]) -> tuple[list[SourceFile], int]:
    """Every readable ``*.py`` file under ``roots`` ((label, folder) pairs), sorted by id; and how many were
    skipped (empty, too large, not UTF-8)."""
    files: list[SourceFile] = []
    seen: set[str] = set()
    skipped = 0
    for label, root in roots:
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                if not name.endswith(".py"):
                    continue
                full = os.path.join(folder, name)
                real = os.path.realpath(full)
                if real in seen or not os.path.isfile(real):
                    continue
                seen.add(real)
                size = os.path.getsize(real)
                if size == 0 or size >= MAX_BYTES:
                    skipped += 1
                    continue
                try:
                    text = Path(real).read_bytes().decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    skipped += 1
                    continue
                relative = Path(full).relative_to(root)
                repo = relative.parts[0] if len(relative.parts) > 1 else "."
                files.append(
                    SourceFile(
                        f"{label}/{relative}", f"{label}/{repo}", str(relative), text, len(text.encode())
                    )
                )
    files.sort(key=lambda f: f.id)
    return files, skipped


def write_corpus(files: list[SourceFile], path: Path) -> None:
    """One JSON object per line: a child streams it with no reader memory to speak of (a Parquet reader held
    about 200 MB, which would have been charged to the signatures pass)."""
    with path.open("w", encoding="utf-8") as out:
        for f in files:
            out.write(json.dumps({"text": f.text, "id": f.id, "repo": f.repo, "path": f.path}) + "\n")


def read_documents(corpus_file: str, rank: int, tasks: int) -> Iterator[Document]:
    """Task ``rank``'s share of the corpus, streamed: lines ``rank, rank + tasks, ...`` in order."""
    with open(corpus_file, encoding="utf-8") as lines:
        for row, line in enumerate(lines):
            if row % tasks == rank:
                record = json.loads(line)
                metadata = {
                    "repo": record["repo"],
                    "path": record["path"],
                    "license_class": "permissive",
                    "stars": 0,
                    "forks": 0,
                }
                yield Document(text=record["text"], id=record["id"], metadata=metadata)


# --- child processes: one pass each ------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Runs one pass (or nothing, for the idle baseline) and prints ``RESULT {seconds, counters, hwm_kb}``."""
    step = None
    if args._child == "signatures":
        hasher = MinHasher()  # load the numba kernels from their cache before the clock starts
        band_keys(hasher.signatures([WARM_TEXT])[0])
        if args.verify:
            shingle_hashes([WARM_TEXT], NGRAM)
        bands, rows = VERIFY_BANDING if args.verify else (BANDS, ROWS)
        step = NearDedupSignatures(args.folder, args.groups, bands=bands, rows=rows, verify=args.verify)
        started = time.perf_counter()
        for rank in range(args.tasks):
            for _ in step.run(read_documents(args.corpus_file, rank, args.tasks), rank, args.tasks):
                pass
    elif args._child == "pairs":
        step = NearDedupPairs(args.folder, args.groups, all_pairs_up_to=args.all_pairs_up_to)
        started = time.perf_counter()
        for _ in step.run(None, 0, 1):
            pass
    elif args._child == "clusters":
        step = NearDedupClusters(args.folder, verify=args.verify, threshold=args.threshold)
        started = time.perf_counter()
        for _ in step.run(None, 0, 1):
            pass
    else:
        started = time.perf_counter()
    seconds = time.perf_counter() - started
    counters = {}
    if step is not None:
        counters = {
            key: stat.total for key, stat in step.stats.stats.items() if key not in ("batch", "group")
        }
    status = Path("/proc/self/status").read_text()
    hwm = re.search(r"VmHWM:\s+(\d+)", status)
    result = {"seconds": seconds, "counters": counters, "hwm_kb": int(hwm.group(1)) if hwm else None}
    print("RESULT " + json.dumps(result), flush=True)


@dataclass
class PassResult:
    seconds: float  # the pass's run()
    wall: float  # the child process, start to exit
    peak_mb: float  # ru_maxrss
    counters: dict[str, float] = field(default_factory=dict)


def run_child(name: str, options: list[str], log: Path) -> PassResult:
    """Runs ``--_child name`` under the launcher; its time, peak RSS and counters."""
    script = str(Path(__file__).resolve())
    command = [sys.executable, "-c", LAUNCHER, sys.executable, script, "--_child", name, *options]
    with log.open("w") as err:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    lines = dict(
        line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("RESULT", "RUSAGE"))
    )
    if proc.returncode != 0 or "RESULT" not in lines or "RUSAGE" not in lines:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"child {name} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{tail}")
    result, usage = json.loads(lines["RESULT"]), json.loads(lines["RUSAGE"])
    peak_kb = usage["maxrss_kb"]
    if result["hwm_kb"] and abs(result["hwm_kb"] - peak_kb) > 0.1 * peak_kb:
        print(f"  note: {name}: ru_maxrss {peak_kb / 1024:.0f} MB but VmHWM {result['hwm_kb'] / 1024:.0f} MB")
    return PassResult(result["seconds"], usage["wall"], peak_kb / 1024, result["counters"])


def run_passes(
    corpus_file: Path, folder: Path, groups: int, tasks: int, log_dir: Path, verify: bool
) -> dict[str, PassResult]:
    common = ["--folder", str(folder), "--groups", str(groups), "--tasks", str(tasks)]
    verify_flag = ["--verify"] if verify else []
    tag = f"{folder.parent.name}-{'verify' if verify else 'plain'}"
    return {
        "signatures": run_child(
            "signatures",
            [*common, "--corpus-file", str(corpus_file), *verify_flag],
            log_dir / f"{tag}-signatures.log",
        ),
        "pairs": run_child(
            "pairs", [*common, "--all-pairs-up-to", "64" if verify else "0"], log_dir / f"{tag}-pairs.log"
        ),
        "clusters": run_child(
            "clusters",
            [*common, *verify_flag, "--threshold", str(THRESHOLD)],
            log_dir / f"{tag}-clusters.log",
        ),
    }


# --- 1. signature throughput -------------------------------------------------------------------------------


def time_ours(texts: list[str]) -> float:
    hasher = MinHasher()
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        hasher.signatures(texts[start : start + BATCH])
    return time.perf_counter() - started


def time_datasketch(texts: list[str], scheme: str | None) -> float:
    """bigcode-dataset's near-dedup hashing: one MinHash per file over its set of 5-gram strings."""
    from datasketch import MinHash  # here: the pass children, which run this file too, never load it

    options = {"scheme": scheme} if scheme else {}
    started = time.perf_counter()
    for text in texts:
        tokens = [t for t in NON_ALPHA.split(text) if t]
        grams = {" ".join(tokens[i : i + NGRAM]) for i in range(len(tokens) - NGRAM + 1)}
        sketch = MinHash(num_perm=NUM_PERM, seed=42, **options)
        sketch.update_batch([s.encode("utf-8") for s in grams])
    return time.perf_counter() - started


def throughput(files: list[SourceFile], prefix: int) -> None:
    texts = [f.text for f in files]
    mb = sum(f.size for f in files) / 1e6
    MinHasher().signatures(texts[:BATCH])  # warm-up: compile (or load the cached) numba kernels
    head = texts[:prefix]
    head_mb = sum(f.size for f in files[:prefix]) / 1e6
    print("\n1. signature throughput (one process, one core; numba compile time excluded by a warm-up call)")

    def line(label: str, n: int, size: float, seconds: float) -> None:
        print(
            f"  {label:<50}{n:>6} files {size:6.1f} MB {seconds:7.2f} s {size / seconds:7.2f} MB/s"
            f" {n / seconds:7.0f} files/s"
        )

    ours_all = time_ours(texts)
    line("stackcurate MinHasher (batches of 512)", len(texts), mb, ours_all)
    ours_head = time_ours(head)
    line("stackcurate MinHasher, same files as datasketch", len(head), head_mb, ours_head)
    default = time_datasketch(head, None)
    line("datasketch 2 MinHash (default affine32 scheme)", len(head), head_mb, default)
    legacy = time_datasketch(head, "legacy")
    line("datasketch MinHash, scheme='legacy' (< 2.0)", len(head), head_mb, legacy)
    if prefix < len(texts):
        print(f"  (datasketch timed on the first {len(head)} files of the 1x corpus only, to keep it short)")
    for label, seconds in (("default", default), ("legacy", legacy)):
        speedup = seconds / ours_head
        verdict = "ok" if speedup >= TARGET_SPEEDUP else "BELOW TARGET"
        target = f"target >= {TARGET_SPEEDUP:.0f}x"
        print(f"  speed-up over datasketch ({label}, same files): {speedup:6.1f}x   ({target}: {verdict})")


# --- 2. end to end -----------------------------------------------------------------------------------------


@dataclass
class ScaleRun:
    label: str
    files: int
    mb: float
    groups: int
    passes: dict[str, PassResult]


PASSES = ("signatures", "pairs", "clusters")


def print_end_to_end(runs: list[ScaleRun], idle: PassResult, tasks: int) -> None:
    print(
        f"\n2. end to end: {tasks} signature tasks one after the other, 1 pairs task, 1 clusters task;"
        " each pass a fresh process"
    )
    print(f"  {'':29}{'run() time (s)':^36}   {'process wall (s)':^24}".rstrip())
    print(
        f"  {'scale':<10}{'files':>6}{'MB':>7}{'groups':>7}"
        f"{'signatures':>11}{'pairs':>8}{'clusters':>9}{'total':>8}   {'sign.':>8}{'pairs':>8}{'clust.':>8}"
    )
    for run in runs:
        p = run.passes
        total = sum(p[name].seconds for name in PASSES)
        print(
            f"  {run.label:<10}{run.files:>6}{run.mb:>7.1f}{run.groups:>7}"
            f"{p['signatures'].seconds:>11.2f}{p['pairs'].seconds:>8.2f}{p['clusters'].seconds:>9.2f}"
            f"{total:>8.2f}   {p['signatures'].wall:>8.2f}{p['pairs'].wall:>8.2f}{p['clusters'].wall:>8.2f}"
        )
    print(f"\n  peak RSS per pass, MB (above the idle child's {idle.peak_mb:.1f} MB in brackets)")
    print(f"  {'scale':<10}{'files':>6}{'signatures':>18}{'pairs':>18}{'clusters':>18}")
    for run in runs:
        cells = "".join(
            f"{run.passes[n].peak_mb:>10.1f} ({run.passes[n].peak_mb - idle.peak_mb:+6.1f})" for n in PASSES
        )
        print(f"  {run.label:<10}{run.files:>6}{cells}")
    counters = {
        "signatures": "signatures",
        "too_short": "too short",
        "bucket_rows": "bucket rows",
        "candidate_pairs": "cand. pairs",
        "pairs_below_threshold": "below 0.7",
        "clusters": "clusters",
        "near_duplicates": "removed",
    }
    print("\n  pass counters (candidate pairs: unique across groups; below 0.7: dropped by verify)")
    print(f"  {'scale':<10}" + "".join(f"{name:>13}" for name in counters.values()))
    for run in runs:
        merged = {k: v for p in run.passes.values() for k, v in p.counters.items()}
        merged["clusters"] = run.passes["clusters"].counters.get("clusters", 0)
        print(f"  {run.label:<10}" + "".join(f"{merged.get(name, 0):>13.0f}" for name in counters))
    for verify in (False, True):
        series = [run for run in runs if run.label.endswith("verify") == verify]
        if len(series) > 1:
            print_growth(series, idle, "verify on" if verify else "verify off")


def print_growth(series: list[ScaleRun], idle: PassResult, mode: str) -> None:
    """Peak RSS of each scale relative to the first, whole and above the idle child's."""
    first, last = series[0], series[-1]
    print(f"\n  growth from {first.label}, {mode} (files, then peak RSS; growth above idle in brackets)")
    print(f"  {'scale':<10}{'files':>8}" + "".join(f"{n:>20}" for n in PASSES))

    def above(run: ScaleRun, name: str) -> float:
        return run.passes[name].peak_mb - idle.peak_mb

    for run in series:
        cells = ""
        for name in PASSES:
            whole = run.passes[name].peak_mb / first.passes[name].peak_mb
            extra = above(run, name) / max(above(first, name), 1e-9)
            cells += f"{f'x{whole:.2f} (x{extra:.2f})':>20}"
        print(f"  {run.label:<10}{f'x{run.files / first.files:.2f}':>8}{cells}")
    for name in ("pairs", "clusters"):
        steps = [(a, b) for a, b in pairwise(series) if b.files > a.files]
        linear = [b.passes[name].peak_mb / a.passes[name].peak_mb >= b.files / a.files for a, b in steps]
        whole = last.passes[name].peak_mb / first.passes[name].peak_mb
        extra = above(last, name) / max(above(first, name), 1e-9)
        verdict = "NOT sub-linear" if any(linear) else "sub-linear at every step"
        print(
            f"  {name}: peak RSS x{whole:.2f} (above idle x{extra:.2f}) for x{last.files / first.files:.2f}"
            f" files: {verdict}"
        )


# --- 3. quality --------------------------------------------------------------------------------------------


@dataclass
class Truth:
    n: int
    short: int  # files under NGRAM tokens
    left: np.ndarray  # true pairs (left < right), exact J >= THRESHOLD
    right: np.ndarray
    sharing: int  # pairs sharing at least one shingle

    def keys(self) -> np.ndarray:
        return self.left.astype(np.int64) * self.n + self.right


def exact_truth(texts: list[str]) -> Truth:
    """Exact Jaccard of the shingle sets of every pair of files that share a shingle."""
    from scipy.sparse import csr_matrix, triu  # here: the pass children, which run this file too, skip it

    ids: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    short = 0
    for text in texts:
        if len(tokenize(text)) < NGRAM:
            short += 1
        indices.extend(ids.setdefault(s, len(ids)) for s in shingles(text))
        indptr.append(len(indices))
    columns = np.asarray(indices, dtype=np.int64)
    sizes = np.diff(np.asarray(indptr, dtype=np.int64))
    rows = np.repeat(np.arange(len(texts)), sizes)
    shared = np.bincount(columns, minlength=len(ids))[columns] > 1  # a shingle of one file meets no other
    matrix = csr_matrix(
        (np.ones(int(shared.sum()), dtype=np.int32), (rows[shared], columns[shared])),
        shape=(len(texts), len(ids)),
    )
    common = triu(matrix @ matrix.T, k=1).tocoo()
    union = sizes[common.row] + sizes[common.col] - common.data
    true = common.data / union >= THRESHOLD
    return Truth(
        len(texts), short, common.row[true].astype(np.int64), common.col[true].astype(np.int64), common.nnz
    )


def read_pairs(folder: Path, tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs the pairs pass wrote, as corpus positions (left < right)."""
    tables = [pq.read_table(p) for p in sorted((folder / "pairs").glob("*.parquet")) if ".tmp-" not in p.name]
    if not tables:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    table = pa.concat_tables(tables)
    a, b = (position(table[c].to_numpy(), tasks) for c in ("a", "b"))
    left, right = np.minimum(a, b), np.maximum(a, b)
    unique = np.unique(np.stack([left, right], axis=1), axis=0)
    return unique[:, 0], unique[:, 1]


def position(keys: np.ndarray, tasks: int) -> np.ndarray:
    """Corpus position of doc keys ``origin << 32 | index`` (task ``origin`` read files[origin::tasks])."""
    keys = keys.astype(np.int64)
    return (keys >> 32) + tasks * (keys & 0xFFFFFFFF)


def evaluate(texts: list[str], folder: Path, tasks: int, truth: Truth, verify: bool) -> dict[str, float]:
    n = truth.n
    label = np.arange(n, dtype=np.int64) + n  # files outside every cluster: their own label
    kept = np.ones(n, dtype=bool)
    cluster_ids: dict[str, int] = {}
    for row in iter_clusters(str(folder)):
        at = row["origin"] + tasks * row["index"]
        label[at] = cluster_ids.setdefault(row["cluster_id"], len(cluster_ids))
        kept[at] = row["keep"]
    removed = ~kept
    same = label[truth.left] == label[truth.right]

    left, right = read_pairs(folder, tasks)
    candidates = left * n + right
    candidate_true = np.isin(candidates, truth.keys())
    out: dict[str, float] = {
        "candidates": len(candidates),
        "candidate_precision": candidate_true.mean() if len(candidates) else float("nan"),
        "pair_recall": same.mean() if len(same) else float("nan"),
    }
    if verify:  # the pairs the clusters pass keeps: exact Jaccard of the kernel's shingle hashes >= threshold
        hashes = shingle_hashes(texts, NGRAM)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(h) for h in hashes], out=offsets[1:])
        passed = pair_jaccard(np.concatenate(hashes), offsets, left, right) >= THRESHOLD
        out["verified"] = int(passed.sum())
        out["verified_precision"] = candidate_true[passed].mean() if passed.any() else float("nan")

    partner = np.zeros(n, dtype=bool)  # has a true near copy in its own cluster
    partner[truth.left[same]] = True
    partner[truth.right[same]] = True
    out["removed"] = int(removed.sum())
    out["correct"] = int((removed & partner).sum())
    out["file_precision"] = out["correct"] / out["removed"] if out["removed"] else float("nan")

    nodes, components = connected_components(truth.left, truth.right)
    sizes = np.bincount(components)
    removed_in = np.bincount(components, weights=removed[nodes].astype(np.float64), minlength=len(sizes))
    out["components"] = len(sizes)
    out["should"] = int((sizes - 1).sum())
    out["found"] = int(np.minimum(removed_in, sizes - 1).sum())
    out["file_recall"] = out["found"] / out["should"] if out["should"] else float("nan")
    return out


def print_quality(truth: Truth, results: dict[str, dict[str, float]]) -> None:
    off, on = results["verify off"], results["verify on"]
    short = f"{truth.short} under {NGRAM} tokens"
    print(f"\n3. quality at threshold {THRESHOLD}, 1x corpus ({truth.n} files, {short})")
    true = f"{len(truth.left)} have exact Jaccard >= {THRESHOLD}"
    print(f"  ground truth: {truth.sharing} pairs of files share a shingle; {true},")
    print(f"  in {off['components']} components: {off['should']} files should be removed")

    def row(label: str, key: str, fmt: str, target: str = "", minimum: float | None = None) -> None:
        cells = ""
        for result in (off, on):
            value = result.get(key)
            missing = value is None or value != value  # not measured, or no pairs to measure it on (nan)
            cells += f"{'-' if value is None else 'n/a':>12}" if missing else f"{value:>12{fmt}}"
        verdict = ""
        if minimum is not None:
            verdicts = {}
            for mode, result in (("verify off", off), ("verify on", on)):
                value = result.get(key)
                if value is not None and value == value:
                    verdicts[mode] = "ok" if value >= minimum else "BELOW TARGET"
            if not verdicts:
                verdict = "n/a (nothing to measure)"
            elif len(set(verdicts.values())) == 1:
                verdict = next(iter(verdicts.values()))
            else:
                verdict = ", ".join(f"{mode}: {v}" for mode, v in verdicts.items())
        print(f"  {label:<42}{cells}   {target:<8}{verdict}".rstrip())

    print(f"  {'':<42}{'verify off':>12}{'verify on':>12}   target")
    row("candidate pairs from LSH", "candidates", ".0f")
    row("  of which exact J >= 0.7 (precision)", "candidate_precision", ".3f")
    row("pairs kept by verification", "verified", ".0f")
    row("  of which exact J >= 0.7 (precision)", "verified_precision", ".3f")
    row("true pairs in one cluster (pair recall)", "pair_recall", ".3f", f">= {TARGET_RECALL}", TARGET_RECALL)
    row("files removed", "removed", ".0f")
    row("  with a J >= 0.7 copy in their cluster", "correct", ".0f")
    row("file precision", "file_precision", ".3f", f">= {TARGET_PRECISION}", TARGET_PRECISION)
    row("removed of the files that should be", "found", ".0f")
    row("file recall", "file_recall", ".3f", f">= {TARGET_RECALL}", TARGET_RECALL)


# --- main --------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=None, help="files in the 1x corpus (default 4000)")
    parser.add_argument("--scales", default=None, help="corpus sizes, in multiples of --files (1,2,4)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed")
    parser.add_argument("--corpus", action="append", default=[], metavar="DIR", help="more *.py files")
    parser.add_argument("--tasks", type=int, default=2, help="signature tasks (ranks)")
    parser.add_argument("--bucket-memory-mb", type=int, default=512)
    parser.add_argument("--datasketch-files", type=int, default=None, help="datasketch on this prefix (1000)")
    parser.add_argument("--work-dir", default=None, help="keep the corpora and pass outputs here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="defaults --files 300 --scales 1,2 --datasketch-files 200 (each can still be given)",
    )
    # a pass child (internal)
    parser.add_argument("--_child", choices=["idle", *PASSES], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--corpus-file", help=argparse.SUPPRESS)
    parser.add_argument("--groups", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--verify", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--all-pairs-up-to", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = {"files": 300, "scales": "1,2", "datasketch_files": 200}
    full = {"files": 4000, "scales": "1,2,4", "datasketch_files": 1000}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> None:
    args = parse_args()
    if args._child:
        child(args)
        return
    scales = sorted({1, *(int(s) for s in args.scales.split(","))})  # quality and throughput run on 1x

    started = time.perf_counter()
    roots = [("site-packages", Path(sysconfig.get_paths()["purelib"]))]
    roots += [(f"corpus{i}-{Path(d).name}", Path(d)) for i, d in enumerate(args.corpus)]
    everything, skipped = collect_corpus(roots)
    random.Random(args.seed).shuffle(everything)
    print(f"corpus: {len(everything)} *.py files ({skipped} skipped: empty, >= 1 MB or not UTF-8) under")
    for label, root in roots:
        print(f"  {label}: {root}")
    print(
        f"parameters: {NUM_PERM} permutations, {NGRAM}-grams of [A-Za-z_0-9]+ tokens, {BANDS} bands x {ROWS}"
        f" (verify on: {VERIFY_BANDING[0]} x {VERIFY_BANDING[1]}, the search with fp 0.1 / fn 0.9)"
        f" rows, threshold {THRESHOLD}; shuffle seed {args.seed}; 1x = {args.files} files; {args.tasks}"
        f" signature tasks; bucket memory {args.bucket_memory_mb} MB"
    )
    sizes = []
    for scale in scales:
        n = min(scale * args.files, len(everything))
        if n < scale * args.files:
            wanted = scale * args.files
            print(f"  note: {scale}x asks for {wanted} files, the corpus has {len(everything)}: using {n}")
        sizes.append((f"{scale}x", n))

    throughput(everything[: sizes[0][1]], args.datasketch_files)

    work = Path(tempfile.mkdtemp(prefix="dedup-bench-", dir=args.work_dir))
    try:
        idle = run_child("idle", [], work / "idle.log")
        runs: list[ScaleRun] = []
        for label, n in sizes:
            files = everything[:n]
            folder = work / label
            folder.mkdir()
            corpus_file = folder / "corpus.jsonl"
            write_corpus(files, corpus_file)
            groups = groups_for(n, VERIFY_BANDING[0], args.bucket_memory_mb)
            mb = sum(f.size for f in files) / 1e6
            for verify in (False, True):
                passes = run_passes(
                    corpus_file, folder / ("verify" if verify else "plain"), groups, args.tasks, work, verify
                )
                runs.append(ScaleRun(f"{label} verify" if verify else label, n, mb, groups, passes))
        print_end_to_end(runs, idle, args.tasks)

        one_x = [f.text for f in everything[: sizes[0][1]]]
        truth = exact_truth(one_x)
        results = {
            "verify off": evaluate(one_x, work / "1x" / "plain", args.tasks, truth, verify=False),
            "verify on": evaluate(one_x, work / "1x" / "verify", args.tasks, truth, verify=True),
        }
        print_quality(truth, results)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\nwork folder kept: {work}")
    print(f"\nbenchmark wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
