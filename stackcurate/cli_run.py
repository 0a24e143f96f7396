"""``stackcurate run PIPELINE.yaml``: run a pipeline, then say what it did and what to run next.

The help lists every stage key with its default (generated from the config schema, so it never drifts from
what the YAML accepts); ``--dry-run`` prints the resolved config and the passes and checks every input path
(a problem is an exit status of 2, and nothing is created); a run ends with the stage table and the run
summary (``stackcurate/summary.py``), or with the summary as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from stackcurate.errors import FatalError


def _stdout_console() -> Console:
    """Tables go to stdout; when it is not a terminal (logs, CI), use a width that keeps columns readable."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "{...}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def stage_keys_help(width: int = 100) -> str:
    """Every stage of the pipeline schema with its keys and their defaults, as ``run --help`` shows them."""
    from stackcurate.config import Stages

    lines = [
        "stage keys (a pipeline's `stages:` section, or --set stages.STAGE.KEY=VALUE; a stage runs when its",
        "section is present; the README's 'Pipeline files' explains them):",
    ]
    for name, field in Stages.model_fields.items():
        annotation: Any = field.annotation
        args = getattr(annotation, "__args__", None)
        # Optional[X]: the section's model is the non-None member
        model: type[BaseModel] = next(a for a in args if a is not type(None)) if args else annotation
        doc = " ".join((model.__doc__ or "").split()).split(". ")[0].rstrip(".").replace("``", "`")
        lines.extend(textwrap.wrap(f"{name}: {doc}", width, initial_indent="  ", subsequent_indent="      "))
        keys = [
            f"{key}={_default(info.get_default(call_default_factory=True))}"
            for key, info in model.model_fields.items()
        ]
        if keys:
            lines.extend(
                textwrap.wrap(" ".join(keys), width, initial_indent="      ", subsequent_indent="      ")
            )
    return "\n".join(lines)


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from stackcurate.config import parse_override

    overrides: dict[str, Any] = {
        "repos": args.repos,
        "out": args.out,
        "executor.kind": args.executor,
        "executor.ray_address": args.ray_address,
        "executor.tasks": args.tasks,
        "executor.workers": args.workers,
        "keep_rejects": True if args.keep_rejects else None,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}  # flags not given
    for text in args.set or ():  # `--set stages.shards=null` removes a stage
        key, value = parse_override(text)
        overrides[key] = value
    return overrides


def _no_pipeline() -> FatalError:
    found = (
        sorted(str(path) for path in Path("pipelines").glob("*.yaml")) if Path("pipelines").is_dir() else []
    )
    here = f" (here: {', '.join(found)})" if found else ""
    return FatalError(
        "no pipeline file: give one, e.g. `stackcurate run pipelines/quickstart.yaml`"
        f"{here}, or run the default stages with `--repos FILE --out DIR`; `stackcurate run --help` lists "
        "the stage keys"
    )


def _dry_run(cfg: Any) -> int:
    from stackcurate.plan import pass_specs
    from stackcurate.preflight import dry_run_warnings, input_problems
    from stackcurate.sizing import dry_run_lines

    print(f"# resolved config (identity {cfg.identity_digest()})")
    print(cfg.to_yaml(), end="")
    print("# passes")
    specs = pass_specs(cfg)
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        print(f"#   {spec.name:<{width}} -> {cfg.out.rstrip('/')}/{spec.folder}/   {spec.describe}")
    print("\n".join(f"# {line}" for line in dry_run_lines(cfg)))
    for warning in dry_run_warnings(cfg):
        print(f"warning: {warning}", file=sys.stderr)
    problems = input_problems(cfg)
    if problems:  # the config and plan above are still useful; the run would stop on these
        raise FatalError("the run would stop:\n  " + "\n  ".join(problems))
    print("# every input path checked: the run can start", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stackcurate.config import load_config
    from stackcurate.preflight import check_named_files

    if args.pipeline is None and args.repos is None:
        raise _no_pipeline()
    started = time.monotonic()
    cfg = load_config(args.pipeline, _run_overrides(args))
    if args.executor == "ray" or args.ray_address:
        cfg.executor.kind = "ray"
    if args.dry_run:
        return _dry_run(cfg)
    check_named_files(cfg, with_inputs=True)  # found now, before the output folder is made
    from stackcurate.runner import run_pipeline
    from stackcurate.stats.run_stats import collect_run_stats
    from stackcurate.stats.table import stages_table
    from stackcurate.summary import render_summary, run_summary

    console = Console(stderr=True)
    result = run_pipeline(cfg, console)
    if result.nothing_to_do:
        console.print(
            f"nothing to do: every pass of {cfg.out} is already complete ({', '.join(result.skipped)})"
        )
    command = shlex.join(getattr(args, "command_line", None) or ["stackcurate", "run"])
    summary = run_summary(cfg.out, result.seconds, time.monotonic() - started, command)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    stats = collect_run_stats(cfg.out)
    _stdout_console().print(stages_table(stats, title=f"stackcurate run {cfg.name} -> {cfg.out}/curated"))
    print(render_summary(summary), flush=True)
    return 0


def add_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a pipeline file",
        description="Run a pipeline (pipelines/*.yaml). Finished tasks are skipped, so rerunning the same "
        "command resumes an interrupted run; the final output is OUT/curated/*.parquet. It ends with the "
        "per-stage table and a summary: what was kept, why repositories were dropped, time per pass, and "
        "the commands to run next. Paths in a pipeline file are relative to the current folder.",
        epilog=stage_keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "pipeline",
        metavar="PIPELINE",
        nargs="?",
        default=None,
        help="pipeline YAML file (default: none; then --repos and --out run the default stages)",
    )
    run.add_argument("--repos", metavar="FILE", help="repos list (default: the pipeline's 'repos')")
    run.add_argument("--out", metavar="DIR", help="run directory (default: the pipeline's 'out')")
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where tasks run (default: the pipeline's executor.kind, else local processes)",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="existing Ray cluster, implies --executor ray (default: none)",
    )
    run.add_argument(
        "--tasks", type=int, help="shards per pass, part of the run's identity (default: executor.tasks, 4)"
    )
    run.add_argument("--workers", type=int, help="tasks run at once (default: the number of cores)")
    run.add_argument(
        "--keep-rejects",
        action="store_true",
        help="write every dropped file, with its reason, to <out>/rejects/<stage>/ (part of the identity; "
        "default: off, `stackcurate inspect` shows a sample of each reason without it)",
    )
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set stages.clone.depth=0 (VALUE is YAML); repeatable "
        "(default: none)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved config and passes and check every input path; run nothing",
    )
    run.add_argument("--json", action="store_true", help="print the run summary as JSON instead of tables")
    run.set_defaults(func=cmd_run)
