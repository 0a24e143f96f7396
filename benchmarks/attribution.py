"""Attribution indexes on real code (``stackcurate index build`` / ``stackcurate attribute``): build
throughput, index sizes, the membership filter's false-positive rate, query latency and accuracy.

    python benchmarks/attribution.py [--mb 100] [--queries 300] [--steps 60] [--seed 0] [--work-dir DIR]
                                     [--fp-rate 0.001] [--window 10] [--guard 4] [--top-k 5] [--probes 200000]
                                     [--quick]

Corpus: *.py, *.c, *.h and *.js files (UTF-8, not blank, under 1 MB) under this interpreter's site-packages:
real code nobody on this project wrote. Sorted by path, shuffled with ``--seed``, exact duplicates (same
content) skipped, taken until ``--mb`` megabytes of content (default 100). They are written as the curated
output of a fake run, ``WORK_DIR/run/curated/00000.parquet ...`` (about 20 MB of content per file), with the
columns ``build_index`` reads: content, repo (``pypi/<top-level folder>``), path (relative to it), commit
(forty zeros), license (MIT), repo_url (``file://`` of the folder) and size_bytes. ``--work-dir``: where the
run goes (kept); by default a temporary folder, removed at the end. ``--quick``: 8 MB, 40 queries (10 of
them step by step), 100,000 probes: a test-sized run, well under a minute. MB is 10^6 bytes of UTF-8
content, GB 10^9.

Everything runs in this process. The build is single-threaded apart from tantivy's merging threads, so CPU
time (``resource.getrusage``, user + system, every thread of the process) is measured beside wall time;
MB/s per core is MB / max(wall, CPU) seconds.

1. Build: ``build_index(run, fp_rate, window, guard)`` once, as ``stackcurate index build`` calls it (the
   numba kernels are compiled / loaded from their cache by an untimed call before). Target >= 10 MB/s per
   core. Then its parts alone, replicating what it does batch by batch: reading the curated Parquet
   (``iter_curated``); the windows (``window_hashes_batch``, ``winnow``, the ``tolist()`` of the
   fingerprints and ``Bloom.update``); the full-text index (``tantivy.Document`` + ``add_document`` per
   file, ``commit``, ``wait_merging_threads``) into a second folder.
2. Sizes: the membership filter and the full-text index on disk, and per GB of code; windows and
   fingerprints (all, and distinct); the filter's configured false-positive rate against the one measured
   with ``--probes`` random 64-bit integers that are no fingerprint, looked up with
   ``x in Attributor(run).bloom``.
3. Queries: ``Attributor(run).attribute(snippet, top_k)`` on ``--queries`` snippets after one untimed
   warm-up query; half copied from the corpus -- a random 10-40 line slice of a random file, a third of
   them re-indented (dedented, then indented by 2, 4, 8 spaces or a tab) -- and half not in the corpus:
   the same kind of slice with every word (identifiers, and the words of strings and comments, non-ASCII
   ones too) that is no keyword, builtin, ``self`` / ``cls`` or dunder renamed to a made-up word (one word
   per name, case style kept) and the digits of numbers of two or more digits redrawn, or generated Python
   functions of made-up names. Latency p50 / p99 / max per kind and overall (target p99 < 100 ms, for the
   100 MB corpus). Accuracy: the copied snippets whose source file is ranked first (and in the top k; and
   whose first candidate contains the whole snippet, which also credits another copy of the same code), the
   snippets not in the corpus reported with fraction < 0.1. Then, untimed, the steps of each query alone
   (replicating ``attribute``: windows + Bloom, the BM25 query's making, the search, fetching the
   candidates, measuring their overlap from window hashes; the first ``--steps`` queries), the slowest
   queries, and how many of the query's terms the full-text index holds at all (``searcher.doc_freq``).
"""

from __future__ import annotations

import argparse
import builtins
import hashlib
import keyword
import math
import os
import random
import re
import resource
import shutil
import statistics
import sysconfig
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import candidate_files

from stackcurate.attribution.index import (
    BLOOM_HASH,
    build_index,
    curated_bytes,
    fulltext_schema,
    iter_curated,
)
from stackcurate.attribution.query import MAX_QUERY_TERMS, Attribution, Attributor
from stackcurate.attribution.windows import TOKEN, token_spans, window_hashes_batch, winnow
from stackcurate.filters.decontaminate import normalize as normalize_code

EXTENSIONS = ("py", "c", "h", "js")
MAX_BYTES = 1_000_000
SHARD_BYTES = 20_000_000
QUICK_MB = 8.0
QUICK_QUERIES = 40
QUICK_STEPS = 10
QUICK_PROBES = 100_000
TARGET_BUILD_MB_S = 10.0
TARGET_P99_MS = 100.0
NOT_COPIED_MAX_FRACTION = 0.1
COPIED = ("copied", "copied, re-indented")
NOT_COPIED = ("renamed identifiers", "generated")
KINDS = COPIED + NOT_COPIED


# --- corpus ------------------------------------------------------------------------------------------------


