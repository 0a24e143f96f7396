"""What a run was made from and what it produced, checked whenever the run directory is used again.

The config's identity digest (``PipelineConfig.identity_digest``) covers the settings; it does not cover
the files the settings name. ``input_digests`` adds them: the repos list, every rules file in effect
(packaged and ``rules_dir``), the decontamination benchmark files, a given tokenizer, and the opt-out
list's version. ``run.json`` records them (``inputs``) when the run starts; resuming after any of them
changed would mix two inputs in one output, so it is refused naming the file (the opt-out list of a
finished run only warns: ``stackcurate opt-out purge`` applies a newer list to it).

When a run completes, ``record_outputs`` notes every Parquet file each pass wrote, with its size and the
row count from its footer (``outputs``). A rerun of a finished run checks them (``damaged_passes``): a
pass whose file is missing, resized or unreadable is run again instead of answering "nothing to do".
See docs/architecture.md, "Run identity".
"""

from __future__ import annotations

import hashlib
from typing import Any

import fsspec
import pyarrow.parquet as pq
from datatrove.io import get_datafolder

from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError
from stackcurate.layout import RunLayout
from stackcurate.rules import PACKAGED_RULES

#: the key under which the opt-out list's version is recorded (it is a list, not one file)
OPT_OUT_KEY = "opt-out list"


def file_digest(path: str) -> str:
    """sha256 of a file (local path or fsspec URL), 16 hex digits; ``FatalError`` when unreadable."""
    digest = hashlib.sha256()
    try:
        with fsspec.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, ValueError) as error:
        raise FatalError(f"cannot read input {path}: {error}") from None
    return digest.hexdigest()[:16]


def input_files(cfg: PipelineConfig) -> list[str]:
    """Every file ``cfg`` reads besides its own YAML (sorted within each kind)."""
    from pathlib import Path

    files = [cfg.repos]
    rules = sorted(str(path) for path in PACKAGED_RULES.glob("*.yaml"))
    if cfg.rules_dir:
        rules += sorted(str(path) for path in Path(cfg.rules_dir).glob("*.yaml"))
    files += rules
    if cfg.stages.decontaminate is not None:
        files += [spec.path for spec in cfg.stages.decontaminate.files]
    if cfg.stages.shards is not None and cfg.stages.shards.tokenizer:
        files.append(cfg.stages.shards.tokenizer)
    return files


def input_digests(cfg: PipelineConfig) -> dict[str, str]:
    """``{file: digest}`` of every input of ``cfg``, plus the opt-out list's version."""
    from stackcurate.plan import opt_out_list

    digests = {path: file_digest(path) for path in input_files(cfg)}
    opt_out = opt_out_list(cfg)
    if opt_out is not None:
        digests[OPT_OUT_KEY] = opt_out.digest
    return digests


def check_inputs(cfg: PipelineConfig, manifest: dict[str, Any]) -> None:
    """Record the inputs of a new run, or refuse one whose inputs changed since it started."""
    recorded = manifest.get("inputs")
    if recorded is None:  # a new run, or one made before inputs were recorded: note them from now on
        manifest["inputs"] = input_digests(cfg)
        return
    finished = "completed" in manifest
    current = {path: file_digest(path) for path in input_files(cfg)}
    for path in sorted(set(recorded) | set(current)):
        if path == OPT_OUT_KEY:
            continue
        before, now = recorded.get(path), current.get(path)
        if before != now:
            what = "is new" if before is None else "is no longer an input" if now is None else "changed"
            raise FatalError(
                f"input {path} {what} since {cfg.out} was started (sha256 {before or '-'}, "
                f"now {now or '-'}); restore it, or run into another --out"
            )
    from stackcurate.plan import opt_out_list

    opt_out = opt_out_list(cfg)
    version = opt_out.digest if opt_out is not None else None
    if not finished and version != recorded.get(OPT_OUT_KEY):
        folder = cfg.stages.opt_out.folder if cfg.stages.opt_out else "opt_out"
        raise FatalError(
            f"input {folder}/approved.txt (the opt-out list) changed since {cfg.out} was started "
            f"(version {recorded.get(OPT_OUT_KEY)}, now {version}): passes already run applied the old "
            f"list; finish the run with the old list, then `stackcurate opt-out purge {cfg.out}`, or run "
            "into another --out"
        )


def _pass_files(layout: RunLayout, folder: str) -> dict[str, dict[str, int]]:
    data = get_datafolder(layout.join(folder))
    found: dict[str, dict[str, int]] = {}
    if not data.isdir(""):
        return found
    for name in sorted(data.list_files(recursive=True)):
        if not name.endswith(".parquet") or ".tmp" in name:
            continue
        with data.open(name, "rb") as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
        found[f"{folder}/{name}"] = {"bytes": int(data.size(name)), "rows": int(rows)}
    return found


def record_outputs(layout: RunLayout, manifest: dict[str, Any]) -> None:
    """Note every Parquet file of every pass (size and footer row count) in ``manifest["outputs"]``."""
    manifest["outputs"] = {
        name: _pass_files(layout, str(recorded["output"])) for name, recorded in manifest["passes"].items()
    }


def damaged_passes(layout: RunLayout, manifest: dict[str, Any]) -> dict[str, str]:
    """``{pass: what is wrong}`` for each pass whose recorded output is missing, resized or unreadable."""
    damaged: dict[str, str] = {}
    run = get_datafolder(layout.out)
    for name, files in manifest.get("outputs", {}).items():
        for path, expected in files.items():
            problem = None
            if not run.exists(path):
                problem = "missing"
            elif int(run.size(path)) != expected["bytes"]:
                problem = f"{run.size(path)} bytes, {expected['bytes']} when written"
            else:
                try:
                    with run.open(path, "rb") as handle:
                        rows = pq.ParquetFile(handle).metadata.num_rows
                except Exception as error:  # any unreadable footer: pyarrow raises several types
                    problem = f"unreadable ({type(error).__name__})"
                else:
                    if rows != expected["rows"]:
                        problem = f"{rows} rows, {expected['rows']} when written"
            if problem:
                damaged[name] = f"{path} {problem}"
                break
    return damaged


def forget_completions(layout: RunLayout, pass_name: str) -> None:
    """Remove a pass's completion markers, so that its tasks run again."""
    logs = get_datafolder(layout.logs(pass_name))
    if logs.isdir("completions"):
        for name in logs.list_files("completions"):
            logs.rm(name)
