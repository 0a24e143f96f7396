"""The report's charts: matplotlib figures drawn off-screen (Agg) into PNG bytes, no network, no pyplot.

``report_charts(report)`` makes one ``Chart`` per section of a ``collect_report`` result that has data
(languages, licenses, removal waterfall, near-duplicate clusters, PII, file size, line lengths, top
repositories); ``compare_charts(comparison)`` the two of a ``compare_reports`` result. A chart carries its
PNG as base64, ready for a ``data:image/png;base64,`` URI, so a page that shows it needs no other file.
Figures are made with ``matplotlib.figure.Figure`` (not pyplot's global state), so threads of a web server
can draw at the same time.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackcurate.stats.table import human_bytes

WIDTH_IN, DPI = 9.0, 90
KEPT, REMOVED, NEUTRAL, OTHER_RUN = "#2e7d32", "#c62828", "#1565c0", "#ef6c00"
#: Bars a ranked chart shows; the rest are summed into "other".
TOP = 15


@dataclass(frozen=True)
class Chart:
    """One rendered chart: ``name`` (element id suffix), ``title``, ``alt`` text and the PNG (base64)."""

    name: str
    title: str
    alt: str
    png_base64: str

    @property
    def data_uri(self) -> str:
        return f"data:image/png;base64,{self.png_base64}"


def _label(text: Any) -> str:
    """Text drawn literally: matplotlib would read ``$...$`` as mathtext."""
    return str(text).replace("$", r"\$")


def _figure(height_in: float, draw: Callable[[Any], None], columns: int = 1) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, columns) if columns > 1 else figure.subplots()
    draw(axes)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _ranked(rows: list[dict[str, Any]], key: str, value: str) -> tuple[list[str], list[float]]:
    """The ``TOP`` largest rows by ``value`` and one "other" bar for the rest (largest on top)."""
    ordered = sorted(rows, key=lambda row: -row[value])
    labels = [_label(row[key]) for row in ordered[:TOP]]
    values = [float(row[value]) for row in ordered[:TOP]]
    rest = sum(row[value] for row in ordered[TOP:])
    if rest:
        labels.append(f"other ({len(ordered) - TOP})")
        values.append(float(rest))
    return labels[::-1], values[::-1]


def _barh(
    axes: Any, labels: list[str], values: list[float], color: str, text: Callable[[float], str]
) -> None:
    bars = axes.barh(labels, values, color=color)
    axes.bar_label(bars, labels=[text(v) for v in values], padding=3, fontsize=8)
    axes.margins(x=0.15)
    axes.tick_params(axis="y", labelsize=8)


def _bytes_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: human_bytes(value)))


def _power_of_two(n: float) -> str:
    """2^k bytes as 1 KiB, 4 MiB, ... (histogram bins are powers of two)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} TiB"


