"""Per-file filter throughput on the sample repositories (real third-party code), one process, one core.

    python benchmarks/filters.py [--sample-dir runs/sample] [--work-dir runs/bench-filters] [--run-dir DIR]
                                 [--repos N] [--limit N] [--warmup N] [--quick]

Corpus: the files of the clone pass over the sample repositories (``stackcurate sample-repos``; made when the
folder has no repos.csv). Without ``--run-dir`` the benchmark runs ``stackcurate run`` once with a pipeline of
the clone stage only (depth 1) into ``WORK_DIR/run-all`` (``--repos N``: the first N repositories only,
``WORK_DIR/run-first-N``); a finished run is reused, so only the first call clones. ``--run-dir DIR`` reads
the ``01_clone`` files of an existing run instead. Files are taken in (repo, path) order, the first
``--limit`` N of them. ``--quick``: the first 40 repositories and the first 2000 files (a test-sized run).

Everything is timed in this process on one core (polars' thread pool is set to one thread before polars is
imported), after one untimed warm-up call of each measured function on the first ``--warmup`` files. Each
measurement gets freshly made ``Document`` s (filters write into their metadata); making them is not timed.
MB is the UTF-8 size of the content, 10^6 bytes.

1. Throughput, files/s and MB/s, over every file:
   - language: ``LanguageFilter("starcoderdata").filter(doc)``, content heuristics for ambiguous extensions
     included;
   - quality scores alone: ``score_batch(texts, extensions, rules)`` over batches of 256; quality scores
     and verdicts: ``QualityFilter.filter_batch`` over batches of 256; and, for what vectorizing buys, a
     pure-Python reference of the three StarCoder scores as bigcode's scripts compute them, one file at a time
     (``splitlines()`` line lengths: max and mean; alnum fraction ``sum(c.isalnum() for c in text) / len``),
     against the same three scores alone with ``score_batch``'s polars expressions; then how often the two
     agree, and the files whose verdict on these three checks differs at the configured thresholds;
   - notebooks: ``NotebookConverter().filter(doc)`` on the ``jupyter-notebook`` files, if the corpus has any;
   - decontamination: ``Decontaminator().match(text)`` (every HumanEval pattern) over every file; the
     automaton build is timed on its own and not included; whitespace normalisation alone is timed too; a
     positive control checks that a re-indented HumanEval text planted in a function is found;
   - the filter stage: ``LanguageFilter`` -> ``QualityFilter`` -> ``Decontaminator`` chained through their
     ``run(iter(docs), rank=0, world_size=1)`` generators and exhausted (the automaton built beforehand).
2. The chain's drop reasons (files, share of the files in) with example paths, and the files each stage kept.
"""

from __future__ import annotations

import os

# one core: polars sizes its thread pool once, when it is first imported
os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import polars as pl
from common import first_repos
from datatrove.data import Document

from stackcurate.config import DecontaminateStage, QualityStage
from stackcurate.filters.decontaminate import Decontaminator, humaneval_patterns, normalize
from stackcurate.filters.language import LanguageFilter
from stackcurate.filters.notebooks import NOTEBOOK_LANGUAGE, NotebookConverter
from stackcurate.filters.quality import QualityFilter, load_quality_rules, score_batch
from stackcurate.schema import rows_to_documents

BATCH = 256
QUICK_REPOS = 40
QUICK_FILES = 2000


# ---------------------------------------------------------------------------------------------- corpus


