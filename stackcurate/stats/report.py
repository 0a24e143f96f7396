"""Dataset statistics of a run: what its curated output holds and how it got there (``stackcurate stats``).

``collect_report(out)`` returns ``collect_run_stats(out)`` (``run``, ``complete``, ``stages``, unchanged) with
the run's own sections (``stats.run_sections``: ``metadata``, ``funnel``, ``shards``, ``dedup``) and these
added:

- ``dataset``: files, bytes (UTF-8 content), repositories, and tokens when ``<out>/shards/`` is complete;
- ``languages``: per language files, bytes, tokens (from the shards' ``n_tokens``; null without shards) and
  ``share`` of the bytes, largest first;
- ``licenses``: per license expression (the file's directory's) repositories, files, bytes, ``share``;
- ``waterfall``: files the clone walk saw (``start``), every removal in pipeline order (stage, reason
  counter, files) from the stats JSON ``removed`` counters, and the files kept (``end``, counted in the
  Parquet); when the two disagree (a purge after the run, an unfinished run) a last step says by how much.
  ``repos`` lists repositories removed before or while cloning (opt-out list, failed clones);
- ``near_dup_clusters``: how many near-duplicate clusters (two files or more) have each size, from
  ``<out>/minhash/clusters/`` (else the curated ``cluster_size`` column); null without near dedup;
- ``pii``: values replaced per type, per recognizer (``by_recognizer``: type, recognizer, count) and files
  with PII (the PII stage's counters); null without that stage;
- ``distributions``: file size (bytes), longest line and mean line length (characters) of the curated
  files: power-of-two histograms (``low`` <= value < ``high``; a first bin [0, 1)) and min, mean, p50, p90,
  p99, max. Line lengths are the quality filter's score columns when the run has them (scored before PII
  redaction, which changes a few lines by a few characters), else computed from ``content`` with the
  quality filter's definitions (lines end at LF, CRLF or CR);
- ``top_repos``: the repositories with the most kept bytes (files, bytes, licenses).

Parquet is read by polars lazy scans of only the columns a section needs, run by the streaming engine:
memory follows the number of groups (languages, licenses, repositories), not the size of the data, except
``distributions``, which holds three numbers per file (24 bytes) for its quantiles. Line lengths computed
from the content read ``BATCH_ROWS`` files at a time (pyarrow batches, polars string expressions).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
from datatrove.io import get_datafolder

from stackcurate.errors import FatalError
from stackcurate.layout import RunLayout
from stackcurate.manifest import RunManifest
from stackcurate.stats.run_sections import run_sections
from stackcurate.stats.run_stats import collect_run_stats

#: Steps that replay another stage's decisions for a later pass; their removals are counted where they
#: really happen (the curate pass), so the waterfall leaves them out.
REPLAYED = {"exact dedup: replay"}
#: Counter prefixes of removals of files (the others, ``repos_failed_`` and ``list_skipped_``, count repos).
FILE_REMOVALS = ("dropped_", "skipped_")
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
DISTRIBUTIONS = {
    "size_bytes": "bytes",
    "max_line_length": "characters",
    "avg_line_length": "characters",
}
#: Rows of content in memory at once when line lengths are computed from the content.
BATCH_ROWS = 256
#: Token counts come from a finished shards folder only (its manifest is written last).
SHARDS_MANIFEST = "manifest.json"


def _parquet_files(path: str) -> list[str]:
    """Full paths of the ``*.parquet`` files directly in folder ``path`` (none when it does not exist)."""
    folder = get_datafolder(path)
    return [folder.resolve_paths(name) for name in sorted(folder.list_files(glob_pattern="*.parquet"))]


def curated_files(out: str | Path) -> list[str]:
    """The curated Parquet files of run ``out``; a ``FatalError`` when there are none."""
    folder = RunLayout(str(out)).curated
    files = _parquet_files(folder)
    if not files:
        raise FatalError(f"{out} has no curated output ({folder}/*.parquet): is the run finished?")
    return files


def _line_length_columns(text: pl.Expr) -> list[pl.Expr]:
    """``max_line_length`` and ``avg_line_length`` as ``QualityFilter`` scores them (filters/quality.py)."""
    text = text.str.replace_all("\r\n", "\n", literal=True).str.replace_all("\r", "\n", literal=True)
    newlines = text.str.count_matches("\n", literal=True)
    lines = (newlines + 1 - text.str.ends_with("\n").cast(pl.UInt32)).clip(lower_bound=1)
    longest = text.str.split("\n").list.eval(pl.element().str.len_chars()).list.max()
    return [
        longest.fill_null(0).cast(pl.Int64).alias("max_line_length"),
        ((text.str.len_chars() - newlines) / lines).alias("avg_line_length"),
    ]


def file_frame(files: list[str]) -> pl.LazyFrame:
    """One row per curated file (lazy): ``repo``, ``language``, ``license``, ``size_bytes``; null names
    become ``unknown`` (language, repo) and ``none`` (license)."""
    scan = pl.scan_parquet(files)
    names = set(scan.collect_schema().names())
    if "repo" not in names or ("content" not in names and "size_bytes" not in names):
        raise FatalError(f"{files[0]} has no repo/content columns: not a stackcurate output")
    return scan.select(
        pl.col("repo").fill_null("unknown"),
        pl.col("language").fill_null("unknown")
        if "language" in names
        else pl.lit("unknown").alias("language"),
        pl.col("license").fill_null("none") if "license" in names else pl.lit("unknown").alias("license"),
        pl.col("size_bytes")
        if "size_bytes" in names
        else pl.col("content").str.len_bytes().alias("size_bytes"),
    )


def content_line_lengths(files: list[str], batch_rows: int = BATCH_ROWS) -> pl.DataFrame:
    """``max_line_length`` and ``avg_line_length`` of every file, from its content, read ``batch_rows``
    rows at a time (memory: one batch of content and its lines, plus 16 bytes per file)."""
    parts = [pl.DataFrame(schema={"max_line_length": pl.Int64, "avg_line_length": pl.Float64})]
    for path in files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=["content"]):
            frame = pl.DataFrame(pl.from_arrow(batch))
            parts.append(frame.select(_line_length_columns(pl.col("content"))))
    return pl.concat(parts)


def _distribution(values: pl.Series, unit: str) -> dict[str, Any]:
    """min, mean, quantiles, max and the power-of-two histogram of ``values`` (nulls left out):
    bin -1 is [0, 1), bin k is [2^k, 2^(k+1))."""
    values = values.drop_nulls().cast(pl.Float64)
    summary: dict[str, Any] = {"unit": unit}
    summary["min"], summary["mean"] = _number(values.min()), _number(values.mean())
    for name, q in QUANTILES.items():
        summary[name] = _number(values.quantile(q, "nearest"))
    summary["max"] = _number(values.max())
    bins = pl.when(values < 1).then(pl.lit(-1)).otherwise(values.log(2).floor()).cast(pl.Int32)
    counts = pl.select(bins.alias("bin")).group_by("bin").len()
    found = dict(zip(counts["bin"].to_list(), counts["len"].to_list(), strict=True))
    summary["histogram"] = [
        {"low": 0 if k < 0 else 2**k, "high": 1 if k < 0 else 2 ** (k + 1), "files": int(found.get(k, 0))}
        for k in (range(min(found), max(found) + 1) if found else ())
    ]
    return summary


def distributions_of(files: list[str], line_lengths: str = "auto") -> dict[str, Any]:
    """The ``distributions`` section. ``line_lengths``: ``auto`` takes the quality filter's score columns
    when the files have them and reads the content otherwise; ``content`` always reads the content."""
    if line_lengths not in ("auto", "content"):
        raise FatalError(f"line_lengths must be 'auto' or 'content', got {line_lengths!r}")
    scan = pl.scan_parquet(files)
    names = set(scan.collect_schema().names())
    scored = line_lengths == "auto" and {"max_line_length", "avg_line_length"} <= names
    columns = ["max_line_length", "avg_line_length"] if scored else []
    size = pl.col("size_bytes") if "size_bytes" in names else pl.col("content").str.len_bytes()
    values = scan.select(size.alias("size_bytes"), *columns).collect(engine="streaming")
    if not scored:
        lengths = content_line_lengths(files) if "content" in names else pl.DataFrame()
        for column in ("max_line_length", "avg_line_length"):
            values = values.with_columns(
                lengths[column] if column in lengths.columns else pl.lit(None, pl.Float64).alias(column)
            )
    return {column: _distribution(values[column], unit) for column, unit in DISTRIBUTIONS.items()}


def _number(value: Any) -> float | int | None:
    """JSON-friendly: None for no value, whole numbers as ints (quantiles of integer columns come back as
    floats), other floats to 3 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return round(value, 3)
    return int(value)


