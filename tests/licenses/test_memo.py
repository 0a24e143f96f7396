"""The detector memo never merges different texts: the issue-16 collision (two one-line license files whose
license words sit on their copyright lines) in one batch, across runs through the SQLite memo, and across
engine sets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT as MIT

from stackcurate.cli import main
from stackcurate.licenses.stage import make_detector

ALICE = "Copyright (c) 2020 Alice Example, licensed under the MIT license\n"
BOB = "Copyright (c) 2019 Bob Example. Licensed under the GNU GPL version 3\n"


def _detect_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, tuple[str, str]]:
    capsys.readouterr()
    assert main(["license", "detect", "--json", *args]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {r["repo"]: (r["license"], r["license_class"]) for r in reports}


def test_copyright_line_licenses_do_not_collide_in_one_call_or_warm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the default memo, private to the test
    for folder, text in (("a/x", ALICE), ("b/y", BOB)):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "LICENSE").write_text(text)
    a, b = str(tmp_path / "a/x"), str(tmp_path / "b/y")
    expected = {"a/x": ("MIT", "permissive"), "b/y": ("GPL-3.0-only", "non_permissive")}
    assert _detect_json(capsys, a, b) == expected  # one batch
    assert (tmp_path / "cache" / "stackcurate" / "license-memo.sqlite").exists()
    assert _detect_json(capsys, b, a) == expected  # a later, warm call, the other order
    assert _detect_json(capsys, b) == {"b/y": expected["b/y"]}  # warm, alone
    assert _detect_json(capsys, "--no-memo", b) == {"b/y": expected["b/y"]}


def test_memo_key_holds_the_engines_and_the_whole_text(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    from stackcurate.licenses.cli import repository_files

    memo = str(tmp_path / "memo.sqlite")
    files = repository_files(git_repo_factory("m/mit", {"LICENSE": MIT}))
    one = make_detector(["licensecheck"], memo)
    one.detect_many([files])
    assert one.engine_calls == 1
    other = make_detector(["spdx-match", "licensecheck"], memo)  # another engine set: not reused
    assert other.detect_many([files])[0].root.license == "MIT" and other.engine_calls == 1
    again = make_detector(["licensecheck"], memo)
    again.detect_many([files])
    assert again.engine_calls == 0
    # a copyright line with a license notice and one without are different texts: the one is MIT, the other
    # (like an empty file) is no license evidence at all, so it is not even read
    empty = [("LICENSE", "")]
    only_copyright = [("LICENSE", "Copyright (c) 2020 Carol\n")]
    notice = [("LICENSE", "Copyright (c) 2020 Carol, licensed under the MIT license\n")]
    results = again.detect_many([empty, only_copyright, notice, files])
    assert [r.root.license for r in results] == [None, None, "MIT", "MIT"]
    assert again.texts_identified == 1
