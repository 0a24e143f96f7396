"""After a purge: redo what the purged rows took part in, so opting out removes only the opted-out code.

Dedup keeps one copy per group (exact or near) by priority and drops the others. When the kept copy
belonged to an opted-out repository, removing it alone would take the other repositories' copies out of
the dataset with it; and every kept row's ``duplicate_repos`` / ``cluster_size`` would still count it. So
when a purge removes rows that reached dedup (rows of ``02_filtered``), the passes after the per-file
filters are run again on the purged ``02_filtered`` with the run's own config (``run.json``): exact and
near dedup decide again, by the same priority, and the next copy of every affected group becomes the
kept one, then the curate pass (PII redaction) and the training shards follow. The clone and filter
passes are not rerun (their purged outputs are exact); the tokenizer is kept, so token ids keep their
meaning. See docs/architecture.md, "Opt-out".

The run is marked unfinished (``completed`` removed from ``run.json``) before anything is deleted, so a
purge that stops half-way leaves a run that ``stackcurate run`` with the same pipeline finishes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

#: passes that come before dedup: their outputs are purged in place, never recomputed
UPSTREAM_PASSES = ("clone", "filter")
#: folders that the curate pass writes besides its output (rebuilt with it)
CURATE_EXTRAS = ("rejects/exact_dedup", "rejects/near_dedup", "pii_audit")


def reached_dedup(root: Path, manifest: dict[str, Any]) -> bool:
    """Whether the run has passes after the filters (exact or near dedup)."""
    return "filter" in manifest.get("passes", {})


def downstream_folders(manifest: dict[str, Any]) -> list[str]:
    """The run-relative folders that the passes after ``filter`` write (outputs and logs), and shards."""
    folders: list[str] = []
    for name, recorded in manifest.get("passes", {}).items():
        if name in UPSTREAM_PASSES:
            continue
        output = str(recorded["output"])
        # near dedup's passes write into minhash/<part>; exact dedup's into dedup/exact/<part>
        folders.append(output.split("/", 1)[0] if output.startswith("minhash") else output)
        folders.append(f"logs/{name}")
    return sorted({*folders, *CURATE_EXTRAS, "shards"})


def rerun_downstream(root: Path, manifest: dict[str, Any], write_manifest: Any) -> list[str]:
    """Delete the outputs of the passes after ``filter`` and run them again (see the module docstring).

    ``write_manifest(manifest)`` saves ``run.json``. Returns the passes that ran."""
    from stackcurate.config import PipelineConfig
    from stackcurate.runner import run_pipeline

    cfg = PipelineConfig.model_validate(manifest["config"])
    cfg.out = str(root)
    manifest.pop("completed", None)  # unfinished until the rerun completes
    manifest.pop("shards", None)
    write_manifest(manifest)
    for folder in downstream_folders(manifest):
        target = root / folder
        if target.is_dir():
            shutil.rmtree(target)
    result = run_pipeline(cfg, Console(stderr=True), check_inputs=False)
    return result.ran
