"""The local executor runs a pass's tasks on ``workers`` worker processes, not a process per task, and a
worker's task starts clean: its counts are its own, so the pass's totals equal the data."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable
from pathlib import Path

from test_runner import PIPELINE, make_repos, sorted_rows

from stackcurate.cli import main


def count(value: int | dict) -> int:
    """A counter of a datatrove stats file (a number in a task's file, ``{"total": ...}`` once merged)."""
    return value["total"] if isinstance(value, dict) else value


def test_two_workers_run_six_tasks_each_on_fresh_steps(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=6, files=4)
    outs = {}
    for workers in (2, 1):
        outs[workers] = out = tmp_path / f"w{workers}"
        common = ["--repos", str(repos), "--out", str(out), "--tasks", "6", "--workers", str(workers)]
        assert main(["run", PIPELINE, *common]) == 0
    for name in ("clone", "curate"):
        logs = sorted((outs[2] / "logs" / name / "logs").glob("task_*.log"))
        assert len(logs) == 6
        pids = {re.search(r"started \(pid (\d+)", log.read_text())[1] for log in logs}  # type: ignore[index]
        assert len(pids) <= 2, f"pass {name}: {len(pids)} processes for 6 tasks on 2 workers"
    rows = sorted_rows(outs[2] / "curated")
    assert rows == sorted_rows(outs[1] / "curated") and len(rows) == 6 * 4
    for out in outs.values():
        steps = json.loads((out / "logs" / "clone" / "stats.json").read_text())
        reader = next(step for step in steps if "clone" in step["name"])
        assert count(reader["stats"]["repos_ok"]) == 6  # a worker's second task does not count the first's
        per_task = [
            json.loads((out / "logs" / "clone" / "stats" / f"{rank:05d}.json").read_text())[0]
            for rank in range(6)
        ]
        assert [count(task["stats"]["repos_ok"]) for task in per_task] == [1] * 6


def test_a_worker_leaves_what_the_fork_server_imported_out_of_its_collections(tmp_path: Path) -> None:
    from stackcurate.executors import LocalExecutor

    seen = tmp_path / "frozen"
    seen.mkdir()

    def step(data: object, rank: int = 0, world_size: int = 1) -> object:
        (seen / f"{rank}").write_text(str(gc.get_freeze_count()))
        return data

    LocalExecutor([step], tasks=2, workers=2, logging_dir=str(tmp_path / "logs")).run()
    frozen = [int((seen / f"{rank}").read_text()) for rank in range(2)]
    assert min(frozen) > 10_000, frozen  # the package, datatrove, pyarrow...: frozen when the worker started
