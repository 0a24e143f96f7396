"""Sharded connected components (large-star / small-star rounds over partitioned edges) give scipy's
components on random graphs, chains and stars, for any number of partitions and tasks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from datatrove.io import get_datafolder
from test_near import STARCODER, make_listing
from test_runner import sorted_rows

from stackcurate.cli import main
from stackcurate.dedup.components import ComponentRound, converged, read_edges, star_clusters, write_edges
from stackcurate.dedup.near import NearDedupClusters, connected_components, iter_clusters


def sharded_labels(folder: Path, a: np.ndarray, b: np.ndarray, partitions: int, tasks: int) -> dict:
    data = get_datafolder(str(folder))
    sources = 3  # as if three pairs tasks wrote the round-0 edges
    for source in range(sources):
        write_edges(data, "edges/r000", source, a[source::sources], b[source::sources], partitions)
    round_ = 0
    while True:
        for rank in range(tasks):
            list(ComponentRound(str(folder), round_, partitions).run(rank=rank, world_size=tasks))
        if converged(str(folder), round_, partitions):
            break
        round_ += 1
        assert round_ < 60, "no convergence"
    labels = {}
    for p in range(partitions):
        u, v = read_edges(data, f"edges/r{round_ + 1:03d}/{p:05d}")
        for doc, cluster in star_clusters(u, v).iter_rows():
            assert doc not in labels, "a file in two stars"
            labels[doc] = cluster
    return labels


def scipy_labels(a: np.ndarray, b: np.ndarray) -> dict:
    nodes, labels = connected_components(a, b)
    smallest: dict[int, int] = {}
    for node, label in zip(nodes.tolist(), labels.tolist(), strict=True):
        smallest[label] = min(smallest.get(label, node), node)
    return {node: smallest[label] for node, label in zip(nodes.tolist(), labels.tolist(), strict=True)}


def graphs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    n = 3000
    random_a, random_b = rng.integers(0, n, 2500), rng.integers(0, n, 2500)
    chain = np.arange(400, dtype=np.int64)
    rng.shuffle(chain)  # a path visiting the nodes in random order: the worst case for label propagation
    star = np.full(50, 10_000, dtype=np.int64)
    keys = (rng.integers(0, 4, 2500) << 32) | rng.integers(0, 1000, 2500)  # (task, position) keys
    return {
        "random": (random_a, random_b),
        "chain": (chain[:-1], chain[1:]),
        "star+self-loops+repeats": (
            np.concatenate([star, [5, 5, 6]]),
            np.concatenate([np.arange(10_001, 10_051), [5, 6, 5]]),
        ),
        "task keys": (keys[:1250], keys[1250:]),
        "empty": (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)),
    }


@pytest.mark.parametrize("name", list(graphs()))
@pytest.mark.parametrize(("partitions", "tasks"), [(1, 1), (4, 2), (7, 3)])
def test_components_equal_scipy(tmp_path: Path, name: str, partitions: int, tasks: int) -> None:
    a, b = graphs()[name]
    a, b = a.astype(np.int64), b.astype(np.int64)
    expected = scipy_labels(a[a != b], b[a != b])
    assert sharded_labels(tmp_path, a, b, partitions, tasks) == expected


@pytest.mark.slow
def test_pipeline_clusters_equal_the_single_task_scipy_clusters(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """The sharded rounds of a 3-task run (with verify) decide what one scipy task decides on the same
    pairs, and what a one-task run decides."""
    listing = make_listing(git_repo_factory, tmp_path)
    outs = {}
    for tasks in (3, 1):
        outs[tasks] = out = tmp_path / f"run{tasks}"
        common = ["--repos", str(listing), "--out", str(out), "--tasks", str(tasks), "--workers", "2"]
        sets = ["--set", "stages.near_dedup.verify=true", "--set", "stages.near_dedup.components=rounds"]
        assert main(["run", STARCODER, *common, *sets]) == 0
    run3 = json.loads((outs[3] / "run.json").read_text())["passes"]
    assert any(name.startswith("near_components/") for name in run3)
    reference = tmp_path / "scipy"
    shutil.copytree(outs[3] / "minhash", reference)
    shutil.rmtree(reference / "clusters")
    list(NearDedupClusters(str(reference), verify=True, threshold=0.7).run())
    decided = list(iter_clusters(str(outs[3] / "minhash")))
    assert decided and decided == list(iter_clusters(str(reference)))
    assert sorted_rows(outs[3] / "curated") == sorted_rows(outs[1] / "curated")


@pytest.mark.slow
def test_one_clustering_task_decides_what_the_rounds_decide_on_real_code(tmp_path: Path) -> None:
    """On real code (setuptools, which vendors packaging, and packaging itself), a run whose pairs fit one
    task skips the rounds (the planner's choice) and writes the clusters, curated rows and shards of a
    run made with the rounds."""
    from stackcurate.sources.sample import make_sample_repos

    make_sample_repos(tmp_path / "repos", include=["packaging", "setuptools"])
    outs = {}
    for mode in ("auto", "rounds"):
        outs[mode] = out = tmp_path / mode
        common = ["--repos", str(tmp_path / "repos" / "repos.csv"), "--out", str(out), "--tasks", "3"]
        sets = ["--set", "stages.shards.train_vocab_size=2000"]
        if mode == "rounds":
            sets += ["--set", "stages.near_dedup.components=rounds"]
        assert main(["run", STARCODER, *common, "--workers", "2", *sets]) == 0
    passes = {mode: json.loads((outs[mode] / "run.json").read_text())["passes"] for mode in outs}
    assert not any(name.startswith("near_components/") for name in passes["auto"])
    assert passes["auto"]["near_clusters"]["tasks"] == 1 and "near_decide" not in passes["auto"]
    assert any(name.startswith("near_components/") for name in passes["rounds"])
    assert not (outs["auto"] / "minhash" / "edges").exists()  # no round-0 edges written for nothing
    decided = list(iter_clusters(str(outs["auto"] / "minhash")))
    assert sum(1 for row in decided if not row["keep"]) > 0, "the corpus has no near copies to cluster"
    assert decided == list(iter_clusters(str(outs["rounds"] / "minhash")))
    assert sorted_rows(outs["auto"] / "curated") == sorted_rows(outs["rounds"] / "curated")
    shards = {mode: sorted((outs[mode] / "shards").glob("shard-*.parquet")) for mode in outs}
    assert [p.name for p in shards["auto"]] == [p.name for p in shards["rounds"]] != []
    for auto, rounds in zip(shards["auto"], shards["rounds"], strict=True):
        assert auto.read_bytes() == rounds.read_bytes()
