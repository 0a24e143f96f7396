"""Progress bookkeeping stays within a fixed request budget whatever the task count."""

from __future__ import annotations

import json
from pathlib import Path

from datatrove.io import get_datafolder

from stackcurate.stage import (
    PROGRESS_READS_PER_S,
    PROGRESS_WRITES_PER_S,
    ProgressReporter,
    progress_poll_interval,
    progress_write_interval,
)


def test_total_request_rates_are_bounded_at_any_task_count() -> None:
    for tasks in (1, 4, 100, 2000, 20000):
        assert tasks / progress_write_interval(tasks) <= max(PROGRESS_WRITES_PER_S, tasks)
        assert (tasks + 1) / progress_poll_interval(tasks) <= max(PROGRESS_READS_PER_S, 2 * (tasks + 1))
    assert progress_write_interval(2000) == 200.0
    assert progress_poll_interval(2000) > 40


def test_a_task_of_a_large_pass_writes_its_first_and_last_progress_only(tmp_path: Path) -> None:
    folder = get_datafolder(str(tmp_path))
    reporter = ProgressReporter(folder, rank=3, total=50, unit="files", tasks=2000)
    path = tmp_path / "progress" / "00003.json"
    for _ in range(49):
        reporter.advance()
    assert json.loads(path.read_text())["done"] == 0  # throttled: the next write is 200 s away
    reporter.advance()
    assert json.loads(path.read_text()) == {"done": 50, "total": 50, "unit": "files"}
    assert not list((tmp_path / "progress").glob("*.tmp"))
