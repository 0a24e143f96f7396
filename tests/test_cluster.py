"""The pipeline on a real two-node Ray cluster (``ray start --head`` + ``ray start --address``, inside a
private network namespace): the same output as the local executor, after the driver is SIGKILLed mid-run and
restarted, and with a task's worker SIGKILLed in the resumed run (``ray_cluster.py``'s one scenario: one
pipeline run checks both)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import starcoder_args, task_niceness
from netns import NETNS_AVAILABLE, NETNS_REASON, run_in_netns
from test_runner import shards_manifest

from stackcurate.dedup.near import iter_clusters
from stackcurate.parquet_io import list_parquet_files

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # a run of ~20 Ray passes (shards, clustering rounds) on 2 cores, resumed
    pytest.mark.skipif(not NETNS_AVAILABLE, reason=NETNS_REASON),
]
CLUSTER = str(Path(__file__).with_name("ray_cluster.py"))


@pytest.fixture(scope="module")
def cluster(starcoder_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``ray_cluster.py``'s scenario on the shared StarCoder run's input (its list has the repositories in
    order: ``org0/repo3`` is task 3's first): the driver is killed while that repository's clone is held,
    then, in the resumed run, the worker of its task."""
    work = tmp_path_factory.mktemp("cluster")
    repos = starcoder_run["repos"].parent / "repos"
    args = [
        *starcoder_args(starcoder_run["repos"], None),
        "--set",
        "executor.resources.near_pairs.cpus_per_task=2",
        # the components rounds, not the one clustering task a corpus this small gets: their tasks are what
        # must spread over the nodes (the output equals the one-task run's: assert_same_output below)
        "--set",
        "stages.near_dedup.components=rounds",
    ]
    scenario = f"kill-driver-then-task:{repos / 'org0' / 'repo3'}"
    run_in_netns([sys.executable, CLUSTER, str(work), scenario, "--", *args], timeout=1700)
    report = json.loads((work / "kill-driver-then-task" / "scenario.json").read_text())
    assert report["nodes"] == 2, report
    assert report["returncode"] == 0, report["output"]
    return {**report, "out": work / "kill-driver-then-task" / "out"}


def assert_same_output(reference: Path, out: Path) -> None:
    for folder in ("01_clone", "02_filtered", "curated"):
        names = list_parquet_files(str(reference / folder))
        assert list_parquet_files(str(out / folder)) == names == [f"{rank:05d}.parquet" for rank in range(4)]
        for name in names:
            assert pq.read_table(out / folder / name).equals(pq.read_table(reference / folder / name))
    assert list(iter_clusters(str(out / "minhash"))) == list(iter_clusters(str(reference / "minhash")))
    assert shards_manifest(out) == shards_manifest(reference)
    # nothing half-written left behind: no temporary file (the .tmp folders of the writers stay, empty)
    leftovers = [p for p in out.rglob("*") if p.is_file() and (".tmp" in p.name or p.parent.name == ".tmp")]
    assert not leftovers


def nodes_used(out: Path, passes: str = "*") -> set[str]:
    nodes = set()
    for log in (out / "logs").glob(f"{passes}/**/logs/task_*.log"):
        for line in log.read_text().splitlines():
            if " started (pid " in line and "raylet " in line:
                nodes.add(line.rsplit("raylet ", 1)[1].rstrip(")"))
    return nodes


def test_a_two_node_cluster_with_a_killed_task_writes_the_local_output(
    cluster: dict, starcoder_run: dict[str, Path]
) -> None:
    out = cluster["out"]
    # killed in the resumed run, before its task completed (the driver's kill left it undone)
    assert cluster["killed_task_processes"] and cluster["clone_done_when_task_killed"] < 4
    assert_same_output(starcoder_run["out"], out)  # and so the one-task run's (test_runner.py)
    assert len(nodes_used(out)) == 2, "the tasks ran on one node only"
    assert set(task_niceness(out)) == {0}  # both nodes started with RAY_worker_niceness=0 (ray_cluster.py)
    assert len(nodes_used(out, "shards_*")) == 2, "the shards tasks ran on one node only"
    clustering = nodes_used(out, "near_components") | nodes_used(out, "near_decide")
    assert len(clustering) == 2, "the clustering tasks ran on one node only"
    # per-pass resources reach Ray: datatrove records what each pass's tasks reserved
    executors = {
        p: json.loads((out / "logs" / p / "executor.json").read_text()) for p in ("clone", "near_pairs")
    }
    assert executors["clone"]["cpus_per_task"] == 1 and executors["near_pairs"]["cpus_per_task"] == 2


def test_a_driver_killed_mid_run_resumes_to_the_same_output(
    cluster: dict, starcoder_run: dict[str, Path]
) -> None:
    out = cluster["out"]
    assert cluster["driver_killed_in"] == "clone" and cluster["first_returncode"] == -9
    assert 1 <= cluster["clone_done_when_driver_killed"] < 4  # killed mid-pass: task 3 was held in its clone
    assert_same_output(starcoder_run["out"], out)
    run = json.loads((out / "run.json").read_text())
    assert "completed" in run and set(run["passes"]) >= {"clone", "filter", "near_pairs", "curate"}
    assert not list((out / "failures" / "clone").glob("*.jsonl"))  # neither kill counted a crash
