"""What changed between two runs (``stackcurate stats RUN_A --compare RUN_B``).

``compare_reports(a, b)`` takes two ``collect_report`` results and lines up, with ``change = b - a``:

- ``dataset``: files, bytes, repositories and tokens kept (tokens null unless both runs have shards), and
  ``files_seen`` by the clone walk;
- ``languages``: files and bytes per language (a language one run lacks counts 0 there);
- ``licenses``: repositories, files and bytes per license;
- ``removals``: files removed per (stage, reason) of the runs' waterfalls, and ``stages``: their sums per
  stage, in the order the pipelines remove them (run ``a``'s first); ``repo_removals``: repositories
  removed before or while cloning (opt-out list, failed clones), per (stage, reason).

Languages and licenses are sorted by the size of their change (bytes), largest first, then by name, so what
moved is on top.
"""

from __future__ import annotations

from typing import Any


def _triple(a: int | None, b: int | None) -> dict[str, int | None]:
    change = None if a is None or b is None else b - a
    return {"a": a, "b": b, "change": change}


def _keyed(
    rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], key: str, fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    by_a = {row[key]: row for row in rows_a}
    by_b = {row[key]: row for row in rows_b}
    merged = []
    for name in dict.fromkeys([*by_a, *by_b]):
        row: dict[str, Any] = {key: name}
        for field in fields:
            row[field] = _triple(by_a.get(name, {}).get(field, 0), by_b.get(name, {}).get(field, 0))
        merged.append(row)
    main = fields[-1]
    return sorted(merged, key=lambda row: (-abs(row[main]["change"]), str(row[key])))


def _removals(report: dict[str, Any], kind: str = "steps", unit: str = "files") -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for step in (report.get("waterfall") or {}).get(kind, []):
        key = (step["stage"], step["reason"])
        counts[key] = counts.get(key, 0) + step[unit]
    return counts


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Side by side counts of runs ``a`` and ``b`` and their differences (see the module docstring)."""
    dataset_a, dataset_b = a["dataset"], b["dataset"]
    dataset = {key: _triple(dataset_a[key], dataset_b[key]) for key in ("files", "bytes", "repos", "tokens")}
    dataset["files_seen"] = _triple(a["waterfall"]["start"], b["waterfall"]["start"])
    removed_a, removed_b = _removals(a), _removals(b)
    removals = []
    per_stage: dict[str, tuple[int, int]] = {}
    for stage, reason in dict.fromkeys([*removed_a, *removed_b]):
        files_a, files_b = removed_a.get((stage, reason), 0), removed_b.get((stage, reason), 0)
        removals.append({"stage": stage, "reason": reason, "files": _triple(files_a, files_b)})
        sum_a, sum_b = per_stage.get(stage, (0, 0))
        per_stage[stage] = (sum_a + files_a, sum_b + files_b)
    repos_a, repos_b = _removals(a, "repos", "repos"), _removals(b, "repos", "repos")
    repo_removals = [
        {"stage": stage, "reason": reason, "repos": _triple(repos_a.get(key, 0), repos_b.get(key, 0))}
        for key in dict.fromkeys([*repos_a, *repos_b])
        for stage, reason in [key]
    ]
    return {
        "a": a["run"],
        "b": b["run"],
        "dataset": dataset,
        "languages": _keyed(a["languages"], b["languages"], "language", ("files", "bytes")),
        "licenses": _keyed(a["licenses"], b["licenses"], "license", ("repos", "files", "bytes")),
        "stages": [{"stage": name, "removed": _triple(*sums)} for name, sums in per_stage.items()],
        "removals": removals,
        "repo_removals": repo_removals,
    }
