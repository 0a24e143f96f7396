"""End-to-end runs of the pipeline on real git repositories: output, stats, rerun, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, python_file, starcoder_args
from gate import CloneGate, env_with

from stackcurate.cli import main
from stackcurate.config import load_config
from stackcurate.dedup.near import iter_clusters
from stackcurate.errors import FatalError
from stackcurate.parquet_io import iter_rows, list_parquet_files
from stackcurate.runner import run_pipeline
from stackcurate.schema import FILE_COLUMNS

PIPELINE = str(Path(__file__).resolve().parents[1] / "pipelines" / "quickstart.yaml")
STARCODER = str(Path(__file__).resolve().parents[1] / "pipelines" / "starcoder.yaml")


def make_repos(
    factory: Callable[..., Path], tmp_path: Path, count: int, files: int = 3, duplicate: bool = False
) -> Path:
    """``count`` MIT repositories of ``files`` distinct modules; ``duplicate`` copies repo 0's first module
    into the last repository too."""
    lines = ["url,stars,forks"]
    for i in range(count):
        content = {f"pkg{i}/mod{j}.py": python_file(i * 100 + j) for j in range(files)}
        if duplicate and i == count - 1:
            content["copied.py"] = python_file(0)
        content[f"pkg{i}/notes.unknownext"] = "not code\n"
        content["LICENSE"] = MIT_TEXT
        path = factory(f"org{i % 3}/repo{i}", content)
        lines.append(f"{path.as_uri() if i % 2 else path},{i * 10},{i}")
    repos = tmp_path / "repos.csv"
    repos.write_text("\n".join(lines) + "\n")
    return repos


def sorted_rows(folder: Path) -> list[dict]:
    return sorted(iter_rows(str(folder)), key=lambda row: (row["repo"], row["path"]))


def test_run_writes_curated_parquet_and_stats(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=4)
    out = tmp_path / "run"
    assert main(["run", PIPELINE, "--repos", str(repos), "--out", str(out), "--workers", "2"]) == 0
    files = list_parquet_files(str(out / "curated"))
    assert files == [f"{rank:05d}.parquet" for rank in range(4)]
    schema = pq.read_schema(out / "curated" / files[0])
    assert schema.names[: len(FILE_COLUMNS)] == list(FILE_COLUMNS)
    rows = sorted_rows(out / "curated")
    assert len(rows) == 4 * 3  # LICENSE and notes.unknownext map to no language
    assert {row["language"] for row in rows} == {"python"}
    repo3 = [row for row in rows if row["repo"] == "org0/repo3"]
    assert repo3 and all(row["stars"] == 30 and row["forks"] == 3 for row in repo3)
    assert all(row["size_bytes"] == len(row["content"].encode()) for row in rows)

    capsys.readouterr()
    assert main(["stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    by_stage = {(s["pass"], s["stage"]): s for s in stats["stages"]}
    clone = by_stage[("clone", "clone")]
    assert clone["counters"]["repos_in"] == clone["counters"]["repos_ok"] == 4
    assert clone["files_out"] == len(list(iter_rows(str(out / "01_clone"))))
    language = by_stage[("curate", "language")]
    assert language["files_out"] == len(rows)
    assert language["removed"] == {"dropped_unknown_language": clone["files_out"] - len(rows)}
    assert stats["complete"] is True


def test_rerun_of_a_finished_run_does_nothing(git_repo_factory: Callable[..., Path], tmp_path: Path) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=2)
    cfg = load_config(PIPELINE, {"repos": str(repos), "out": str(tmp_path / "run"), "executor.workers": 1})
    first = run_pipeline(cfg)
    assert first.ran == ["clone", "curate"]
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "curated").glob("*.parquet")}
    second = run_pipeline(cfg)
    assert second.nothing_to_do and second.skipped == ["clone", "curate"]
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "curated").glob("*.parquet")}


def test_resuming_with_a_different_config_is_refused(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=1)
    out = str(tmp_path / "run")
    run_pipeline(load_config(PIPELINE, {"repos": str(repos), "out": out, "executor.workers": 1}))
    changed = load_config(PIPELINE, {"repos": str(repos), "out": out, "stages.clone.max_file_bytes": 100})
    with pytest.raises(FatalError, match="another configuration"):
        run_pipeline(changed)


def test_keep_rejects_writes_dropped_files_with_reason(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=2)
    out = tmp_path / "run"
    cfg = load_config(
        PIPELINE, {"repos": str(repos), "out": str(out), "keep_rejects": True, "executor.workers": 1}
    )
    run_pipeline(cfg)
    rejects = list(iter_rows(str(out / "rejects" / "languages")))
    assert sorted(row["path"] for row in rejects) == [
        "LICENSE",
        "LICENSE",
        "pkg0/notes.unknownext",
        "pkg1/notes.unknownext",
    ]
    assert {row["filter_reason"] for row in rejects} == {"unknown_language"}


def shards_manifest(out: Path) -> dict:
    """A run's shards manifest without what names the run's own folders."""
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    manifest.pop("source"), manifest["tokenizer"].pop("path")
    return manifest


@pytest.mark.slow
def test_the_starcoder_output_does_not_depend_on_the_task_count(
    starcoder_run: dict[str, Path], tmp_path: Path
) -> None:
    """Equal curated rows (whatever files they are in), clusters by file, shards and manifest."""
    reference, out = starcoder_run["out"], tmp_path / "one-task"
    clusters = list(iter_clusters(str(reference / "minhash")))
    assert sum(not row["keep"] for row in clusters) == 3  # the near copies of textwrap.py
    assert main(["run", *starcoder_args(starcoder_run["repos"], out, tasks=1)]) == 0
    assert sorted_rows(out / "curated") == sorted_rows(reference / "curated")
    assert shards_manifest(out) == shards_manifest(reference)
    for entry in shards_manifest(reference)["shards"]:
        assert (out / "shards" / entry["file"]).read_bytes() == (
            reference / "shards" / entry["file"]
        ).read_bytes()
    by_file = [
        sorted(
            (row["cluster_id"], row["cluster_size"], row["keep"])
            for row in iter_clusters(str(run / "minhash"))
        )
        for run in (reference, out)
    ]
    assert by_file[0] == by_file[1]


@pytest.mark.slow
def test_a_run_killed_midway_resumes_to_the_same_output(
    starcoder_run: dict[str, Path], clone_gate: CloneGate, tmp_path: Path
) -> None:
    """The StarCoder pipeline, one worker (tasks run in turn, in the driver), killed as a whole (its process
    group) while task 2 clones its first repository: tasks 0 and 1 are complete, 2 and 3 are not."""
    reference, resumed = starcoder_run["out"], tmp_path / "resumed"
    args = [*starcoder_args(starcoder_run["repos"], resumed), "--workers", "1"]
    clone_gate.arm(starcoder_run["repos"].parent / "repos" / "org2" / "repo2")  # the list's third: task 2's
    command = [sys.executable, "-m", "stackcurate.cli", "run", *args]
    process = subprocess.Popen(
        command,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env_with(clone_gate),
    )
    try:
        clone_gate.wait_held(lambda: process.poll() is None)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    completions = resumed / "logs" / "clone" / "completions"
    assert sorted(path.name for path in completions.iterdir()) == ["00000", "00001"]
    assert not (resumed / "curated").exists() or len(list_parquet_files(str(resumed / "curated"))) < 4

    assert main(["run", *args]) == 0
    assert list_parquet_files(str(resumed / "curated")) == list_parquet_files(str(reference / "curated"))
    assert sorted_rows(resumed / "curated") == sorted_rows(reference / "curated")
    for name in list_parquet_files(str(reference / "01_clone")):
        assert pq.read_table(resumed / "01_clone" / name).equals(pq.read_table(reference / "01_clone" / name))
    assert (
        not list((resumed / "01_clone" / ".tmp").glob("*"))
        if (resumed / "01_clone" / ".tmp").exists()
        else True
    )
