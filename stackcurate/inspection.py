"""``stackcurate inspect RUN_DIR --reason R [-n N]`` (or ``--kept``): look at what a run removed or kept.

Removed files come from the sample every run records (``stackcurate/samples.py``: per reason the files whose
(repo, path) hash lowest), or, for a run made with ``keep_rejects``, from ``rejects/`` ranked by the same
hash; kept files from ``curated/``, ranked by the same hash, so ``-n 5`` shows the same five files every
time and ``-n 10`` adds five more. Without ``--reason`` or ``--kept`` it lists the reasons and what can be
shown for each.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from typing import Any

import pyarrow.parquet as pq
from datatrove.io import get_datafolder

from stackcurate.errors import FatalError
from stackcurate.layout import RunLayout
from stackcurate.manifest import RunManifest
from stackcurate.parquet_io import list_parquet_files
from stackcurate.parquet_io import read_table as read_parquet
from stackcurate.samples import COLUMNS, PREVIEW_CHARS, SAMPLE_PER_REASON, sample_priority
from stackcurate.sources.names import printable

#: Removals that leave no file to show, and why.
NOT_SAMPLED = {
    "opted_out": "opted-out content is never kept anywhere (that is what opting out means)",
    "skipped_": "the clone walk skips these before reading them (binary, too large, a link...): no content",
    "repos_failed_": "whole repositories that could not be cloned: see <out>/failures/clone/",
    "list_skipped_": "entries of the repos list that were never cloned (opted out, invalid)",
}


#: Columns left out of a sampled file's one-line details (said elsewhere, or the same for every file).
QUIET = {"extension", "license_evidence", "stars", "forks", "repo_url", "commit"}


def removed_count(out: str, reason: str) -> tuple[int, str] | None:
    """How many files ``reason`` removed in the whole run and which stage, from the stage counters."""
    from stackcurate.stats.run_stats import collect_run_stats

    counter = f"dropped_{reason}"
    found = [
        (stage["removed"][counter], stage["stage"])
        for stage in collect_run_stats(out)["stages"]
        if stage["removed"].get(counter) and stage["stage"] != "exact dedup: replay"
    ]
    return (sum(n for n, _ in found), found[0][1]) if found else None


def _folder_files(path: str) -> list[str]:
    folder = get_datafolder(path)
    return [folder.resolve_paths(name) for name in list_parquet_files(path)]


def _stage_folders(out: str, kind: str) -> list[str]:
    """The per-stage folders under ``<out>/<kind>/`` (``samples`` or ``rejects``)."""
    root = get_datafolder(RunLayout(out).join(kind))
    if not root.isdir(""):
        return []
    return sorted(
        RunLayout(out).join(kind, name.rstrip("/").rsplit("/", 1)[-1])
        for name in root.ls("", detail=False)
        if root.isdir(name)
    )


def _read(path: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    folder = get_datafolder(path.rsplit("/", 1)[0])
    with folder.open(path.rsplit("/", 1)[1], "rb") as handle:
        return read_parquet(handle, columns=columns).to_pylist()


def recorded_reasons(out: str) -> dict[str, dict[str, Any]]:
    """``{reason: {"stage", "sampled", "source"}}`` for every reason the run's samples (or rejects) hold."""
    found: dict[str, dict[str, Any]] = {}
    for folder in _stage_folders(out, "samples"):
        for path in _folder_files(folder):
            for row in _read(path, ["stage", "reason"]):
                entry = found.setdefault(
                    row["reason"], {"stage": row["stage"], "sampled": 0, "source": "samples"}
                )
                entry["sampled"] += 1
    for folder in _stage_folders(out, "rejects"):
        stage = folder.rsplit("/", 1)[-1]
        for path in _folder_files(folder):
            for row in _read(path, ["filter_reason"]):
                reason = row["filter_reason"] or "unspecified"
                if found.get(reason, {}).get("source") == "samples":
                    continue
                entry = found.setdefault(reason, {"stage": stage, "sampled": 0, "source": "rejects"})
                entry["sampled"] += 1
    for entry in found.values():
        if entry["source"] == "samples":
            # each task kept up to SAMPLE_PER_REASON; the merged sample is their lowest SAMPLE_PER_REASON
            entry["sampled"] = min(entry["sampled"], SAMPLE_PER_REASON)
    return found


