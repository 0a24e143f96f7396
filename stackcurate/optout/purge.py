"""``opt-out purge``: remove the approved targets from a finished run, and redo only what they took part in.

Opting out must remove only the opted-out code. A purged file may have been the kept copy of a duplicate
group: then the next copy by the same priority takes its place, in the curated output and the shards, and
``duplicate_repos``/``cluster_size`` stop counting the purged copies. The purge is incremental (a re-run
of every pass after the filters would cost as much as curating the run again):

1. the covered rows leave ``02_filtered``, and the tasks' positions move up (``positions.py``);
2. exact dedup decides again only the hash groups that held a purged file (``exact_regroup.py``), near
   dedup clusters again only the clusters a purged or promoted file took part in (``near_regroup.py``),
   both with the passes' own code, and the dedup tables are renumbered so that they still name each file
   by its position;
3. the files of those groups go where the new decisions put them (``placement.py``): a promoted file is
   made from its ``02_filtered`` row and redacted (PII runs on the promoted files only), in stream order;
4. only the shards that held a purged document or receive a promoted one are rewritten, encoded with the
   run's tokenizer (``shard_update.py``);
5. every other Parquet file with a ``repo`` column loses its covered rows (``01_clone``, rejects, ...),
   and every file rewritten is checked (the table it was encoded from): the purge fails if a covered row
   is left anywhere;
6. all of it moves into the run together (``pending.py``), the ledger records the purge, and the
   attribution index and ``report.html``, when the run has them, are made again.

A run whose intermediates were cleaned (no ``02_filtered``) can only lose rows: a purged kept copy cannot
hand its place on (the record says so). The caller (the command line) checks the run's identity first:
the rules a promoted file is redacted with must be those the run was made with. Works on a local run
directory as on object storage, in place. See docs/architecture.md, "Opt-out".
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
from datatrove.io import get_datafolder

from stackcurate.config import PipelineConfig
from stackcurate.errors import FatalError
from stackcurate.manifest import PurgeRecord, RunManifest, now
from stackcurate.optout.apply import OptOutList
from stackcurate.optout.exact_regroup import DECISIONS, ExactOutcome, regroup_exact
from stackcurate.optout.near_regroup import MINHASH, regroup_near
from stackcurate.optout.pending import ASIDE, KEY_COLUMNS, PendingWrites, finish_commit
from stackcurate.optout.placement import FileKey, FileState, Rewritten, rewrite_places
from stackcurate.optout.positions import FILTERED, NearStream, TaskStream, covered_mask, purge_streams
from stackcurate.optout.shard_update import check_tokenizer, read_shards_manifest, run_encoder, update_shards
from stackcurate.parquet_io import iter_rows, list_parquet_files, read_columns
from stackcurate.pii.stage import PiiRedactor
from stackcurate.shards.build import DocumentEncoder

#: the columns that name a curated file: the key columns ``PendingWrites`` keeps of every table put, so those
#: of a rewritten curated file are answered from memory
CURATED_KEYS = list(KEY_COLUMNS)
S = TypeVar("S")
T = TypeVar("T")


@dataclass
class PurgeSettings:
    """What a purge needs of the run's config: the PII stage's settings (the promoted files are redacted
    as the curate pass redacted the others), whether near dedup verified its pairs, the shards' row
    groups. The PII redactor is built on first use, or ahead in a thread (``prepare_redactor``): it takes
    seconds."""

    rules_dir: str | None
    pii_names: bool | None
    keep_public_ips_only: bool
    pii_audit: bool
    verify_threshold: float | None
    verify_max_bucket: int
    row_group_rows: int
    _redactor: PiiRedactor | None = None
    _building: Future[PiiRedactor] | None = None

    @classmethod
    def of(cls, cfg: PipelineConfig) -> PurgeSettings:
        pii, near, shards = cfg.stages.pii, cfg.stages.near_dedup, cfg.stages.shards
        return cls(
            rules_dir=cfg.rules_dir,
            pii_names=pii.names if pii is not None else None,
            keep_public_ips_only=pii.keep_public_ips_only if pii is not None else True,
            pii_audit=bool(pii and pii.audit),
            verify_threshold=near.threshold if near is not None and near.verify else None,
            verify_max_bucket=near.verify_max_bucket if near is not None else 0,
            row_group_rows=shards.row_group_rows if shards is not None else 0,
        )

    def redactor(self) -> PiiRedactor | None:
        """The run's PII redactor (None when the run has no PII stage)."""
        if self.pii_names is None:
            return None
        if self._building is not None:
            self._redactor = self._building.result()  # raises what building it raised
            self._building = None
        if self._redactor is None:
            self._redactor = _built_redactor(self)
        return self._redactor

    def prepare_redactor(self) -> None:
        """Start building the PII redactor in a thread (its imports take seconds; a purge on object storage
        spends that long waiting on the server), for ``redactor`` to take when a file is promoted."""
        if self.pii_names is not None and self._redactor is None and self._building is None:
            self._building = _in_thread(_built_redactor, self)


