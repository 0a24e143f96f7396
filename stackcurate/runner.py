"""Run a pipeline: plan the passes, run each with the configured executor, resume, summarise.

Resuming is datatrove's: a task with a completion marker is skipped. On top of that the run's ledger
(``run.json``, ``manifest.RunManifest``) records the config's identity digest and each pass's task count; a
rerun with a config that would change the output is refused (use another ``--out``), and a rerun of a
finished run does nothing. ``identity`` adds the digests of the input files (a changed one is refused); the
ledger notes the outputs each pass wrote (a rerun of a finished run redoes a pass whose output was lost).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datatrove.io import get_datafolder
from loguru import logger
from rich.console import Console

from stackcurate import identity
from stackcurate.clean import clean_run
from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError
from stackcurate.executors import LocalExecutor, RayExecutor, preload_in_tasks
from stackcurate.layout import RunLayout
from stackcurate.lifecycle import remove_stale_scratch, workers_die_with_driver
from stackcurate.manifest import RunManifest
from stackcurate.optout.apply import approved_list
from stackcurate.plan import Pass, PassSpec, pass_specs
from stackcurate.plan.shards import write_shards
from stackcurate.preflight import check_named_files
from stackcurate.progress import PassProgress
from stackcurate.run_copy import is_remote
from stackcurate.sources.crashes import CrashLedger
from stackcurate.sources.repos_list import load_repos_list


@dataclass
class RunResult:
    """What ``run_pipeline`` did: passes run and skipped, seconds per pass, and whether anything ran."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not self.ran


def _pass_complete(layout: RunLayout, name: str, tasks: int) -> bool:
    folder = get_datafolder(layout.logs(name))
    if not folder.isdir("completions"):
        return False
    done = set(folder.list_files("completions"))
    return all(f"completions/{rank:05d}" in done for rank in range(tasks))


def task_modules(cfg: PipelineConfig) -> list[str]:
    """Modules the pipeline's steps import only when they run and that are slow to import: the local
    executor's task processes start with them imported (``preload_in_tasks``)."""
    modules = []
    licenses = cfg.stages.licenses
    if licenses is not None and "spdx-match" in licenses.engines and cfg.rules_dir is None:
        modules.append("stackcurate.licenses.index_preload")
    if cfg.stages.near_dedup is not None:
        modules.append("stackcurate.dedup.minhash_preload")
    if cfg.stages.pii is not None:
        modules += ["stackcurate.pii.presidio_preload", "stackcurate.pii.recognizers"]
    return modules


