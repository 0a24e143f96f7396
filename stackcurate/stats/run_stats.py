"""Merge the per-task stats JSON files of a run into per-stage counts (docs/architecture.md, "Code layout").

Each task of each pass writes ``<out>/logs/<pass>/stats/<rank>.json`` (datatrove's ``PipelineStats``
format). ``collect_run_stats`` adds them up per step and reports, per stage: files and bytes in and out,
removals by reason (``dropped_*`` from filters, ``skipped_*`` from the clone walk, ``repos_failed_*`` and
``list_skipped_*`` for repositories) and seconds spent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from datatrove.io import get_datafolder

from stackcurate.layout import RunLayout
from stackcurate.manifest import RunManifest

REMOVAL_PREFIXES = ("dropped_", "skipped_", "repos_failed_", "list_skipped_")
#: stats files read at once
READS_AT_ONCE = 16
#: datatrove's own filter counters, which duplicate ours.
IGNORED = {"total", "forwarded", "dropped", "doc_len", "doc_len_tokens", "batches"}


def _total(value: Any) -> float:
    if isinstance(value, dict):
        return float(value.get("total", 0))
    return float(value or 0)


def _task_stats(out: str, passes: list[str]) -> list[list[list[dict[str, Any]]]]:
    """For each of ``passes``, the stats files of its tasks (``<logs>/stats/*.json``, by name), each a list of
    steps: the run's logs listed once, and the files read several at once (on object storage each listing
    and each file is a request)."""
    logs = get_datafolder(RunLayout(out).join("logs"))
    listed = sorted(logs.list_files()) if logs.isdir("") else []
    names: dict[str, list[str]] = {name: [] for name in passes}
    for path in listed:  # <pass>/stats/<task>.json (a pass's name may hold a "/": near_components/r000)
        pass_name, found, rest = path.partition("/stats/")
        if found and pass_name in names and "/" not in rest and rest.endswith(".json"):
            names[pass_name].append(path)

    def read(path: str) -> list[dict[str, Any]]:
        with logs.open(path, "r") as handle:
            return list(json.load(handle))

    paths = [path for name in passes for path in names[name]]
    with ThreadPoolExecutor(max_workers=READS_AT_ONCE) as pool:
        read_in = dict(zip(paths, pool.map(read, paths), strict=True))
    return [[read_in[path] for path in names[name]] for name in passes]


def collect_run_stats(out: str) -> dict[str, Any]:
    """Per-stage counts of run ``out``: ``{"run": out, "stages": [...], "complete": bool}``.

    Each stage entry has ``pass``, ``stage``, ``tasks_reported``, ``files_in``, ``files_out``, ``bytes_in``,
    ``bytes_out``, ``removed`` ({reason: files}), ``counters`` (every other counter) and ``seconds``
    (task-seconds). ``wall``: wall seconds per pass that ``stackcurate run`` recorded
    (``stats/summary.json``).
    """
    stages: list[dict[str, Any]] = []
    complete = True
    manifest = RunManifest.require(out)
    reported = _task_stats(out, list(manifest.passes))
    for (pass_name, recorded), files in zip(manifest.passes.items(), reported, strict=True):
        tasks = recorded.tasks
        complete = complete and len(files) >= tasks
        merged: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        seconds: dict[str, float] = defaultdict(float)
        order: list[str] = []
        for step in (step for steps in files for step in steps):
            key = step["name"]
            if key not in order:
                order.append(key)
            seconds[key] += _total(step.get("time_stats", 0))
            for label, value in step.get("stats", {}).items():
                merged[key][label] += _total(value)
        for key in order:
            counters = merged[key]
            stage_name = key.split(":", 1)[-1].strip()
            entry: dict[str, Any] = {
                "pass": pass_name,
                "stage": stage_name,
                "tasks_reported": len(files),
                "files_in": int(counters.get("files_in", 0)),
                "files_out": int(counters.get("files_out", 0)),
                "bytes_in": int(counters.get("bytes_in", 0)),
                "bytes_out": int(counters.get("bytes_out", 0)),
                "removed": {},
                "counters": {},
                "seconds": round(seconds[key], 3),
            }
            for label, value in sorted(counters.items()):
                if label.startswith(REMOVAL_PREFIXES):
                    entry["removed"][label] = int(value)
                elif label not in IGNORED and label not in ("files_in", "files_out", "bytes_in", "bytes_out"):
                    entry["counters"][label] = int(value)
            stages.append(entry)
    from stackcurate.stats.metadata import read_summary

    # wall seconds per pass, as `stackcurate run` recorded them (absent for a run it has not finished)
    return {"run": out, "complete": complete, "stages": stages, "wall": read_summary(out).get("wall", {})}
