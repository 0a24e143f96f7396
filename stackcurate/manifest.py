"""``run.json``: the run's ledger, and the one module that reads and writes it (docs/architecture.md, "Run
identity").

A run directory's ``run.json`` says what the run was made from and what it has done: its name, the config's
identity digest and the resolved config, the stackcurate version, when it was created and completed, each
pass's task count and output folder (``passes``), the digests of its input files (``inputs``), each version
of the opt-out list it applied (``opt_out``) and the opt-out record's folder (``opt_out_dir``, absolute),
every Parquet file each pass wrote with its size and footer row count (``outputs``), the shards' summary,
and the history of cleans and purges. ``RunManifest`` names these fields; every other module calls it and
never indexes the JSON by string. ``save`` is the only write, atomic (a temporary name, then a rename), on
a local folder as on object storage. Keys this version does not know are kept as they are, so a run made
by an older or newer stackcurate loads and saves without losing any.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq
from datatrove.io import get_datafolder
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from stackcurate import __version__
from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError
from stackcurate.layout import RunLayout
from stackcurate.parquet_io import file_sizes
from stackcurate.stage import write_text_atomic

RUN_JSON = "run.json"
#: Parquet footers read at the same time when the outputs are recorded
FOOTERS_AT_ONCE = 8


def now() -> str:
    """The time stamps of the ledger: UTC, to the second, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Record(BaseModel):
    """A part of the ledger; keys it does not name are kept (``extra="allow"``)."""

    model_config = ConfigDict(extra="allow")


class PassRecord(Record):
    """A pass planned: its task count (fixed when planned, so a resumed run cuts the work the same way) and
    its output folder, relative to the run."""

    tasks: int
    output: str


class OutputFile(Record):
    """A Parquet file a pass wrote: its size in bytes and the row count of its footer."""

    bytes: int
    rows: int


class OptOutVersion(Record):
    """A version of the opt-out list a run applied: its digest, how many owners and repositories it
    names, when it was first applied."""

    digest: str
    owners: int = 0
    repos: int = 0
    applied: str | None = None


class CleanRecord(Record):
    """``stackcurate clean --intermediates``: the folders it removed, and when."""

    folders: list[str] = Field(default_factory=list)
    at: str | None = None


class PurgeRecord(Record):
    """One ``opt-out purge``: the list's digest, when, and what it did (``optout/purge.py``).

    ``removed``: covered rows removed per place (run-relative folder); ``promoted``: files that took the
    place of a purged kept copy in the curated output; ``curated_removed``: curated rows removed;
    ``regrouped``: files decided again (``exact``) and clustered again (``near``); ``shards``: shards
    rewritten and documents removed and added; ``seconds``: how long it took; ``note``: what it could not
    do. Records written before the incremental purge carry ``by_folder`` and ``rerun`` instead (kept as
    they are)."""

    digest: str
    purged: str | None = None
    removed: dict[str, int] = Field(default_factory=dict)
    promoted: int = 0
    curated_removed: int | None = None
    regrouped: dict[str, int] = Field(default_factory=dict)
    shards: dict[str, int] | None = None
    seconds: float | None = None
    note: str | None = None

    def curated_net(self) -> int:
        """Curated rows this purge took away net of the promoted ones (for the stats' waterfall)."""
        if self.curated_removed is not None:
            return self.curated_removed - self.promoted
        extra = self.model_extra or {}
        by_folder = extra.get("by_folder") or {}
        # a purge that reran dedup removed its rows before dedup, and the rerun's counts start there
        return int(by_folder.get("02_filtered" if extra.get("rerun") else "curated", 0))


class PurgeCommit(Record):
    """A purge being moved into place (``optout/pending.py``): the files to move from ``.purge/`` and to
    delete, and the purge's record, appended once they are done. A purge stopped half-way leaves it for
    the next ``opt-out purge`` to finish."""

    moves: list[str] = Field(default_factory=list)
    deletes: list[str] = Field(default_factory=list)
    #: the size and row count of each moved Parquet file the purge encoded (the table it wrote), so that
    #: noting the outputs after the moves reads no footer of those
    written: dict[str, OutputFile] = Field(default_factory=dict)
    record: PurgeRecord


