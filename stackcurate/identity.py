"""What a run was made from, checked whenever the run directory is used again: by a resumed run and by
``opt-out purge`` (which redacts the files it promotes with the run's rules).

The config's identity digest (``PipelineConfig.identity_digest``) covers the settings; it does not cover
the files the settings name. ``input_digests`` adds them: the repos list, every rules file in effect
(packaged and ``rules_dir``), the decontamination benchmark files, a given tokenizer, and the opt-out
list's version. ``run.json`` records them (``RunManifest.inputs``) when the run starts; using the run again
after any of them changed would mix two inputs in one output, so it is refused naming the file (a newer
opt-out list is what ``stackcurate opt-out purge`` applies to a finished run). What each pass wrote is the
ledger's own record (``RunManifest.record_outputs``). See docs/architecture.md, "Run identity".
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import fsspec

from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError
from stackcurate.manifest import RunManifest
from stackcurate.optout.apply import approved_list
from stackcurate.rules import PACKAGED_RULES

#: the key under which the opt-out list's version is recorded (it is a list, not one file)
OPT_OUT_KEY = "opt-out list"
#: packaged rules files are recorded by their place in the package, not by where it is installed (a
#: reinstall, another checkout or virtual environment reads the same files)
PACKAGED = "stackcurate/rules_data/"
_PACKAGED_PATH = re.compile(r"(?:^|.*/)stackcurate/rules_data/([^/]+)$")


def input_key(path: str) -> str:
    """The name an input is recorded under: its path, or ``stackcurate/rules_data/NAME`` for a packaged
    rules file (runs made before recorded the installed path: it reads the same)."""
    match = _PACKAGED_PATH.match(path)
    return PACKAGED + match.group(1) if match else path


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
    digests = {input_key(path): file_digest(path) for path in input_files(cfg)}
    opt_out = approved_list(cfg)
    if opt_out is not None:
        digests[OPT_OUT_KEY] = opt_out.digest
    return digests


def check_inputs(cfg: PipelineConfig, manifest: RunManifest, purge: bool = False) -> None:
    """Record the inputs of a new run, or refuse one whose inputs changed since it started (``FatalError``
    naming the file). ``purge``: the check of ``opt-out purge``, for which a new opt-out list is the point."""
    if manifest.inputs is None:  # a new run, or one made before inputs were recorded: note them from now on
        manifest.inputs = input_digests(cfg)
        return
    recorded = {input_key(path): digest for path, digest in manifest.inputs.items()}
    current = {input_key(path): file_digest(path) for path in input_files(cfg)}
    for path in sorted(set(recorded) | set(current)):
        if path == OPT_OUT_KEY:
            continue
        before, now = recorded.get(path), current.get(path)
        if before != now:
            what = "is new" if before is None else "is no longer an input" if now is None else "changed"
            fix = "restore it, then purge" if purge else "restore it, or run into another --out"
            raise FatalError(
                f"input {path} {what} since {cfg.out} was started (sha256 {before or '-'}, "
                f"now {now or '-'}); {fix}"
            )
    opt_out = approved_list(cfg)
    version = opt_out.digest if opt_out is not None else None
    if not purge and not manifest.finished and version != recorded.get(OPT_OUT_KEY):
        where = f"{cfg.stages.opt_out.folder}/approved.txt" if cfg.stages.opt_out else "approved.txt"
        raise FatalError(
            f"input {where} (the opt-out list) changed since {cfg.out} was started "
            f"(version {recorded.get(OPT_OUT_KEY)}, now {version}): passes already run applied the old "
            f"list; finish the run with the old list, then `stackcurate opt-out purge {cfg.out}`, or run "
            "into another --out"
        )
