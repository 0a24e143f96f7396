"""The local executor survives a task process killed by SIGKILL (as the OOM killer would): the run does not
hang, the killed task runs again, and the output equals an undisturbed run's."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from gate import CloneGate, env_with, forkserver_child, holder, wait_gone
from test_runner import PIPELINE, make_repos, sorted_rows

from stackcurate.parquet_io import list_parquet_files


@pytest.mark.timeout(300)
def test_a_sigkilled_task_process_is_run_again_and_the_output_is_unchanged(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=4, files=3)
    reference, out = tmp_path / "reference", tmp_path / "run"
    common = ["--repos", str(repos), "--tasks", "4", "--workers", "2"]
    command = [sys.executable, "-m", "stackcurate.cli", "run", PIPELINE, *common]
    subprocess.run([*command, "--out", str(reference)], check=True, capture_output=True, timeout=300)

    # the kill lands while task 1 clones its repository (held there by the gate), so it has not completed
    gate = CloneGate(tmp_path / "gate")
    gate.arm(tmp_path / "repos" / "org1" / "repo1")
    process = subprocess.Popen(
        [*command, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_with(gate),
    )
    try:
        task = holder(gate.wait_held(lambda: process.poll() is None), forkserver_child)
        assert not (out / "logs" / "clone" / "completions" / "00001").exists()
        task.send_signal(signal.SIGKILL)
        wait_gone(task)
        gate.release()  # the killed task's git processes end; its second run is not held
        _, stderr = process.communicate(timeout=300)  # a hang fails here, not in the CI's timeout
    finally:
        gate.release()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "task 1 ended without completing: killed by SIGKILL" in stderr  # seen at once, not waited for
    assert "running them again" in stderr
    assert list_parquet_files(str(out / "curated")) == list_parquet_files(str(reference / "curated"))
    assert sorted_rows(out / "curated") == sorted_rows(reference / "curated")
