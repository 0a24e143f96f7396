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


def named_file_problems(cfg: PipelineConfig) -> list[str]:
    """Every problem with the local files and folders ``cfg`` names (empty when there is none): the output
    folder, ``rules_dir``, ``stages.clone.work_dir`` and ``stages.decontaminate.files``."""
    # the repos list is read (and named when missing) as the run starts; a dry run may come before it exists
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
    return [problem for problem in problems if problem is not None]


def check_named_files(cfg: PipelineConfig) -> None:
    """Raise ``FatalError`` listing every problem ``named_file_problems`` finds."""
    problems = named_file_problems(cfg)
    if len(problems) == 1:
        raise FatalError(problems[0])
    if problems:
        raise FatalError("the pipeline names files that cannot be used:\n  " + "\n  ".join(problems))
