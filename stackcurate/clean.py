"""``stackcurate clean RUN_DIR --intermediates``: remove every folder of a finished run that holds
unredacted content, keeping what is published and what explains it.

Removed (``RAW_FOLDERS``): ``01_clone`` and ``02_filtered`` (files as cloned and as filtered, before PII
redaction), ``rejects`` (dropped files, as they were), ``samples`` (``stackcurate inspect``'s sample of
them) and ``pii_audit`` (each PII span with its original text). Kept: ``curated``, ``shards``,
``tokenizer.json``, ``stats``, ``logs``, ``index``, the dedup tables (hashes, repository and path: no
content) and ``run.json``, which records the clean (``cleaned``) and stops listing the removed outputs,
so a rerun neither redoes those passes nor brings the content back.
The pipeline setting ``clean_intermediates: true`` does the same when a run completes.

After a clean, ``opt-out purge`` can only remove rows: the other copies of a duplicate group held by an
opted-out repository are gone with ``02_filtered`` (see docs/architecture.md, "Opt-out").
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from datatrove.io import get_datafolder

from stackcurate.errors import FatalError
from stackcurate.manifest import RunManifest

#: run-relative folders that hold unredacted file content
RAW_FOLDERS = ("01_clone", "02_filtered", "rejects", "samples", "pii_audit")


def clean_intermediates(run_dir: str) -> list[str]:
    """Remove ``RAW_FOLDERS`` from a finished run (local or fsspec URL); returns the folders removed."""
    manifest = RunManifest.require(run_dir)
    if not manifest.finished:
        raise FatalError(f"{run_dir} is not finished; its intermediates are still needed to resume it")
    return clean_run(manifest)


def clean_run(manifest: RunManifest) -> list[str]:
    """Remove ``RAW_FOLDERS`` from the finished run of ``manifest`` (the runner's call when a run with
    ``clean_intermediates: true`` completes); the ledger records the clean first, so a clean stopped
    half-way leaves a run that says what it removed."""
    run = get_datafolder(manifest.out)
    removed = [folder for folder in RAW_FOLDERS if run.isdir(folder)]
    manifest.forget_outputs(list(RAW_FOLDERS))  # gone on purpose: not a damaged output to redo
    manifest.record_clean(removed)
    manifest.save()
    for folder in removed:
        run.rm(folder, recursive=True)
    return removed


def cmd_clean(args: argparse.Namespace) -> int:
    if not args.intermediates:
        raise FatalError("say what to clean: --intermediates (the folders holding unredacted content)")
    removed = clean_intermediates(args.run_dir)
    if args.json:
        left = get_datafolder(args.run_dir).ls("", detail=False)
        names = sorted(str(path).rstrip("/").rsplit("/", 1)[-1] for path in left)
        print(json.dumps({"run": args.run_dir, "removed": removed, "kept": names}))
        return 0
    kept = "curated, shards, stats, logs and the attribution index are kept"
    print(
        f"removed {', '.join(removed) if removed else 'nothing (already clean)'} from {args.run_dir}; {kept}"
    )
    return 0


def add_parser(commands: Any) -> None:
    clean = commands.add_parser(
        "clean",
        help="remove a finished run's folders that hold unredacted content",
        description="Remove 01_clone, 02_filtered, rejects, samples and pii_audit from a finished run.",
    )
    clean.add_argument("run_dir", metavar="RUN_DIR")
    clean.add_argument(
        "--intermediates", action="store_true", help="the folders holding raw (unredacted) content"
    )
    clean.add_argument(
        "--json",
        action="store_true",
        help='{"run", "removed": [folders], "kept": [what the run still holds]}',
    )
    clean.set_defaults(func=cmd_clean)
