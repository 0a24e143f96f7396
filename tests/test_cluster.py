"""The pipeline on a real two-node Ray cluster (``ray start --head`` + ``ray start --address``, inside a
private network namespace): the same output as the local executor, with a task's worker killed mid-run,
and after the driver is SIGKILLed and restarted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from netns import NETNS_AVAILABLE, NETNS_REASON, run_in_netns
from test_runner import STARCODER, make_repos

from stackcurate.cli import main
from stackcurate.dedup.near import iter_clusters
from stackcurate.parquet_io import list_parquet_files

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.skipif(not NETNS_AVAILABLE, reason=NETNS_REASON)]
CLUSTER = str(Path(__file__).with_name("ray_cluster.py"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Repositories with an exact and near duplicates, and the local executor's run of them (the
    reference)."""
    import conftest

    sys.path.insert(0, str(Path(__file__).parent / "dedup"))
    from test_near import make_listing

    root = tmp_path_factory.mktemp("cluster")

    def factory(name: str, files: dict[str, str]) -> Path:
        return conftest.make_git_repo(root / "repos", name, files)

    (root / "a").mkdir()
    (root / "b").mkdir()
    plain = make_repos(factory, root / "a", count=6, files=6, duplicate=True).read_text()
    near = make_listing(factory, root / "b").read_text()
    repos = root / "repos.csv"
    repos.write_text(plain + near.split("\n", 1)[1])
    reference = root / "local"
    common = ["--repos", str(repos), "--tasks", "4", "--set", "stages.shards=null"]
    assert main(["run", STARCODER, *common, "--out", str(reference)]) == 0
    clusters = list(iter_clusters(str(reference / "minhash")))
    assert sum(not row["keep"] for row in clusters) == 3  # the near copies of textwrap.py
    return {"root": root, "repos": repos, "reference": reference}


def cluster_run(inputs: dict[str, Path], tmp_path: Path, scenario: str) -> tuple[Path, dict]:
    out = tmp_path / "out"
    args = [
        STARCODER,
        "--repos",
        str(inputs["repos"]),
        "--tasks",
        "4",
        "--set",
        "stages.shards=null",
        "--set",
        "executor.resources.near_pairs.cpus_per_task=2",
        "--out",
        str(out),
    ]
    run_in_netns([sys.executable, CLUSTER, str(tmp_path), scenario, "--", *args], timeout=900)
    report = json.loads((tmp_path / "scenario.json").read_text())
    assert report["nodes"] == 2, report
    assert report["returncode"] == 0, report["output"]
    return out, report


def assert_same_output(reference: Path, out: Path) -> None:
    for folder in ("01_clone", "02_filtered", "curated"):
        names = list_parquet_files(str(reference / folder))
        assert list_parquet_files(str(out / folder)) == names == [f"{rank:05d}.parquet" for rank in range(4)]
        for name in names:
            assert pq.read_table(out / folder / name).equals(pq.read_table(reference / folder / name))
    assert list(iter_clusters(str(out / "minhash"))) == list(iter_clusters(str(reference / "minhash")))
    # nothing half-written left behind: no temporary file (the .tmp folders of the writers stay, empty)
    leftovers = [p for p in out.rglob("*") if p.is_file() and (".tmp" in p.name or p.parent.name == ".tmp")]
    assert not leftovers


def nodes_used(out: Path) -> set[str]:
    nodes = set()
    for log in (out / "logs").glob("*/logs/task_*.log"):
        for line in log.read_text().splitlines():
            if " started (pid " in line and "raylet " in line:
                nodes.add(line.rsplit("raylet ", 1)[1].rstrip(")"))
    return nodes


def test_a_two_node_cluster_with_a_killed_task_writes_the_local_output(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    out, report = cluster_run(inputs, tmp_path, "kill-task")
    assert report["killed_task_processes"], "no task was running to kill"
    assert_same_output(inputs["reference"], out)
    assert len(nodes_used(out)) == 2, "the tasks ran on one node only"
    # per-pass resources reach Ray: datatrove records what each pass's tasks reserved
    executors = {
        p: json.loads((out / "logs" / p / "executor.json").read_text()) for p in ("clone", "near_pairs")
    }
    assert executors["clone"]["cpus_per_task"] == 1 and executors["near_pairs"]["cpus_per_task"] == 2


def test_a_driver_killed_mid_run_resumes_to_the_same_output(inputs: dict[str, Path], tmp_path: Path) -> None:
    out, report = cluster_run(inputs, tmp_path, "kill-driver")
    assert report.get("driver_killed_in") == "filter", "the run finished before the driver could be killed"
    assert report["first_returncode"] == -9 and 1 <= report["filter_done_when_killed"] < 4
    assert_same_output(inputs["reference"], out)
    run = json.loads((out / "run.json").read_text())
    assert "completed" in run and set(run["passes"]) >= {"clone", "filter", "near_pairs", "curate"}