def _short(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _languages(report: dict[str, Any]) -> Chart:
    labels, values = _ranked(report["languages"], "language", "bytes")

    def draw(axes: Any) -> None:
        total = sum(values) or 1.0
        _barh(axes, labels, values, NEUTRAL, lambda v: f"{human_bytes(v)} ({100 * v / total:.1f}%)")
        _bytes_axis(axes.xaxis)
        axes.set_xlabel("bytes kept")

    height = 1.2 + 0.28 * len(labels)
    alt = ", ".join(f"{row['language']} {row['share']:.1%}" for row in report["languages"][:5])
    return Chart("languages", "Bytes per language", alt, _figure(height, draw))


def _licenses(report: dict[str, Any]) -> Chart:
    labels, values = _ranked(report["licenses"], "license", "files")

    def draw(axes: Any) -> None:
        _barh(axes, labels, values, NEUTRAL, lambda v: f"{v:,.0f}")
        axes.set_xlabel("files kept")

    height = 1.2 + 0.28 * len(labels)
    alt = ", ".join(f"{row['license']} {row['files']:,} files" for row in report["licenses"][:5])
    return Chart("licenses", "Files per license", alt, _figure(height, draw))


def _waterfall(report: dict[str, Any]) -> Chart:
    flow = report["waterfall"]
    steps = flow["steps"]
    labels = ["files seen"] + [
        f"{step['stage']}: {step['reason'].split('_', 1)[-1].replace('_', ' ')}" for step in steps
    ]
    labels.append("kept")

    def draw(axes: Any) -> None:
        level = flow["start"]
        axes.bar(0, level, color=NEUTRAL)
        for i, step in enumerate(steps, start=1):
            axes.bar(i, step["files"], bottom=level - step["files"], color=REMOVED)
            axes.text(i, level, f"-{step['files']:,}", ha="center", va="bottom", fontsize=7)
            level -= step["files"]
        axes.bar(len(steps) + 1, flow["end"], color=KEPT)
        axes.text(0, flow["start"], f"{flow['start']:,}", ha="center", va="bottom", fontsize=7)
        axes.text(len(steps) + 1, flow["end"], f"{flow['end']:,}", ha="center", va="bottom", fontsize=7)
        axes.set_xticks(range(len(labels)), [_label(label) for label in labels], rotation=60, ha="right")
        axes.tick_params(axis="x", labelsize=8)
        axes.set_ylabel("files")

    alt = f"{flow['start']:,} files seen, {len(steps)} removal steps, {flow['end']:,} kept"
    return Chart("waterfall", "Files removed, stage by stage", alt, _figure(5.0, draw))


def _clusters(report: dict[str, Any]) -> Chart:
    data = report["near_dup_clusters"]
    sizes = [row["size"] for row in data["histogram"]]
    counts = [row["clusters"] for row in data["histogram"]]

    def draw(axes: Any) -> None:
        if not sizes:
            axes.text(0.5, 0.5, "no near-duplicate clusters", ha="center", va="center")
            axes.set_axis_off()
            return
        bars = axes.bar([str(size) for size in sizes], counts, color=NEUTRAL)
        axes.bar_label(bars, padding=2, fontsize=8)
        axes.set_yscale("log")
        axes.set_xlabel("files in the cluster (one kept)")
        axes.set_ylabel("clusters")

    alt = f"{data['clusters']:,} clusters of {data['files']:,} files"
    return Chart("clusters", "Near-duplicate cluster sizes", alt, _figure(3.6, draw))


def _pii(report: dict[str, Any]) -> Chart:
    data = report["pii"]
    kinds = list(data["redacted"]) or ["none"]
    counts = list(data["redacted"].values()) or [0]

    def draw(axes: Any) -> None:
        bars = axes.bar(kinds, counts, color=REMOVED)
        axes.bar_label(bars, labels=[f"{count:,}" for count in counts], padding=2, fontsize=8)
        axes.set_ylabel("values replaced")
        axes.set_title(f"{data['files_with_pii']:,} files had PII", fontsize=9)

    alt = ", ".join(f"{kind} {count:,}" for kind, count in data["redacted"].items()) or "no PII found"
    return Chart("pii", "PII replaced, by type", alt, _figure(3.2, draw))


def _bin_label(high: float, unit: str) -> str:
    return f"<{_power_of_two(high)}" if unit == "bytes" else f"<{high:,.0f}"


def _histogram(axes: Any, distribution: dict[str, Any], xlabel: str) -> None:
    bins = distribution["histogram"]
    labels = [_bin_label(row["high"], distribution["unit"]) for row in bins]
    axes.bar(labels, [row["files"] for row in bins], color=NEUTRAL)
    axes.tick_params(axis="x", labelsize=7, labelrotation=45)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("files")
    if distribution["p50"] is not None:
        p50, p90, top = (_short(distribution[key]) for key in ("p50", "p90", "max"))
        axes.set_title(f"median {p50}, p90 {p90}, max {top}", fontsize=9)


def _sizes(report: dict[str, Any]) -> Chart:
    size = report["distributions"]["size_bytes"]

    def draw(axes: Any) -> None:
        _histogram(axes, size, "file size (bytes, bins of powers of two)")

    alt = f"median {size['p50']} bytes, max {size['max']} bytes"
    return Chart("file-size", "File size", alt, _figure(3.6, draw))


def _line_lengths(report: dict[str, Any]) -> Chart:
    longest = report["distributions"]["max_line_length"]
    mean = report["distributions"]["avg_line_length"]

    def draw(axes: Any) -> None:
        _histogram(axes[0], longest, "longest line (characters)")
        _histogram(axes[1], mean, "mean line length (characters)")

    alt = f"longest line median {longest['p50']}, mean line length median {mean['p50']}"
    return Chart("line-length", "Line lengths", alt, _figure(3.6, draw, columns=2))


def _top_repos(report: dict[str, Any]) -> Chart:
    rows = report["top_repos"]
    labels = [_label(row["repo"]) for row in rows][::-1]
    values = [float(row["bytes"]) for row in rows][::-1]

    def draw(axes: Any) -> None:
        _barh(axes, labels, values, KEPT, human_bytes)
        _bytes_axis(axes.xaxis)
        axes.set_xlabel("bytes kept")

    alt = ", ".join(f"{row['repo']} {human_bytes(row['bytes'])}" for row in rows[:5])
    return Chart(
        "top-repos", f"Top {len(rows)} repositories by kept bytes", alt, _figure(1.2 + 0.26 * len(rows), draw)
    )


def report_charts(report: dict[str, Any]) -> list[Chart]:
    """The charts of a ``collect_report`` result, in report order; sections without data have none."""
    if report.get("dataset") is None:
        return []
    makers: list[tuple[str, Callable[[dict[str, Any]], Chart]]] = [
        ("languages", _languages),
        ("licenses", _licenses),
        ("waterfall", _waterfall),
        ("near_dup_clusters", _clusters),
        ("pii", _pii),
        ("distributions", _sizes),
        ("distributions", _line_lengths),
        ("top_repos", _top_repos),
    ]
    return [make(report) for section, make in makers if report.get(section)]


def _paired(
    axes: Any, labels: list[str], a: list[float], b: list[float], names: tuple[str, str], xlabel: str
) -> None:
    import numpy as np

    rows = np.arange(len(labels))
    axes.barh(rows + 0.2, a, height=0.4, color=NEUTRAL, label=_label(names[0]))
    axes.barh(rows - 0.2, b, height=0.4, color=OTHER_RUN, label=_label(names[1]))
    axes.set_yticks(rows, labels)
    axes.tick_params(axis="y", labelsize=8)
    axes.set_xlabel(xlabel)
    axes.legend(fontsize=8, loc="best")


def _tail(run: str) -> str:
    """The last two parts of a run's path: enough to tell two runs apart in a legend."""
    return "/".join(str(run).rstrip("/").split("/")[-2:])


def compare_charts(comparison: dict[str, Any]) -> list[Chart]:
    """Bytes per language and files removed per stage, run A beside run B."""
    names = (f"A: {_tail(comparison['a'])}", f"B: {_tail(comparison['b'])}")
    languages = comparison["languages"][:TOP][::-1]
    stages = comparison["stages"][::-1]

    def draw_languages(axes: Any) -> None:
        labels = [_label(row["language"]) for row in languages]
        a = [float(row["bytes"]["a"]) for row in languages]
        b = [float(row["bytes"]["b"]) for row in languages]
        _paired(axes, labels, a, b, names, "bytes kept")
        _bytes_axis(axes.xaxis)

    def draw_stages(axes: Any) -> None:
        labels = [_label(row["stage"]) for row in stages]
        a = [float(row["removed"]["a"]) for row in stages]
        b = [float(row["removed"]["b"]) for row in stages]
        _paired(axes, labels, a, b, names, "files removed")

    changed = [row["language"] for row in comparison["languages"] if row["bytes"]["change"]]
    return [
        Chart(
            "compare-languages",
            "Bytes per language, A and B",
            f"languages whose bytes changed: {', '.join(changed[:10]) or 'none'}",
            _figure(1.4 + 0.4 * len(languages), draw_languages),
        ),
        Chart(
            "compare-stages",
            "Files removed per stage, A and B",
            ", ".join(f"{row['stage']} {row['removed']['change']:+,}" for row in comparison["stages"]),
            _figure(1.4 + 0.4 * len(stages), draw_stages),
        ),
    ]
