"""The few lines ``stackcurate run`` (and ``opt-out purge``) end with: what came in, what was kept, why
repositories were dropped, the time per pass, and the exact commands to run next.

``run_summary`` gathers it (a JSON-ready dict, also written to ``<out>/stats/summary.json``);
``render_summary`` prints it. Sources: the merged stage counters (``stats.run_stats``), the run's record
(``stats.metadata.run_metadata``), the curated Parquet (files, bytes, repositories: footers and two
columns), the shards' manifest, and for the repositories' fate the ``repo`` and ``license_class`` columns of
``01_clone`` and ``02_filtered`` (when ``clean --intermediates`` removed them, only the clone counters).
"""

from __future__ import annotations

import contextlib
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
from datatrove.io import get_datafolder

from stackcurate.layout import RunLayout
from stackcurate.parquet_io import list_parquet_files
from stackcurate.sources.names import printable
from stackcurate.stats.metadata import read_summary, run_metadata, source_commit, write_summary
from stackcurate.stats.run_sections import shards_section
from stackcurate.stats.run_stats import collect_run_stats
from stackcurate.stats.table import human_bytes

#: Removal reasons the summary names (the largest first); ``stackcurate stats`` lists them all.
TOP_REASONS = 5
#: Width the summary's long lines wrap at (a log or a terminal of 120 columns shows them whole).
WIDTH = 110
#: Reasons whose files ``stackcurate inspect`` cannot show (see inspection.NOT_SAMPLED).
UNSAMPLED = ("skipped_", "dropped_opted_out")


def _files(path: str) -> list[str]:
    folder = get_datafolder(path)
    return [folder.resolve_paths(name) for name in list_parquet_files(path)]


def _repos(path: str, with_class: bool = False) -> pl.DataFrame | None:
    """Distinct repositories of a stage folder (with their files' license classes), or None without it."""
    files = _files(path)
    if not files:
        return None
    scan = pl.scan_parquet(files)
    names = scan.collect_schema().names()
    if with_class and "license_class" in names:
        return (
            scan.group_by("repo")
            .agg(pl.col("license_class").fill_null("no_license").unique().alias("classes"))
            .collect(engine="streaming")
        )
    return scan.select("repo").unique().collect(engine="streaming")


def _kept(curated: str) -> tuple[dict[str, Any], set[str]]:
    """Files, bytes and repositories of the curated output (``{"files", "bytes", "repos"}``), and the
    repositories."""
    files = _files(curated)
    if not files:
        return {"files": 0, "bytes": 0, "repos": 0}, set()
    scan = pl.scan_parquet(files)
    names = scan.collect_schema().names()
    size = pl.col("size_bytes") if "size_bytes" in names else pl.col("content").str.len_bytes()
    totals = scan.select(
        pl.len().alias("files"), size.sum().alias("bytes"), pl.col("repo").unique().implode().alias("repos")
    ).collect(engine="streaming")
    repos = set(totals["repos"][0].to_list())
    return {
        "files": int(totals["files"][0]),
        "bytes": int(totals["bytes"][0] or 0),
        "repos": len(repos),
    }, repos


