"""Render collected run statistics as console tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

#: Pass-through steps (they neither add nor remove files) left out of the console table; JSON keeps them.
PLUMBING = {"parquet reader", "parquet writer", "exact dedup: hash", "exact dedup: decide"}


def human_bytes(n: float) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} PB"


def stages_table(stats: dict[str, Any], title: str | None = None) -> Group:
    """Two tables: one row per stage (files/bytes in and out, removed, task-seconds), then removal reasons."""
    table = Table(title=title or f"stackcurate run {stats['run']}", title_justify="left")
    for column in ("pass", "stage", "files in", "files out", "removed", "bytes in", "bytes out", "task-s"):
        table.add_column(column, justify="left" if column in ("pass", "stage") else "right")
    reasons = Table(title="removed, by reason", title_justify="left")
    for column in ("stage", "reason", "files"):
        reasons.add_column(column, justify="right" if column == "files" else "left")
    for stage in stats["stages"]:
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
    return Group(table, reasons)
