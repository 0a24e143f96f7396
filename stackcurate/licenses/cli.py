"""``stackcurate license detect``: the pipeline's license decision for local repositories, with evidence."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
from rich.table import Table

from stackcurate.errors import FatalError
from stackcurate.licenses.detect import Evidence
from stackcurate.licenses.stage import default_memo_path, make_detector
from stackcurate.rules import load_file_rules, load_language_map
from stackcurate.sources.walk import WalkedFile, classify_content, walk_repository

MAX_FILE_BYTES = 1_000_000


def _folder_files(root: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of a plain folder's text files; symlinks are never followed, .git is skipped."""
    rules = load_file_rules()
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if d != ".git")
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file() or path.stat().st_size >= MAX_FILE_BYTES:
                continue
            reason, text = classify_content(path.read_bytes(), rules, name)
            if reason is None:
                yield path.relative_to(root).as_posix(), text


def repository_files(path: Path) -> list[tuple[str, str]]:
    """The (path, text) pairs the pipeline would see for a local repository (HEAD tree) or folder."""
    if not path.is_dir():
        raise FatalError(f"not a directory: {path}")
    try:
        repo = git.Repo(path)
    except git.InvalidGitRepositoryError:
        return list(_folder_files(path))
    try:
        walked = walk_repository(repo, load_language_map(), load_file_rules(), MAX_FILE_BYTES)
        return [(item.path, item.content) for item in walked if isinstance(item, WalkedFile)]
    except (git.GitCommandError, ValueError):
        return list(_folder_files(path))  # a repository without commits: read the folder
    finally:
        repo.close()


def _evidence(evidence: Evidence) -> dict[str, Any]:
    """One evidence entry; ``unaccounted`` (only when there is one) quotes the part of a license text no
    license could account for: why a text is "X AND LicenseRef-unknown-terms", hence not permissive."""
    entry: dict[str, Any] = {"path": evidence.path, "license": evidence.license, "engine": evidence.engine}
    if evidence.unaccounted:
        entry["unaccounted"] = evidence.unaccounted
    if evidence.scope:
        entry["scope"] = evidence.scope
    return entry


def detect_paths(paths: list[str], engines: list[str], memo: bool = True) -> list[dict[str, Any]]:
    """One report per path: repo, license, license_class, evidence [{path, license, engine}], directories."""
    detector = make_detector(engines, default_memo_path() if memo else None)
    roots = [Path(p).resolve() for p in paths]
    results = detector.detect_many([repository_files(root) for root in roots])
    reports = []
    for root, result in zip(roots, results, strict=True):
        reports.append(
            {
                "repo": "/".join(root.parts[-2:]),
                "license": result.root.license,
                "license_class": result.root.license_class,
                "license_choice": result.root.choice,
                "evidence": [_evidence(e) for e in result.evidence],
                "directories": {
                    directory or ".": {
                        "license": d.license,
                        "license_class": d.license_class,
                        "evidence": d.evidence,
                    }
                    for directory, d in sorted(result.directories.items())
                },
            }
        )
    return reports


def render_detections(reports: list[dict[str, Any]]) -> Table:
    """One row per directory with evidence; a license text with unaccounted terms gets a row quoting them."""
    table = Table(title="license detection", title_justify="left")
    for column in ("repo", "directory", "license", "class", "decided by"):
        table.add_column(column)
    for report in reports:
        directories = report["directories"] or {
            ".": {"license": None, "license_class": "no_license", "evidence": None}
        }
        for directory, decision in directories.items():
            table.add_row(
                report["repo"],
                directory,
                decision["license"] or "-",
                decision["license_class"],
                decision["evidence"] or "-",
            )
        for evidence in report["evidence"]:
            if evidence.get("unaccounted"):
                table.add_row(
                    report["repo"],
                    evidence["path"],
                    evidence["license"] or "-",
                    "not accounted for:",
                    evidence["unaccounted"],
                )
    return table
