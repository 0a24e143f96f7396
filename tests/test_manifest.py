"""``run.json``'s one owner, ``RunManifest``: it names the ledger's fields, keeps those it does not know,
and is the only writer of the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackcurate.config import load_config
from stackcurate.errors import FatalError
from stackcurate.manifest import PurgeRecord, RunManifest

PIPELINE = str(Path(__file__).resolve().parents[1] / "pipelines" / "quickstart.yaml")

#: a ledger as stackcurate wrote it before ``RunManifest`` (the old purge record included), plus a key of
#: a later version
OLDER = {
    "name": "quickstart",
    "identity": "c0fdb498a2da5ad5",
    "stackcurate": "0.1.0",
    "created": "2026-01-01T00:00:00+00:00",
    "config": {"repos": "repos.csv", "out": "elsewhere", "stages": {"shards": {"row_group_rows": None}}},
    "passes": {"clone": {"tasks": 2, "output": "01_clone"}, "curate": {"tasks": 2, "output": "curated"}},
    "inputs": {"/old/site-packages/stackcurate/rules_data/pii.yaml": "0123456789abcdef"},
    "opt_out": [{"digest": "aaaa", "owners": 1, "repos": 0, "applied": "2026-01-01T00:00:00+00:00"}],
    "completed": "2026-01-01T01:00:00+00:00",
    "outputs": {"curate": {"curated/00000.parquet": {"bytes": 10, "rows": 2}}},
    "shards": {"tokenizer": "tokenizer.json", "rows": 2, "tokens": 20},
    "purges": [
        {
            "digest": "bbbb",
            "purged": "2026-01-02T00:00:00+00:00",
            "files_changed": 3,
            "rows_removed": 7,
            "by_repo": {"alice/site": 7},
            "by_folder": {"02_filtered": 5, "curated": 2},
            "rerun": ["exact_hash", "curate"],
        }
    ],
    "from_a_later_version": {"kept": [1, 2, 3]},
}


def test_an_older_ledger_loads_and_saves_without_losing_a_key(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(OLDER))
    manifest = RunManifest.require(str(tmp_path))
    assert manifest.finished and manifest.pass_tasks("clone") == 2 and manifest.pass_tasks("filter") is None
    assert manifest.opt_out_version() == "bbbb"  # the purge applied the newer list
    assert manifest.curated_rows_purged() == 5  # the old record: rows removed before dedup, then rerun
    cfg = manifest.pipeline_config()
    assert cfg.out == str(tmp_path) and cfg.stages.shards is not None
    assert cfg.stages.shards.row_group_rows == 1024  # null in an older ledger: the field's default
    manifest.save()
    saved = json.loads((tmp_path / "run.json").read_text())
    assert not (tmp_path / "run.json.tmp").exists()
    for key, value in OLDER.items():
        if key != "purges":
            assert saved[key] == value, key
    assert {k: v for k, v in saved["purges"][0].items() if k in OLDER["purges"][0]} == OLDER["purges"][0]


def test_state_changes_and_records(tmp_path: Path) -> None:
    cfg = load_config(PIPELINE, {"repos": "repos.csv", "out": str(tmp_path / "run")})
    manifest = RunManifest.new(cfg)
    assert manifest.identity == cfg.identity_digest() and manifest.out == cfg.out
    manifest.record_pass("clone", 3, "01_clone")
    with pytest.raises(FatalError, match="is not finished; finish it"):
        manifest.require_finished("purge")
    manifest.finish()
    manifest.shards = {"rows": 1}
    manifest.save()
    again = RunManifest.require(cfg.out)
    assert again.finished and again.pass_tasks("clone") == 3
    again.reopen()
    assert not again.finished and again.shards is None
    assert again.record_opt_out("cccc", 1, 2) and not again.record_opt_out("cccc", 1, 2)
    again.record_purge(PurgeRecord(digest="dddd", removed={"curated": 4}, curated_removed=4, promoted=3))
    again.save()
    assert RunManifest.require(cfg.out).curated_rows_purged() == 1  # 4 removed, 3 promoted in their place


def test_a_corrupt_or_missing_ledger_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="not a stackcurate run directory"):
        RunManifest.require(str(tmp_path))
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(FatalError, match=r"run\.json is corrupt"):
        RunManifest.load(str(tmp_path))


def test_no_module_but_the_manifest_writes_or_indexes_run_json() -> None:
    """The ledger has one owner: no other module opens run.json, names it, or gets it as a dict to read
    its keys as strings (the run summary's own dicts reuse some of the names, so the keys themselves are
    not searched: the ledger is reachable only through ``RunManifest``'s typed fields)."""
    package = Path(__file__).resolve().parents[1] / "stackcurate"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "manifest.py":
            continue
        text = path.read_text()
        for needle in ('"run.json"', "run.json.tmp", "RUN_JSON", "read_manifest"):
            if needle in text:
                offenders.append(f"{path.relative_to(package)}: {needle}")
    # run_copy.py copies the file to local disk for tools that read a run there (and never uploads it)
    assert offenders == ['run_copy.py: "run.json"']
    # no dict view: a field is read by its attribute, which mypy checks
    assert not hasattr(RunManifest, "__getitem__") and not hasattr(RunManifest, "get")