def _in_thread(make: Callable[[S], T], argument: S) -> Future[T]:
    """``make(argument)`` started in a thread of its own, which ends with it."""
    builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="purge-builder")
    future = builder.submit(make, argument)
    builder.shutdown(wait=False)
    return future


def _built_redactor(settings: PurgeSettings) -> PiiRedactor:
    redactor = PiiRedactor(settings.rules_dir, bool(settings.pii_names), settings.keep_public_ips_only)
    redactor.scanner.engine  # noqa: B018 (builds the analyzer now, not at the first file)
    return redactor


def purge_run(
    manifest: RunManifest,
    opt_out: OptOutList,
    settings: PurgeSettings,
    progress: Callable[[str], None] = lambda line: None,
) -> PurgeRecord:
    """Purge ``opt_out``'s targets from the finished run of ``manifest`` (see the module docstring) and
    return the purge's record. ``settings``: from the run's config (``PurgeSettings.of``); ``progress``:
    told each step."""
    started = time.monotonic()
    if finish_commit(manifest) is not None:
        progress("finished moving into place the purge that stopped half-way before")
    manifest.require_finished("purge")
    run_dir = manifest.out
    pending = PendingWrites(run_dir)
    shards_manifest = read_shards_manifest(pending)
    if shards_manifest is not None:
        check_tokenizer(shards_manifest, run_dir)  # before touching anything
    record = PurgeRecord(digest=opt_out.digest, purged=now())
    covered, rows = _covered_files(pending, opt_out)
    if shards_manifest is not None:  # the shards that lose a document, read while the groups are redone
        pending.prefetch([path for path, count in covered.items() if count and path.startswith("shards/")])
        # and the keys of the curated files, which place a shard's documents (those rewritten come from
        # the tables put)
        pending.prefetch_columns(pending.list("curated"), CURATED_KEYS)
    removed = _per_place(covered)
    gone: list[dict[str, Any]] = []
    arrived: list[dict[str, Any]] = []
    made_encoder: Future[DocumentEncoder] | None = None
    dedup = "filter" in manifest.passes and bool(pending.list(FILTERED))
    if dedup and removed:
        tasks = manifest.pass_tasks("curate") or 1
        progress(f"removing the covered rows of {FILTERED}")
        settings.prepare_redactor()  # in case a purged kept copy hands its place on
        if shards_manifest is not None:  # and its document is encoded into a shard
            made_encoder = _in_thread(run_encoder, shards_manifest)
        streams = purge_streams(pending, tasks, opt_out, {p: (rows[p], covered[p]) for p in covered})
        rewritten = _regroup(pending, manifest, streams, opt_out, settings, progress, record)
        gone, arrived = rewritten.gone_curated, rewritten.new_curated
        record.promoted = rewritten.promoted
    elif "filter" in manifest.passes and manifest.cleaned:
        record.note = (
            "the run's intermediates were cleaned: rows were removed, but a purged kept copy could not hand "
            "its place to the next copy; rerun the pipeline into a new --out to have them"
        )
    gone += _drop_covered(pending, covered, opt_out)
    record.removed = removed
    record.curated_removed = removed.get("curated", 0)
    if shards_manifest is not None and (gone or arrived):
        progress("updating the shards that held a purged document or receive a promoted one")
        ids = _curated_ids(pending)
        change = update_shards(
            pending, shards_manifest, gone, arrived, ids, settings.row_group_rows, made_encoder
        )
        record.shards = {
            "rewritten": change.rewritten,
            "removed": change.removed_rows,
            "added": change.added_rows,
        }
        if manifest.shards is not None:
            manifest.shards.update(rows=shards_manifest["total_rows"], tokens=shards_manifest["total_tokens"])
    left = _left_over(pending, covered, opt_out)
    if left:
        raise FatalError(f"purge incomplete, nothing changed: covered rows remain in {left}")
    record.seconds = round(time.monotonic() - started, 2)
    pending.commit(manifest, record)
    return record