def _shard_tokens(out: str | Path) -> dict[str, int] | None:
    """Tokens per language in ``<out>/shards/`` (finished shards only), or None."""
    folder = RunLayout(str(out)).join("shards")
    if not get_datafolder(folder).exists(SHARDS_MANIFEST):
        return None
    files = _parquet_files(folder)
    if not files:
        return {}
    tokens = (
        pl.scan_parquet(files)
        .select(pl.col("language").fill_null("unknown"), pl.col("n_tokens").cast(pl.Int64))
        .group_by("language")
        .agg(pl.col("n_tokens").sum())
        .collect(engine="streaming")
    )
    return {str(language): int(n) for language, n in tokens.iter_rows()}


def _clusters(out: str | Path, files: list[str]) -> dict[str, Any] | None:
    """Sizes of the near-duplicate clusters of two files or more, from the clusters pass (one kept file
    per cluster) or, without its folder, from the curated ``cluster_size`` column."""
    clusters = _parquet_files(RunLayout(str(out)).join("minhash", "clusters"))
    if clusters:
        source = "minhash/clusters"
        query = pl.scan_parquet(clusters).filter(pl.col("keep")).select("cluster_size")
    else:
        scan = pl.scan_parquet(files)
        if "cluster_size" not in scan.collect_schema().names():
            return None
        source = "curated"
        query = scan.select("cluster_size")
    sizes = (
        query.filter(pl.col("cluster_size") >= 2)
        .group_by("cluster_size")
        .len()
        .sort("cluster_size")
        .collect(engine="streaming")
    )
    histogram = [{"size": int(size), "clusters": int(n)} for size, n in sizes.iter_rows()]
    return {
        "source": source,
        "clusters": sum(row["clusters"] for row in histogram),
        "files": sum(row["size"] * row["clusters"] for row in histogram),
        "histogram": histogram,
    }


