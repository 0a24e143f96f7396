"""The CLI's convention (every option's help states its default, ``run --help`` lists the stage keys) and
``run``'s checks before anything is made: no pipeline file, a dry run that checks every input path."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MIT_TEXT, make_git_repo, python_file

from stackcurate.cli import build_parser, main
from stackcurate.config import Stages

STARCODER = str(Path(__file__).resolve().parents[1] / "pipelines" / "starcoder.yaml")


def _options(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif (
            action.option_strings
            and action.help != argparse.SUPPRESS
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            yield " ".join(path), action


def test_every_option_has_help_with_its_default() -> None:
    missing = []
    for command, action in _options(build_parser()):
        text = action.help or ""
        flag = isinstance(action, argparse._StoreTrueAction)  # off unless given: nothing to state
        if not text or not (flag or "default" in text or "required" in text):
            missing.append(f"{command} {action.option_strings[0]}")
        elif action.default not in (None, False) and str(action.default) not in text:
            missing.append(f"{command} {action.option_strings[0]} (states another default)")
    assert missing == []


def test_json_on_every_command_that_prints_results() -> None:
    commands = {
        command: action for command, action in _options(build_parser()) if "--json" in action.option_strings
    }
    expected = {
        "run", "stats", "inspect", "sample-repos", "license detect", "pii scan", "tokenizer train",
        "shards build", "shards verify", "shards export", "index build", "attribute",
        "opt-out request", "opt-out list", "opt-out approve", "opt-out reject", "opt-out check",
        "opt-out purge", "clean",
    }  # fmt: skip
    assert expected <= set(commands)


def test_run_help_lists_every_stage_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for stage, field in Stages.model_fields.items():
        assert f"  {stage}: " in text, stage
        model = field.annotation
        model = next((a for a in getattr(model, "__args__", ()) if a is not type(None)), model)
        for key in model.model_fields:
            assert f"{key}=" in text, f"{stage}.{key}"
    assert "depth=1" in text and "threshold=0.7" in text and "train_vocab_size=49152" in text


def test_run_without_a_pipeline_says_what_to_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "mine.yaml").write_text("repos: r.txt\nout: o\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "no pipeline file" in err and "stackcurate run pipelines/quickstart.yaml" in err
    assert "pipelines/mine.yaml" in err and "--repos FILE --out DIR" in err and "Field required" not in err


def test_dry_run_from_another_folder_names_the_missing_repos_list_and_makes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", STARCODER, "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert "# resolved config" in captured.out  # the config and the plan are still shown
    assert (
        f"repos list not found: runs/sample/repos.csv (relative to the current folder {tmp_path}"
        in captured.err
    )
    assert not (tmp_path / "runs").exists()
    assert main(["run", STARCODER]) == 2  # the real run stops at the same check, before making its folder
    assert "repos list not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_dry_run_checks_every_named_file_and_warns_on_missing_local_repositories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    present = make_git_repo(tmp_path / "repos", "alice/tools", {"LICENSE": MIT_TEXT, "a.py": python_file(1)})
    listing = tmp_path / "repos.csv"
    listing.write_text(f"url\n{present}\n{tmp_path / 'repos' / 'bob' / 'gone'}\n")
    args = ["run", STARCODER, "--repos", str(listing), "--out", str(tmp_path / "out"), "--dry-run"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "1 of 2 local repositories" in err and "bob/gone" in err and "the run can start" in err
    tokenizer = tmp_path / "missing-tokenizer.json"
    assert main([*args, "--set", f"stages.shards.tokenizer={tokenizer}"]) == 2
    assert f"stages.shards.tokenizer not found: {tokenizer}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_relative_repos_list_is_named_with_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    os.makedirs("lists")
    assert main(["run", "--repos", "lists/repos.csv", "--out", "out", "--dry-run"]) == 2
    assert f"repos list not found: lists/repos.csv (relative to the current folder {tmp_path}" in (
        capsys.readouterr().err
    )
