"""End to end: the StarCoder pipeline as shipped (``pipelines/starcoder.yaml``: names on, the license matcher
on, tokenizer and shards) on a repos list, with per pass the wall time, the task-seconds (CPU time of every
process that worked on it), the MB it reads and its rate in MB/s per core; the figure every change to a
pass quotes.

    python benchmarks/end_to_end.py [--repos runs/sample/repos.csv] [--workers 2] [--out DIR] [--keep]
                                    [--set KEY=VALUE ...]

Input: ``--repos`` (default: the pipeline's ``runs/sample/repos.csv``, made by ``stackcurate sample-repos
runs/sample``). The run goes to a fresh ``--out`` folder (default: a temporary one, removed afterwards unless
``--keep``), with the pipeline's task count and ``--workers`` tasks at once, and a license memo of its own
in that folder (``stages.licenses.memo_path``), so license detection is measured cold, as on a fresh machine,
not served from ``~/.cache`` by an earlier run. ``--set`` passes overrides to ``stackcurate run``
(for example ``stages.shards.tokenizer=runs/starcoder/tokenizer.json`` to measure without training).

How it measures: the pipeline runs in this process (``run_pipeline``); before and after each pass (and the
tokenizer training) it sums the CPU time (user + system) of this process and of every process below it,
read from ``/proc``: a live process counts its own time and that of the children it has reaped
(``cutime``/``cstime``), so tasks forked by the local executor's fork server, and the git processes they
start, are all counted; the fork server's own time (the modules it preloads for every pass's tasks:
presidio, the SPDX index) is its own row, ``(fork server)``, not charged to the first pass, which starts
it. That sum is the pass's **task-seconds**: unlike wall time it does not grow when other
programs share the CPUs. **MB/s per core** = MB in / task-seconds; **wall MB/s per core** = MB in / (wall
seconds x workers), which equals it only on an idle machine with every worker busy. The load average is
printed before and after: wall figures taken at a load above the worker count say more about the
neighbours than about the code.

MB in, per pass (bytes of file content, 1 MB = 10^6 bytes): clone, the source files it delivers (text
files kept by the walk, the bytes of ``01_clone``); filter, the same; exact and near dedup and curate, the
files the filters kept (``02_filtered``); the tokenizer, the bytes it trained on (the curated files up to
``train_max_bytes``); shards, the curated files. The near dedup passes after the signatures (pairs,
component rounds, decide, clusters) read hashes, not content; they are charged the filtered MB, so their
rate is comparable with the others' (the corpus size they keep pace with). **End to end** = the source MB
(clone's) / the task-seconds of the whole run, interpreter start and run set-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipelines" / "starcoder.yaml"
TICKS = os.sysconf("SC_CLK_TCK")
#: the row of the fork server's own CPU time (its preloaded imports)
FORK_SERVER = "(fork server)"


def _proc_times(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, seconds of user + system time of ``pid`` itself, the same with the children it has
    reaped), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17
    own = (int(fields[11]) + int(fields[12])) / TICKS
    return int(fields[1]), own, own + (int(fields[13]) + int(fields[14])) / TICKS


def _is_fork_server(pid: int) -> bool:
    try:
        return b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def tree_cpu_seconds(root: int | None = None) -> tuple[float, float]:
    """CPU seconds of process ``root`` (default: this one) and every live process below it, each with the
    time of the children it has reaped (those of a child that exited and was reaped are in its parent's);
    and, separately, the fork server's own (its imports: ``runner.task_modules`` are preloaded there when
    the first pass starts it, whatever pass needs them)."""
    root = root or os.getpid()
    table: dict[int, tuple[int, float, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            times = _proc_times(int(entry))
            if times is not None:
                table[int(entry)] = times
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, fork_server, stack = 0.0, 0.0, [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            total += table[pid][2]
            if pid != root and _is_fork_server(pid):
                fork_server += table[pid][1]
        stack.extend(children.get(pid, ()))
    return total, fork_server


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class PassTiming:
    name: str
    wall: float = 0.0
    cpu: float = 0.0
    tasks: int = 0
    rounds: int = 0


@dataclass
class Measured:
    """The passes in the order they ran; rounds (``near_components/r000``...) summed under their pass."""

    passes: dict[str, PassTiming] = field(default_factory=dict)

    def add(self, name: str, wall: float, cpu: float, tasks: int) -> None:
        base = name.split("/", 1)[0]
        timing = self.passes.setdefault(base, PassTiming(base))
        timing.wall += wall
        timing.cpu += cpu
        if name != base or not timing.rounds:  # the tokenizer's second call only finds it trained
            timing.tasks += tasks
            timing.rounds += 1


def instrument(measured: Measured) -> None:
    """Wrap the runner's pass runner and the tokenizer training so each is timed (wall and tree CPU)."""
    from stackcurate import runner
    from stackcurate.plan import shards as shards_stage

    run_pass = runner._run_pass

    def timed(name: str, tasks: int, call: Any) -> Any:
        wall, (cpu, server) = time.monotonic(), tree_cpu_seconds()
        try:
            return call()
        finally:
            after, server_after = tree_cpu_seconds()
            measured.add(name, time.monotonic() - wall, after - cpu - (server_after - server), tasks)
            if server_after > server:
                measured.add(FORK_SERVER, 0.0, server_after - server, 1)

    def timed_run_pass(cfg: Any, pass_: Any, layout: Any, console: Any) -> None:
        timed(pass_.name, pass_.tasks, lambda: run_pass(cfg, pass_, layout, console))

    prepare = shards_stage.prepare_tokenizer

    def timed_prepare(cfg: Any, console: Any = None) -> str:
        return str(timed("tokenizer", 1, lambda: prepare(cfg, console)))

    runner._run_pass = timed_run_pass  # type: ignore[assignment]
    shards_stage.prepare_tokenizer = timed_prepare