class RunManifest(Record):
    """The ledger of one run directory (see the module docstring); ``load`` it, change it, ``save`` it."""

    name: str = "pipeline"
    identity: str
    stackcurate: str = __version__
    created: str = Field(default_factory=now)
    config: dict[str, Any] = Field(default_factory=dict)
    passes: dict[str, PassRecord] = Field(default_factory=dict)
    inputs: dict[str, str] | None = None
    opt_out: list[OptOutVersion] = Field(default_factory=list)
    opt_out_dir: str | None = None
    completed: str | None = None
    outputs: dict[str, dict[str, OutputFile]] = Field(default_factory=dict)
    shards: dict[str, Any] | None = None
    cleaned: list[CleanRecord] = Field(default_factory=list)
    purges: list[PurgeRecord] = Field(default_factory=list)
    purge_commit: PurgeCommit | None = None
    _out: str = PrivateAttr("")

    @classmethod
    def new(cls, cfg: PipelineConfig) -> RunManifest:
        """The ledger of a run about to start in ``cfg.out`` (not saved yet)."""
        manifest = cls(
            name=cfg.name, identity=cfg.identity_digest(), config=cfg.model_dump(mode="json"), passes={}
        )
        manifest._out = cfg.out
        return manifest

    @classmethod
    def load(cls, out: str) -> RunManifest | None:
        """The ledger of run directory ``out`` (a local path or an fsspec URL); None when there is none."""
        folder = get_datafolder(out)
        if not folder.exists(RUN_JSON):
            return None
        with folder.open(RUN_JSON, "r") as handle:
            try:
                data = json.load(handle)
                manifest = cls.model_validate(data)
            except (json.JSONDecodeError, ValidationError) as error:
                first = str(error).splitlines()[0]
                raise FatalError(
                    f"{RunLayout(out).join(RUN_JSON)} is corrupt ({first}); remove the run directory"
                ) from None
        manifest._out = out
        return manifest

    @classmethod
    def require(cls, out: str) -> RunManifest:
        """``load``, or ``FatalError`` when ``out`` holds no run."""
        manifest = cls.load(out)
        if manifest is None:
            raise FatalError(f"{out} is not a stackcurate run directory (no {RUN_JSON})")
        return manifest

    @property
    def out(self) -> str:
        """The run directory this ledger belongs to."""
        return self._out

    def save(self) -> None:
        """Write ``run.json`` whole or not at all (``stage.write_text_atomic``); its only writer."""
        data = self.model_dump(mode="json", exclude_none=True)
        write_text_atomic(get_datafolder(self._out), RUN_JSON, json.dumps(data, indent=2))

    # -- state ---------------------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.completed is not None

    def require_finished(self, action: str) -> None:
        """``FatalError`` unless the run completed: ``action`` (\"purge\", \"clean\") needs a finished run."""
        if not self.finished:
            raise FatalError(
                f"{self._out} is not finished; finish it (rerun the same command) or remove it, then {action}"
            )

    def finish(self) -> None:
        """Mark the run complete (``save`` to record it)."""
        self.completed = now()

    def reopen(self) -> None:
        """Mark a finished run unfinished again, so that its passes run (``save`` to record it)."""
        self.completed = None
        self.shards = None

    def pipeline_config(self) -> PipelineConfig:
        """The run's resolved config, its ``out`` this run directory."""
        cfg = PipelineConfig.model_validate(self.config)
        cfg.out = self._out
        return cfg

    # -- passes and outputs --------------------------------------------------------------------------------

    def record_pass(self, name: str, tasks: int, output: str) -> None:
        """Note a pass as planned (its task count and output folder)."""
        self.passes[name] = PassRecord(tasks=tasks, output=output)

    def pass_tasks(self, name: str) -> int | None:
        """The task count recorded for pass ``name`` (None when it was never planned)."""
        recorded = self.passes.get(name)
        return recorded.tasks if recorded is not None else None

    def record_outputs(
        self, changed: set[str] | None = None, written: dict[str, OutputFile] | None = None
    ) -> None:
        """Note every Parquet file of every pass, with its size and footer row count (``outputs``), from one
        listing of the run. ``changed``: the only files (run-relative) that can differ from the outputs
        noted before (a purge's commit): the others keep their noted row count when their size is the
        same, and only the changed ones' footers are read, but for those of ``written`` (size and row count
        as the writer encoded them) that are listed with that size."""
        run = get_datafolder(self._out)
        listed = file_sizes(run)
        noted = {path: file for files in self.outputs.values() for path, file in files.items()}
        reuse = {
            path: file
            for path, file in noted.items()
            if changed is not None and path not in changed and listed.get(path) == file.bytes
        }
        reuse.update({path: file for path, file in (written or {}).items() if listed.get(path) == file.bytes})
        self.outputs = {
            name: _pass_files(run, listed, record.output, reuse) for name, record in self.passes.items()
        }

    def forget_outputs(self, folders: list[str]) -> None:
        """Stop listing the outputs of the passes writing into ``folders`` (removed on purpose: not damage
        to repair)."""
        for name, record in self.passes.items():
            if record.output.split("/", 1)[0] in folders or record.output in folders:
                self.outputs.pop(name, None)

    def damaged_passes(self) -> dict[str, str]:
        """``{pass: what is wrong}`` for each pass whose recorded output is missing, resized or unreadable."""
        damaged: dict[str, str] = {}
        run = get_datafolder(self._out)
        for name, files in self.outputs.items():
            for path, expected in files.items():
                problem = _file_problem(run, path, expected)
                if problem:
                    damaged[name] = f"{path} {problem}"
                    break
        return damaged

    # -- opt-out, cleans, purges ---------------------------------------------------------------------------

    def opt_out_version(self) -> str | None:
        """The digest of the last opt-out list the run applied (or was purged with)."""
        if self.purges:
            return self.purges[-1].digest
        return self.opt_out[-1].digest if self.opt_out else None

    def record_opt_out(self, digest: str, owners: int, repos: int) -> bool:
        """Note an opt-out list version applied now; False when it is the one last noted."""
        if self.opt_out and self.opt_out[-1].digest == digest:
            return False
        self.opt_out.append(OptOutVersion(digest=digest, owners=owners, repos=repos, applied=now()))
        return True

    def record_clean(self, folders: list[str]) -> None:
        self.cleaned.append(CleanRecord(folders=folders, at=now()))

    def record_purge(self, record: PurgeRecord) -> None:
        self.purges.append(record)

    def curated_rows_purged(self) -> int:
        """Curated rows purges took away after the run, net of the files they promoted."""
        return sum(purge.curated_net() for purge in self.purges)


