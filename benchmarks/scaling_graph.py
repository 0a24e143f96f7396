"""Sharded connected components on a synthetic near-duplicate graph (``benchmarks/scaling.py --graph``).

    python benchmarks/scaling.py --graph [--files 10000000] [--edges 10000000] [--graph-tasks 1,2,4]
                                 [--memory-mb 256] [--double] [--quick]

The graph: ``--files`` nodes named like pipeline files (task << 32 | position, 64 origin tasks), cut into
clusters whose sizes follow a Zipf-like law (1 + Zipf(2.0), capped at 5,000: most clusters are pairs, a
few are large, as near-duplicate clusters are); inside a cluster every member after the first is linked to
a uniformly drawn earlier member (a random recursive tree: depth ~ log size), then random extra edges
inside clusters until there are ``--edges`` edges. The generator knows nothing of the algorithm.

For each task count T of ``--graph-tasks``: the edges are written as round-0 partitions (as the near_pairs
pass writes them, ``components.write_edges``), then rounds run until convergence, each round as one child
process per partition (``ComponentRound``), T at a time, as the pipeline plans a round; ``--memory-mb``
sets the partitions (``components.partitions_for``, as ``near_dedup.component_memory_mb`` does). Reported:
wall time, rounds, partitions, the largest peak RSS of any task (its own ``VmHWM``, written by the task at
its end: ``wait4``'s ``ru_maxrss`` would carry this benchmark's own peak, the whole graph, through vfork +
exec; MB are 10^6 bytes), the most stored edges any task read, the most bytes per stored edge any task
(of at least 10^5 edges) used above the idle task (``IDLE_MB``), and whether every file's component
(smallest member) equals scipy's ``connected_components`` on the same edges.
``--double`` runs the same with twice the files and edges, to show the per-task peak stays put while the
partitions double. ``--quick``: 10^6 files and edges.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TypedDict

import numpy as np

from stackcurate.dedup.components import (
    EDGE_ROW_BYTES,
    converged,
    partitions_for,
    read_edges,
    star_clusters,
    write_edges,
)
from stackcurate.dedup.near import connected_components

SOURCES = 8  # round-0 edge files per partition, as if 8 near_pairs tasks wrote them
#: peak RSS (MB of 10^6 B) of a round task that holds no edges to speak of: ``python -c`` importing the
#: components module (numpy, polars, pyarrow, datatrove) peaks at 120.8 MB (VmHWM 117,940 KiB); the same
#: process running ``ComponentRound`` on a 3-edge graph of 4 partitions (Parquet reader and writer
#: started) at 132.1-132.2 MB (VmHWM 128,996-129,056 KiB, 3 runs); rounded up
IDLE_MB = 135


def synthetic_graph(files: int, edges: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` edges of the clustered graph described in the module doc."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(1 + rng.zipf(2.0, size=files), 5000)
    sizes = sizes[np.cumsum(sizes) <= files]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    covered = int(sizes.sum())
    cluster_of = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(covered) - starts[cluster_of]
    tree = position > 0  # each later member links to a uniformly drawn earlier member
    a = np.flatnonzero(tree)
    b = starts[cluster_of[a]] + (rng.random(len(a)) * position[a]).astype(np.int64)
    extra = max(0, edges - len(a))
    pick = rng.integers(0, covered, extra)
    sizes_of = sizes[cluster_of[pick]]
    other = starts[cluster_of[pick]] + (rng.random(extra) * sizes_of).astype(np.int64)
    # no self-loop: a drawn member equal to the picked one becomes its successor in the cluster
    first = starts[cluster_of[pick]]
    other = np.where(other == pick, first + (pick - first + 1) % sizes_of, other)
    a, b = np.concatenate([a, pick]), np.concatenate([b, other])
    names = (rng.integers(0, 64, files).astype(np.int64) << 32) | rng.permutation(files).astype(np.int64)
    return names[a], names[b]


def run_task(folder: Path, round_: int, partitions: int, rank: int, tasks: int) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from stackcurate.dedup.components import ComponentRound; "
        "f, r, p, k, t = sys.argv[1], *map(int, sys.argv[2:]); "
        "step = ComponentRound(f, r, p); list(step.run(rank=k, world_size=t)); "
        "hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')); "
        "open(f'{f}/peak-r{r}-{k}.kb', 'w').write(f'{hwm} {step.stats[\"edges_in\"].total}')"
    )
    args = [str(folder), str(round_), str(partitions), str(rank), str(tasks)]
    return subprocess.Popen([sys.executable, "-c", code, *args])


def wait_any(running: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """The first of ``running`` to end, reaped by its own ``Popen`` (which then knows its returncode;
    ``os.waitpid(-1)`` would reap any child of this process, and leave the ``Popen`` objects unaware)."""
    while True:
        for proc in running:
            if proc.poll() is not None:
                return proc
        time.sleep(0.02)


class Sharded(TypedDict):
    wall: float
    rounds: int
    peak_mb: float
    per_edge: float
    most_edges: int
    labels: tuple[np.ndarray, np.ndarray]


def sharded(folder: Path, a: np.ndarray, b: np.ndarray, tasks: int, partitions: int) -> Sharded:
    from datatrove.io import get_datafolder

    data = get_datafolder(str(folder))
    for source in range(SOURCES):
        write_edges(data, "edges/r000", source, a[source::SOURCES], b[source::SOURCES], partitions)
    started = time.monotonic()
    peak_kb, round_, per_edge, most_edges = 0, 0, 0.0, 0
    while True:
        # one process per partition (as the pipeline plans a round: one task per partition), T at a time
        pending = list(range(partitions))
        running: list[subprocess.Popen[bytes]] = []
        while pending or running:
            while pending and len(running) < tasks:
                running.append(run_task(folder, round_, partitions, pending.pop(0), partitions))
            done = wait_any(running)
            running.remove(done)
            if done.returncode != 0:
                for other in running:
                    other.kill()
                    other.wait()
                raise SystemExit(f"round {round_}: a task failed (exit status {done.returncode})")
        for name in folder.glob(f"peak-r{round_}-*.kb"):
            kb, edges = map(int, name.read_text().split())
            peak_kb, most_edges = max(peak_kb, kb), max(most_edges, edges)
            if edges >= 100_000:  # bytes per stored edge above the idle task, where edges dominate
                per_edge = max(per_edge, (kb * 1024 - IDLE_MB * 1e6) / edges)
        if converged(str(folder), round_, partitions):
            break
        round_ += 1
    wall = time.monotonic() - started
    docs, clusters = [], []
    for p in range(partitions):
        u, v = read_edges(data, f"edges/r{round_ + 1:03d}/{p:05d}")
        frame = star_clusters(u, v)
        docs.append(frame["doc"].to_numpy())
        clusters.append(frame["cluster"].to_numpy())
    doc, cluster = np.concatenate(docs), np.concatenate(clusters)
    order = np.argsort(doc)
    return {
        "wall": wall,
        "rounds": round_ + 1,
        "peak_mb": peak_kb * 1024 / 1e6,
        "per_edge": per_edge,
        "most_edges": most_edges,
        "labels": (doc[order], cluster[order]),
    }


def scipy_labels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    started = time.monotonic()
    nodes, labels = connected_components(a, b)
    order = np.argsort(labels, kind="stable")
    first = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    smallest = np.minimum.reduceat(nodes[order], first)
    return nodes, smallest[np.searchsorted(labels[order][first], labels)], time.monotonic() - started


def measure(files: int, edges: int, task_counts: list[int], memory_mb: int, work: Path) -> None:
    a, b = synthetic_graph(files, edges)
    keep = a != b
    a, b = a[keep], b[keep]
    nodes, expected, scipy_s = scipy_labels(a, b)
    partitions = partitions_for(files, memory_mb, edges_per_file=len(a) / files)
    print(
        f"\ngraph: {files:,} files, {len(a):,} edges, {len(nodes):,} files in edges; "
        f"--memory-mb {memory_mb}: {partitions} partitions ({EDGE_ROW_BYTES} B per directed edge planned); "
        f"scipy single process {scipy_s:.1f}s"
    )
    print(f"  bound per task: --memory-mb + the idle interpreter ({IDLE_MB} MB) = {memory_mb + IDLE_MB} MB")
    print(
        f"  {'tasks':>5} {'wall s':>8} {'rounds':>6} {'peak RSS/task MB':>17} {'most edges/task':>15} "
        f"{'B/edge above idle':>17} {'equal scipy':>11}"
    )
    for tasks in task_counts:
        folder = work / f"graph-{files}-{tasks}"
        shutil.rmtree(folder, ignore_errors=True)
        result = sharded(folder, a, b, tasks, partitions)
        doc, cluster = result["labels"]
        equal = bool(np.array_equal(doc, nodes) and np.array_equal(cluster, expected))
        print(
            f"  {tasks:>5} {result['wall']:>8.1f} {result['rounds']:>6} {result['peak_mb']:>17.0f} "
            f"{result['most_edges']:>15,} {result['per_edge']:>17.0f} "
            f"{'yes' if equal else 'NO':>11}"
        )
        shutil.rmtree(folder, ignore_errors=True)


def main(args: argparse.Namespace) -> None:
    files = 1_000_000 if args.quick else args.files
    edges = 1_000_000 if args.quick else args.edges
    tasks = [int(t) for t in args.graph_tasks.split(",")]
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="scaling-graph-"))
    measure(files, edges, tasks, args.memory_mb, work)
    if args.double:
        measure(2 * files, 2 * edges, tasks, args.memory_mb, work)