def _stat_total(out: Path, pass_name: str, step_prefix: str, counter: str) -> int:
    """``counter``'s total in the first step of pass ``pass_name``'s stats whose name contains
    ``step_prefix``."""
    path = out / "logs" / pass_name / "stats.json"
    if not path.exists():
        return 0
    for step in json.loads(path.read_text()):
        if step_prefix in step["name"] and counter in step.get("stats", {}):
            return int(step["stats"][counter]["total"])
    return 0


def megabytes_in(out: Path, cfg: Any) -> dict[str, float]:
    """The MB each pass reads (see the module docstring), from the passes' stats files."""
    source = _stat_total(out, "clone", "READER", "bytes_out") / 1e6
    filtered = _stat_total(out, "curate", "exact dedup", "bytes_in") / 1e6
    curated = _stat_total(out, "curate", "pii", "bytes_out") / 1e6
    if not filtered:  # a pipeline without dedup: no 02_filtered
        filtered = source
    trained = 0.0  # a given tokenizer: nothing trained
    if cfg.stages.shards is not None and cfg.stages.shards.tokenizer is None:
        trained = min(curated, cfg.stages.shards.train_max_bytes / 1e6)
    sizes = {"clone": source, "filter": source, "tokenizer": trained}
    for name in ("exact_hash", "exact_decide", "near_signatures", "near_pairs", "near_components"):
        sizes[name] = filtered
    for name in ("near_decide", "near_clusters", "curate"):
        sizes[name] = filtered
    for name in ("shards_encode", "shards_write"):
        sizes[name] = curated
    return sizes


