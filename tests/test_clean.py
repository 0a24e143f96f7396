"""`stackcurate clean RUN_DIR --intermediates` and `clean_intermediates: true`: no unredacted content is
left in a run, and what is published stays."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT, python_file

from stackcurate.cli import main
from stackcurate.shards.verify import verify_shards

STARCODER = str(Path(__file__).resolve().parents[1] / "pipelines" / "starcoder.yaml")
EMAIL = "jane.private.doe@corpmail.de"
RAW = ("01_clone", "02_filtered", "rejects", "samples", "pii_audit")


def run_args(factory: Callable[..., Path], tmp_path: Path, *settings: str) -> list[str]:
    files = {
        "LICENSE": MIT_TEXT,
        "contact.py": f'MAINTAINER = "{EMAIL}"\n' + python_file(1),
        "big.py": "x = 1\n" * 5 + "y" * 2000 + "\n",  # dropped by the quality filter: a reject
        **{f"m{i}.py": python_file(10 + i) for i in range(3)},
    }
    listing = tmp_path / "repos.csv"
    listing.write_text(f"url,stars,forks\n{factory('acme/tool', files)},5,0\n")
    out = tmp_path / "run"
    base = ["run", STARCODER, "--repos", str(listing), "--out", str(out), "--keep-rejects", "--workers", "1"]
    options = [f"stages.opt_out.folder={tmp_path / 'record'}", "stages.pii.audit=true", *settings]
    return base + [item for setting in options for item in ("--set", setting)]


def holders(out: Path) -> list[str]:
    return sorted(
        str(path.relative_to(out))
        for path in out.rglob("*")
        if path.is_file() and EMAIL.encode() in path.read_bytes()
    )


def test_clean_removes_every_folder_with_raw_content(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = run_args(git_repo_factory, tmp_path)
    out = tmp_path / "run"
    assert main(args) == 0
    assert all((out / folder).is_dir() for folder in RAW)
    assert holders(out)  # the premise: the address is in the intermediates
    assert main(["index", "build", str(out)]) == 0
    assert main(["clean", str(out), "--intermediates"]) == 0
    assert "removed 01_clone, 02_filtered, rejects, samples, pii_audit" in capsys.readouterr().out
    assert not any((out / folder).exists() for folder in RAW)
    assert holders(out) == []
    for kept in ("curated", "shards", "logs", "index", "run.json", "tokenizer.json"):
        assert (out / kept).exists(), kept
    assert verify_shards(out / "shards") == []
    capsys.readouterr()
    assert main(args) == 0  # a rerun does not redo the passes whose output was cleaned
    assert "nothing to do" in capsys.readouterr().err
    assert not any((out / folder).exists() for folder in RAW)
    assert main(["clean", str(out)]) == 2
    capsys.readouterr()
    assert main(["clean", str(out), "--intermediates", "--json"]) == 0  # again: nothing left to remove
    answer = json.loads(capsys.readouterr().out)
    assert answer["removed"] == [] and not set(RAW) & set(answer["kept"])
    assert {"curated", "shards", "run.json", "tokenizer.json"} <= set(answer["kept"])


def test_the_pipeline_setting_cleans_when_the_run_completes(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert main(run_args(git_repo_factory, tmp_path, "clean_intermediates=true")) == 0
    assert (out / "curated").is_dir() and (out / "shards" / "manifest.json").is_file()
    assert not any((out / folder).exists() for folder in RAW)
    assert holders(out) == []