@dataclass
class SourceFile:
    repo: str
    path: str  # relative to the repo's folder
    url: str
    text: str
    size: int  # UTF-8 bytes


def collect_corpus(root: Path, mb: float, seed: int) -> tuple[list[SourceFile], int, Counter[str]]:
    """Shuffled candidate files under ``root`` until ``mb`` MB of content; the number of candidates and what
    was skipped on the way."""
    candidates = candidate_files(root, EXTENSIONS, MAX_BYTES)
    random.Random(seed).shuffle(candidates)
    budget = int(mb * 1e6)
    corpus: list[SourceFile] = []
    skipped: Counter[str] = Counter()
    digests: set[bytes] = set()
    total = 0
    for full in candidates:
        if total >= budget:
            break
        try:
            data = Path(full).read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            skipped["not UTF-8 or unreadable"] += 1
            continue
        if not text.strip():
            skipped["blank"] += 1
            continue
        digest = hashlib.sha1(data).digest()
        if digest in digests:
            skipped["duplicate content"] += 1
            continue
        digests.add(digest)
        relative = Path(full).relative_to(root)
        top = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        inner = Path(*relative.parts[1:]) if len(relative.parts) > 1 else relative
        corpus.append(SourceFile(f"pypi/{top}", inner.as_posix(), (root / top).as_uri(), text, len(data)))
        total += len(data)
    return corpus, len(candidates), skipped


def write_run(corpus: list[SourceFile], run_dir: Path) -> list[Path]:
    """The corpus as ``run_dir/curated/NNNNN.parquet``, about ``SHARD_BYTES`` of content per file."""
    curated = run_dir / "curated"
    shutil.rmtree(run_dir / "index", ignore_errors=True)
    shutil.rmtree(curated, ignore_errors=True)
    curated.mkdir(parents=True)
    written: list[Path] = []
    shard: list[SourceFile] = []

    def flush() -> None:
        path = curated / f"{len(written):05d}.parquet"
        table = pa.table(
            {
                "content": [f.text for f in shard],
                "repo": [f.repo for f in shard],
                "path": [f.path for f in shard],
                "commit": ["0" * 40] * len(shard),
                "license": ["MIT"] * len(shard),
                "repo_url": [f.url for f in shard],
                "size_bytes": pa.array([f.size for f in shard], type=pa.int64()),
            }
        )
        pq.write_table(table, path)
        written.append(path)
        shard.clear()

    size = 0
    for f in corpus:
        shard.append(f)
        size += f.size
        if size >= SHARD_BYTES:
            flush()
            size = 0
    if shard:
        flush()
    return written


# --- snippets ----------------------------------------------------------------------------------------------


def wordlist(text: str) -> tuple[str, ...]:
    return tuple(text.split())


C_JS_KEYWORDS = wordlist(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while define include ifdef ifndef endif elif undef pragma NULL function var let new this "
    "typeof instanceof delete throw catch try finally class extends super export import yield async await "
    "null undefined true false"
)
KEEP = (
    set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | set(C_JS_KEYWORDS) | {"self", "cls"}
)
IDENTIFIER = re.compile(r"(?<!\w)[^\W\d]\w*")  # non-ASCII words too: names, text in strings
NUMBER = re.compile(r"(?<!\w)\d\d+")
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


def made_up_word(rng: random.Random) -> str:
    """A pronounceable word, in all likelihood no identifier of the corpus: 3-4 syllables and a letter."""
    syllables = [rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(3, 4))]
    return "".join(syllables) + rng.choice("qxjwy")


@dataclass
class Query:
    kind: str
    text: str
    source: int | None = None  # corpus index of a copied snippet's file
    seconds: float = 0.0
    result: Attribution | None = None
    steps: dict[str, float] = field(default_factory=dict)
    compared_chars: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)


def random_slice(corpus: list[SourceFile], rng: random.Random) -> tuple[int, str]:
    """A 10-40 line slice of a random file with some code in it."""
    while True:
        i = rng.randrange(len(corpus))
        lines = corpus[i].text.splitlines(keepends=True)
        if len(lines) < 10:
            continue
        n = min(len(lines), rng.randint(10, 40))
        start = rng.randint(0, len(lines) - n)
        text = "".join(lines[start : start + n])
        if sum(bool(line.strip()) for line in lines[start : start + n]) >= 5 and len(text.strip()) >= 150:
            return i, text


def reindent(text: str, rng: random.Random) -> str:
    prefix = rng.choice(("  ", "    ", "        ", "\t"))
    return textwrap.indent(textwrap.dedent(text.expandtabs(4)), prefix)


