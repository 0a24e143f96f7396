"""Dataset statistics (``stackcurate stats``): time and peak memory on a real run and on a copy of it made
``--scale`` times larger, to show that memory stays bounded while the data grows.

    python benchmarks/stats.py [--run-dir DIR] [--sample-dir runs/sample] [--work-dir runs/bench-stats]
                               [--repos N] [--scale 10] [--quick]

Runs. ``--run-dir DIR``: an existing finished run of ``pipelines/starcoder.yaml`` (e.g. the README's
``runs/starcoder``). Without it, ``pipelines/starcoder.yaml`` runs once over the sample repositories
(``stackcurate sample-repos``; made when ``--sample-dir`` has no repos.csv) into ``WORK_DIR/run-all``
(``--repos N``: the first N repositories only, ``WORK_DIR/run-first-N``), with a 400-token tokenizer (the
statistics only need shards to exist) and an empty opt-out list; a finished run is reused, so only the first
call clones. The synthetic copy ``WORK_DIR/<run name>-x<scale>`` holds every Parquet file the statistics read
(curated/, minhash/clusters/, shards/) ``--scale`` times: copy 0 as it is, copy k with ``~k`` appended to
``id``, ``repo`` and ``cluster_id``, so repositories and clusters multiply as well as files; row groups as
in the original. Every per-task stats JSON is copied ``--scale`` times too (stage counters and the removal
waterfall multiply), run.json and the shards manifest once. It is made once and reused.
``--quick``: the first 20 sample repositories and ``--scale 3`` (a few seconds once that run exists).

Measured on the run and on its copy, each measurement in a fresh child process
(``benchmarks/stats.py --_child ...``; polars with its default thread pool, every core):

1. ``collect_report(run)``: what ``stackcurate stats RUN --json`` computes; line lengths come from the
   quality filter's score columns (the StarCoder pipeline writes them), so no content is read;
2. ``collect_report(run, line_lengths="content")``: the same with line lengths recomputed from every file's
   content, which reads all the code (what a run without the quality stage costs);
3. ``write_report_html(report, path)``: the charts (matplotlib, Agg, PNG) and the self-contained HTML of
   ``--html``, from a report made by 1 in the same child (not timed).

Seconds: wall clock of the call alone (interpreter start and imports excluded). Peak memory: the child's
``VmHWM`` (peak resident set, /proc/self/status) after the call, and after the imports (the baseline). It is
read in the child because ``ru_maxrss`` of a process started by ``subprocess`` carries the parent's peak
through fork and exec (benchmarks/dedup.py explains it); ``VmHWM`` belongs to the process image. Content MB
is the UTF-8 size of the curated files (``size_bytes``), 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import first_repos

ROOT = Path(__file__).resolve().parents[1]
STARCODER = ROOT / "pipelines" / "starcoder.yaml"
QUICK_REPOS, QUICK_SCALE = 20, 3
#: folders of Parquet files the statistics read, and the string columns a copy makes distinct
COPIED = {"curated": ("id", "repo", "cluster_id"), "minhash/clusters": ("cluster_id",), "shards": ("repo",)}
MODES = ("report", "content", "html")


# ---------------------------------------------------------------------------------------------------- runs


def make_run(sample_dir: Path, work_dir: Path, repos: int | None) -> Path:
    """``stackcurate run pipelines/starcoder.yaml`` over the (first ``repos``) sample repositories, once."""
    repos_csv = first_repos(sample_dir, work_dir, repos)
    run_dir = work_dir / (f"run-first-{repos}" if repos else "run-all")
    if (run_dir / "run.json").exists() and "completed" in json.loads((run_dir / "run.json").read_text()):
        return run_dir
    command = [sys.executable, "-m", "stackcurate.cli", "run", str(STARCODER), "--repos", str(repos_csv)]
    command += ["--out", str(run_dir), "--set", "stages.shards.train_vocab_size=400"]
    command += ["--set", f"stages.opt_out.folder={work_dir / 'no-opt-out'}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    print(f"run: {run_dir} made in {time.perf_counter() - started:.0f} s")
    return run_dir


def copy_parquet(source: Path, target: Path, columns: tuple[str, ...], k: int) -> None:
    """``source`` row group by row group into ``target``, ``~k`` appended to ``columns`` (k > 0)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    suffix = pa.scalar(f"~{k}")
    with pq.ParquetWriter(target, parquet.schema_arrow, compression="zstd") as writer:
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group)
            for name in columns if k else ():
                if name in table.column_names:
                    changed = pc.binary_join_element_wise(table[name], suffix, "")
                    table = table.set_column(table.column_names.index(name), name, changed)
            writer.write_table(table)


