"""What an opt-out purge of one repository costs next to the run it purges (issue 30: at most 10% of the
run's own time), and whether its result is that of a fresh run made with the repository opted out.

It runs ``pipelines/starcoder.yaml`` on the sample repositories (``make demo``'s run, into ``--work``),
files and approves an opt-out request for one repository, purges it with ``stackcurate opt-out purge``, and
prints the wall time and the CPU time (user + system of the command and every process below it, sampled from
/proc: a lower bound) of the run and of the purge, and their ratios. The repository is ``--repo``, or by
default the one with the median curated file count among those holding a kept copy of a duplicate group (an
exact or near duplicate elsewhere: the purge promotes the next copy, the case with the most to redo). With
``--fresh`` it then makes a fresh run with the repository opted out before it starts (the purged run's
tokenizer, so that the shards compare) and prints whether every curated row, every column, is equal, and
whether the shards verify and hold exactly the curated rows.

With ``--s3`` the run is kept on object storage: moto's S3 server is started in this process on loopback
(``s3_moto.py``; endpoint and keys reach the commands through the environment, as on a cluster), the run
writes ``s3://purge-bench/run`` and the purge rewrites it in place. The figures are the same; the CPU the
server spends answering (a thread of this process, not below the commands) is printed apart, and the
curated rows and shards are read from a copy downloaded after each step (not timed). ``shards verify`` runs
on the s3 URL, and on the downloaded copy when it cannot read the URL.

Every command is the CLI a user runs, as a subprocess. Timings under load: the load average is printed
before and after; compare the CPU seconds.

With ``--profile FILE`` the purge runs under cProfile (``python -m pstats FILE``), slower than without.

Usage: ``python benchmarks/purge.py [--sample runs/sample] [--work /tmp/purge-bench] [--repos N]
[--repo OWNER/NAME] [--fresh] [--s3] [--profile FILE]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from common import first_repos
from s3_moto import download, moto_s3, self_cpu

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "starcoder.yaml"
BUCKET = "purge-bench"


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


TICK = os.sysconf("SC_CLK_TCK")


def _descendants_cpu(root: int, seen: dict[tuple[int, str], float]) -> None:
    """Note the CPU seconds (user + system) so far of ``root`` and every process below it, by (pid, start
    time): the executor's worker processes are not always waited for, so ``RUSAGE_CHILDREN`` misses them."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = fields
    for pid, fields in stats.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            # fields after the name: state ppid ... utime (12th) stime (13th) ... starttime (20th)
            seen[(pid, fields[19])] = (int(fields[11]) + int(fields[12])) / TICK


