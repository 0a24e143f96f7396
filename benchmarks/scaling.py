"""Scale-out on one machine: wall time of ``stackcurate run`` with 1 and with 2 workers on the same input and
the same task count, local and Ray executors, per pass (shards and near-dup clustering rounds included), as
a ratio in one run; ``--graph``: the sharded connected components on a synthetic edge list of 10^7 edges
(``benchmarks/scaling_graph.py``).

    python benchmarks/scaling.py [--sample-dir runs/sample] [--repos 40] [--tasks 4] [--executors local,ray]
                                 [--no-warmup] [--work-dir DIR] [--quick]

Input: the first ``--repos`` N repositories of ``SAMPLE_DIR/repos.csv`` (``stackcurate sample-repos``: one
real git repository per distribution installed in this interpreter; made when the folder has no repos.csv).
Pipeline: ``pipelines/starcoder.yaml`` with a 2,000-token tokenizer trained on at most 20 MB (training is
one driver process, outside the passes, and not what is scaled) and ``--set stages.licenses.memo=false``,
so that every run does its own license detection (the memo in ``~/.cache`` would make every run after the
first cheaper than the first).

Each measured run is ``python -m stackcurate.cli run pipelines/starcoder.yaml --repos LIST --out DIR --tasks T
--workers W --executor E --set ...`` in a child process with a fresh ``--out`` folder, for W = 1 then 2, local
executor first, then Ray; the wall time is the child process, start to exit. Per pass, the seconds the run
itself prints (``pass NAME: N tasks done in X s``, printed when stderr is not a terminal); ``other`` is the
wall time less the passes (interpreter start, imports, Ray start-up and shutdown, the console summary).
Speed-up = wall(1 worker) / wall(2 workers) of the same executor; efficiency = speed-up / workers (1.0 is
ideal; on a 2-core machine the ideal speed-up is 2.0); the per-pass speed-up is the same ratio for each
pass's seconds. How the work is spread: with 1 worker the local executor runs the tasks one after the
other in the ``stackcurate run`` process itself (datatrove starts no pool then), with 2 it starts a pool of
2 processes (forkserver) for every pass; Ray (``ray.init(num_cpus=W)``) runs every task in a Ray actor
process of its own, with 1 worker as with 2.

Ray runs inside a private network namespace (``unshare --net``, ``lo`` up), as tests/netns.py does: Ray
registers on the machine's interface even when told loopback, and only loopback traffic is allowed here.
Each Ray run gets its own ``RAY_TMPDIR``, so its session files and address file stay apart from any other
Ray on the machine. A run that fails is run once more (``--attempts``), with a note: a ``ray stop``
anywhere on the machine kills every Ray process on it, ours included.

Before the timed runs, an untimed warm-up (``--no-warmup`` or ``--quick`` skip it): every file of the
input repositories is read once (page cache), and the pipeline runs on the first 4 of them (local, 2
workers: byte-code, numba's kernel cache, the models the stages load), so the first timed run is not
charged for them.
Outputs: the curated Parquet files of every run, all rows sorted, must equal those of Ray with 1 worker.
``--quick``: 12 repositories, no warm-up (2 to 3 minutes on 2 cores; the full run about 6).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from stackcurate.config import PASS_NAMES
from stackcurate.sources.sample import make_sample_repos

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipelines" / "starcoder.yaml"
PASSES = PASS_NAMES  # the StarCoder pipeline has every pass
SHORT = (
    "clone",
    "filter",
    "ex_hash",
    "ex_dec",
    "near_sig",
    "near_pr",
    "near_cc",
    "near_dec",
    "near_cl",
    "curate",
    "sh_enc",
    "sh_wr",
)
#: a pass's line; rounds (near_components/r000, ...) are summed under their pass name
PASS_LINE = re.compile(r"^pass ([\w/]+): (\d+) tasks done in ([\d.]+)\s*s", re.MULTILINE)
WORKERS = (1, 2)
QUICK_REPOS = 12
RUN_TIMEOUT_S = 900
WARMUP_REPOS = 4
# a small tokenizer on a bounded sample: training is one driver process, outside the passes' times
OVERRIDES = (
    *("--set", "stages.shards.train_vocab_size=2000", "--set", "stages.shards.train_max_bytes=20000000"),
    *("--set", "stages.licenses.memo=false"),
)

NETNS_AVAILABLE = os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None


@dataclass
class Run:
    executor: str
    workers: int
    wall: float = 0.0
    passes: dict[str, float] = field(default_factory=dict)
    out: Path = Path()
    attempts: int = 1


# --------------------------------------------------------------------------------------------------- input


def prepare_input(sample_dir: Path, work: Path, repos: int) -> tuple[Path, int]:
    """The repos list (the first ``repos`` repositories of repos.csv) and how many it holds."""
    repos_csv = sample_dir / "repos.csv"
    if not repos_csv.exists():
        made = make_sample_repos(sample_dir)
        print(f"made {len(made)} sample repositories in {sample_dir}")
    header, *rows = repos_csv.read_text().splitlines()
    rows = rows[:repos]
    listing = work / "repos.csv"
    listing.write_text("\n".join([header, *rows]) + "\n")
    return listing, len(rows)


def read_repos(listing: Path) -> float:
    """Read every file of the listed repositories (git objects included) once; MB read."""
    total = 0
    for line in listing.read_text().splitlines()[1:]:
        for path in Path(line.split(",", 1)[0]).rglob("*"):
            if path.is_file() and not path.is_symlink():
                total += len(path.read_bytes())
    return total / 1e6


# ---------------------------------------------------------------------------------------------------- runs


def netns_command(command: list[str]) -> list[str]:
    """``command`` in a fresh network namespace whose only interface, ``lo``, is up (tests/netns.py)."""
    return ["unshare", "--net", "--", "sh", "-c", "ip link set lo up && exec " + shlex.join(command)]


def other_ray_daemons() -> list[int]:
    """PIDs of Ray daemons (raylet, gcs_server) running on this machine, outside any run of ours: another
    Ray user whose ``ray stop`` would kill our Ray as well (it stops every Ray process it can see)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:  # the process ended while we looked
            continue
        if argv0.endswith((b"/raylet", b"/gcs_server")):
            found.append(int(entry.name))
    return sorted(found)