def rename_identifiers(text: str, rng: random.Random) -> str:
    """``text`` with its names (and the words of strings and comments) made up, 2+ digit numbers redrawn."""
    names: dict[str, str] = {}

    def new_name(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in KEEP or (word.startswith("__") and word.endswith("__")):
            return word
        if word not in names:
            made = made_up_word(rng)
            if "_" in word.strip("_"):
                made += "_" + made_up_word(rng)
            if word.isupper() and len(word) > 1:
                made = made.upper()
            elif word[:1].isupper():
                made = made.title().replace("_", "")
            names[word] = word[: len(word) - len(word.lstrip("_"))] + made
        return names[word]

    def new_number(match: re.Match[str]) -> str:
        return "".join(rng.choice("123456789") for _ in match.group(0))

    return NUMBER.sub(new_number, IDENTIFIER.sub(new_name, text))


def generated_function(rng: random.Random) -> str:
    """A Python function of made-up names: assignments, calls, branches, loops."""
    args = [made_up_word(rng) for _ in range(rng.randint(1, 4))]
    variables = list(args)
    lines = [f"def {made_up_word(rng)}_{made_up_word(rng)}({', '.join(args)}):"]
    depth = 1
    for _ in range(rng.randint(10, 30)):
        pad = "    " * depth
        a, b = rng.choice(variables), rng.choice(variables)
        choice = rng.random()
        if choice < 0.35:
            target = made_up_word(rng)
            op = rng.choice(("+", "-", "*", "//", "%", "<<", "&"))
            lines.append(f"{pad}{target} = {a} {op} {b if rng.random() < 0.5 else rng.randint(2, 999)}")
            variables.append(target)
        elif choice < 0.55:
            target = made_up_word(rng)
            lines.append(f"{pad}{target} = {made_up_word(rng)}.{made_up_word(rng)}({a}, {b})")
            variables.append(target)
        elif choice < 0.7 and depth < 4:
            lines.append(f"{pad}if {a} {rng.choice(('>', '<', '==', '!='))} {rng.randint(0, 99)}:")
            depth += 1
        elif choice < 0.82 and depth < 4:
            target = made_up_word(rng)
            lines.append(f"{pad}for {target} in {made_up_word(rng)}({a}):")
            variables.append(target)
            depth += 1
        elif choice < 0.9:
            lines.append(f'{pad}{made_up_word(rng)}("{made_up_word(rng)} {made_up_word(rng)}", {a})')
        else:
            lines.append(f"{pad}{rng.choice(variables)} += {a}")
            if depth > 1:
                depth -= 1
    lines.append(f"    return {rng.choice(variables)}")
    return "\n".join(lines) + "\n"


def make_queries(corpus: list[SourceFile], count: int, seed: int) -> list[Query]:
    rng = random.Random(seed + 1)
    copied, not_copied = (count + 1) // 2, count // 2
    queries: list[Query] = []
    for n in range(copied):
        i, text = random_slice(corpus, rng)
        if n % 3 == 2:
            queries.append(Query("copied, re-indented", reindent(text, rng), i))
        else:
            queries.append(Query("copied", text, i))
    for n in range(not_copied):
        if n % 2 == 0:
            queries.append(
                Query("renamed identifiers", rename_identifiers(random_slice(corpus, rng)[1], rng))
            )
        else:
            queries.append(Query("generated", generated_function(rng)))
    rng.shuffle(queries)
    return queries


# --- timing ------------------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Clock:
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def clocked() -> Iterator[Clock]:
    clock = Clock()
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield clock
    finally:
        clock.wall = time.perf_counter() - wall
        clock.cpu = cpu_seconds() - cpu


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


class BuildTable:
    """Build lines: name, MB, wall seconds, CPU seconds, cores busy, MB/s (wall), MB/s per core."""

    def __init__(self) -> None:
        print(f"\n  {'':42}{'MB':>7}{'wall s':>9}{'CPU s':>9}{'cores':>7}{'MB/s':>9}{'per core':>10}")

    def row(self, name: str, mb: float, clock: Clock, note: str = "") -> float:
        per_core = mb / max(clock.wall, clock.cpu, 1e-9)
        cores = clock.cpu / clock.wall if clock.wall > 0 else 0.0
        print(
            f"  {name:42}{mb:>7.1f}{clock.wall:>9.2f}{clock.cpu:>9.2f}{cores:>7.2f}"
            f"{mb / max(clock.wall, 1e-9):>9.1f}{per_core:>10.1f}  {note}".rstrip()
        )
        return per_core


def add(total: Clock, part: Clock) -> None:
    total.wall += part.wall
    total.cpu += part.cpu


def ms(seconds: list[float], q: float) -> float:
    return 1000 * float(np.percentile(seconds, q)) if seconds else float("nan")


def clip(text: str, width: int) -> str:
    shown = repr(text)
    return shown if len(shown) <= width else shown[: width - 5] + "…" + shown[-4:]


# --- 1. build ----------------------------------------------------------------------------------------------


@dataclass
class Build:
    meta: dict[str, Any]
    whole: Clock
    per_core: float
    windows_per_core: float
    fulltext_per_core: float
    distinct: np.ndarray


def measure_build(run_dir: Path, work: Path, mb: float, args: argparse.Namespace) -> Build:
    print("\n1. index build")
    with clocked() as warm:
        sample, sample_counts = window_hashes_batch(["warm = up(the, numba, kernel) + 1"], args.window)
        winnow(sample, sample_counts, args.guard)
    print(
        f"  numba kernel compile / cache load (the first call, not in the figures below): {warm.wall:.2f} s"
    )
    table = BuildTable()
    main_thread = time.thread_time()
    with clocked() as whole:
        meta = build_index(run_dir, fp_rate=args.fp_rate, window=args.window, guard=args.guard)
    main_thread = time.thread_time() - main_thread
    rate = mb / max(whole.wall, whole.cpu)
    note = f"target >= {TARGET_BUILD_MB_S:g} MB/s per core: {met(rate >= TARGET_BUILD_MB_S)}"
    per_core = table.row("build_index, all of it", mb, whole, note)
    print(
        f"  {'':42}CPU: this thread {main_thread:.2f} s, other threads (tantivy's)"
        f" {whole.cpu - main_thread:.2f} s"
    )

    # the parts alone, as build_index does them batch by batch
    print("  the parts alone:")
    with clocked() as sizing:
        curated_bytes(run_dir)
    with clocked() as reading:
        batches = list(iter_curated(run_dir))
    texts = [[row.get("content") or "" for row in rows] for rows in batches]
    from rbloom import Bloom

    bloom = Bloom(meta["bloom_capacity"], args.fp_rate, BLOOM_HASH)
    kernel, winnowing, listing, updating = Clock(), Clock(), Clock(), Clock()
    chunks: list[np.ndarray] = []
    for batch in texts:
        with clocked() as step:
            hashes, counts = window_hashes_batch(batch, args.window)
        add(kernel, step)
        with clocked() as step:
            hashes = hashes[winnow(hashes, counts, args.guard)]
        add(winnowing, step)
        with clocked() as step:
            values = hashes.view(np.int64).tolist()
        add(listing, step)
        with clocked() as step:
            bloom.update(values)
        add(updating, step)
        chunks.append(hashes)
        del values
    windows = Clock()
    for part in (kernel, winnowing, listing, updating):
        add(windows, part)

    import tantivy

    folder = work / "parts" / "fulltext"
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    index = tantivy.Index(fulltext_schema(), path=str(folder))
    writer = index.writer(heap_size=128 * 1_000_000, num_threads=1)
    with clocked() as adding:
        for rows in batches:
            for row in rows:
                writer.add_document(
                    tantivy.Document(
                        content=row.get("content") or "",
                        repo=row.get("repo") or "",
                        path=row.get("path") or "",
                        commit=row.get("commit") or "",
                        license=row.get("license") or "",
                        url=row.get("repo_url") or "",
                    )
                )
    with clocked() as committing:
        writer.commit()
    with clocked() as merging:
        writer.wait_merging_threads()
    fulltext = Clock()
    for part in (adding, committing, merging):
        add(fulltext, part)
    parts = Clock()
    for part in (sizing, reading, windows, fulltext):
        add(parts, part)

    table.row("  curated_bytes (size_bytes column)", mb, sizing)
    table.row("  read curated Parquet (iter_curated)", mb, reading)
    table.row("  windows + Bloom", mb, windows)
    table.row("    window_hashes_batch (numba)", mb, kernel)
    table.row("    winnow (numba)", mb, winnowing)
    table.row("    fingerprints.tolist()", mb, listing)
    table.row("    Bloom.update (hash call per fingerprint)", mb, updating)
    table.row("  full-text index (tantivy)", mb, fulltext)
    table.row("    Document + add_document per file", mb, adding)
    table.row("    commit", mb, committing)
    table.row("    wait_merging_threads", mb, merging)
    table.row("  sum of the parts", mb, parts)
    print(f"  build_index's own meta.json seconds: {meta['seconds']:.2f}")
    shutil.rmtree(folder.parent, ignore_errors=True)
    distinct = np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.uint64)
    return Build(
        meta,
        whole,
        per_core,
        mb / max(windows.wall, windows.cpu, 1e-9),
        mb / max(fulltext.wall, fulltext.cpu, 1e-9),
        distinct,
    )