def scaled_copy(run_dir: Path, scale: int, target: Path) -> Path:
    """The run's statistics inputs ``scale`` times (see the module docstring); made once."""
    done = target / ".complete"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(run_dir / "run.json", target / "run.json")
    for stats in sorted(run_dir.glob("logs/*/stats/*.json")):
        folder = target / stats.parent.relative_to(run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(scale):
            shutil.copy(stats, folder / f"{k:03d}-{stats.name}")
    for name, columns in COPIED.items():
        sources = sorted((run_dir / name).glob("*.parquet"))
        if sources:
            (target / name).mkdir(parents=True, exist_ok=True)
        for source in sources:
            for k in range(scale):
                copy_parquet(source, target / name / f"{source.stem}-{k:03d}.parquet", columns, k)
    if (run_dir / "shards" / "manifest.json").exists():
        shutil.copy(run_dir / "shards" / "manifest.json", target / "shards" / "manifest.json")
    done.touch()
    return target


# ------------------------------------------------------------------------------------------- measurement


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(mode: str, run_dir: str, html_path: str) -> dict[str, Any]:
    from stackcurate.stats.html import write_report_html
    from stackcurate.stats.report import collect_report

    if mode == "html":
        import matplotlib.figure  # noqa: F401  (an import, not drawing: part of the baseline)

        report = collect_report(run_dir)
    baseline = vm_hwm_kb()
    started = time.perf_counter()
    if mode == "html":
        write_report_html(report, html_path)
    else:
        report = collect_report(run_dir, line_lengths="auto" if mode == "report" else "content")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "baseline_kb": baseline,
        "peak_kb": vm_hwm_kb(),
        "files": report["dataset"]["files"],
        "bytes": report["dataset"]["bytes"],
        "repos": report["dataset"]["repos"],
        "html_bytes": Path(html_path).stat().st_size if mode == "html" else 0,
    }


def measure(mode: str, run_dir: Path, work_dir: Path) -> dict[str, Any]:
    html = work_dir / f"report-{run_dir.name}.html"
    command = [sys.executable, str(Path(__file__).resolve()), "--_child", mode, "--run-dir", str(run_dir)]
    done = subprocess.run([*command, "--html", str(html)], capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        output = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        sys.exit(f"child {mode} {run_dir} failed ({done.returncode}):\n{output}")
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run-dir", default=None, help="an existing finished starcoder run")
    parser.add_argument("--sample-dir", default="runs/sample")
    parser.add_argument("--work-dir", default="runs/bench-stats", help="where runs and the copy are made")
    parser.add_argument("--repos", type=int, default=None, help="run over the first N sample repositories")
    parser.add_argument("--scale", type=int, default=None, help="size of the synthetic copy (default 10)")
    parser.add_argument(
        "--quick", action="store_true", help=f"first {QUICK_REPOS} repos, --scale {QUICK_SCALE}"
    )
    parser.add_argument("--_child", choices=MODES, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--html", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        print("RESULT " + json.dumps(child(args._child, args.run_dir, args.html)), flush=True)
        return
    if args.quick:
        args.repos = args.repos or QUICK_REPOS
        args.scale = args.scale or QUICK_SCALE
    scale = args.scale or 10
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(args.run_dir) if args.run_dir else make_run(Path(args.sample_dir), work_dir, args.repos)
    started = time.perf_counter()
    copy = scaled_copy(run_dir, scale, work_dir / f"{run_dir.name}-x{scale}")
    print(f"synthetic copy: {copy} ready in {time.perf_counter() - started:.1f} s")
    threads = os.environ.get("POLARS_MAX_THREADS", "unset: every core")
    print(f"cores: {os.cpu_count()}, POLARS_MAX_THREADS {threads}")

    labels = {"report": "report (score columns)", "content": "report (line lengths from content)"}
    labels["html"] = "charts + HTML"
    columns = f"{'step':36}{'seconds':>9}{'peak MB':>9}{'base MB':>9}"
    print(f"\n{'run':24}{'files':>10}{'repos':>8}{'content MB':>12}  {columns}")
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for name, path in (("run (1x)", run_dir), (f"copy ({scale}x)", copy)):
        for mode in MODES:
            result = results[(name, mode)] = measure(mode, path, work_dir)
            first = mode == MODES[0]
            head = (
                f"{name:24}{result['files']:>10,}{result['repos']:>8,}{result['bytes'] / 1e6:>12.1f}"
                if first
                else " " * 54
            )
            peak, base = result["peak_kb"] / 1000, result["baseline_kb"] / 1000
            print(f"{head}  {labels[mode]:36}{result['seconds']:>9.2f}{peak:>9.0f}{base:>9.0f}")
    print(f"\n{scale}x the data, per step: time and memory above the baseline (peak - base), copy / run")
    for mode in MODES:
        one, many = results[("run (1x)", mode)], results[(f"copy ({scale}x)", mode)]
        grow_one = max(one["peak_kb"] - one["baseline_kb"], 1)
        grow_many = many["peak_kb"] - many["baseline_kb"]
        print(
            f"  {labels[mode]:36} time x{many['seconds'] / max(one['seconds'], 1e-9):5.1f}   "
            f"memory x{grow_many / grow_one:5.2f} ({grow_one / 1000:.0f} MB -> {grow_many / 1000:.0f} MB)"
        )


if __name__ == "__main__":
    main()
