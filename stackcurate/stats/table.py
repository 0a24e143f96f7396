"""Render collected run statistics as console tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from stackcurate.stats.funnel import PLUMBING, funnel

#: Counters worth a line of their own: what happened inside dedup stages, what PII redaction replaced.
DETAILS = {
    "exact dedup: decide": {"duplicates": "copies of a kept file"},
    "near dedup: signatures": {
        "signatures": "files with a MinHash signature",
        "too_short": "files too short to shingle (kept)",
    },
    "near dedup: pairs": {"candidate_pairs": "candidate pairs (per bucket group)"},
    "pii": {
        "files_with_pii": "files with PII (redacted)",
        "redacted_EMAIL": "emails redacted",
        "redacted_IP_ADDRESS": "IP addresses replaced",
        "redacted_KEY": "keys and tokens redacted",
        "redacted_PASSWORD": "passwords redacted",
        "redacted_NAME": "names redacted",
    },
    "near dedup: clusters": {
        "candidate_pairs": "distinct candidate pairs",
        "pairs_below_threshold": "pairs dropped by verify",
        "clusters": "clusters",
        "files_in_clusters": "files in clusters",
        "near_duplicates": "near duplicates",
    },
}


def human_bytes(n: float) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} PB"


def stages_table(stats: dict[str, Any], title: str | None = None) -> Group:
    """One row per stage that counts files (files/bytes in and out, removed, task-seconds), and one per
    pass that counts none (dedup passes, components rounds, shards: its tasks and time, no file columns);
    ``wall``: the pass's wall seconds when ``stackcurate run`` recorded them. Then the removal reasons and
    the inner counters of dedup stages (``DETAILS``) when the run has any."""
    table = Table(title=title or f"stackcurate run {stats['run']}", title_justify="left")
    columns = ("pass", "stage", "tasks", "files in", "files out", "removed", "bytes in", "bytes out")
    for column in (*columns, "task-s", "wall s"):
        text = column in ("pass", "stage")
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    reasons = Table(title="removed, by reason", title_justify="left")
    for column in ("stage", "reason", "files"):
        reasons.add_column(column, justify="right" if column == "files" else "left")
    details = Table(title="details", title_justify="left")
    for column in ("stage", "counter", "value"):
        details.add_column(column, justify="right" if column == "value" else "left")
    for stage in stats["stages"]:
        for counter, label in DETAILS.get(stage["stage"], {}).items():
            if counter in stage["counters"]:
                details.add_row(stage["stage"], label, f"{stage['counters'][counter]:,}")
    for row in funnel(stats):
        first = row["first"]
        wall = "" if not first else "-" if row["wall"] is None else f"{row['wall']:.1f}"
        if row["kind"] == "pass":
            table.add_row(
                row["pass"], row["stage"], f"{row['tasks']:,}", *["-"] * 5, f"{row['seconds']:.1f}", wall
            )
            continue
        table.add_row(
            row["pass"] if first else "",
            row["stage"],
            f"{row['tasks']:,}" if first else "",
            f"{row['files_in']:,}",
            f"{row['files_out']:,}",
            f"{row['files_in'] - row['files_out']:,}",
            human_bytes(row["bytes_in"]),
            human_bytes(row["bytes_out"]),
            f"{row['seconds']:.1f}",
            wall,
        )
    for stage in stats["stages"]:
        extra = stage["counters"]
        if "repos_in" in extra:
            failed = extra["repos_in"] - extra.get("repos_ok", 0)
            reasons.add_row(
                stage["stage"], "repositories failed to clone", f"{failed:,} of {extra['repos_in']:,}"
            )
        if stage["stage"] in PLUMBING:
            continue
        for reason, count in stage["removed"].items():
            if count and reason.startswith(("dropped_", "skipped_")):
                reasons.add_row(stage["stage"], reason, f"{count:,}")
            elif count:
                reasons.add_row(stage["stage"], reason, f"{count:,} repos")
    return Group(table, reasons, details) if details.row_count else Group(table, reasons)


def _table(title: str, columns: list[str], left: int = 1) -> Table:
    """A table whose first ``left`` columns are text (left-aligned) and the others numbers."""
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < left else "right")
    return table


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _change(value: float | None, as_bytes: bool = False) -> str:
    if value is None:
        return "-"
    if as_bytes:
        return ("+" if value > 0 else "-" if value < 0 else "") + human_bytes(abs(value))
    return f"{value:+,}" if value else "0"


def report_tables(report: dict[str, Any], rows: int = 20) -> Group:
    """The dataset sections of a ``collect_report`` result (``stats.report``): totals, languages, licenses,
    removal waterfall, near-duplicate clusters, PII, size and line-length summaries, top repositories.
    Ranked tables show their first ``rows`` rows."""
    dataset = report["dataset"]
    summary = _table("dataset", ["", "value"])
    tokens = "no shards" if dataset["tokens"] is None else f"{dataset['tokens']:,}"
    for label, value in (
        ("files", f"{dataset['files']:,}"),
        ("bytes", human_bytes(dataset["bytes"])),
        ("repositories", f"{dataset['repos']:,}"),
        ("tokens", tokens),
        ("languages", f"{dataset['languages']:,}"),
        ("licenses", f"{dataset['licenses']:,}"),
    ):
        summary.add_row(label, value)
    languages = _table("languages", ["language", "files", "bytes", "tokens", "share"])
    for row in report["languages"][:rows]:
        share = f"{100 * row['share']:.2f}%"
        languages.add_row(
            row["language"], f"{row['files']:,}", human_bytes(row["bytes"]), _number(row["tokens"]), share
        )
    licenses = _table("licenses", ["license", "repos", "files", "bytes", "share"])
    for row in report["licenses"][:rows]:
        licenses.add_row(
            row["license"],
            f"{row['repos']:,}",
            f"{row['files']:,}",
            human_bytes(row["bytes"]),
            f"{100 * row['share']:.2f}%",
        )
    flow = report["waterfall"]
    waterfall = _table("files removed, stage by stage", ["stage", "reason", "files", "left"], left=2)
    left = flow["start"]
    waterfall.add_row("clone", "files seen", "", f"{left:,}")
    for step in flow["steps"]:
        left -= step["files"]
        waterfall.add_row(step["stage"], step["reason"], f"-{step['files']:,}", f"{left:,}")
    waterfall.add_row("", "kept (curated Parquet)", "", f"{flow['end']:,}")
    for row in flow["repos"]:
        waterfall.add_row(row["stage"], row["reason"], f"-{row['repos']:,} repos", "")
    parts: list[Any] = [summary, languages, licenses, waterfall]
    clusters = report["near_dup_clusters"]
    if clusters:
        sizes = _table("near-duplicate clusters", ["files in cluster", "clusters"])
        for row in clusters["histogram"]:
            sizes.add_row(str(row["size"]), f"{row['clusters']:,}")
        sizes.add_row("all", f"{clusters['clusters']:,} ({clusters['files']:,} files)")
        parts.append(sizes)
    pii = report["pii"]
    if pii:
        redacted = _table(f"PII: {pii['files_with_pii']:,} files had PII", ["type", "values replaced"])
        for kind, count in pii["redacted"].items():
            redacted.add_row(kind, f"{count:,}")
        parts.append(redacted)
        if pii.get("by_recognizer"):
            rules = _table(
                "PII by recognizer (rules/pii.yaml)", ["type", "recognizer", "values replaced"], left=2
            )
            for row in pii["by_recognizer"]:
                rules.add_row(row["type"], row["recognizer"], f"{row['count']:,}")
            parts.append(rules)
    keys = ["min", "mean", "p50", "p90", "p99", "max"]
    distributions = _table("distributions", ["", "unit", *keys], left=2)
    for name, dist in (report["distributions"] or {}).items():
        distributions.add_row(name, dist["unit"], *(_number(dist[key]) for key in keys))
    top = _table("top repositories by kept bytes", ["repository", "files", "bytes", "licenses"])
    top.columns[3].justify = "left"
    for row in report["top_repos"][:rows]:
        top.add_row(row["repo"], f"{row['files']:,}", human_bytes(row["bytes"]), ", ".join(row["licenses"]))
    return Group(*parts, distributions, top)


def _unchanged(table: Table, count: int, what: str) -> None:
    if count:
        table.add_row(f"({count:,} {what} unchanged)", *[""] * (len(table.columns) - 1))


def compare_tables(comparison: dict[str, Any], rows: int = 20) -> Group:
    """A ``compare_reports`` result (``stats.compare``): totals, languages, licenses and removals of runs A
    and B with the change B - A. Languages and licenses: the (first ``rows``) ones that changed, then how
    many did not; removals: every reason of either run."""
    runs = Text(f"A: {comparison['a']}\nB: {comparison['b']}\nchange = B - A")
    dataset = _table("dataset", ["", "A", "B", "change"])
    for key, triple in comparison["dataset"].items():
        dataset.add_row(key, _number(triple["a"]), _number(triple["b"]), _change(triple["change"]))
    languages = _table("languages", ["language", "files A", "files B", "change", "bytes change"])
    changed = [row for row in comparison["languages"] if row["files"]["change"] or row["bytes"]["change"]]
    for row in changed[:rows]:
        files = row["files"]
        languages.add_row(
            row["language"],
            f"{files['a']:,}",
            f"{files['b']:,}",
            _change(files["change"]),
            _change(row["bytes"]["change"], as_bytes=True),
        )
    _unchanged(languages, len(comparison["languages"]) - len(changed), "languages")
    licenses = _table("licenses", ["license", "repos A", "repos B", "files A", "files B", "change"])
    changed = [
        row
        for row in comparison["licenses"]
        if any(row[key]["change"] for key in ("repos", "files", "bytes"))
    ]
    for row in changed[:rows]:
        repos, files = row["repos"], row["files"]
        licenses.add_row(
            row["license"],
            f"{repos['a']:,}",
            f"{repos['b']:,}",
            f"{files['a']:,}",
            f"{files['b']:,}",
            _change(files["change"]),
        )
    _unchanged(licenses, len(comparison["licenses"]) - len(changed), "licenses")
    removals = _table("files removed", ["stage", "reason", "A", "B", "change"], left=2)
    for row in comparison["removals"]:
        files = row["files"]
        removals.add_row(
            row["stage"], row["reason"], f"{files['a']:,}", f"{files['b']:,}", _change(files["change"])
        )
    for row in comparison["repo_removals"]:
        repos = row["repos"]
        removals.add_row(
            row["stage"],
            row["reason"],
            f"{repos['a']:,} repos",
            f"{repos['b']:,} repos",
            _change(repos["change"]),
        )
    return Group(runs, dataset, languages, licenses, removals)