def repository_fate(
    out: str,
    stats: dict[str, Any],
    keep: list[str] | None,
    kept: set[str],
    cloned: pl.DataFrame | None,
    filtered: pl.DataFrame | None,
) -> dict[str, Any]:
    """How many repositories the list named, and why each one that is not in ``curated/`` is not:
    ``{"listed", "kept", "dropped": [{"reason", "repos", "detail"}]}``, largest first. ``cloned`` and
    ``filtered``: the repositories of ``01_clone`` (with their license classes) and ``02_filtered``
    (``_repos``; None where the run has no such folder)."""
    layout = RunLayout(out)
    clone = [s for s in stats["stages"] if s["pass"] == "clone" and s["stage"] == "clone"]
    repos_in = sum(int(s["counters"].get("repos_in", 0)) for s in clone)
    repos_ok = sum(int(s["counters"].get("repos_ok", 0)) for s in clone)
    dropped: list[dict[str, Any]] = []
    listed = repos_in
    for stage in clone:
        for reason, count in stage["removed"].items():
            if reason.startswith("list_skipped_") and count:
                listed += count
                dropped.append(
                    {"reason": reason.removeprefix("list_"), "repos": count, "detail": "not cloned"}
                )
    where = f"see {layout.failures('clone')}/"
    for prefix, reason, source in (
        ("repos_failed_", "clone", "removed"),  # clone failures after retries, crashes
        ("repos_skipped_", "repo_limits", "counters"),  # over a per-repository limit: skipped whole
    ):
        counts = {
            name.removeprefix(prefix): int(count)
            for stage in clone
            for name, count in stage[source].items()
            if name.startswith(prefix) and count
        }
        if counts:
            detail = ", ".join(f"{name} {count}" for name, count in counts.items())
            dropped.append({"reason": reason, "repos": sum(counts.values()), "detail": f"{detail}; {where}"})
    if cloned is None:
        unexplained = repos_ok - len(kept)
        if unexplained > 0:
            dropped.append(
                {
                    "reason": "no_file_kept",
                    "repos": unexplained,
                    "detail": "01_clone removed: not broken down",
                }
            )
    else:
        walked = set(cloned["repo"].to_list())
        if repos_ok - len(walked) > 0:
            dropped.append(
                {
                    "reason": "no_files",
                    "repos": repos_ok - len(walked),
                    "detail": "empty, or every file skipped",
                }
            )
        unlicensed: dict[str, int] = {}
        licensed = set(walked)  # without a license stage every walked repository passes it
        if "classes" in cloned.columns and keep is not None:
            for repo, classes in cloned.iter_rows():
                if not any(c in keep for c in classes):  # no file of a kept license class
                    licensed.discard(repo)
                    key = "/".join(sorted(classes))
                    unlicensed[key] = unlicensed.get(key, 0) + 1
        if unlicensed:
            detail = ", ".join(f"{key} {n}" for key, n in sorted(unlicensed.items(), key=lambda kv: -kv[1]))
            dropped.append({"reason": "license", "repos": sum(unlicensed.values()), "detail": detail})
        if filtered is not None:
            passed = set(filtered["repo"].to_list())
            gone = licensed - passed
            if gone:
                dropped.append(
                    {
                        "reason": "filters",
                        "repos": len(gone),
                        "detail": "every file removed by the file filters",
                    }
                )
            duplicated = passed - kept
            if duplicated:
                dropped.append(
                    {"reason": "duplicates", "repos": len(duplicated), "detail": "every file a duplicate"}
                )
        elif licensed - kept:
            dropped.append(
                {
                    "reason": "filters",
                    "repos": len(licensed - kept),
                    "detail": "every file removed by the file filters",
                }
            )
    dropped.sort(key=lambda row: -row["repos"])
    return {"listed": listed, "kept": len(kept), "dropped": dropped}


def _passes(stats: dict[str, Any], meta: dict[str, Any], wall: dict[str, float]) -> list[dict[str, Any]]:
    """One row per pass, rounds of a pass of rounds together (``near_components/r000``...)."""
    rows: dict[str, dict[str, Any]] = {}
    for name, tasks in meta["tasks"].items():
        family = name.split("/", 1)[0]
        row = rows.setdefault(
            family, {"pass": family, "tasks": 0, "rounds": 0, "seconds": None, "task_s": 0.0}
        )
        row["tasks"] += tasks
        row["rounds"] += 1
        if name in wall:
            row["seconds"] = (row["seconds"] or 0.0) + wall[name]
    for stage in stats["stages"]:
        family = stage["pass"].split("/", 1)[0]
        if family in rows:
            rows[family]["task_s"] = round(rows[family]["task_s"] + stage["seconds"], 1)
    for row in rows.values():
        row["tasks"] = row["tasks"] // row["rounds"]  # tasks per round
        if row["seconds"] is not None:
            row["seconds"] = round(row["seconds"], 1)
    return list(rows.values())


def report_path(out: str) -> str:
    """Where the next commands put the HTML report: in a local run, a local file for a run on a bucket."""
    return shlex.quote(str(Path(out) / "report.html")) if "://" not in out else "report.html"


def next_commands(
    out: str, meta: dict[str, Any], shards: dict[str, Any] | None, reason: str | None
) -> list[list[str]]:
    """The commands to run next, each ``[command, what it does]``, with the flags this run needs."""
    run = shlex.quote(out)
    report = report_path(out)
    commands = [[f"stackcurate stats {run} --html {report}", "the report: funnel, charts, metadata"]]
    if reason:
        commands.append([f"stackcurate inspect {run} --reason {reason}", "files that reason removed"])
    serve = f"stackcurate serve {run}"
    folder = meta.get("opt_out_folder")
    if folder and folder != "opt_out":
        serve += f" --opt-out-dir {shlex.quote(folder)}"
    commands.append([f"stackcurate index build {run}", "attribution index: `attribute`, serve's /attribute"])
    commands.append([serve, "web pages: am I in the dataset, opt-out, statistics"])
    if shards:
        name = out.rstrip("/").rsplit("/", 1)[-1]
        export = shlex.quote(str(Path(out).parent / f"{name}-megatron")) if "://" not in out else "EXPORT_DIR"
        commands.append([f"stackcurate shards verify {run}", "the shards against their manifest"])
        commands.append([f"stackcurate shards export {run} --format megatron --out {export}", "or litdata"])
    return commands