def make_executor(cfg: PipelineConfig, run_pass: Pass, layout: RunLayout) -> Any:
    """The executor of one pass, with the pass's resources (``executor.resources``)."""
    settings = cfg.executor
    cpus, mem_per_cpu_gb = settings.for_pass(run_pass.name)
    if settings.kind == "ray":
        if settings.workers is None:  # as many tasks at once as the cluster has room for
            import ray

            workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))
        else:
            workers = settings.workers
        return RayExecutor(
            run_pass.steps,
            tasks=run_pass.tasks,
            workers=min(workers, run_pass.tasks),
            logging_dir=layout.logs(run_pass.name),
            cpus_per_task=cpus,
            mem_per_cpu_gb=mem_per_cpu_gb,
        )
    workers = max(1, int(settings.resolved_workers // cpus))
    return LocalExecutor(
        run_pass.steps,
        tasks=run_pass.tasks,
        workers=min(workers, run_pass.tasks),
        logging_dir=layout.logs(run_pass.name),
    )


def _run_pass(cfg: PipelineConfig, run_pass: Pass, layout: RunLayout, console: Console) -> None:
    """Run the pass's incomplete tasks; run those still incomplete again, ``executor.max_retries`` times.

    On Ray a task whose worker dies is first resubmitted by datatrove's executor within an attempt."""
    attempts = 1 + cfg.executor.max_retries
    ledger = CrashLedger(layout.failures(run_pass.name))  # markers of the tasks' current repositories
    for attempt in range(1, attempts + 1):
        executor = make_executor(cfg, run_pass, layout)
        error: Exception | None = None
        markers = ledger.snapshot(range(run_pass.tasks))
        try:
            with PassProgress(console, layout, run_pass):
                executor.run()
        except FatalError:
            raise
        except Exception as raised:
            error = raised
        if _pass_complete(layout, run_pass.name, run_pass.tasks):
            return
        missing = executor.get_incomplete_ranks(skip_completed=True)
        # this driver is alive and saw these tasks stop: a death on their current repository
        for dead in ledger.confirm_deaths(missing, markers):
            logger.warning(
                f"pass {run_pass.name}: task {dead['rank']} died on {dead['repo']} ({dead['deaths']}x)"
            )
        cause = f"{type(error).__name__}: {error}" if error else f"tasks {missing} did not complete"
        if attempt < attempts:
            console.print(
                f"warning: pass {run_pass.name}: {cause}; running them again "
                f"(retry {attempt} of {cfg.executor.max_retries})"
            )
            logger.warning(f"pass {run_pass.name} attempt {attempt}: {cause}")
            continue
        raise FatalError(
            f"pass {run_pass.name} failed after {attempts} attempt(s): {cause}\n"
            f"see the task logs in {layout.logs(run_pass.name)}/logs/; rerun the same command to resume"
        ) from error


@dataclass
class _Later:
    """Where the passes that a pass of rounds decides on after it ran go (``PassSpec.after``)."""

    next: Callable[[PipelineConfig, RunLayout], list[PassSpec]]


def _init_ray(cfg: PipelineConfig) -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
    except ImportError:
        raise FatalError("the ray executor needs Ray: pip install 'stackcurate[ray]'") from None
    if ray.is_initialized():
        return
    address = cfg.executor.ray_address
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # Ray starts its workers at niceness 15, so that its own daemons stay responsive: the run's tasks
        # would then yield to any other process on the machine (README's quickstart on Ray: 23 s idle, 402 s
        # next to two CPU-bound processes on 2 cores, 38 s at 0). The tasks are this instance's whole work:
        # they run at the driver's priority unless the environment sets RAY_worker_niceness.
        os.environ.setdefault("RAY_worker_niceness", "0")
        # "local": a new instance here, never a cluster that RAY_ADDRESS or /tmp/ray names
        ray.init(
            address="local",
            num_cpus=cfg.executor.resolved_workers,
            include_dashboard=False,
            log_to_driver=False,
        )


def forget_completions(layout: RunLayout, pass_name: str) -> None:
    """Remove a pass's completion markers, so that its tasks run again."""
    logs = get_datafolder(layout.logs(pass_name))
    if logs.isdir("completions"):
        for name in logs.list_files("completions"):
            logs.rm(name)


def _record_opt_out(cfg: PipelineConfig, manifest: RunManifest, console: Console) -> None:
    """Record the opt-out list this invocation applies (``RunManifest.opt_out``: one entry per version seen)
    and where its record is (``opt_out_dir``, absolute, the default of ``serve`` and ``opt-out``); warn
    when a finished run was made with an older list."""
    opt_out = approved_list(cfg)
    if opt_out is None or cfg.stages.opt_out is None:
        return
    folder = cfg.stages.opt_out.folder
    if manifest.opt_out_dir is None:
        manifest.opt_out_dir = folder if is_remote(folder) else str(Path(folder).resolve())
    made_with = manifest.opt_out_version()
    if made_with == opt_out.digest:
        return
    if manifest.finished:  # nothing will run: the output keeps the list it was made with
        console.print(
            f"warning: {cfg.out} was made with opt-out list {made_with or 'none'}, now {opt_out.digest}: "
            f"run `stackcurate opt-out purge {cfg.out}` to remove newly approved targets from it"
        )
        return
    manifest.record_opt_out(opt_out.digest, len(opt_out.owners), len(opt_out.repos))


def _check_repos_list(cfg: PipelineConfig) -> None:
    """A repos list that names no repository is an error, not an empty dataset."""
    repos, problems = load_repos_list(cfg.repos)
    if not repos:
        lines = f"; {len(problems)} lines could not be read (the first: {problems[0]})" if problems else ""
        raise FatalError(
            f"the repos list {cfg.repos} names no repository{lines}: nothing to curate; give a list with at "
            'least one git URL or local path per line (README, "The repos list")'
        )


#: passes that read the components rounds' scratch, which ``opt-out purge`` removes (it names files by
#: positions the purge moved): after a purge, they run again from the pairs on
AFTER_PAIRS = ("near_components/", "near_decide", "near_clusters")


def _rerun_near_after_purge(manifest: RunManifest, console: Console) -> None:
    """A purged run whose near clusters were lost: every near pass from the pairs on runs again (the rounds
    planned anew from round 0)."""
    layout = RunLayout(manifest.out)
    run = get_datafolder(manifest.out)
    later = [name for name in manifest.passes if name == "near_pairs" or name.startswith(AFTER_PAIRS)]
    console.print(f"warning: {manifest.out} was purged: running {', '.join(later)} again")
    for folder in ("minhash/edges", "minhash/changes", "minhash/cluster_parts"):
        if run.isdir(folder):
            run.rm(folder, recursive=True)
    for name in later:
        forget_completions(layout, name)
        if name.startswith("near_components/"):
            del manifest.passes[name]
            manifest.outputs.pop(name, None)


def run_pipeline(cfg: PipelineConfig, console: Console | None = None) -> RunResult:
    """Run every pass of ``cfg`` that is not complete yet. Raises ``FatalError`` when a pass fails, when
    the run directory holds a run of another config or inputs (``identity``), or when the repos list names
    no repository."""
    console = console or Console(stderr=True)
    layout = RunLayout(cfg.out)
    check_named_files(cfg)
    workers_die_with_driver()
    remove_stale_scratch([None, cfg.stages.clone.work_dir])  # left by runs killed with SIGKILL
    if cfg.executor.kind != "ray":
        preload_in_tasks(task_modules(cfg))
    # datatrove's driver-side messages go to the run's log; the console keeps progress and warnings
    # (the Ray executor's "local logging dir" warning is noise when Ray runs on this machine only)
    levels = {"": "WARNING"}
    if cfg.executor.kind == "ray" and not cfg.executor.ray_address:
        levels["datatrove.executor.ray"] = "ERROR"
    logger.remove()
    logger.add(sys.stderr, format="{level} | {message}", colorize=False, filter=levels)  # type: ignore[arg-type]
    manifest = RunManifest.load(cfg.out)
    digest = cfg.identity_digest()
    if manifest is not None and manifest.identity != digest:
        raise FatalError(
            f"{cfg.out} holds a run made with another configuration (identity {manifest.identity}, "
            f"now {digest}); choose another --out, or remove {cfg.out} to start over"
        )
    if manifest is None:
        _check_repos_list(cfg)
        manifest = RunManifest.new(cfg)
    identity.check_inputs(cfg, manifest)
    if manifest.finished:  # a finished run: redo any pass whose recorded output was lost
        damaged = manifest.damaged_passes()
        for name, problem in damaged.items():
            console.print(f"warning: pass {name}'s output is damaged ({problem}); running {name} again")
            forget_completions(layout, name)
        if manifest.purges and any(name.startswith(AFTER_PAIRS) for name in damaged):
            _rerun_near_after_purge(manifest, console)
    if manifest.purge_commit is not None:
        raise FatalError(
            f"a purge of {cfg.out} stopped before all its files were in place: run "
            f"`stackcurate opt-out purge {cfg.out}` to finish it"
        )
    _record_opt_out(cfg, manifest, console)
    result = RunResult()
    ray_started = False
    try:
        specs: list[PassSpec | _Later] = list(pass_specs(cfg))
        while specs:
            item = specs.pop(0)
            if isinstance(item, _Later):
                specs[:0] = item.next(cfg, layout)
                continue
            spec = item
            if spec.after is not None:  # rounds: what follows is known once this pass is done
                specs[:0] = [_Later(spec.after)]
            recorded = manifest.pass_tasks(spec.name)
            if recorded is not None and _pass_complete(layout, spec.name, recorded):
                result.skipped.append(spec.name)
                continue
            run_pass = spec.build(cfg, layout, recorded)
            manifest.record_pass(spec.name, run_pass.tasks, spec.folder)
            manifest.save()
            if cfg.executor.kind == "ray" and not ray_started:
                _init_ray(cfg)
                ray_started = True
            started = time.monotonic()
            _run_pass(cfg, run_pass, layout, console)
            result.seconds[spec.name] = time.monotonic() - started
            result.ran.append(spec.name)
            if not console.is_terminal:
                console.print(
                    f"pass {spec.name}: {run_pass.tasks} tasks done in {result.seconds[spec.name]:.1f}s"
                )
        shards = write_shards(cfg, console)
        if shards is not None:
            manifest.shards = shards
            result.ran.append("shards")
        if result.ran:
            manifest.finish()
            manifest.record_outputs()
            manifest.save()
            if cfg.clean_intermediates:
                clean_run(manifest)
        elif manifest.finished:
            manifest.save()  # what this invocation noted: the opt-out folder of a run made before it was
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    return result