def run_once(run: Run, listing: Path, tasks: int, work: Path, tag: str) -> str | None:
    """One ``stackcurate run``; fills ``run``'s times, or returns the reason it failed."""
    run.out = work / f"{tag}-{run.executor}-w{run.workers}"
    shutil.rmtree(run.out, ignore_errors=True)
    command = [
        *(sys.executable, "-m", "stackcurate.cli", "run", str(PIPELINE)),
        *("--repos", str(listing), "--out", str(run.out), "--tasks", str(tasks)),
        *("--workers", str(run.workers), "--executor", run.executor, *OVERRIDES),
    ]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    if run.executor == "ray":
        # short: Ray's socket paths under it must fit in 107 bytes
        env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rs-", dir="/tmp")
        command = netns_command(command)
    log = work / f"{run.out.name}.log"
    started = time.perf_counter()
    try:
        with log.open("w") as out:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, timeout=RUN_TIMEOUT_S
            )
    except subprocess.TimeoutExpired:
        return f"no exit after {RUN_TIMEOUT_S} s (log: {log})"
    finally:
        if run.executor == "ray":
            shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    run.wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if done.returncode != 0:
        tail = "\n".join(f"    {line}" for line in text.splitlines()[-8:])
        return f"exit {done.returncode} (log: {log}); last lines:\n{tail}"
    run.passes = {}
    for name, _, seconds in PASS_LINE.findall(text):
        base = name.split("/")[0]
        run.passes[base] = run.passes.get(base, 0.0) + float(seconds)
    missing = [name for name in PASSES if name not in run.passes]
    if missing:
        return f"no 'pass NAME: ... done' line for {', '.join(missing)} (log: {log})"
    return None


