"""Kills that lose nothing: a driver killed with SIGKILL takes its workers with it, leaves no temporary
folder behind after the next start, and never makes the repository it was on count as a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, python_file
from gate import CloneGate, env_with, forkserver_child, holder, wait_gone

from stackcurate.lifecycle import make_scratch, remove_stale_scratch
from stackcurate.parquet_io import iter_rows, list_parquet_files
from stackcurate.sources.crashes import CrashLedger
from stackcurate.sources.reader import GitRepoReader


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _wait_group_gone(pgid: int, seconds: float = 120.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _rows(folder: Path) -> list[dict]:
    return sorted(iter_rows(str(folder)), key=lambda row: (row["repo"], row["path"]))


@pytest.mark.slow
def test_two_driver_kills_on_a_repository_lose_nothing(
    git_repo_factory: Callable[..., Path], clone_gate: CloneGate, tmp_path: Path
) -> None:
    """Each kill lands while task 1 clones ``evil/held`` (the gate holds that clone), so the repository's
    ``in_progress`` marker is written during the attempt and the task has not completed."""
    lines = ["url,stars,forks"]
    for i in range(3):
        repo = git_repo_factory(f"org/repo{i}", {"LICENSE": MIT_TEXT, "m.py": python_file(i)})
        lines.append(f"{repo},{i},0")
    held = git_repo_factory(
        "evil/held", {"LICENSE": MIT_TEXT, **{f"gen/m{i}.py": python_file(5000 + i) for i in range(30)}}
    )
    lines.insert(2, f"{held},1,0")  # the list's second repository: task 1's first
    listing = tmp_path / "repos.csv"
    listing.write_text("\n".join(lines) + "\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**env_with(clone_gate), "TMPDIR": str(scratch)}

    def command(out: Path) -> list[str]:
        # the default pipeline (clone, then curate): the kills are about the clone pass
        run = [sys.executable, "-m", "stackcurate.cli", "run", "--repos", str(listing)]
        return [*run, "--out", str(out), "--tasks", "2", "--workers", "2"]

    reference, out = tmp_path / "reference", tmp_path / "run"
    subprocess.run(command(reference), env=env, check=True, capture_output=True)
    completions = out / "logs" / "clone" / "completions"
    for death in (1, 2):
        clone_gate.arm(held)
        driver = subprocess.Popen(
            command(out), env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            task = holder(clone_gate.wait_held(lambda run=driver: run.poll() is None), forkserver_child)
            assert not (completions / "00001").exists()
            os.kill(driver.pid, signal.SIGKILL)  # the driver only: its workers must follow it
            assert driver.wait() == -signal.SIGKILL
            wait_gone(task)  # the task process follows its driver, though its clone is still held
        finally:
            clone_gate.release()  # the held clone's git processes end
        assert _wait_group_gone(driver.pid) == [], f"kill {death}: workers outlived their driver"
        assert not (completions / "00001").exists()
        assert not (out / "curated").exists() or len(list_parquet_files(str(out / "curated"))) < 2

    final = subprocess.run(command(out), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert list_parquet_files(str(out / "curated")) == list_parquet_files(str(reference / "curated"))
    assert _rows(out / "curated") == _rows(reference / "curated")
    assert any(row["repo"] == "evil/held" for row in _rows(out / "curated"))
    for name in list_parquet_files(str(reference / "01_clone")):
        assert pq.read_table(out / "01_clone" / name).equals(pq.read_table(reference / "01_clone" / name))
    assert not (out / "failures" / "clone" / "00000.jsonl").exists()
    assert not (out / "failures" / "clone" / "00001.jsonl").exists()
    # no clone or log folder left by the kills or the runs (pymp-* are multiprocessing's own, not ours)
    left = {p.name: sorted(q.name for q in p.iterdir()) for p in scratch.glob("stackcurate-*")}
    assert left == {}, final.stderr
    # nothing half-written left under a final name
    assert not [p for p in out.rglob("*") if p.is_file() and (".tmp" in p.name or p.parent.name == ".tmp")]


def test_a_death_counts_only_when_the_driver_saw_it(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """The driver confirms a death only for a marker written during its own attempt; after ``crash_limit``
    confirmed deaths the repository is skipped and recorded, the others are kept."""
    good = git_repo_factory("org/good", {"a.py": python_file(1)})
    bad = git_repo_factory("org/bad", {"b.py": python_file(2)})
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{bad}\n{good}\n")
    failures = tmp_path / "failures"
    ledger = CrashLedger(str(failures))

    # a stale marker (left by a killed driver's task) is not a death seen by this driver
    ledger.enter(0, 0, "org/bad", 0)
    before = ledger.snapshot([0])
    assert ledger.confirm_deaths([0], before) == []
    # a task that entered the repository during the attempt and did not complete: one death each time
    for expected in (1, 2):
        before = ledger.snapshot([0])
        marker = ledger.read(0)
        ledger.enter(0, 0, "org/bad", ledger.deaths_on(marker, 0, "org/bad"))
        assert [d["deaths"] for d in ledger.confirm_deaths([0], before)] == [expected]

    reader = GitRepoReader(str(listing), failures_folder=str(failures), crash_limit=2)
    docs = list(reader.run(None, rank=0, world_size=1))
    assert [doc.metadata["repo"] for doc in docs] == ["org/good"]
    recorded = [json.loads(line) for line in (failures / "00000.jsonl").read_text().splitlines()]
    assert [(r["repo"], r["reason"]) for r in recorded] == [("org/bad", "crashed")]
    assert reader.stats.stats["repos_failed_crashed"].total == 1
    assert ledger.read(0) is None  # the task went through its share


def test_stale_temporary_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    mine = make_scratch("clone", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"stackcurate-log-{dead.pid}-abc"
    orphan.mkdir()
    (orphan / "task_00000.log").write_text("left by a killed task\n")
    other = tmp_path / "unrelated-1-x"
    other.mkdir()
    assert remove_stale_scratch([str(tmp_path)]) == [orphan]
    assert mine.exists() and other.exists() and not orphan.exists()


def test_the_folder_of_a_zombie_is_stale(tmp_path: Path) -> None:
    """A task killed with its driver becomes a zombie that nobody reaps where PID 1 does not (a container's
    entry command): it no longer runs, so its folder goes; a running process's folder stays."""
    child = os.fork()
    if child == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while "Z" not in Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]:
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        zombie = tmp_path / f"stackcurate-log-{child}-abc"
        zombie.mkdir()
        (zombie / "task_00000.log").write_text("left by a task killed with its driver\n")
        running = tmp_path / f"stackcurate-log-{os.getpid()}-abc"
        running.mkdir()
        assert remove_stale_scratch([str(tmp_path)]) == [zombie]
        assert running.exists()
    finally:
        os.waitpid(child, 0)