# --- 2. sizes and false positives --------------------------------------------------------------------------


def wilson(hits: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a rate."""
    if n == 0:
        return 0.0, 1.0
    z = 1.96
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def measure_sizes(build: Build, attributor: Attributor, probes: int, seed: int) -> float:
    meta, distinct = build.meta, build.distinct
    gb = meta["bytes"] / 1e9
    print("\n2. index sizes")
    print(f"  {'':42}{'MB':>8}{'MB per GB of code':>20}{'x code size':>13}")
    for label, key in (
        ("membership filter (membership.bloom)", "bloom_bytes"),
        ("full-text index", "fulltext_bytes"),
    ):
        size = meta[key]
        print(f"  {label:42}{size / 1e6:>8.1f}{size / 1e6 / gb:>20.0f}{size / meta['bytes']:>13.2f}")
    windows, fingerprints, unique = meta["windows"], meta["fingerprints"], max(len(distinct), 1)
    print(
        f"  windows of {meta['window_tokens']} tokens: {windows:,}, one per"
        f" {meta['bytes'] / max(windows, 1):.2f} bytes of code; fingerprints (winnowed by"
        f" {meta['guard']}): {fingerprints:,} ({fingerprints / max(windows, 1):.1%} of the windows),"
        f" {unique:,} distinct ({unique / max(fingerprints, 1):.1%}),"
        f" one per {meta['bytes'] / unique:.2f} bytes"
    )
    bloom = attributor.bloom
    bits = bloom.size_in_bits
    capacity = meta["bloom_capacity"]
    needed = -math.log(meta["fp_rate"]) / math.log(2) ** 2  # bits per item at the configured rate
    print(
        f"  Bloom filter: capacity {capacity:,} = {capacity / unique:.2f} x the"
        f" distinct fingerprints; {bits / unique:.1f} bits per distinct fingerprint where {needed:.1f}"
    )
    print(
        f"  give rate {meta['fp_rate']:g} (sized for the distinct fingerprints:"
        f" {unique * needed / 8e6:.1f} MB,"
        f" {unique * needed / 8e6 / gb:.0f} MB per GB); approx_items {bloom.approx_items:,.0f}"
    )
    rng = random.Random(seed + 2)
    values = np.array([rng.getrandbits(64) for _ in range(probes)], dtype=np.uint64)
    candidates = values[~np.isin(values, distinct)].tolist()
    started = time.perf_counter()
    hits = sum(1 for x in candidates if x in bloom)
    seconds = time.perf_counter() - started
    rate = hits / max(len(candidates), 1)
    low, high = wilson(hits, len(candidates))
    # rbloom: m = -n ln p / ln2^2 bits for capacity n, k = round(m / n ln 2) hashes; the rate at the real load
    k = max(1, round(bits / capacity * math.log(2)))
    theory = (1 - math.exp(-k * len(distinct) / bits)) ** k
    print(
        f"  false-positive rate: configured {meta['fp_rate']:g}; expected at the real load (k = {k} hashes,"
        f" estimated) {theory:.2g}"
    )
    print(
        f"  measured {rate:.6f}: {hits} of {len(candidates):,} random 64-bit ints that are no fingerprint"
        f" (95% interval {low:.6f}-{high:.6f}); <= configured: {met(rate <= meta['fp_rate'])}"
    )
    print(
        f"  a lookup (x in bloom, a Python hash call each): {seconds / max(len(candidates), 1) * 1e9:.0f} ns"
    )
    return rate


# --- 3. queries --------------------------------------------------------------------------------------------


def query_terms(text: str) -> list[str]:
    """The terms ``Attributor._query`` asks for, in its order."""
    words: dict[str, None] = {}
    for match in TOKEN.finditer(text):
        for word in match.group(0).lower().split("_"):
            if word and word.isalnum() and len(word.encode("utf-8")) <= 40:
                words.setdefault(word, None)
    return sorted(words, key=len, reverse=True)[:MAX_QUERY_TERMS]


def steps_of(attributor: Attributor, query: Query, top_k: int) -> None:
    """``Attributor.attribute``'s steps, each timed alone (its code, replicated)."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    attributor._spans(query.text)
    steps["windows + Bloom"] = time.perf_counter() - started
    started = time.perf_counter()
    made = attributor._query(query.text)
    steps["making the BM25 query"] = time.perf_counter() - started
    steps["BM25 search"] = steps["fetching candidates"] = steps["overlap (windows)"] = 0.0
    if made is not None:
        started = time.perf_counter()
        hits = attributor.searcher.search(made, limit=top_k).hits
        steps["BM25 search"] = time.perf_counter() - started
        tokens = token_spans(query.text)
        hashes, _ = window_hashes_batch([query.text], attributor.window)
        for _, address in hits:
            started = time.perf_counter()
            doc = attributor.searcher.doc(address)
            content = doc.get_first("content") or ""
            steps["fetching candidates"] += time.perf_counter() - started
            started = time.perf_counter()
            attributor._longest_overlap(tokens, hashes, content)
            steps["overlap (windows)"] += time.perf_counter() - started
            query.compared_chars.append(len(content))
    query.steps = steps


def source_rank(query: Query, corpus: list[SourceFile]) -> int | None:
    assert query.result is not None and query.source is not None
    source = corpus[query.source]
    for rank, candidate in enumerate(query.result.candidates, 1):
        if candidate.repo == source.repo and candidate.path == source.path:
            return rank
    return None


def holds_snippet(query: Query) -> bool:
    """Whether the first candidate contains the whole snippet (whitespace normalised)."""
    assert query.result is not None
    candidates = query.result.candidates
    return bool(candidates) and candidates[0].longest_overlap >= len(normalize_code(query.text))


def latency_line(label: str, seconds: list[float], note: str = "") -> None:
    print(
        f"  {label:30}{len(seconds):>8d}{ms(seconds, 50):>9.1f}{ms(seconds, 99):>9.1f}"
        f"{1000 * max(seconds, default=float('nan')):>9.1f}{1000 * statistics.fmean(seconds or [0]):>9.1f}"
        f"  {note}".rstrip()
    )


@dataclass
class Figures:
    p99: float = float("nan")
    source_first: float = 0.0
    holds: float = 0.0
    not_copied_low: float = 0.0


def measure_queries(
    attributor: Attributor, queries: list[Query], corpus: list[SourceFile], args: argparse.Namespace
) -> Figures:
    with clocked() as warm:
        attributor.attribute(random_slice(corpus, random.Random(args.seed + 3))[1], top_k=args.top_k)
    for query in queries:
        started = time.perf_counter()
        query.result = attributor.attribute(query.text, top_k=args.top_k)
        query.seconds = time.perf_counter() - started
    lengths = [len(q.text) for q in queries]
    kinds = ", ".join(f"{kind} {sum(q.kind == kind for q in queries)}" for kind in KINDS)
    print(f"\n3. queries: {len(queries)} snippets ({kinds}), top_k {args.top_k}")
    print(
        f"  {min(lengths)}-{max(lengths)} characters (median {statistics.median(lengths):.0f}); warm-up query"
        f" {1000 * warm.wall:.1f} ms"
    )
    print(f"\n  {'latency, ms':30}{'queries':>8}{'p50':>9}{'p99':>9}{'max':>9}{'mean':>9}")
    for kind in KINDS:
        latency_line(kind, [q.seconds for q in queries if q.kind == kind])
    latency_line("copied, all", [q.seconds for q in queries if q.kind in COPIED])
    latency_line("not in the corpus, all", [q.seconds for q in queries if q.kind in NOT_COPIED])
    every = [q.seconds for q in queries]
    figures = Figures(p99=ms(every, 99))
    scope = "" if args.mb >= 100 else " (set for 100 MB)"
    latency_line(
        "all", every, f"target p99 < {TARGET_P99_MS:g} ms{scope}: {met(figures.p99 < TARGET_P99_MS)}"
    )

    copied = [q for q in queries if q.kind in COPIED]
    print(
        f"\n  {'copied snippets':30}{'queries':>8}{'source 1st':>11}{'in top k':>10}{'1st holds it':>14}"
        f"{'frac >= 0.5':>13}"
    )
    for label, group in (*((k, [q for q in copied if q.kind == k]) for k in COPIED), ("copied, all", copied)):
        if not group:
            continue
        ranks = [source_rank(q, corpus) for q in group]
        first = sum(r == 1 for r in ranks) / len(group)
        top = sum(r is not None for r in ranks) / len(group)
        holds = sum(holds_snippet(q) for q in group) / len(group)
        likely = sum(q.result is not None and q.result.fraction >= 0.5 for q in group) / len(group)
        print(f"  {label:30}{len(group):>8d}{first:>11.3f}{top:>10.3f}{holds:>14.3f}{likely:>13.3f}")
        figures.source_first, figures.holds = first, holds  # the last line: all of them
    print("  source 1st: the snippet's own file ranked first; 1st holds it: the first candidate contains the")
    print("  whole snippet (whitespace normalised), which also credits another copy of the same code")

    not_copied = [q for q in queries if q.kind in NOT_COPIED]
    print(
        f"\n  {'snippets not in the corpus':30}{'queries':>8}{'frac < 0.1':>11}{'mean frac':>10}"
        f"{'max frac':>10}"
    )
    for label, group in (
        *((k, [q for q in not_copied if q.kind == k]) for k in NOT_COPIED),
        ("all", not_copied),
    ):
        fractions = [q.result.fraction for q in group if q.result is not None]
        if not fractions:
            continue
        low = sum(f < NOT_COPIED_MAX_FRACTION for f in fractions) / len(fractions)
        print(
            f"  {label:30}{len(group):>8d}{low:>11.3f}{statistics.fmean(fractions):>10.3f}"
            f"{max(fractions):>10.3f}"
        )
        figures.not_copied_low = low
    flagged = sorted(
        (q for q in not_copied if q.result is not None and q.result.fraction >= NOT_COPIED_MAX_FRACTION),
        key=lambda q: -(q.result.fraction if q.result else 0.0),
    )
    if flagged:
        print(
            f"  not in the corpus, fraction >= {NOT_COPIED_MAX_FRACTION:g}"
            f" ({min(3, len(flagged))} of {len(flagged)}):"
        )
        for query in flagged[:3]:
            assert query.result is not None
            spans = [query.text[start:end] for start, end in query.result.spans[:2]]
            print(
                f"    {query.kind}, fraction {query.result.fraction:.3f}; windows found:"
                f" {clip(' | '.join(spans), 110)}"
            )
    return figures


def report_steps(attributor: Attributor, queries: list[Query], corpus: list[SourceFile], top_k: int) -> None:
    for query in queries:
        steps_of(attributor, query, top_k)
    print(
        f"\n  {f'steps of a query, alone ({len(queries)} queries), ms':42}{'mean':>9}{'p50':>9}{'p99':>9}"
        f"{'max':>9}{'share':>8}"
    )
    total = sum(sum(q.steps.values()) for q in queries)
    for name in queries[0].steps:
        values = [q.steps[name] for q in queries]
        print(
            f"  {name:42}{1000 * statistics.fmean(values):>9.2f}{ms(values, 50):>9.2f}{ms(values, 99):>9.2f}"
            f"{1000 * max(values):>9.2f}{sum(values) / max(total, 1e-12):>8.1%}"
        )
    sums = [sum(q.steps.values()) for q in queries]
    print(
        f"  {'sum of the steps':42}{1000 * statistics.fmean(sums):>9.2f}{ms(sums, 50):>9.2f}"
        f"{ms(sums, 99):>9.2f}{1000 * max(sums):>9.2f}"
    )
    compared = [c for q in queries for c in q.compared_chars]
    if compared:
        print(
            f"  candidates compared: {len(compared)}, median {statistics.median(compared):,.0f} characters,"
            f" p99 {np.percentile(compared, 99):,.0f}, max {max(compared):,}"
        )
    overlap = [q.steps["overlap (windows)"] for q in queries]
    work = [sum(q.compared_chars) * len(normalize_code(q.text)) for q in queries]
    if len(set(work)) > 1 and len(set(overlap)) > 1:
        r = float(np.corrcoef(work, overlap)[0, 1])
        per = sum(overlap) / max(sum(work), 1) * 1e9
        print(
            f"  overlap time ~ snippet chars x candidate chars: correlation {r:.2f}, {per:.1f} ns per"
            " character pair"
        )
    print("\n  slowest queries (latency; the steps alone, ms; the candidates' characters):")
    for query in sorted(queries, key=lambda q: -q.seconds)[:5]:
        steps = ", ".join(f"{name} {1000 * value:.1f}" for name, value in query.steps.items())
        source = corpus[query.source] if query.source is not None else None
        where = f" from {source.repo}/{source.path}" if source else ""
        print(f"    {1000 * query.seconds:8.1f} ms  {query.kind}{where}, {len(query.text)} chars")
        print(f"                 {steps}; {query.compared_chars}")


def report_terms(attributor: Attributor, queries: list[Query], corpus: list[SourceFile]) -> None:
    """How many of the BM25 query's terms the full-text index holds."""
    freq: dict[str, int] = {}
    for query in queries:
        query.terms = query_terms(query.text)
        for term in query.terms:
            if term not in freq:
                freq[term] = attributor.searcher.doc_freq("content", term)
    copied = [q for q in queries if q.kind in COPIED]
    terms = [t for q in copied for t in q.terms]
    underscore = [t for t in terms if "_" in t]
    absent = [t for t in terms if freq[t] == 0]
    absent_underscore = [t for t in underscore if freq[t] == 0]
    print(
        f"\n  BM25 terms of the copied snippets (up to {MAX_QUERY_TERMS}, the longest first):"
        f" {len(terms) / max(len(copied), 1):.1f} per query, every one in the snippet's own file;"
    )
    print(
        f"  {len(absent) / max(len(terms), 1):.1%} are in no indexed file (doc_freq 0);"
        f" {len(underscore) / max(len(terms), 1):.1%} contain '_', and {len(absent_underscore)} of those"
        f" {len(underscore)} are in no file"
        f" ({len(absent) - len(absent_underscore)} absent terms without '_')"
    )
    wasted = [sum(freq[t] == 0 for t in q.terms) for q in copied]
    full = [q for q in copied if len(q.terms) == MAX_QUERY_TERMS]
    print(
        f"  per copied query: {statistics.fmean(wasted or [0]):.1f} terms in no file"
        f" (max {max(wasted, default=0)}); {len(full)} of {len(copied)} queries hit the"
        f" {MAX_QUERY_TERMS}-term cap"
    )
    examples = sorted({t for t in absent_underscore}, key=lambda t: -len(t))[:6]
    if examples:
        print(f"  e.g. {', '.join(examples)}")
    misses = [q for q in copied if source_rank(q, corpus) != 1 and not holds_snippet(q)]
    if misses:
        print(f"  copied, source not 1st and the first candidate lacks the snippet ({len(misses)}):")
        for query in misses[:5]:
            assert query.result is not None and query.source is not None
            first = query.result.candidates[0] if query.result.candidates else None
            shown = (
                f"{first.repo}/{first.path} (overlap {first.longest_overlap})" if first else "no candidate"
            )
            source = corpus[query.source]
            print(
                f"    {source.repo}/{source.path}: rank {source_rank(query, corpus)}, first {shown};"
                f" {sum(freq[t] == 0 for t in query.terms)} of {len(query.terms)} terms in no file"
            )


# --- main --------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=100.0, help="MB of code in the corpus")
    parser.add_argument("--queries", type=int, default=300, help="snippets queried (half copied)")
    parser.add_argument(
        "--steps", type=int, default=60, help="of them, how many are timed again step by step"
    )
    parser.add_argument("--seed", type=int, default=0, help="shuffle and snippet seed")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the run goes (kept)")
    parser.add_argument(
        "--fp-rate", type=float, default=0.001, help="the membership filter's configured rate"
    )
    parser.add_argument("--window", type=int, default=10, help="window tokens")
    parser.add_argument("--guard", type=int, default=4, help="winnowing guard (1: every window)")
    parser.add_argument("--top-k", type=int, default=5, help="candidates per query")
    parser.add_argument("--probes", type=int, default=200_000, help="random ints probing the Bloom filter")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"--mb {QUICK_MB:g} --queries {QUICK_QUERIES} --steps {QUICK_STEPS} --probes {QUICK_PROBES}",
    )
    args = parser.parse_args()
    if args.quick:
        args.mb, args.queries, args.steps, args.probes = QUICK_MB, QUICK_QUERIES, QUICK_STEPS, QUICK_PROBES
    if args.queries < 2:
        parser.error("--queries must be at least 2")
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-attribution-"))
    try:
        run(args, work)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nbenchmark wall time {time.perf_counter() - started:.1f} s")


