"""What a run is: its name, dates, version, opt-out list and the record ``stackcurate run`` leaves behind.

``run_metadata`` gives the summary and the report the fields they show of the run's ledger (``run.json``,
read through ``manifest.RunManifest``, its one reader). ``<out>/stats/summary.json`` is the run summary
(``stackcurate/summary.py``) that ``run`` and ``purge`` write when they finish: wall seconds per pass, the
stackcurate commit, the HTML reports written from the run (so that a purge can regenerate them) and the
purges it has seen.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from datatrove.io import get_datafolder
from pydantic import ValidationError

from stackcurate import __version__
from stackcurate.config import PipelineConfig
from stackcurate.layout import RunLayout
from stackcurate.manifest import RunManifest
from stackcurate.stage import write_text_atomic

SUMMARY_JSON = "summary.json"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def run_metadata(out: str) -> dict[str, Any] | None:
    """The run's identity and history from its ledger (``manifest.RunManifest``; None when ``out`` holds no
    run): ``name``, ``identity``, ``stackcurate`` (version), ``created``, ``completed``, ``seconds``
    (created to completed: the first start to the last finish, resumes included), ``tasks`` (per pass),
    ``opt_out`` (the list's last version: digest, owners, repos), ``purges`` (how many), ``shards`` (rows,
    tokens, tokenizer), ``pipeline`` (the resolved config's stage names), ``repos`` (the list),
    ``keep_rejects``, ``opt_out_folder`` and ``licenses_keep`` (the license classes kept; None without a
    license stage). A config this version cannot read (a run made by another version) leaves the fields
    taken from it None."""
    manifest = RunManifest.load(out)
    if manifest is None:
        return None
    try:
        cfg: PipelineConfig | None = manifest.pipeline_config()
    except ValidationError:
        cfg = None
    stages = cfg.stages if cfg is not None else None
    opt_out_folder = manifest.opt_out_dir or (stages.opt_out.folder if stages and stages.opt_out else None)
    opt_out = manifest.opt_out[-1].model_dump(mode="json", exclude_none=True) if manifest.opt_out else None
    return {
        "name": manifest.name,
        "identity": manifest.identity,
        "stackcurate": manifest.stackcurate,
        "created": manifest.created,
        "completed": manifest.completed,
        "seconds": _seconds_between(manifest.created, manifest.completed),
        "tasks": {name: record.tasks for name, record in manifest.passes.items()},
        "opt_out": opt_out,
        "purges": len(manifest.purges),
        "shards": manifest.shards,
        "pipeline": [name for name, value in stages if value is not None] if stages is not None else [],
        "repos": cfg.repos if cfg is not None else None,
        "keep_rejects": bool(cfg.keep_rejects) if cfg is not None else False,
        "opt_out_folder": opt_out_folder,
        "licenses_keep": list(stages.licenses.keep) if stages is not None and stages.licenses else None,
    }


def source_commit() -> str | None:
    """The git commit of the stackcurate code running now (None outside a git checkout), with ``+`` when
    its tracked files have changes."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+" if dirty else head


def read_summary(out: str) -> dict[str, Any]:
    """``<out>/stats/summary.json`` (an empty dict when absent or unreadable)."""
    folder = get_datafolder(RunLayout(out).stats_dir)
    if not folder.exists(SUMMARY_JSON):
        return {}
    try:
        with folder.open(SUMMARY_JSON, "r") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_summary(out: str, summary: dict[str, Any]) -> None:
    """Write ``<out>/stats/summary.json`` whole or not at all (``stage.write_text_atomic``)."""
    text = json.dumps({**summary, "written_by": __version__}, indent=2)
    write_text_atomic(get_datafolder(RunLayout(out).stats_dir), SUMMARY_JSON, text)


def record_report(out: str, path: str | Path) -> None:
    """Remember that an HTML report of ``out`` was written to ``path`` (a purge regenerates it)."""
    summary = read_summary(out)
    reports = [str(p) for p in summary.get("reports", [])]
    target = str(Path(path).resolve())
    if target not in reports:
        reports.append(target)
    summary["reports"] = reports
    # a run we may only read: the report is written, it just will not be refreshed by a purge
    with contextlib.suppress(OSError):
        write_summary(out, summary)