def recorded_stats(out: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The per-stage counts a run summary recorded (``stats``), in ``collect_run_stats``'s form."""
    return {"run": out, **summary["stats"], "wall": summary.get("wall", {})}


def run_summary(
    out: str,
    wall: dict[str, float] | None = None,
    seconds: float | None = None,
    command: str | None = None,
    logs_unchanged: bool = False,
) -> dict[str, Any]:
    """What the run at ``out`` did (module docstring); records it in ``<out>/stats/summary.json``.

    ``wall``: seconds per pass this invocation ran (``RunResult.seconds``; merged with those recorded by
    earlier invocations); ``seconds``: this invocation's wall time; ``command``: the command line;
    ``logs_unchanged``: the tasks' stats files are those the recorded summary was made from (a purge
    writes none), so their per-stage counts are taken from it, not read again (on object storage, a request
    per task of each pass)."""
    out = out.rstrip("/")
    meta = run_metadata(out) or {"tasks": {}}
    layout = RunLayout(out)
    previous = read_summary(out)
    recorded = "stats" in previous and logs_unchanged
    # the reads are independent: several at once (on object storage each is many requests, and the Parquet
    # scans decode outside the interpreter)
    with ThreadPoolExecutor(max_workers=4) as pool:
        collected = None if recorded else pool.submit(collect_run_stats, out)
        curated = pool.submit(_kept, layout.curated)
        cloned = pool.submit(_repos, layout.stage("01_clone"), True)
        filtered = pool.submit(_repos, layout.stage("02_filtered"))
        kept, kept_repos = curated.result()
        stage_repos = (cloned.result(), filtered.result())
        stats = collected.result() if collected is not None else recorded_stats(out, previous)
    merged_wall = {**previous.get("wall", {}), **(wall or {})}
    clone = [s for s in stats["stages"] if s["stage"] == "clone"]
    walk_files = sum(s["files_in"] for s in clone)
    walk_bytes = sum(s["bytes_in"] for s in clone)
    removals: dict[str, dict[str, Any]] = {}
    for stage in stats["stages"]:
        if stage["stage"] in ("exact dedup: replay",):
            continue  # counted where it happens (the curate pass)
        for reason, count in stage["removed"].items():
            if reason.startswith(("dropped_", "skipped_")) and count:
                entry = removals.setdefault(reason, {"reason": reason, "stage": stage["stage"], "files": 0})
                entry["files"] += count
    ranked = sorted(removals.values(), key=lambda row: -row["files"])
    shards = shards_section(out)
    sampled = next((r["reason"] for r in ranked if not r["reason"].startswith(UNSAMPLED)), None)
    summary = {
        "run": out,
        "name": meta.get("name"),
        "complete": bool(meta.get("completed")) and stats["complete"],
        "command": command or previous.get("command"),
        "commit": source_commit() or previous.get("commit"),
        "seconds": round(seconds, 1) if seconds is not None else previous.get("seconds"),
        "input": {"files": walk_files, "bytes": walk_bytes},
        "kept": {**kept, "tokens": shards["tokens"] if shards else None},
        "shards": shards,
        "repos": repository_fate(out, stats, meta.get("licenses_keep"), kept_repos, *stage_repos),
        "removals": ranked,
        "passes": _passes(stats, meta, merged_wall),
        "wall": merged_wall,
        "next": next_commands(out, meta, shards, sampled.removeprefix("dropped_") if sampled else None),
        "reports": previous.get("reports", []),
        "purges": meta.get("purges", 0),
        # the per-stage counts summed above, for a summary made again without reading them (a purge's)
        "stats": {"complete": stats["complete"], "stages": stats["stages"]},
    }
    # a run folder we may not write (someone else's): the printed summary is what matters
    with contextlib.suppress(OSError):
        write_summary(out, summary)
    return summary


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _wrapped(label: str, items: list[str], width: int = WIDTH) -> list[str]:
    """``label`` then ``items`` joined by `` · ``, wrapped under the label's indent; an item never breaks."""
    lines = [label]
    for item in items:
        sep = "" if lines[-1] in (label, " " * len(label)) else " · "
        if len(lines[-1]) + len(sep) + len(item) > width and lines[-1].strip() and lines[-1] != label:
            lines[-1] += " ·"
            lines.append(" " * len(label))
            sep = ""
        lines[-1] += sep + item
    return lines


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as plain text lines (see ``run_summary``); names from repositories are escaped."""
    kept, repos, source = summary["kept"], summary["repos"], summary["input"]
    state = "complete" if summary["complete"] else "not complete"
    took = f" in {_time(summary['seconds'])}" if summary.get("seconds") is not None else ""
    lines = [f"{summary['name']} -> {summary['run']}: {state}{took}"]
    lines.append(
        f"  input   {repos['listed']:,} repositories listed; the clone walk saw {source['files']:,} files "
        f"({human_bytes(source['bytes'])})"
    )
    share = f", {100 * kept['bytes'] / source['bytes']:.0f}% of the bytes" if source["bytes"] else ""
    lines.append(
        f"  kept    {kept['files']:,} files ({human_bytes(kept['bytes'])}{share}) "
        f"from {kept['repos']:,} repositories"
    )
    shards = summary.get("shards")
    if shards:
        vocab = f", tokenizer of {shards['vocab_size']:,} tokens" if shards.get("vocab_size") else ""
        count = f"{shards['shards']} shard" + ("s" if shards["shards"] != 1 else "")
        lines.append(f"          {shards['tokens']:,} tokens in {count}{vocab}")
    lines.append(
        f"  repositories {repos['listed']:,} -> {repos['kept']:,}" + (":" if repos["dropped"] else "")
    )
    for row in repos["dropped"]:
        lines.append(f"    {row['repos']:>6,}  {printable(row['reason'])}: {printable(row['detail'])}")
    if summary["removals"]:
        top = [f"{row['reason']} {row['files']:,}" for row in summary["removals"][:TOP_REASONS]]
        lines.extend(_wrapped("  files removed, largest reasons: ", top))
    times = []
    for row in summary["passes"]:
        name = row["pass"] + (f" ×{row['rounds']}" if row["rounds"] > 1 else "")
        spent = _time(row["seconds"]) if row["seconds"] is not None else f"{row['task_s']:,.0f} task-s"
        times.append(f"{name} {spent}")
    if times:
        lines.extend(_wrapped("  time per pass: ", times))
    lines.append("next:")
    short = [len(command) for command, _ in summary["next"] if len(command) <= 72]
    width = max(short, default=0)
    for command, what in summary["next"]:
        lines.append(f"  {command:<{width}}  # {what}" if len(command) <= width else f"  {command}  # {what}")
    return "\n".join(lines)


def refresh_after_purge(out: str) -> list[str]:
    """After ``opt-out purge``: recompute ``stats/summary.json`` and write again every HTML report that
    ``stackcurate stats --html`` made from this run (the paths it recorded), so that none shows purged
    repositories; returns the reports written. A report that cannot be written is named on stderr."""
    import sys

    from stackcurate.stats.html import write_report_html
    from stackcurate.stats.report import collect_report

    summary = run_summary(out, logs_unchanged=True)
    written: list[str] = []
    if not summary["reports"]:
        return written
    report = collect_report(out, stats=recorded_stats(out, summary))  # the counts the summary just used
    for path in summary["reports"]:
        try:
            written.append(str(write_report_html(report, path)))
        except OSError as error:
            print(f"warning: cannot regenerate the report {path}: {error}", file=sys.stderr)
    return written


def purge_summary(out: str, regenerated: list[str] | None = None) -> str:
    """What ``opt-out purge`` prints last: the run as it is now (kept files, bytes, tokens, repositories),
    the reports it regenerated (``regenerated``, when the caller did it; else regenerated here), and the
    next commands."""
    if regenerated is None:
        regenerated = refresh_after_purge(out)
    summary = read_summary(out)
    kept, shards = summary["kept"], summary.get("shards")
    tokens = f", {shards['tokens']:,} tokens in the rebuilt shards" if shards else ""
    lines = [
        f"now {kept['files']:,} files ({human_bytes(kept['bytes'])}) from {kept['repos']:,} repositories"
    ]
    lines[0] += tokens
    if regenerated:
        lines.append(f"reports regenerated: {', '.join(regenerated)}")
    run = shlex.quote(out)
    lines.append("next:")
    if not regenerated:
        lines.append(f"  stackcurate stats {run} --html {report_path(out)}")
    if shards:
        lines.append(f"  stackcurate shards verify {run}")
        lines.append(
            "  export the shards again for trainers that read an export (`stackcurate shards export`)"
        )
    lines.append(f"  stackcurate opt-out check {run} OWNER   # confirm a target is gone")
    return "\n".join(lines)
