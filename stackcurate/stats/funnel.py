"""The per-stage funnel of a run: what the console table, the report and the summary show per stage.

A stage that counts files gives a row with files and bytes in and out and its task-seconds; a pass whose
steps count no files (the dedup passes, the rounds of connected components, the shards) gives one row for
the pass, with its tasks and time and no file columns, never a row of zeros. Pass-through steps
(``PLUMBING``: readers, writers, the dedup steps whose effect shows in a later filter) are left out.
"""

from __future__ import annotations

from typing import Any

#: Pass-through steps (they neither add nor remove files) left out of the funnel; JSON keeps them.
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


def _has_files(stage: dict[str, Any]) -> bool:
    return bool(stage["files_in"] or stage["files_out"] or stage["bytes_in"] or stage["bytes_out"])


def _families(stages: list[dict[str, Any]]) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """Stages grouped by pass, the rounds of a pass of rounds (``near_components/r000``...) together:
    ``(pass family, rounds, stages)`` in run order."""
    families: dict[str, tuple[set[str], list[dict[str, Any]]]] = {}
    for stage in stages:
        family = stage["pass"].split("/", 1)[0]
        names, members = families.setdefault(family, (set(), []))
        names.add(stage["pass"])
        members.append(stage)
    return [(family, len(names), members) for family, (names, members) in families.items()]


def funnel(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the funnel of ``stats`` (``collect_run_stats``), in run order. Each row: ``pass`` (the pass,
    or ``NAME ×ROUNDS``), ``stage`` (on a pass row: its last step), ``tasks``, ``files_in``, ``files_out``,
    ``bytes_in``, ``bytes_out`` (None on a pass row), ``seconds`` (task-seconds), ``wall`` (the pass's wall
    seconds on its first row when recorded, else None), ``first`` (the pass's first row) and ``kind``
    (``stage`` or ``pass``)."""
    wall_by_pass = stats.get("wall") or {}
    rows: list[dict[str, Any]] = []
    for family, rounds, members in _families(stats["stages"]):
        walls = [value for name, value in wall_by_pass.items() if name.split("/", 1)[0] == family]
        wall = round(sum(walls), 1) if walls else None
        shown = [s for s in members if s["stage"] not in PLUMBING and _has_files(s)]
        if not shown:
            # the pass's own step, its family prefix dropped: the pass name says exact or near dedup
            steps = [s["stage"] for s in members if s["stage"] not in ("parquet reader", "parquet writer")]
            label = steps[-1].split(": ", 1)[-1] if steps else family
            rows.append(
                {
                    "pass": f"{family} ×{rounds}" if rounds > 1 else family,
                    "stage": label,
                    "tasks": max(s["tasks_reported"] for s in members),
                    "files_in": None,
                    "files_out": None,
                    "bytes_in": None,
                    "bytes_out": None,
                    "seconds": round(sum(s["seconds"] for s in members), 3),
                    "wall": wall,
                    "first": True,
                    "kind": "pass",
                }
            )
            continue
        for index, stage in enumerate(shown):
            rows.append(
                {
                    "pass": stage["pass"],
                    "stage": stage["stage"],
                    "tasks": stage["tasks_reported"],
                    **{key: stage[key] for key in ("files_in", "files_out", "bytes_in", "bytes_out")},
                    "seconds": stage["seconds"],
                    "wall": wall if index == 0 else None,
                    "first": index == 0,
                    "kind": "stage",
                }
            )
    return rows