def run(args: argparse.Namespace, work: Path) -> None:
    root = Path(sysconfig.get_paths()["purelib"])
    with clocked() as collecting:
        corpus, candidates, skipped = collect_corpus(root, args.mb, args.seed)
    if not corpus:
        raise SystemExit(f"no source files under {root}")
    run_dir = work / "run"
    with clocked() as writing:
        shards = write_run(corpus, run_dir)
    mb = sum(f.size for f in corpus) / 1e6
    ext_mb: dict[str, float] = defaultdict(float)
    ext_files: Counter[str] = Counter()
    for f in corpus:
        ext = f.path.rsplit(".", 1)[-1]
        ext_mb[ext] += f.size / 1e6
        ext_files[ext] += 1
    skips = ", ".join(f"{n} {why}" for why, n in skipped.items()) or "none"
    print(f"corpus      {root}: {len(corpus)} of {candidates} candidate files, {mb:.1f} MB (UTF-8)")
    print(f"            shuffle seed {args.seed}; read in {collecting.wall:.1f} s; skipped: {skips}")
    print("            " + ", ".join(f".{e} {n} ({ext_mb[e]:.1f} MB)" for e, n in ext_files.most_common()))
    print(f"            {len({f.repo for f in corpus})} top-level folders (repos)")
    print(f"run         {run_dir}: {len(shards)} curated Parquet files, written in {writing.wall:.1f} s")
    print(
        f"index       fp_rate {args.fp_rate:g}, window {args.window} tokens, guard {args.guard},"
        " tantivy heap 128 MB, 1 writer thread"
    )
    print(
        f"machine     {os.cpu_count()} CPUs; tantivy {version('tantivy')}, rbloom {version('rbloom')},"
        f" numba {version('numba')}"
    )

    build = measure_build(run_dir, work, mb, args)
    with clocked() as loading:
        attributor = Attributor(run_dir)
    fp = measure_sizes(build, attributor, args.probes, args.seed)
    print(f"  Attributor(run) load (Bloom.load + tantivy open): {loading.wall:.2f} s")
    queries = make_queries(corpus, args.queries, args.seed)
    figures = measure_queries(attributor, queries, corpus, args)
    report_steps(attributor, queries[: max(1, args.steps)], corpus, args.top_k)
    report_terms(attributor, queries, corpus)

    meta = build.meta
    gb = meta["bytes"] / 1e9
    scope = "" if args.mb >= 100 else " (set for 100 MB)"
    print("\nsummary")
    print(
        f"  build              {build.per_core:>8.1f}  MB/s per core ({mb:.1f} MB, {build.whole.wall:.1f} s"
        f" wall, {build.whole.cpu:.1f} s CPU), target >= {TARGET_BUILD_MB_S:g}:"
        f" {met(build.per_core >= TARGET_BUILD_MB_S)}"
    )
    print(f"    windows + Bloom  {build.windows_per_core:>8.1f}  MB/s per core, alone")
    print(f"    full-text index  {build.fulltext_per_core:>8.1f}  MB/s per core, alone")
    print(f"  membership filter  {meta['bloom_bytes'] / 1e6 / gb:>8.0f}  MB per GB of code")
    print(f"  full-text index    {meta['fulltext_bytes'] / 1e6 / gb:>8.0f}  MB per GB of code")
    print(
        f"  false positives    {fp:>8.5f}  measured, configured {meta['fp_rate']:g}:"
        f" {met(fp <= meta['fp_rate'])}"
    )
    print(
        f"  query p99          {figures.p99:>8.1f}  ms, target < {TARGET_P99_MS:g}{scope}:"
        f" {met(figures.p99 < TARGET_P99_MS)}"
    )
    print(
        f"  copied, source 1st {figures.source_first:>8.3f}  (the first candidate holds the snippet:"
        f" {figures.holds:.3f})"
    )
    print(f"  not copied, < 0.1  {figures.not_copied_low:>8.3f}")


if __name__ == "__main__":
    main()