def measure(executor: str, workers: int, args: argparse.Namespace, listing: Path) -> Run:
    run = Run(executor, workers)
    for attempt in range(1, args.attempts + 1):
        run.attempts = attempt
        load = os.getloadavg()[0]
        others = other_ray_daemons() if executor == "ray" else []
        problem = run_once(run, listing, args.tasks, args.work, "run")
        note = f"; Ray daemons of someone else running: pids {others}" if others else ""
        if problem is None:
            print(
                f"  {executor:<6}{workers} worker{'s' if workers > 1 else ' '}  {run.wall:7.1f} s wall"
                f"  (load average before {load:.1f}{note})"
            )
            return run
        print(f"  {executor} {workers} worker(s), attempt {attempt} failed{note}: {problem}")
        if attempt < args.attempts and executor == "ray":
            print("  (a `ray stop` elsewhere on this machine kills this run's Ray too: running it once more)")
    sys.exit(
        f"{executor} with {workers} worker(s) failed {args.attempts} time(s); see the logs in {args.work}"
    )


# ------------------------------------------------------------------------------------------------- outputs


def shards_and_clusters(out: Path) -> str:
    """The shards manifest (less where it was made) and every near-dedup decision, as one JSON text."""
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    manifest.pop("source"), manifest["tokenizer"].pop("path")
    clusters = [
        pq.read_table(path).to_pylist() for path in sorted((out / "minhash" / "clusters").glob("*.parquet"))
    ]
    return json.dumps([manifest, clusters], sort_keys=True, default=str)


def curated_rows(out: Path) -> list[str]:
    """Every curated row as canonical JSON, sorted (row order depends on nothing but the task count, but the
    comparison should not depend on it either)."""
    files = sorted((out / "curated").glob("*.parquet"))
    rows: list[str] = []
    for path in files:
        for row in pq.read_table(path).to_pylist():
            rows.append(json.dumps(row, sort_keys=True, default=str))
    return sorted(rows)


# --------------------------------------------------------------------------------------------------- table


def print_table(runs: list[Run]) -> dict[str, float]:
    """The runs, with speed-up and efficiency against 1 worker of the same executor; speed-up per executor."""
    head = f"{'executor':<9}{'workers':>8}{'wall s':>9}{'speed-up':>10}{'effic.':>8}"
    print(f"\n{head}  |{''.join(f'{name:>9}' for name in SHORT)}{'other':>8}")
    speedups: dict[str, float] = {}
    base: dict[str, Run] = {}
    for run in runs:
        base.setdefault(run.executor, run)
        one = base[run.executor]
        speedup = one.wall / run.wall
        if run.workers > 1:
            speedups[run.executor] = speedup
        other = run.wall - sum(run.passes.values())
        cells = "".join(f"{run.passes[name]:>9.1f}" for name in PASSES)
        print(
            f"{run.executor:<9}{run.workers:>8}{run.wall:>9.1f}{speedup:>10.2f}{speedup / run.workers:>8.2f}"
            f"  |{cells}{other:>8.1f}"
        )
        if run.workers > 1:
            ratios = "".join(f"{one.passes[name] / max(run.passes[name], 1e-9):>9.2f}" for name in PASSES)
            label = f"  per-pass speed-up ({run.executor}, 1 -> {run.workers} workers)"
            print(f"{label:<44}  |{ratios}{(one.wall - sum(one.passes.values())) / max(other, 1e-9):>8.2f}")
    return speedups