def clone_run(sample_dir: Path, work_dir: Path, repos: int | None) -> Path:
    """Run the clone pass (``stackcurate run``, clone stage only) once; return the run directory."""
    repos_csv = first_repos(sample_dir, work_dir, repos)
    run_dir = work_dir / (f"run-first-{repos}" if repos else "run-all")
    pipeline = work_dir / f"{run_dir.name}.yaml"
    pipeline.write_text(
        "name: bench-filters\n"
        f"repos: {repos_csv.resolve()}\n"
        f"out: {run_dir.resolve()}\n"
        "executor: {kind: local, tasks: 2}\n"
        "stages:\n"
        "  clone: {depth: 1}\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "stackcurate.cli", "run", str(pipeline)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"stackcurate run {pipeline} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    print(f"clone pass: {run_dir} ready in {time.perf_counter() - started:.1f} s ({pipeline})")
    return run_dir


def load_rows(run_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    files = sorted((run_dir / "01_clone").glob("*.parquet"))
    if not files:
        sys.exit(f"no Parquet files in {run_dir / '01_clone'}")
    frame = pl.read_parquet(files).sort(["repo", "path"])
    if limit:
        frame = frame.head(limit)
    return frame.to_dicts()


def documents(rows: list[dict[str, Any]]) -> list[Document]:
    """Fresh ``Document`` s (metadata dicts of their own) for one measurement."""
    return list(rows_to_documents(rows))


def batches(items: list[Any], size: int = BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------------------------------------ timing


class Table:
    """Throughput lines: name, files, MB, seconds, files/s, MB/s."""

    def __init__(self) -> None:
        print(f"\n{'':46}{'files':>8}{'MB':>9}{'seconds':>10}{'files/s':>11}{'MB/s':>9}")

    def row(self, name: str, files: int, mb: float, seconds: float, note: str = "") -> float:
        rate = mb / seconds if seconds > 0 else float("inf")
        per_s = files / seconds if seconds > 0 else float("inf")
        print(f"{name:46}{files:>8d}{mb:>9.1f}{seconds:>10.3f}{per_s:>11.0f}{rate:>9.1f}  {note}".rstrip())
        return rate


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def counters(step: Any) -> dict[str, float]:
    return {key: value.total for key, value in step.stats.stats.items()}


# ------------------------------------------------------------------------------------------ the measures


def reference_scores(text: str) -> tuple[int, float, float]:
    """StarCoder's three scores, pure Python, one file, as bigcode's scripts compute them."""
    lengths = [len(line) for line in text.splitlines()]
    max_length = max(lengths) if lengths else 0
    mean_length = sum(lengths) / len(lengths) if lengths else 0.0
    alnum = sum(c.isalnum() for c in text) / len(text) if text else 0.0
    return max_length, mean_length, alnum


def polars_three_scores(texts: list[str]) -> pl.DataFrame:
    """The same three scores with ``score_batch``'s own polars expressions, and nothing else."""
    text = pl.col("text")
    chars = text.str.len_chars()
    newlines = text.str.count_matches("\n", literal=True)
    lines = (newlines + 1 - text.str.ends_with("\n").cast(pl.UInt32)).clip(lower_bound=1)
    return pl.DataFrame({"text": texts}, schema={"text": pl.String}).select(
        text.str.split("\n").list.eval(pl.element().str.len_chars()).list.max().alias("max_line_length"),
        ((chars - newlines) / lines).alias("avg_line_length"),
        pl.when(chars > 0)
        .then(text.str.count_matches(r"[\p{Alphabetic}\p{Nd}]") / chars)
        .otherwise(0.0)
        .alias("alnum_frac"),
    )


def reference_reason(scores: tuple[int, float, float], limits: dict[str, Any]) -> str | None:
    for value, check, above in zip(
        scores, ("max_line_length", "avg_line_length", "alnum_frac"), (True, True, False), strict=True
    ):
        limit = limits.get(check)
        if limit is not None and ((value > limit) if above else (value < limit)):
            return check
    return None


def compare_scores(rows: list[dict[str, Any]], ours: pl.DataFrame, reference: list[Any], rules: Any) -> None:
    """How often the polars scores agree with the pure-Python reference, and where the verdicts differ."""
    names = ("max_line_length", "avg_line_length", "alnum_frac")
    columns = [ours[name].to_list() for name in names]
    agree = Counter()
    verdict_differs: list[tuple[str, str | None, str | None, str]] = []
    for i, (row, ref) in enumerate(zip(rows, reference, strict=True)):
        mine = tuple(column[i] for column in columns)
        for name, a, b in zip(names, mine, ref, strict=True):
            agree[name] += abs(a - b) <= 1e-9 * max(1.0, abs(b))
        limits = rules.for_extension(str(row["extension"] or ""))
        ours_reason, ref_reason = reference_reason(mine, limits), reference_reason(ref, limits)
        if ours_reason != ref_reason:
            detail = ", ".join(
                f"{n} {a:.4g} vs {b:.4g}" for n, a, b in zip(names, mine, ref, strict=True) if a != b
            )
            verdict_differs.append((f"{row['repo']}/{row['path']}", ours_reason, ref_reason, detail))
    n = len(rows)
    print(
        "  polars vs pure-Python scores, files that agree: "
        + ", ".join(f"{name} {agree[name]}/{n}" for name in names)
    )
    print(f"  verdicts on these three checks that differ (polars vs reference): {len(verdict_differs)} files")
    for path, a, b, detail in verdict_differs[:8]:
        print(f"    {path}: polars {a or 'keep'}, reference {b or 'keep'} ({detail})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample-dir", default="runs/sample")
    parser.add_argument("--work-dir", default="runs/bench-filters", help="where the clone run is made")
    parser.add_argument("--run-dir", default=None, help="reuse the 01_clone files of an existing run")
    parser.add_argument("--repos", type=int, default=None, help="clone the first N sample repositories only")
    parser.add_argument("--limit", type=int, default=None, help="first N files (in repo, path order)")
    parser.add_argument("--warmup", type=int, default=200, help="files of the untimed warm-up calls")
    parser.add_argument(
        "--quick", action="store_true", help=f"first {QUICK_REPOS} repos, {QUICK_FILES} files"
    )
    parser.add_argument("--examples", type=int, default=3, help="example paths per drop reason")
    args = parser.parse_args()
    if args.quick:
        args.repos = args.repos or QUICK_REPOS
        args.limit = args.limit or QUICK_FILES

    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        run_dir = clone_run(Path(args.sample_dir), Path(args.work_dir), args.repos)
    rows = load_rows(run_dir, args.limit)
    texts = [row["content"] for row in rows]
    extensions = [str(row["extension"] or "") for row in rows]
    sizes = [len(text.encode("utf-8")) for text in texts]
    files, mb = len(rows), sum(sizes) / 1e6
    warm_rows = rows[: args.warmup]

    quality = QualityStage()
    thresholds = dict(quality.thresholds)  # the pipeline's overrides of rules/filters.yaml's defaults
    decontaminate = DecontaminateStage()
    rules = load_quality_rules(thresholds)
    print(f"corpus      {run_dir / '01_clone'}: {files} files, {mb:.1f} MB (UTF-8 content)")
    print(
        f"machine     {os.cpu_count()} CPUs; measured in one process, polars threads {pl.thread_pool_size()}"
    )
    print(f"quality     thresholds {rules.defaults} (rules/filters.yaml defaults + overrides {thresholds})")
    print(f"            batch {BATCH}; overridden per extension for {', '.join(sorted(rules.extensions))}")
    print(f"decontam.   builtin {decontaminate.builtin}, min_chars {decontaminate.min_chars}")
    print(f"languages   keep starcoderdata; warm-up on the first {len(warm_rows)} files of each measurement")

    table = Table()

    # language
    language = LanguageFilter("starcoderdata")
    for doc in documents(warm_rows):
        language.filter(doc)
    language = LanguageFilter("starcoderdata")
    docs = documents(rows)
    seconds, results = timed(lambda: [language.filter(doc) for doc in docs])
    kept = sum(1 for result in results if result is True)
    resolved = {k: int(v) for k, v in counters(language).items() if k.startswith("resolved_")}
    table.row("language (starcoderdata)", files, mb, seconds, f"kept {kept}")

    # quality: scores alone, scores + verdicts, pure-Python reference
    for batch in batches(warm_rows):
        score_batch([row["content"] for row in batch], [str(row["extension"] or "") for row in batch], rules)
    seconds, frames = timed(
        lambda: [score_batch(t, e, rules) for t, e in zip(batches(texts), batches(extensions), strict=True)]
    )
    scores = pl.concat(frames)
    vectorized = table.row("quality, 9 scores (score_batch, polars)", files, mb, seconds)

    quality_filter = QualityFilter(thresholds, batch_size=quality.batch_size)
    for batch in batches(documents(warm_rows)):
        quality_filter.filter_batch(batch)
    docs = documents(rows)
    seconds, results = timed(
        lambda: [r for batch in batches(docs) for r in quality_filter.filter_batch(batch)]
    )
    kept = sum(1 for result in results if result is True)
    table.row("quality, scores + verdicts (filter_batch)", files, mb, seconds, f"kept {kept}")

    polars_three_scores(texts[: args.warmup])
    seconds, _ = timed(lambda: [polars_three_scores(batch) for batch in batches(texts)])
    three_rate = table.row("  StarCoder's 3 scores only, polars", files, mb, seconds)

    for text in texts[: args.warmup]:
        reference_scores(text)
    seconds, reference = timed(lambda: [reference_scores(text) for text in texts])
    python_rate = table.row("  StarCoder's 3 scores, pure Python per file", files, mb, seconds)

    # notebooks
    notebook_rows = [row for row in rows if row["language"] == NOTEBOOK_LANGUAGE]
    if notebook_rows:
        converter = NotebookConverter()
        for doc in documents(notebook_rows[:10]):
            converter.filter(doc)
        converter = NotebookConverter()
        docs = documents(notebook_rows)
        seconds, results = timed(lambda: [converter.filter(doc) for doc in docs])
        nb_mb = sum(len(row["content"].encode("utf-8")) for row in notebook_rows) / 1e6
        reasons = Counter(result[1] for result in results if result is not True)
        converted = len(results) - sum(reasons.values())
        note = f"converted {converted}" + "".join(f", {r} {n}" for r, n in sorted(reasons.items()))
        table.row("notebooks (NotebookConverter)", len(notebook_rows), nb_mb, seconds, note)
    else:
        print(f"{'notebooks (NotebookConverter)':46}{0:>8d}  no {NOTEBOOK_LANGUAGE} files in the corpus")

    # decontamination
    decontaminator = Decontaminator(tuple(decontaminate.builtin), (), decontaminate.min_chars)
    build_seconds, _ = timed(lambda: decontaminator.match(""))  # builds the automaton on first use
    for text in texts[: args.warmup]:
        decontaminator.match(text)
    for text in texts[: args.warmup]:
        normalize(text)
    seconds, _ = timed(lambda: [normalize(text) for text in texts])
    table.row("  whitespace normalisation alone", files, mb, seconds)
    seconds, matches = timed(lambda: [decontaminator.match(text) for text in texts])
    contaminated = [(row, found) for row, found in zip(rows, matches, strict=True) if found]
    decontam_rate = table.row(
        "decontamination (Decontaminator.match)", files, mb, seconds, f"matched {len(contaminated)}"
    )

    # the filter stage: language -> quality -> decontaminate through run()
    def chain(collect: bool) -> tuple[list[Any], list[tuple[str, dict[str, Any]]]]:
        dropped: list[tuple[str, dict[str, Any]]] = []

        def writer(stage: str) -> Any:
            return Collector(dropped, stage) if collect else None

        steps = [
            LanguageFilter("starcoderdata", exclusion_writer=writer(LanguageFilter.name)),
            QualityFilter(
                thresholds, exclusion_writer=writer(QualityFilter.name), batch_size=quality.batch_size
            ),
            Decontaminator(
                tuple(decontaminate.builtin),
                (),
                decontaminate.min_chars,
                exclusion_writer=writer(Decontaminator.name),
            ),
        ]
        steps[-1].match("")
        return steps, dropped

    warm_steps, _ = chain(False)
    stream: Any = iter(documents(warm_rows))
    for step in warm_steps:
        stream = step.run(stream, rank=0, world_size=1)
    for _ in stream:
        pass
    steps, dropped = chain(True)
    docs = documents(rows)

    def run_chain() -> int:
        stream: Any = iter(docs)
        for step in steps:
            stream = step.run(stream, rank=0, world_size=1)
        return sum(1 for _ in stream)

    seconds, kept = timed(run_chain)
    table.row("filter stage: language -> quality -> decontam", files, mb, seconds, f"kept {kept}")

    print(
        f"\nquality scores: all 9 with polars {vectorized:.1f} MB/s; StarCoder's 3: "
        f"polars {three_rate:.1f} MB/s, pure Python {python_rate:.1f} MB/s ({three_rate / python_rate:.1f}x)"
    )
    compare_scores(rows, scores, reference, rules)
    patterns = decontaminator.pattern_counts
    print(
        f"decontamination: {sum(patterns.values())} patterns {patterns}"
        f", {int(counters(decontaminator).get('trivial_patterns_humaneval', 0))} trivial ones skipped; "
        f"automaton build {build_seconds:.2f} s (not in the rate); {decontam_rate:.1f} MB/s per core, target "
        f">= 20: {'met' if decontam_rate >= 20 else 'MISSED'}"
    )
    for row, found in contaminated[: args.examples]:
        print(f"  match {found}: {row['repo']}/{row['path']}")
    task, pattern = next(
        (task, text) for task, text in humaneval_patterns() if len(normalize(text)) >= decontaminate.min_chars
    )
    planted = "def helper(values):\n    '''" + pattern.replace("\n", "\n        ") + "'''\n    return None\n"
    found = decontaminator.match(planted)
    print(f"  positive control: {task}'s text re-indented inside a function -> {found or 'NOT FOUND'}")
    if resolved:
        print(f"language heuristics resolved: {resolved}")

    # 2. drop reasons and what each stage kept
    print(f"\n{'stage':14}{'files in':>10}{'kept':>10}{'dropped':>10}{'kept %':>9}")
    for step in steps:
        c = counters(step)
        files_in, files_out = int(c.get("files_in", 0)), int(c.get("files_out", 0))
        share = files_out / files_in if files_in else 0.0
        print(f"{step.name:14}{files_in:>10d}{files_out:>10d}{files_in - files_out:>10d}{share:>9.1%}")

    by_reason: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for stage, metadata in dropped:
        by_reason[(stage, metadata.get("filter_reason") or "?")].append(metadata)
    print(f"\n{'stage':14}{'reason':26}{'files':>8}{'share':>8}  examples")
    order = {step.name: i for i, step in enumerate(steps)}
    for (stage, reason), metas in sorted(by_reason.items(), key=lambda kv: (order[kv[0][0]], -len(kv[1]))):
        examples = ", ".join(f"{m['repo']}/{m['path']}" for m in metas[: args.examples])
        print(f"{stage:14}{reason:26}{len(metas):>8d}{len(metas) / files:>8.1%}  {examples}")
    print(f"{'':14}{'kept':26}{kept:>8d}{kept / files:>8.1%}")
    reported = sum(int(v) for step in steps for k, v in counters(step).items() if k.startswith("dropped_"))
    if reported != len(dropped) or len(dropped) + kept != files:
        print(f"WARNING: {reported} drops counted, {len(dropped)} written, {kept} kept of {files} files")


class Collector:
    """A stand-in exclusion writer: remembers (stage, metadata) of every dropped file, writes nothing."""

    def __init__(self, dropped: list[tuple[str, dict[str, Any]]], stage: str):
        self.dropped = dropped
        self.stage = stage

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, doc: Document, rank: int = 0) -> None:
        self.dropped.append((self.stage, doc.metadata))


if __name__ == "__main__":
    main()
