"""The Ray executor on a real local Ray, inside a private network namespace: same output as local."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from netns import NETNS_AVAILABLE, NETNS_REASON, run_in_netns
from test_runner import PIPELINE, make_repos

from stackcurate.parquet_io import list_parquet_files

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.skipif(not NETNS_AVAILABLE, reason=NETNS_REASON)]


def test_local_and_ray_executors_write_identical_output(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """On a local Ray instance (``--executor ray``); the StarCoder pipeline with its dedup passes runs on
    a two-node cluster in ``test_cluster.py``."""
    repos = make_repos(git_repo_factory, tmp_path, count=5, files=4, duplicate=True)
    common = ["--repos", str(repos), "--tasks", "3", "--workers", "2"]
    cli = [sys.executable, "-m", "stackcurate.cli", "run", PIPELINE]
    local, ray_run = tmp_path / "local", tmp_path / "ray"
    run_in_netns([*cli, *common, "--out", str(local)])
    output = run_in_netns([*cli, *common, "--out", str(ray_run), "--executor", "ray"])
    assert "Started a local Ray instance" in output
    for folder in ("01_clone", "curated"):
        names = list_parquet_files(str(local / folder))
        assert (
            names == list_parquet_files(str(ray_run / folder)) == [f"{rank:05d}.parquet" for rank in range(3)]
        )
        for name in names:
            assert pq.read_table(local / folder / name).equals(pq.read_table(ray_run / folder / name))
    assert sum(pq.read_metadata(local / "curated" / name).num_rows for name in names) == 5 * 4 + 1