def _pii(stages: list[dict[str, Any]]) -> dict[str, Any] | None:
    entries = [stage for stage in stages if stage["stage"] == "pii"]
    if not entries:
        return None
    redacted: dict[str, int] = {}
    recognizers: dict[tuple[str, str], int] = {}
    files_with_pii = 0
    for stage in entries:
        files_with_pii += stage["counters"].get("files_with_pii", 0)
        for counter, value in stage["counters"].items():
            if counter.startswith("redacted_"):
                kind = counter.removeprefix("redacted_")
                redacted[kind] = redacted.get(kind, 0) + value
            elif counter.startswith("recognizer:"):
                _, kind, name = counter.split(":", 2)
                recognizers[kind, name] = recognizers.get((kind, name), 0) + value
    by_recognizer = [
        {"type": kind, "recognizer": name, "count": value}
        for (kind, name), value in sorted(recognizers.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {
        "files_with_pii": files_with_pii,
        "redacted": dict(sorted(redacted.items())),
        "by_recognizer": by_recognizer,
    }


def _purged_rows(out: str | Path) -> int:
    """Curated rows ``stackcurate opt-out purge`` took away after the run finished, net of the files it
    promoted in their place (the ledger's purge records)."""
    manifest = RunManifest.load(str(out))
    return manifest.curated_rows_purged() if manifest is not None else 0


def waterfall(stages: list[dict[str, Any]], kept: int, purged: int = 0) -> dict[str, Any]:
    """Files in, each removal in pipeline order, files kept (see the module docstring)."""
    real = [stage for stage in stages if stage["stage"] not in REPLAYED]
    start = next((stage["files_in"] for stage in real if stage["files_in"]), 0)
    steps: list[dict[str, Any]] = []
    repos: list[dict[str, Any]] = []
    for stage in real:
        for reason, count in stage["removed"].items():
            if not count:
                continue
            row = {"pass": stage["pass"], "stage": stage["stage"], "reason": reason}
            if reason.startswith(FILE_REMOVALS):
                steps.append({**row, "files": int(count)})
            else:
                repos.append({**row, "repos": int(count)})
    left = start - sum(step["files"] for step in steps) - kept
    if left:
        reason = "purged_opted_out" if purged == left else "unaccounted"
        steps.append({"pass": "-", "stage": "after the run", "reason": reason, "files": left})
    return {"start": start, "steps": steps, "end": kept, "repos": repos}


def collect_report(
    out: str | Path,
    top_repos: int = 20,
    line_lengths: str = "auto",
    require_curated: bool = True,
    distributions: bool = True,
    stats: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Per-stage counts and dataset statistics of run ``out`` (see the module docstring).

    ``top_repos``: how many repositories ``top_repos`` lists (default 20); ``line_lengths``: see
    ``distributions_of``. Without curated Parquet the dataset sections are null when ``require_curated``
    is false, else it is a ``FatalError``. ``distributions=False`` leaves that section out (null), and with
    it the only part that may read ``content`` (a comparison needs none of it). ``stats``: the per-stage
    counts (``collect_run_stats``'s answer) when the caller has them, not read again."""
    report = dict(stats) if stats is not None else collect_run_stats(str(out))
    report.update(run_sections(str(out), report))
    try:
        files = curated_files(out)
    except FatalError:
        if require_curated:
            raise
        for key in ("dataset", "languages", "licenses", "waterfall", "near_dup_clusters", "pii"):
            report[key] = None
        report.update(distributions=None, top_repos=None)
        return report
    frame = file_frame(files)
    count = [pl.len().alias("files"), pl.col("size_bytes").sum().alias("bytes")]
    queries = [
        frame.group_by("language").agg(count).sort(["bytes", "language"], descending=[True, False]),
        frame.group_by("license")
        .agg([*count, pl.col("repo").n_unique().alias("repos")])
        .sort(["bytes", "license"], descending=[True, False]),
        frame.group_by("repo")
        .agg([*count, pl.col("license").unique().sort().alias("licenses")])
        .sort(["bytes", "repo"], descending=[True, False]),
    ]
    languages, licenses, repos = pl.collect_all(queries, engine="streaming")
    total_files = int(languages["files"].sum())
    total_bytes = int(languages["bytes"].sum())
    tokens = _shard_tokens(out)

    def share(part: int) -> float:
        return round(part / total_bytes, 6) if total_bytes else 0.0

    report["dataset"] = {
        "files": total_files,
        "bytes": total_bytes,
        "repos": repos.height,
        "tokens": sum(tokens.values()) if tokens is not None else None,
        "languages": languages.height,
        "licenses": licenses.height,
    }
    report["languages"] = [
        {
            "language": row["language"],
            "files": row["files"],
            "bytes": row["bytes"],
            "tokens": tokens.get(row["language"], 0) if tokens is not None else None,
            "share": share(row["bytes"]),
        }
        for row in languages.iter_rows(named=True)
    ]
    report["licenses"] = [
        {**{key: row[key] for key in ("license", "repos", "files", "bytes")}, "share": share(row["bytes"])}
        for row in licenses.iter_rows(named=True)
    ]
    report["waterfall"] = waterfall(report["stages"], total_files, _purged_rows(out))
    report["near_dup_clusters"] = _clusters(out, files)
    report["pii"] = _pii(report["stages"])
    report["distributions"] = distributions_of(files, line_lengths) if distributions else None
    report["top_repos"] = [
        {"repo": row["repo"], "files": row["files"], "bytes": row["bytes"], "licenses": row["licenses"]}
        for row in repos.head(top_repos).iter_rows(named=True)
    ]
    return report