def _pass_files(
    run: Any, listed: dict[str, int], folder: str, reuse: dict[str, OutputFile]
) -> dict[str, OutputFile]:
    """The Parquet files under ``folder`` of the run's listing ``listed``, with their footer row counts
    (those in ``reuse`` taken from there)."""
    prefix = f"{folder.strip('/')}/"
    sizes = {
        name: size
        for name, size in listed.items()
        if name.startswith(prefix) and name.endswith(".parquet") and ".tmp" not in name
    }

    def footer_rows(name: str) -> int:
        if name in reuse:
            return reuse[name].rows
        # the size from the listing and no read-ahead: on object storage, only the footer is fetched
        with run.open(name, "rb", size=sizes[name], cache_type="none") as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)

    names = sorted(sizes)
    with ThreadPoolExecutor(max_workers=FOOTERS_AT_ONCE) as pool:  # object storage: round trips overlap
        rows = list(pool.map(footer_rows, names))
    return {name: OutputFile(bytes=sizes[name], rows=count) for name, count in zip(names, rows, strict=True)}


def _file_problem(run: Any, path: str, expected: OutputFile) -> str | None:
    if not run.exists(path):
        return "missing"
    size = int(run.size(path))
    if size != expected.bytes:
        return f"{size} bytes, {expected.bytes} when written"
    try:
        with run.open(path, "rb") as handle:
            rows = pq.ParquetFile(handle).metadata.num_rows
    except Exception as error:  # any unreadable footer: pyarrow raises several types
        return f"unreadable ({type(error).__name__})"
    if rows != expected.rows:
        return f"{rows} rows, {expected.rows} when written"
    return None
