"""Run a pipeline: plan the passes, run each with the configured executor, resume, summarise.

Resuming is datatrove's: a task with a completion marker is skipped. On top of that the run directory's
``run.json`` records the config's identity digest and each pass's task count; a rerun with a config that
would change the output is refused (use another ``--out``), and a rerun of a finished run does nothing.
``identity`` adds the digests of the input files (a changed one is refused) and the outputs each pass
wrote (a rerun of a finished run redoes a pass whose output was lost).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datatrove.io import get_datafolder
from loguru import logger
from rich.console import Console

from stackcurate import __version__
from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError
from stackcurate.executors import LocalExecutor, RayExecutor, preload_in_tasks
from stackcurate.layout import RunLayout, read_manifest
from stackcurate.lifecycle import remove_stale_scratch, workers_die_with_driver
from stackcurate.plan import Pass, PassSpec, opt_out_list, pass_specs
from stackcurate.preflight import check_named_files
from stackcurate.progress import PassProgress
from stackcurate.sources.crashes import CrashLedger


@dataclass
class RunResult:
    """What ``run_pipeline`` did: passes run and skipped, seconds per pass, and whether anything ran."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not self.ran


def _write_manifest(layout: RunLayout, manifest: dict[str, Any]) -> None:
    folder = get_datafolder(layout.out)
    with folder.open("run.json.tmp", "w") as handle:
        json.dump(manifest, handle, indent=2)
    folder.mv("run.json.tmp", "run.json")


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
    if cfg.stages.pii is not None:
        modules += ["presidio_analyzer", "stackcurate.pii.recognizers"]
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
        # "local": a new instance here, never a cluster that RAY_ADDRESS or /tmp/ray names
        ray.init(
            address="local",
            num_cpus=cfg.executor.resolved_workers,
            include_dashboard=False,
            log_to_driver=False,
        )


def _record_opt_out(cfg: PipelineConfig, manifest: dict[str, Any], console: Console) -> None:
    """Record the opt-out list version this invocation applies (``run.json`` ``opt_out``: one entry per
    version seen); warn when a finished run was made with an older list."""
    opt_out = opt_out_list(cfg)
    if opt_out is None:
        return
    history = manifest.setdefault("opt_out", [])
    if history and history[-1]["digest"] == opt_out.digest:
        return
    if "completed" in manifest:  # nothing will run: the output keeps the list it was made with
        made_with = history[-1]["digest"] if history else "none"
        console.print(
            f"warning: {cfg.out} was made with opt-out list {made_with}, now {opt_out.digest}: "
            f"run `stackcurate opt-out purge {cfg.out}` to remove newly approved targets from it"
        )
        return
    history.append(
        {
            "digest": opt_out.digest,
            "owners": len(opt_out.owners),
            "repos": len(opt_out.repos),
            "applied": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def run_pipeline(cfg: PipelineConfig, console: Console | None = None, check_inputs: bool = True) -> RunResult:
    """Run every pass of ``cfg`` that is not complete yet. Raises ``FatalError`` when a pass fails.

    ``check_inputs``: refuse a run whose input files changed since it started (``identity``); a purge
    that reruns the passes after the filters turns it off (those passes read only the run's own folders).
    """
    from stackcurate import identity

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
    manifest = read_manifest(layout)
    digest = cfg.identity_digest()
    if manifest is not None and manifest.get("identity") != digest:
        raise FatalError(
            f"{cfg.out} holds a run made with another configuration (identity {manifest.get('identity')}, "
            f"now {digest}); choose another --out, or remove {cfg.out} to start over"
        )
    manifest = manifest or {
        "name": cfg.name,
        "identity": digest,
        "stackcurate": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": cfg.model_dump(mode="json"),
        "passes": {},
    }
    get_datafolder(layout.out).makedirs("", exist_ok=True)
    if check_inputs:
        identity.check_inputs(cfg, manifest)
    if "completed" in manifest:  # a finished run: redo any pass whose recorded output was lost
        for name, problem in identity.damaged_passes(layout, manifest).items():
            console.print(f"warning: pass {name}'s output is damaged ({problem}); running {name} again")
            identity.forget_completions(layout, name)
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
            recorded = manifest["passes"].get(spec.name)
            if recorded is not None and _pass_complete(layout, spec.name, int(recorded["tasks"])):
                result.skipped.append(spec.name)
                continue
            run_pass = spec.build(cfg, layout, int(recorded["tasks"]) if recorded else None)
            manifest["passes"][spec.name] = {"tasks": run_pass.tasks, "output": spec.folder}
            _write_manifest(layout, manifest)
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
        from stackcurate.shards.stage import write_shards

        shards = write_shards(cfg, console)
        if shards is not None:
            manifest["shards"] = shards
            result.ran.append("shards")
        if result.ran:
            manifest["completed"] = datetime.now(UTC).isoformat(timespec="seconds")
            identity.record_outputs(layout, manifest)
            _write_manifest(layout, manifest)
            if cfg.clean_intermediates:
                from stackcurate.clean import clean_completed_run

                clean_completed_run(layout, manifest)
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    return result