def timed(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; (wall seconds, CPU seconds of it and every process below it, stdout). The CPU is
    sampled every 0.2 s from /proc: what a process spends after its last sample, and processes shorter
    than a sample (``git`` calls), are missed, so the figure is a lower bound. Fails loudly."""
    seen: dict[tuple[int, str], float] = {}
    started = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        out_parts: list[str] = []
        err_parts: list[str] = []
        readers = [
            threading.Thread(target=lambda: out_parts.append(child.stdout.read())),  # type: ignore[union-attr]
            threading.Thread(target=lambda: err_parts.append(child.stderr.read())),  # type: ignore[union-attr]
        ]
        for reader in readers:
            reader.start()
        while child.poll() is None:
            _descendants_cpu(child.pid, seen)
            time.sleep(0.2)
        for reader in readers:
            reader.join()
    wall = time.monotonic() - started
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({child.returncode}):\n{''.join(err_parts)[-3000:]}")
    return wall, sum(seen.values()), "".join(out_parts)


def stackcurate(*args: str) -> list[str]:
    return [sys.executable, "-m", "stackcurate.cli", *args]


def run_command(repos: Path, out: Path | str, record: Path, *settings: str) -> list[str]:
    options = [f"stages.opt_out.folder={record}", *settings]
    sets = [item for setting in options for item in ("--set", setting)]
    return stackcurate("run", str(PIPELINE), "--repos", str(repos), "--out", str(out), *sets)


def curated(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((out / "curated").glob("*.parquet"))).sort("repo", "path")


def pick_repo(out: Path) -> tuple[str, int]:
    """The repository with the median curated file count among those holding a kept copy of a duplicate
    group (among all when none does), and that count."""
    frame = curated(out)
    holders = (
        frame.filter((pl.col("duplicate_count") > 0) | (pl.col("cluster_size") > 1))
        .select("repo")
        .unique()["repo"]
        .to_list()
    )
    # a few repositories may hold no duplicate: then among them all
    counts = (
        frame.filter(pl.col("repo").is_in(holders) if holders else pl.lit(True))
        .group_by("repo")
        .len()
        .sort("len", "repo")
    )
    row = counts.row(counts.height // 2)
    return str(row[0]), int(row[1])


def shard_keys(out: Path) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for path in sorted((out / "shards").glob("shard-*.parquet")):
        table = pq.read_table(path, columns=["repo", "path"])
        keys.update(zip(table["repo"].to_pylist(), table["path"].to_pylist(), strict=True))
    return keys


def verify(out: Path | str, copy: Path) -> str:
    """What ``shards verify`` says of the run ``out`` (``copy`` its local view): the exit status and, when
    it fails on an s3 URL, that of the downloaded copy too, verified against the copy's tokenizer."""
    first = subprocess.run(stackcurate("shards", "verify", str(out)), capture_output=True, text=True)
    said = f"exit {first.returncode}"
    if first.returncode and isinstance(out, str):
        reason = (first.stderr.strip().splitlines() or ["?"])[0][:200]
        tokenizer = str(copy / "tokenizer.json")
        on_copy = subprocess.run(
            stackcurate("shards", "verify", str(copy), "--tokenizer", tokenizer),
            capture_output=True,
            text=True,
        )
        said += f" on the URL ({reason}); exit {on_copy.returncode} on the downloaded copy"
    return said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sample", type=Path, default=ROOT / "runs" / "sample", help="sample repositories")
    parser.add_argument("--work", type=Path, default=Path("/tmp/purge-bench"), help="emptied first")
    parser.add_argument("--repos", type=int, default=None, help="the first N repositories (default: all)")
    parser.add_argument("--repo", help="the repository to purge (default: see the module docstring)")
    parser.add_argument("--fresh", action="store_true", help="compare with a fresh run without it")
    parser.add_argument("--s3", action="store_true", help="keep the run on S3 (moto, in this process)")
    parser.add_argument(
        "--profile", type=Path, help="run the purge under cProfile, stats to this file (slows the purge)"
    )
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    repos = first_repos(args.sample, args.work, args.repos)
    record = args.work / "opt_out"
    with ExitStack() as stack:
        if args.s3:
            endpoint = stack.enter_context(moto_s3(BUCKET))["AWS_ENDPOINT_URL"]
            print(f"S3: moto server at {endpoint} (in this process), bucket {BUCKET}", flush=True)
        return measure(args, repos, record)


def measure(args: argparse.Namespace, repos: Path, record: Path) -> int:
    """Run, purge (and with ``--fresh`` compare); print the figures."""
    out: Path | str = f"s3://{BUCKET}/run" if args.s3 else args.work / "run"

    def view(run: Path | str, name: str) -> Path:
        """The run as a local folder: itself, or a copy of the s3 run downloaded into the work folder."""
        return download(run, args.work / name) if isinstance(run, str) else run

    print(f"load average before: {load()}; {os.cpu_count()} cores; repos list {repos}", flush=True)
    print(f"run output: {out}", flush=True)
    server_cpu = self_cpu()
    run_wall, run_cpu, _ = timed(run_command(repos, out, record))
    run_server, server_cpu = self_cpu() - server_cpu, self_cpu()
    first = view(out, "before")
    before = curated(first)
    print(f"run:   {run_wall:8.1f} s wall, {run_cpu:8.1f} CPU-s; {before.height:,} curated files", flush=True)

    if args.repo:
        repo, files = args.repo, int((before["repo"] == args.repo).sum())
    else:
        repo, files = pick_repo(first)
    timed(stackcurate("opt-out", "request", "--repo", repo, "--opt-out-dir", str(record)))
    timed(stackcurate("opt-out", "approve", "--repo", repo, "--opt-out-dir", str(record)))
    server_cpu = self_cpu()
    purge = stackcurate("opt-out", "purge", str(out))
    if args.profile:
        purge[1:1] = ["-m", "cProfile", "-o", str(args.profile)]
    purge_wall, purge_cpu, printed = timed(purge)
    purge_server = self_cpu() - server_cpu
    print(printed.rstrip())
    print(f"purge of {repo} ({files} curated files): {purge_wall:.1f} s wall, {purge_cpu:.1f} CPU-s")
    print(
        f"purge / run: {100 * purge_wall / run_wall:.1f}% of the wall time, "
        f"{100 * purge_cpu / run_cpu:.1f}% of the CPU time",
        flush=True,
    )
    if args.s3:
        both = 100 * (purge_cpu + purge_server) / (run_cpu + run_server)
        print(
            f"S3 server (this process, sampling included) CPU: run {run_server:.1f} s, purge "
            f"{purge_server:.1f} s; purge / run with it: {both:.1f}% of the CPU time",
            flush=True,
        )
    copy = view(out, "after")
    after = curated(copy)
    keys = set(zip(after["repo"].to_list(), after["path"].to_list(), strict=True))
    gone = repo not in set(after["repo"])
    print(
        f"after the purge: {after.height:,} curated files, none of {repo}: {gone}; shards verify "
        f"{verify(out, copy)}; shards hold exactly the curated rows: {shard_keys(copy) == keys}"
    )
    if args.fresh:
        fresh: Path | str = f"s3://{BUCKET}/fresh" if args.s3 else args.work / "fresh"
        tokenizer = f"stages.shards.tokenizer={copy / 'tokenizer.json'}"
        fresh_wall, fresh_cpu, _ = timed(run_command(repos, fresh, record, tokenizer))
        made = curated(view(fresh, "fresh-copy"))
        same = after.columns == made.columns and after.to_dicts() == made.to_dicts()
        took = f"{fresh_wall:.1f} s wall, {fresh_cpu:.1f} CPU-s"
        print(f"fresh run without {repo}: {took}; {made.height:,} files")
        print(f"curated rows equal to the fresh run's (every column): {same}")
        if not same:
            left = set(zip(after["repo"], after["path"], strict=True))
            right = set(zip(made["repo"], made["path"], strict=True))
            print(f"  only purged: {sorted(left - right)[:5]}; only fresh: {sorted(right - left)[:5]}")
    print(f"load average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