def _place(path: str) -> str:
    """The place a file belongs to: its folder, without the task or bucket sub-folders."""
    parts = path.split("/")[:-1]
    while parts and parts[-1].isdigit():
        parts.pop()
    return "/".join(parts) or "."


def _covered_files(pending: PendingWrites, opt_out: OptOutList) -> tuple[dict[str, int], dict[str, int]]:
    """Covered rows and rows per Parquet file with a ``repo`` column, in the run as it is (only that column
    read)."""
    covered, rows = {}, {}
    paths = pending.list("")
    for path, repos in zip(paths, _repo_columns(pending, paths), strict=True):
        if repos is not None:
            covered[path] = int(covered_mask(repos, opt_out).sum())
            rows[path] = repos.num_rows
    return covered, rows


def _repo_columns(pending: PendingWrites, paths: list[str]) -> list[pa.Table | None]:
    """The ``repo`` column of each of ``paths`` in its newest version (None for a file without one)."""
    return pending.read_each(paths, lambda path: pending.read_columns(path, ["repo"]))


def _repo_column_of(pending: PendingWrites) -> Callable[[str], pa.Table | None]:
    """A reader of the ``repo`` column of a new version: that of the table it was encoded from, else
    (bytes put as they are) read back from storage; None for a file without the column."""

    def read(path: str) -> pa.Table | None:
        known, repos = pending.put_repos(path)
        return repos if known else pending.read_columns(path, ["repo"])

    return read


def _per_place(covered: dict[str, int]) -> dict[str, int]:
    """Covered rows per place (``_place``)."""
    counts: Counter[str] = Counter()
    for path, rows in covered.items():
        counts[_place(path)] += rows
    return {place: rows for place, rows in sorted(counts.items()) if rows}


def _drop_covered(
    pending: PendingWrites, covered: dict[str, int], opt_out: OptOutList
) -> list[dict[str, Any]]:
    """Remove the covered rows of every file the dedup update did not rewrite; returns the curated rows
    removed (a run without dedup, or cleaned)."""
    gone = []
    for path, rows in covered.items():
        if not rows or not pending.untouched(path) or path.startswith("shards/"):
            continue
        table = pending.read_table(path)
        mask = covered_mask(table, opt_out)
        if path.startswith("curated/"):
            gone += table.filter(pa.array(mask)).select(["id", "repo", "path"]).to_pylist()
        pending.put_table(path, table.filter(pa.array(~mask)))
    return gone


def _left_over(pending: PendingWrites, covered: dict[str, int], opt_out: OptOutList) -> list[str]:
    """Files that would still hold a covered row: every rewritten file is checked (the ``repo`` column of
    the table it was encoded from; bytes put as they are, read back); a file left as it was had none."""
    left = [path for path, rows in covered.items() if rows and pending.untouched(path)]
    written = sorted(path for path in pending.put if path.endswith(".parquet"))
    for path, repos in zip(written, pending.read_each(written, _repo_column_of(pending)), strict=True):
        if repos is not None and covered_mask(repos, opt_out).any():
            left.append(path)
    return left


