"""What a run is: its name, dates, version, opt-out list and the record ``stackcurate run`` leaves behind.

``run_metadata`` is the one reader of ``run.json`` for the summary and the report (the fields they show,
nothing else). ``<out>/stats/summary.json`` is the run summary (``stackcurate/summary.py``) that ``run`` and
``purge`` write when they finish: wall seconds per pass, the stackcurate commit, the HTML reports written
from the run (so that a purge can regenerate them) and the purges it has seen.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from datatrove.io import get_datafolder

from stackcurate import __version__
from stackcurate.layout import RunLayout, read_manifest

SUMMARY_JSON = "summary.json"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def run_metadata(out: str) -> dict[str, Any] | None:
    """The run's identity and history from ``run.json`` (None when ``out`` holds no run): ``name``,
    ``identity``, ``stackcurate`` (version), ``created``, ``completed``, ``seconds`` (created to completed:
    the first start to the last finish, resumes included), ``tasks`` (per pass), ``opt_out`` (the list's
    last version: digest, owners, repos), ``purges`` (how many), ``shards`` (rows, tokens, tokenizer),
    ``pipeline`` (the resolved config's stage names), ``repos`` (the list), ``keep_rejects``,
    ``opt_out_folder`` and ``licenses_keep`` (the license classes kept; None without a license stage)."""
    manifest = read_manifest(RunLayout(out))
    if manifest is None:
        return None
    config = manifest.get("config") or {}
    opt_out = (manifest.get("opt_out") or [None])[-1]
    stage_config = config.get("stages") or {}
    stages = [name for name, value in stage_config.items() if value is not None]
    return {
        "name": manifest.get("name"),
        "identity": manifest.get("identity"),
        "stackcurate": manifest.get("stackcurate"),
        "created": manifest.get("created"),
        "completed": manifest.get("completed"),
        "seconds": _seconds_between(manifest.get("created"), manifest.get("completed")),
        "tasks": {name: int(entry.get("tasks", 0)) for name, entry in (manifest.get("passes") or {}).items()},
        "opt_out": opt_out,
        "purges": len(manifest.get("purges") or []),
        "shards": manifest.get("shards"),
        "pipeline": stages,
        "repos": config.get("repos"),
        "keep_rejects": bool(config.get("keep_rejects")),
        "opt_out_folder": (stage_config.get("opt_out") or {}).get("folder"),
        "licenses_keep": list((stage_config.get("licenses") or {}).get("keep") or [])
        if stage_config.get("licenses")
        else None,
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
    """Write ``<out>/stats/summary.json`` atomically (a temporary name, then a rename)."""
    folder = get_datafolder(RunLayout(out).stats_dir)
    folder.makedirs("", exist_ok=True)
    with folder.open(SUMMARY_JSON + ".tmp", "w") as handle:
        json.dump({**summary, "written_by": __version__}, handle, indent=2)
    folder.mv(SUMMARY_JSON + ".tmp", SUMMARY_JSON)


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