def _bottom(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return heapq.nsmallest(n, rows, key=lambda row: (row["priority"], row["repo"] or "", row["path"] or ""))


def removed_sample(out: str, reason: str, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` files removed for ``reason`` (with or without its ``dropped_`` prefix), lowest hash first;
    a ``FatalError`` that says why when the run has none to show."""
    reason = reason.removeprefix("dropped_")
    recorded = recorded_reasons(out)
    if reason not in recorded:
        for prefix, why in NOT_SAMPLED.items():
            if reason.startswith(prefix) or reason == prefix:
                raise FatalError(f"no files to show for {reason}: {why}")
        known = ", ".join(sorted(recorded)) or "none (a run made before samples were recorded, or cleaned)"
        raise FatalError(f"{out} has no sampled removals for reason {reason!r}; recorded reasons: {known}")
    source = recorded[reason]["source"]
    if source == "samples":
        # the tasks' samples merge into the SAMPLE_PER_REASON lowest hashes of the union; a task's rows past
        # those depend on how the files were split into tasks, so they are never shown
        n = min(n, SAMPLE_PER_REASON)
    rows: list[dict[str, Any]] = []
    for folder in _stage_folders(out, source):
        for path in _folder_files(folder):
            for row in _read(path):
                row_reason = row.get("reason") if source == "samples" else row.get("filter_reason")
                if (row_reason or "unspecified") != reason:
                    continue
                if source == "rejects":
                    row = _from_file_row(row, folder.rsplit("/", 1)[-1], reason)
                rows.append(row)
                if len(rows) > 4 * max(n, SAMPLE_PER_REASON):  # rejects can be large: keep memory bounded
                    rows = _bottom(rows, n)
    return _bottom(rows, n)


def _from_file_row(row: dict[str, Any], stage: str, reason: str | None) -> dict[str, Any]:
    """A file row (curated or rejects) in the sample's shape: its columns, the head of its content."""
    text = row.get("content") or ""
    details = {
        key: value
        for key, value in row.items()
        if key not in COLUMNS
        and key not in ("content", "id", "filter_reason")
        and isinstance(value, (str, int, float, bool))
    }
    return {
        **{column: row.get(column) for column in COLUMNS},
        "priority": sample_priority(str(row.get("repo") or ""), str(row.get("path") or "")),
        "stage": stage,
        "reason": reason,
        "content": text[:PREVIEW_CHARS],
        "truncated": len(text) > PREVIEW_CHARS,
        "details": json.dumps(details, sort_keys=True, default=str),
    }


def kept_sample(out: str, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` curated files, lowest (repo, path) hash first. Reads the repo and path columns of every
    curated file (a heap of ``n`` keys in memory), then the rows it picked."""
    files = _folder_files(RunLayout(out).curated)
    if not files:
        raise FatalError(f"{out} has no curated output ({RunLayout(out).curated}/*.parquet)")
    best: list[
        tuple[int, str, str, int, int]
    ] = []  # max-heap by negated priority: (-p, repo, path, file, row)
    for index, path in enumerate(files):
        for offset, row in enumerate(_read(path, ["repo", "path"])):
            priority = sample_priority(str(row["repo"] or ""), str(row["path"] or ""))
            entry = (-priority, str(row["repo"]), str(row["path"]), index, offset)
            if len(best) < n:
                heapq.heappush(best, entry)
            elif -best[0][0] > priority:
                heapq.heapreplace(best, entry)
    wanted: dict[int, set[int]] = {}
    for _, _, _, index, offset in best:
        wanted.setdefault(index, set()).add(offset)
    rows: list[dict[str, Any]] = []
    for index, offsets in wanted.items():  # only the picked rows: a batch of content in memory at once
        folder = get_datafolder(files[index].rsplit("/", 1)[0])
        with folder.open(files[index].rsplit("/", 1)[1], "rb") as handle:
            start = 0
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=256):
                picked = [offset - start for offset in offsets if start <= offset < start + batch.num_rows]
                if picked:
                    table = batch.take(picked).to_pylist()
                    rows.extend(_from_file_row(row, "curated", None) for row in table)
                start += batch.num_rows
    return _bottom(rows, n)


def _head(text: str, lines: int) -> tuple[list[str], int]:
    all_lines = text.splitlines()
    return [printable(line.expandtabs(4)) for line in all_lines[:lines]], max(0, len(all_lines) - lines)


def render(rows: list[dict[str, Any]], lines: int) -> str:
    """The sampled files as text: a header per file (name, language, license, size, scores), then the
    first ``lines`` lines of its content."""
    from stackcurate.stats.table import human_bytes

    out: list[str] = []
    for rank, row in enumerate(rows, 1):
        size = human_bytes(row["size_bytes"]) if row.get("size_bytes") is not None else "?"
        out.append(
            f"── {rank}. {printable(row['repo'])}/{printable(row['path'])}  {row.get('language') or '-'}  "
            f"{row.get('license') or '-'}  {size}"
        )
        details = {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in json.loads(row.get("details") or "{}").items()
            if key not in QUIET
        }
        if details:
            shown = ", ".join(f"{key}={value}" for key, value in details.items())
            out.append(f"   {printable(shown[:300])}")
        head, more = _head(row.get("content") or "", lines)
        out.extend(f"   │ {line}" for line in head)
        if more or row.get("truncated"):
            out.append(
                f"   … {more:,} more lines"
                + (" (sample holds the file's head)" if row.get("truncated") else "")
            )
    return "\n".join(out)


def cmd_inspect(args: argparse.Namespace) -> int:
    out = args.run_dir.rstrip("/")
    RunManifest.require(out)  # a FatalError naming the folder when it holds no run
    if not args.kept and not args.reason:
        reasons = recorded_reasons(out)
        if args.json:
            print(json.dumps(reasons))
            return 0
        if not reasons:
            print(f"{out} has no sampled removals (a run made before samples were recorded, or cleaned)")
        for reason, entry in sorted(reasons.items()):
            print(
                f"{reason:<28} {entry['stage']:<14} {entry['sampled']:>3} files sampled ({entry['source']})"
            )
        print(
            f"show one: stackcurate inspect {out} --reason REASON [-n N]; kept files: --kept", file=sys.stderr
        )
        return 0
    rows = kept_sample(out, args.n) if args.kept else removed_sample(out, args.reason, args.n)
    if args.json:
        print(json.dumps(rows))
        return 0
    if args.kept:
        head = f"{len(rows)} kept (curated) files of {out}"
    else:
        reason = args.reason.removeprefix("dropped_")
        counted = removed_count(out, reason)
        total = f" of {counted[0]:,} removed by {counted[1]}" if counted else ""
        head = f"{reason}: {len(rows)} files{total} in {out}"
    print(f"{head}, picked by a fixed hash of repo/path (the same files every time)")
    print(render(rows, args.lines))
    return 0


def add_parser(commands: Any) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="look at files a run removed (per reason) or kept, without a rerun",
        description="Show a reproducible sample of the files RUN_DIR removed for a reason (recorded by every "
        "run: up to 20 per reason) or kept (from curated/). Without --reason or --kept: the reasons that "
        "can be shown.",
    )
    inspect.add_argument("run_dir", metavar="RUN_DIR")
    which = inspect.add_mutually_exclusive_group()
    which.add_argument(
        "--reason",
        metavar="R",
        help="a removal reason, e.g. autogenerated or dropped_autogenerated (default: list the reasons)",
    )
    which.add_argument("--kept", action="store_true", help="sample the kept (curated) files instead")
    inspect.add_argument("-n", type=int, default=5, metavar="N", help="files to show (default: 5)")
    inspect.add_argument(
        "--lines", type=int, default=20, metavar="L", help="lines of each file to show (default: 20)"
    )
    inspect.add_argument(
        "--json", action="store_true", help="the sampled rows as JSON (content head included)"
    )
    inspect.set_defaults(func=cmd_inspect)
