"""The run identity covers the input files, and a rerun of a finished run checks its outputs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_runner import PIPELINE, make_repos, sorted_rows

from stackcurate.cli import main
from stackcurate.config import load_config
from stackcurate.errors import FatalError
from stackcurate.manifest import RunManifest
from stackcurate.optout.store import OptOutStore
from stackcurate.rules import PACKAGED_RULES
from stackcurate.runner import run_pipeline


def test_a_changed_input_file_is_refused_naming_it(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=2)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(PACKAGED_RULES / "filters.yaml", rules / "filters.yaml")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(
        json.dumps({"prompt": "a benchmark prompt that no repository here contains " * 3}) + "\n"
    )
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text("not a tokenizer yet")
    overrides = {
        "repos": str(repos),
        "out": str(tmp_path / "run"),
        "executor.workers": 1,
        "rules_dir": str(rules),
        "stages.decontaminate": {
            "builtin": [],
            "files": [{"name": "b", "path": str(bench), "fields": ["prompt"]}],
        },
        "stages.opt_out": {"folder": str(tmp_path / "record")},
        "stages.shards": {"tokenizer": str(tokenizer)},
    }
    cfg = load_config(PIPELINE, overrides)
    with pytest.raises(FatalError, match="cannot load tokenizer"):  # the run stays unfinished
        run_pipeline(cfg)
    assert not RunManifest.require(str(tmp_path / "run")).finished
    for changed in (tokenizer, bench, rules / "filters.yaml", repos):
        original = changed.read_bytes()
        changed.write_bytes(original + b"\n")
        with pytest.raises(FatalError, match=f"input {changed} changed since"):
            run_pipeline(cfg)
        changed.write_bytes(original)
    store = OptOutStore(tmp_path / "record")
    store.decide(store.request("owner", "org0").id, "approved")
    with pytest.raises(FatalError, match=r"approved.txt \(the opt-out list\) changed since"):
        run_pipeline(cfg)


def test_a_finished_run_redoes_a_pass_whose_output_was_lost(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = make_repos(git_repo_factory, tmp_path, count=3)
    out = tmp_path / "run"
    cfg = load_config(PIPELINE, {"repos": str(repos), "out": str(out), "executor.workers": 1})
    run_pipeline(cfg)
    rows = sorted_rows(out / "curated")
    curated = sorted((out / "curated").glob("*.parquet"))
    curated[1].unlink()
    again = run_pipeline(cfg)
    assert again.ran == ["curate"] and sorted_rows(out / "curated") == rows
    curated[2].write_bytes(curated[2].read_bytes()[:-100])  # truncated: the footer is gone
    assert run_pipeline(cfg).ran == ["curate"] and sorted_rows(out / "curated") == rows
    assert run_pipeline(cfg).nothing_to_do  # intact again


def test_packaged_rules_are_recorded_by_their_place_in_the_package(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """A run recorded by an installation elsewhere (another checkout, a reinstalled venv) reads the same
    packaged rules: it is not refused; a changed packaged rules file still is, named by that place."""
    repos = make_repos(git_repo_factory, tmp_path, count=1)
    cfg = load_config(PIPELINE, {"repos": str(repos), "out": str(tmp_path / "run"), "executor.workers": 1})
    run_pipeline(cfg)
    manifest = RunManifest.require(cfg.out)
    assert manifest.inputs is not None and "stackcurate/rules_data/pii.yaml" in manifest.inputs
    # as a run made before recorded them: the installed path, here of another installation
    manifest.inputs = {
        (f"/elsewhere/site-packages/{key}" if key.startswith("stackcurate/rules_data/") else key): digest
        for key, digest in manifest.inputs.items()
    }
    manifest.save()
    assert run_pipeline(cfg).nothing_to_do
    manifest = RunManifest.require(cfg.out)
    assert manifest.inputs is not None
    manifest.inputs = {
        **manifest.inputs,
        "/elsewhere/site-packages/stackcurate/rules_data/pii.yaml": "0" * 16,
    }
    manifest.save()
    with pytest.raises(FatalError, match=r"input stackcurate/rules_data/pii\.yaml changed since"):
        run_pipeline(cfg)


@pytest.mark.parametrize("listing", ["", "url,stars,forks\n", "# nothing yet\n\n"])
def test_an_empty_repos_list_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listing: str
) -> None:
    repos = tmp_path / "repos.csv"
    repos.write_text(listing)
    out = tmp_path / "run"
    assert main(["run", PIPELINE, "--repos", str(repos), "--out", str(out)]) == 2
    assert f"the repos list {repos} names no repository" in capsys.readouterr().err
    assert not (out / "curated").exists() and not (out / "run.json").exists()
