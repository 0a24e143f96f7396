"""Check every file and folder a pipeline names before anything runs (``--dry-run`` and the run's start).

A missing benchmark file or an output folder that cannot be written should stop a run in its first
second, with every problem named, not after an hour of cloning with a traceback. Object-storage paths
(``s3://...``) are left to the pass that opens them: checking them needs credentials and network.
"""

from __future__ import annotations

import os
from pathlib import Path

from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError


def _local(path: str) -> bool:
    return "://" not in path


def _readable_file(path: str, what: str) -> str | None:
    target = Path(path)
    if not target.exists():
        return f"{what} not found: {path}"
    if not target.is_file():
        return f"{what} is not a file: {path}"
    if not os.access(target, os.R_OK):
        return f"{what} is not readable: {path}"
    return None


def _writable_folder(path: str, what: str) -> str | None:
    """``path`` is a folder we can write, or can be made as one (no file in the way, a writable parent)."""
    target = Path(path).absolute()
    for ancestor in [target, *target.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                where = "is a file" if ancestor == target else f"is under a file ({ancestor})"
                return f"{what} {path} {where}"
            if not os.access(ancestor, os.W_OK | os.X_OK):
                return f"{what} {path} cannot be written (no write permission on {ancestor})"
            return None
    return None


def _relative_note(path: str) -> str:
    """For a relative path: where it was looked for (pipeline files name paths relative to the folder the
    command runs in, which is the usual surprise when a pipeline is run from elsewhere)."""
    if Path(path).is_absolute():
        return ""
    return (
        f" (relative to the current folder {Path.cwd()}: run from the folder the pipeline expects, or "
        "give --repos)"
    )


def named_file_problems(cfg: PipelineConfig) -> list[str]:
    """Every problem with the local files and folders ``cfg`` names (empty when there is none): the output
    folder, ``rules_dir``, ``stages.clone.work_dir``, ``stages.decontaminate.files`` and
    ``stages.shards.tokenizer``. The repos list is ``input_problems``' (a purge's rerun does not read it)."""
    problems = []
    if _local(cfg.out):
        problems.append(_writable_folder(cfg.out, "output folder"))
    if cfg.rules_dir is not None and not Path(cfg.rules_dir).is_dir():
        problems.append(f"rules_dir is not a folder: {cfg.rules_dir}")
    if cfg.stages.clone.work_dir is not None:
        problems.append(_writable_folder(cfg.stages.clone.work_dir, "stages.clone.work_dir"))
    decontaminate = cfg.stages.decontaminate
    for index, spec in enumerate(decontaminate.files if decontaminate is not None else []):
        if _local(spec.path):
            problems.append(_readable_file(spec.path, f"stages.decontaminate.files[{index}] ({spec.name})"))
    shards = cfg.stages.shards
    if shards is not None and shards.tokenizer is not None and _local(shards.tokenizer):
        problems.append(_readable_file(shards.tokenizer, "stages.shards.tokenizer"))
    return [problem for problem in problems if problem is not None]


def dry_run_warnings(cfg: PipelineConfig) -> list[str]:
    """What a dry run warns about without refusing: local repositories of the list that do not exist (the
    run counts them as failed clones and goes on)."""
    from urllib.parse import unquote, urlparse

    from stackcurate.errors import StackcurateError
    from stackcurate.sources.repos_list import load_repos_list

    if not (_local(cfg.repos) and Path(cfg.repos).is_file()):
        return []
    try:
        entries, _ = load_repos_list(cfg.repos)
    except StackcurateError:
        return []  # the run names it as it starts
    local = [entry for entry in entries if entry.location.is_local]
    missing = [
        entry for entry in local if not Path(unquote(urlparse(entry.location.clone_url).path)).exists()
    ]
    if not missing:
        return []
    first = unquote(urlparse(missing[0].location.clone_url).path)
    return [
        f"{len(missing):,} of {len(local):,} local repositories in {cfg.repos} do not exist "
        f"(first: {first}); the run counts them as failed clones"
    ]


def input_problems(cfg: PipelineConfig) -> list[str]:
    """``named_file_problems`` and the repos list, named with where a relative path was looked for: what
    ``stackcurate run`` checks before it makes the output folder (``--dry-run`` included)."""
    problems = []
    if _local(cfg.repos):
        problem = _readable_file(cfg.repos, "repos list")
        if problem:
            problems.append(problem + _relative_note(cfg.repos))
    return problems + named_file_problems(cfg)


def check_named_files(cfg: PipelineConfig, with_inputs: bool = False) -> None:
    """Raise ``FatalError`` listing every problem ``named_file_problems`` (``with_inputs``:
    ``input_problems``) finds."""
    problems = input_problems(cfg) if with_inputs else named_file_problems(cfg)
    if len(problems) == 1:
        raise FatalError(problems[0])
    if problems:
        raise FatalError("the pipeline names files that cannot be used:\n  " + "\n  ".join(problems))
