"""The statistics report as one self-contained HTML file (``stackcurate stats RUN --html FILE``).

The page is ``templates/stats_report.html``: inline CSS, the charts as PNG data URIs, no script and no
external URL, so it opens from disk or an attachment with no network (its Content-Security-Policy forbids
loading anything else). ``templates/stats_body.html`` is the part ``stackcurate serve`` shows on ``/stats``.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackcurate import __version__
from stackcurate.stats.table import human_bytes

TEMPLATES = Path(__file__).with_name("templates")
DISTRIBUTION_LABELS = {
    "size_bytes": "file size",
    "max_line_length": "longest line",
    "avg_line_length": "mean line length",
}


def _num(value: float) -> str:
    return f"{value:,}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def report_context(report: dict[str, Any], comparison: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``stats_body.html`` needs: the report, the comparison, their charts by name, formatters."""
    from stackcurate.stats.charts import compare_charts, report_charts

    charts = report_charts(report)
    if comparison is not None:
        charts += compare_charts(comparison)
    return {
        "report": report,
        "comparison": comparison,
        "charts": {chart.name: chart for chart in charts},
        "num": _num,
        "duration": _duration,
        "human_bytes": human_bytes,
        "distribution_labels": DISTRIBUTION_LABELS,
    }


def render_report_html(report: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined
    )
    template = environment.get_template("stats_report.html")
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return template.render(version=__version__, generated=generated, **report_context(report, comparison))


def write_report_html(
    report: dict[str, Any], path: str | Path, comparison: dict[str, Any] | None = None
) -> Path:
    """Render the report into ``path`` atomically (a temporary name, then a rename); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    html = render_report_html(report, comparison)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