# ---------------------------------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample-dir", type=Path, default=ROOT / "runs" / "sample")
    parser.add_argument("--repos", type=int, default=40, help="the first N repositories of repos.csv")
    parser.add_argument("--tasks", type=int, default=4, help="tasks per pass, the same for every run")
    parser.add_argument("--executors", default="local,ray", help="comma-separated: local, ray")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run")
    parser.add_argument(
        "--attempts", type=int, default=2, help="tries per run (Ray can be killed from outside)"
    )
    parser.add_argument("--work-dir", default=None, help="keep the run folders and logs here")
    parser.add_argument("--quick", action="store_true", help=f"--repos {QUICK_REPOS} --no-warmup")
    graph = parser.add_argument_group("synthetic graph (--graph; see benchmarks/scaling_graph.py)")
    graph.add_argument("--graph", action="store_true", help="cluster a synthetic edge list instead")
    graph.add_argument("--files", type=int, default=10_000_000)
    graph.add_argument("--edges", type=int, default=10_000_000)
    graph.add_argument("--graph-tasks", default="1,2,4")
    graph.add_argument("--memory-mb", type=int, default=256, help="as near_dedup.component_memory_mb")
    graph.add_argument("--double", action="store_true", help="also twice the files and edges")
    args = parser.parse_args()
    if args.quick:
        args.repos, args.no_warmup = QUICK_REPOS, True
    args.executors = [name.strip() for name in args.executors.split(",") if name.strip()]
    unknown = set(args.executors) - {"local", "ray"}
    if unknown:
        parser.error(f"unknown executor(s): {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    if args.graph:
        from scaling_graph import main as graph_main

        graph_main(args)
        return
    if "ray" in args.executors and not NETNS_AVAILABLE:
        sys.exit(
            "the Ray runs need a private network namespace: run as root with `unshare` (util-linux) and `ip`"
            " (iproute2) installed, or pass --executors local"
        )
    started = time.perf_counter()
    if args.work_dir is not None:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    args.work = Path(tempfile.mkdtemp(prefix="scaling-bench-", dir=args.work_dir))
    try:
        listing, repos = prepare_input(args.sample_dir, args.work, args.repos)
        cores = os.cpu_count() or 1
        print(
            f"input: the first {repos} repositories of {args.sample_dir / 'repos.csv'};"
            f" {PIPELINE.relative_to(ROOT)} {' '.join(OVERRIDES)}; {args.tasks} tasks per pass"
        )
        print(
            f"machine: {cores} cores (os.cpu_count), {len(os.sched_getaffinity(0))} usable by this process;"
            f" load average {os.getloadavg()[0]:.1f} at the start"
        )
        if not args.no_warmup:
            warm = time.perf_counter()
            mb = read_repos(listing)
            few = args.work / "repos-warmup.csv"
            few.write_text("\n".join(listing.read_text().splitlines()[: WARMUP_REPOS + 1]) + "\n")
            problem = run_once(Run("local", 2), few, args.tasks, args.work, "warmup")
            if problem:
                sys.exit(f"warm-up run failed: {problem}")
            print(
                f"warm-up (untimed): {mb:.0f} MB of repositories read, pipeline on the first {WARMUP_REPOS}"
                f" (local, 2 workers): {time.perf_counter() - warm:.1f} s"
            )
        print("timed runs:")
        runs = [measure(name, w, args, listing) for name in args.executors for w in WORKERS]
        speedups = print_table(runs)

        first = next((run for run in runs if run.executor == "ray"), runs[0])
        reference = curated_rows(first.out)
        same = {f"{run.executor} {run.workers}": curated_rows(run.out) == reference for run in runs}
        print(f"\ncurated rows: {len(reference)} ({first.executor}, {first.workers} worker)")
        if "ray" in args.executors:
            print(f"outputs identical (Ray, 1 vs 2 workers): {'yes' if same['ray 2'] else 'no'}")
        print(f"outputs identical (all runs): {'yes' if all(same.values()) else 'no'}")
        shards = shards_and_clusters(first.out)
        same_shards = all(shards_and_clusters(run.out) == shards for run in runs)
        print(
            f"shards, manifest and near-dup clusters identical (all runs): {'yes' if same_shards else 'no'}"
        )
        if not all(same.values()):
            print(f"  differs from the reference: {', '.join(k for k, ok in same.items() if not ok)}")

        ideal = min(cores, max(WORKERS))
        print(f"\nsummary ({cores} cores: the ideal speed-up with 2 workers is {ideal:.1f}):")
        for name, speedup in speedups.items():
            print(
                f"  {name:<6} 1 -> 2 workers: {speedup:.2f}x wall ({speedup / max(WORKERS):.0%} efficiency)"
            )
        retried = [f"{r.executor} {r.workers}" for r in runs if r.attempts > 1]
        if retried:
            print(f"  run again after a failure: {', '.join(retried)}")
        print(
            f"  load average at the end {os.getloadavg()[0]:.1f} (other work on the machine skews the times)"
        )
    finally:
        if args.work_dir is None:
            shutil.rmtree(args.work, ignore_errors=True)
        else:
            print(f"\nwork folder kept: {args.work}")
    print(f"\nbenchmark wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