def _curated_ids(pending: PendingWrites) -> dict[FileKey, str]:
    ids = {}
    paths = pending.list("curated")
    tables = pending.read_each(paths, lambda path: pending.read_columns(path, CURATED_KEYS))
    for path, table in zip(paths, tables, strict=True):
        if table is None:
            raise FatalError(f"{path} lacks one of the columns {', '.join(CURATED_KEYS)}")
        for file_id, repo, file_path in zip(
            *(table.column(c).to_pylist() for c in CURATED_KEYS), strict=True
        ):
            ids[(repo, file_path)] = file_id
    return ids


def _regroup(
    pending: PendingWrites,
    manifest: RunManifest,
    streams: dict[int, TaskStream],
    opt_out: OptOutList,
    settings: PurgeSettings,
    progress: Callable[[str], None],
    record: PurgeRecord,
) -> Rewritten:
    """Steps 2 and 3 of the module docstring."""
    exact: ExactOutcome | None = None
    has_near = "near_signatures" in manifest.passes
    near_streams: dict[int, NearStream] = {}
    if "exact_hash" in manifest.passes:
        progress("deciding again the exact-duplicate groups that held a purged file")
        exact = regroup_exact(pending, streams, set())
        record.regrouped["exact"] = exact.changed.height
        near_streams = {
            task: NearStream(task, exact.kept_before[task], exact.kept_after[task])
            for task in exact.kept_before
        }
    else:
        near_streams = {
            task: NearStream(task, np.arange(stream.rows), np.arange(stream.rows - len(stream.removed)))
            for task, stream in streams.items()
            if len(stream.removed)
        }
    near_decided = None
    if has_near:
        progress("clustering again the near-duplicate clusters that held a purged or promoted file")
        outcome = regroup_near(
            pending,
            streams,
            near_streams,
            _promoted(exact),
            settings.verify_threshold,
            settings.verify_max_bucket,
        )
        near_decided = outcome.decided
        record.regrouped["near"] = outcome.clustered
    states = _states(pending, exact, near_decided, near_streams, has_near)
    progress(
        f"rewriting the curated output and the rejects of {len({s.origin for s in states.values()})} tasks"
    )
    return rewrite_places(pending, streams, states, opt_out, settings.redactor, settings.pii_audit)


def _promoted(exact: ExactOutcome | None) -> pl.DataFrame:
    if exact is None or not exact.replaced.height:
        return pl.DataFrame(
            schema={"origin": pl.Int64, "index": pl.Int64, "old_origin": pl.Int64, "old_index": pl.Int64}
        )
    details = exact.changed.select("origin", "index", "id", "repo", "path", "permissive", "stars", "forks")
    return exact.replaced.join(details, on=["origin", "index"], how="left")


