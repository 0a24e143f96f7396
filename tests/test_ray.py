"""The Ray executor on a real local Ray, inside a private network namespace: same output as local."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from netns import NETNS_AVAILABLE, NETNS_REASON, run_in_netns
from test_runner import PIPELINE, make_repos

from stackcurate.dedup.near import iter_clusters
from stackcurate.parquet_io import list_parquet_files

STARCODER = str(Path(PIPELINE).with_name("starcoder.yaml"))
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.skipif(not NETNS_AVAILABLE, reason=NETNS_REASON)]


@pytest.mark.parametrize("pipeline", [PIPELINE, STARCODER], ids=["quickstart", "starcoder"])
def test_local_and_ray_executors_write_identical_output(
    git_repo_factory: Callable[..., Path], tmp_path: Path, pipeline: str
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=5, files=4, duplicate=True)
    common = ["--repos", str(repos), "--tasks", "3", "--workers", "2"]
    cli = [sys.executable, "-m", "stackcurate.cli", "run", pipeline]
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
    expected = 5 * 4 + 1 if pipeline == PIPELINE else 5 * 4  # the duplicated file is dropped by exact dedup
    assert sum(pq.read_metadata(local / "curated" / name).num_rows for name in names) == expected


def test_near_dedup_clusters_are_the_same_under_ray(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).parent / "dedup"))
    from test_near import make_listing

    listing = make_listing(git_repo_factory, tmp_path)
    common = ["--repos", str(listing), "--tasks", "3", "--workers", "2"]
    cli = [sys.executable, "-m", "stackcurate.cli", "run", STARCODER]
    local, ray_run = tmp_path / "local", tmp_path / "ray"
    run_in_netns([*cli, *common, "--out", str(local)])
    run_in_netns([*cli, *common, "--out", str(ray_run), "--executor", "ray"])
    clusters = list(iter_clusters(str(local / "minhash")))
    assert len(clusters) == 4 and sum(not row["keep"] for row in clusters) == 3
    assert list(iter_clusters(str(ray_run / "minhash"))) == clusters
    for name in list_parquet_files(str(local / "curated")):
        assert pq.read_table(local / "curated" / name).equals(pq.read_table(ray_run / "curated" / name))
