"""Render collected run statistics as console tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

#: Pass-through steps (they neither add nor remove files) left out of the console table; JSON keeps them.
PLUMBING = {
    "parquet reader",
    "parquet writer",
    "exact dedup: hash",
    "exact dedup: decide",
    "exact dedup: replay",
    "near dedup: signatures",
    "near dedup: pairs",
    "near dedup: clusters",
}
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
    """One row per stage (files/bytes in and out, removed, task-seconds), the removal reasons, and the
    inner counters of dedup stages (``DETAILS``) when the run has any."""
    table = Table(title=title or f"stackcurate run {stats['run']}", title_justify="left")
    for column in ("pass", "stage", "files in", "files out", "removed", "bytes in", "bytes out", "task-s"):
        table.add_column(column, justify="left" if column in ("pass", "stage") else "right")
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
        if stage["stage"] in PLUMBING:
            continue
        table.add_row(
            stage["pass"],
            stage["stage"],
            f"{stage['files_in']:,}",
            f"{stage['files_out']:,}",
            f"{stage['files_in'] - stage['files_out']:,}",
            human_bytes(stage["bytes_in"]),
            human_bytes(stage["bytes_out"]),
            f"{stage['seconds']:.1f}",
        )
        extra = stage["counters"]
        if "repos_in" in extra:
            failed = extra["repos_in"] - extra.get("repos_ok", 0)
            reasons.add_row(
                stage["stage"], "repositories failed to clone", f"{failed:,} of {extra['repos_in']:,}"
            )
        for reason, count in stage["removed"].items():
            if count and reason.startswith(("dropped_", "skipped_")):
                reasons.add_row(stage["stage"], reason, f"{count:,}")
            elif count:
                reasons.add_row(stage["stage"], reason, f"{count:,} repos")
    return Group(table, reasons, details) if details.row_count else Group(table, reasons)