def _states(
    pending: PendingWrites,
    exact: ExactOutcome | None,
    near: pl.DataFrame | None,
    near_streams: dict[int, NearStream],
    has_near: bool,
) -> dict[FileKey, FileState]:
    """The place and tags of every file whose decision may have changed."""
    touched: dict[tuple[int, int], dict[str, Any]] = {}
    if exact is not None:
        for row in exact.changed.iter_rows(named=True):
            touched[(row["origin"], row["index"])] = {
                "key": (row["repo"], row["path"]),
                "id": row["id"],
                "exact": (row["keep"], row["duplicate_count"], row["duplicate_repos"] or []),
            }
    if near is not None:
        for row in near.iter_rows(named=True):
            stream = near_streams.get(row["origin"])
            position = int(stream.kept_after[row["near"]]) if stream is not None else int(row["near"])
            entry = touched.setdefault(
                (row["origin"], position), {"key": (row["repo"], row["path"]), "id": row["id"]}
            )
            entry["near"] = (row["keep"], row["cluster_id"], row["cluster_size"])
    exact_of = _ExactLookup(pending) if exact is not None else None
    near_of = _NearLookup(pending, near_streams) if has_near else None
    states = {}
    for (origin, position), entry in touched.items():
        tags: dict[str, Any] = {}
        place = "curated"
        if exact_of is not None:
            keep, count, repos = entry.get("exact") or exact_of.get(origin, position)
            tags.update(duplicate_count=count, duplicate_repos=repos)
            place = "curated" if keep else "exact"
        if near_of is not None and place == "curated":
            keep, cluster_id, size = entry.get("near") or near_of.get(
                origin, position, entry["key"], entry["id"]
            )
            tags.update(cluster_id=cluster_id, cluster_size=size)
            place = "curated" if keep else "near"
        states[entry["key"]] = FileState(origin, position, place, tags)
    return states


class _ExactLookup:
    """New exact decisions of a task by position (read once per task)."""

    def __init__(self, pending: PendingWrites):
        self.pending, self.tasks = pending, {}  # type: ignore[var-annotated]

    def get(self, task: int, position: int) -> tuple[bool, int, list[str]]:
        if task not in self.tasks:
            rows = {}
            for path in self.pending.list(f"{DECISIONS}/{task:05d}"):
                for row in self.pending.read_table(path).to_pylist():
                    rows[row["index"]] = (row["keep"], row["duplicate_count"], row["duplicate_repos"] or [])
            self.tasks[task] = rows
        return self.tasks[task][position]


class _NearLookup:
    """New near decisions of a task by stream position; a file without one is a singleton."""

    def __init__(self, pending: PendingWrites, near_streams: dict[int, NearStream]):
        self.pending, self.near_streams, self.tasks = pending, near_streams, {}  # type: ignore[var-annotated]

    def get(self, task: int, position: int, key: FileKey, file_id: str) -> tuple[bool, str, int]:
        if task not in self.tasks:
            path = f"{MINHASH}/clusters/{task:05d}.parquet"
            rows = self.pending.read_table(path).to_pylist() if self.pending.exists(path) else []
            self.tasks[task] = {row["index"]: row for row in rows}
        stream = self.near_streams.get(task)
        near = int(np.searchsorted(stream.kept_after, position)) if stream is not None else position
        row = self.tasks[task].get(near)
        if row is None or (row["repo"], row["path"]) != key:
            return True, file_id, 1  # in no cluster: a singleton
        return row["keep"], row["cluster_id"], row["cluster_size"]


def verify_purged(run_dir: str, opt_out: OptOutList) -> list[str]:
    """Files of the run that still hold a covered row (empty when the purge is complete)."""
    run = get_datafolder(run_dir)
    left = []
    for name in sorted(run.list_files(recursive=True)):
        if not name.endswith(".parquet") or ".tmp" in name or name.startswith(f"{ASIDE}/"):
            continue
        with run.open(name, "rb", cache_type="none") as handle:  # the footer and one column: no read-ahead
            repos = read_columns(handle, ["repo"])
        if repos is not None and covered_mask(repos, opt_out).any():
            left.append(name)
    return left


def owner_files(run_dir: str, owner: str) -> list[tuple[str, int]]:
    """``(repo, files)`` of ``owner``'s repositories (case-insensitive) in the run's curated output (a
    local folder or an fsspec URL: only the ``repo`` column is read)."""
    curated = f"{str(run_dir).rstrip('/')}/curated"
    if not list_parquet_files(curated):
        raise FatalError(f"{run_dir} has no curated output (expected {curated}/*.parquet)")
    prefix = owner.lower() + "/"
    counts: Counter[str] = Counter(
        str(row["repo"])
        for row in iter_rows(curated, columns=["repo"])
        if str(row["repo"]).lower().startswith(prefix)
    )
    return sorted(counts.items())