def report(
    measured: Measured, sizes: dict[str, float], total_wall: float, total_cpu: float, workers: int
) -> str:
    header = (
        f"{'pass':<16} {'tasks':>6} {'wall s':>8} {'task-s':>8} {'MB in':>8} "
        f"{'MB/s/core':>10} {'wall MB/s/core':>15}"
    )
    lines = [header, "-" * len(header)]
    timings = sorted(measured.passes.values(), key=lambda t: t.name == FORK_SERVER)  # it last
    for timing in timings:
        mb = sizes.get(timing.name, 0.0)
        rate = f"{mb / timing.cpu:10.1f}" if mb and timing.cpu > 0 else f"{'-':>10}"
        wall_rate = f"{mb / (timing.wall * workers):15.1f}" if mb and timing.wall > 0 else f"{'-':>15}"
        tasks = "" if timing.name == FORK_SERVER else f"{timing.tasks}"
        if timing.rounds > 1:
            tasks = f"{timing.rounds}x{timing.tasks // timing.rounds}"
        lines.append(
            f"{timing.name:<16} {tasks:>6} {timing.wall:8.1f} {timing.cpu:8.1f} {mb:8.1f} {rate} {wall_rate}"
        )
    passes_wall = sum(t.wall for t in measured.passes.values())
    passes_cpu = sum(t.cpu for t in measured.passes.values())
    lines.append(f"{'(other)':<16} {'':>6} {total_wall - passes_wall:8.1f} {total_cpu - passes_cpu:8.1f}")
    source = sizes.get("clone", 0.0)
    lines.append("-" * len(header))
    lines.append(
        f"{'end to end':<16} {'':>6} {total_wall:8.1f} {total_cpu:8.1f} {source:8.1f} "
        f"{source / total_cpu if total_cpu else 0:10.2f} {source / (total_wall * workers):15.2f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", default=None, help="repos list (default: the pipeline's)")
    parser.add_argument("--pipeline", default=str(PIPELINE))
    parser.add_argument("--workers", type=int, default=2, help="tasks run at once (default 2)")
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    started_wall, (started_cpu, _) = time.monotonic(), tree_cpu_seconds()
    from rich.console import Console

    from stackcurate.config import load_config, parse_override
    from stackcurate.runner import run_pipeline

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="stackcurate-e2e-"))
    if args.out and out.exists() and any(out.iterdir()):
        parser.error(f"--out {out} is not empty: the benchmark measures a fresh run")
    overrides: dict[str, Any] = {"out": str(out), "executor.workers": args.workers}
    if args.repos:
        overrides["repos"] = args.repos
    overrides.update(parse_override(text) for text in args.set)
    cfg = load_config(args.pipeline, overrides)
    if cfg.stages.licenses is not None and "stages.licenses.memo_path" not in overrides:
        cfg.stages.licenses.memo_path = str(out / "license-memo.sqlite")
    if not Path(cfg.repos).exists():
        parser.error(
            f"no repos list {cfg.repos}: make it with `stackcurate sample-repos runs/sample` or pass --repos"
        )

    load_before = load_average()
    print(f"repos {cfg.repos}, out {out}, {cfg.executor.tasks} tasks, {args.workers} workers")
    print(f"load average before: {load_before}", flush=True)
    measured = Measured()
    instrument(measured)
    try:
        run_pipeline(cfg, Console(stderr=True, force_terminal=False))
        total_wall, total_cpu = time.monotonic() - started_wall, tree_cpu_seconds()[0] - started_cpu
        sizes = megabytes_in(out, cfg)
        load_after = load_average()
        print()
        print(report(measured, sizes, total_wall, total_cpu, args.workers))
        print(f"load average before: {load_before}, after: {load_after}; {os.cpu_count()} CPUs")
        if args.json:
            figures = {
                "repos": cfg.repos,
                "workers": args.workers,
                "load_before": load_before,
                "load_after": load_after,
                "total": {"wall": total_wall, "cpu": total_cpu, "mb": sizes.get("clone", 0.0)},
                "passes": {
                    t.name: {"wall": t.wall, "cpu": t.cpu, "tasks": t.tasks, "mb": sizes.get(t.name, 0.0)}
                    for t in measured.passes.values()
                },
            }
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        if not args.keep and not args.out:
            shutil.rmtree(out, ignore_errors=True)
        elif args.keep or args.out:
            print(f"run directory: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
