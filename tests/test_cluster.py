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
from test_runner import STARCODER, make_repos, sorted_rows

from stackcurate.cli import main
from stackcurate.dedup.near import iter_clusters
from stackcurate.parquet_io import list_parquet_files

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # a run is ~20 Ray passes (shards, clustering rounds) on 2 cores
    pytest.mark.skipif(not NETNS_AVAILABLE, reason=NETNS_REASON),
]
CLUSTER = str(Path(__file__).with_name("ray_cluster.py"))
#: shards made by the executor's passes: a small tokenizer, and shards small enough to be several
SHARDS = ["--set", "stages.shards.train_vocab_size=400", "--set", "stages.shards.shard_tokens=2000"]


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
    common = ["--repos", str(repos), *SHARDS]
    assert main(["run", STARCODER, *common, "--tasks", "4", "--out", str(reference)]) == 0
    clusters = list(iter_clusters(str(reference / "minhash")))
    assert sum(not row["keep"] for row in clusters) == 3  # the near copies of textwrap.py
    one_task = root / "one-task"
    assert main(["run", STARCODER, *common, "--tasks", "1", "--out", str(one_task)]) == 0
    assert_same_rows_and_shards(reference, one_task)
    return {"root": root, "repos": repos, "reference": reference, "one_task": one_task}


def cluster_run(inputs: dict[str, Path], tmp_path: Path, scenario: str) -> tuple[Path, dict]:
    out = tmp_path / "out"
    args = [
        STARCODER,
        "--repos",
        str(inputs["repos"]),
        "--tasks",
        "4",
        *SHARDS,
        "--set",
        "executor.resources.near_pairs.cpus_per_task=2",
        "--out",
        str(out),
    ]
    run_in_netns([sys.executable, CLUSTER, str(tmp_path), scenario, "--", *args], timeout=1500)
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
    assert shards_manifest(out) == shards_manifest(reference)
    # nothing half-written left behind: no temporary file (the .tmp folders of the writers stay, empty)
    leftovers = [p for p in out.rglob("*") if p.is_file() and (".tmp" in p.name or p.parent.name == ".tmp")]
    assert not leftovers


def shards_manifest(out: Path) -> dict:
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    manifest.pop("source"), manifest["tokenizer"].pop("path")
    return manifest


def assert_same_rows_and_shards(reference: Path, out: Path) -> None:
    """Equal curated rows (whatever files they are in), clusters by file, shards and manifest."""
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


def nodes_used(out: Path, passes: str = "*") -> set[str]:
    nodes = set()
    for log in (out / "logs").glob(f"{passes}/**/logs/task_*.log"):
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
    assert_same_rows_and_shards(inputs["one_task"], out)
    assert len(nodes_used(out)) == 2, "the tasks ran on one node only"
    assert len(nodes_used(out, "shards_*")) == 2, "the shards tasks ran on one node only"
    clustering = nodes_used(out, "near_components") | nodes_used(out, "near_decide")
    assert len(clustering) == 2, "the clustering tasks ran on one node only"
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
