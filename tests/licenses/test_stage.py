"""The license stages inside a real run: tags in 01_clone, drops in curated, counts in stats, warm memo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT as MIT
from test_detect import GPL3

from stackcurate.cli import main
from stackcurate.licenses.stage import make_detector
from stackcurate.parquet_io import iter_rows

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")


def test_pipeline_keeps_permissive_code_only(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = [
        git_repo_factory(
            "org/mit",
            {"LICENSE": MIT, "a.py": "a = 1\n", "vendor/g/COPYING": GPL3, "vendor/g/g.c": "int g;\n"},
        ),
        git_repo_factory("org/gpl", {"COPYING": GPL3, "b.py": "b = 2\n"}),
        git_repo_factory("org/none", {"c.py": "c = 3\n"}),
        git_repo_factory(
            "org/header", {"LICENSE": MIT, "d.c": "// SPDX-License-Identifier: GPL-2.0-only\nint d;\n"}
        ),
    ]
    listing = tmp_path / "repos.txt"
    listing.write_text("\n".join(map(str, repos)) + "\n")
    out = tmp_path / "run"
    memo = tmp_path / "memo.sqlite"
    args = ["run", STARCODER, "--repos", str(listing), "--out", str(out), "--tasks", "2", "--workers", "1"]
    assert main([*args, "--set", f"stages.licenses.memo_path={memo}", "--set", "keep_rejects=true"]) == 0

    tagged = {(r["repo"], r["path"]): r for r in iter_rows(str(out / "01_clone"))}
    assert tagged[("org/mit", "a.py")]["license"] == "MIT"
    assert tagged[("org/mit", "a.py")]["license_evidence"] == "LICENSE"
    assert tagged[("org/mit", "vendor/g/g.c")]["license_class"] == "non_permissive"
    assert tagged[("org/none", "c.py")]["license_class"] == "no_license"
    curated = {(r["repo"], r["path"]) for r in iter_rows(str(out / "curated"))}
    assert curated == {("org/mit", "a.py")}  # LICENSE files have no language; d.c is GPL by its header
    rejects = {
        (r["repo"], r["path"]): r["filter_reason"] for r in iter_rows(str(out / "rejects" / "licenses"))
    }
    assert rejects[("org/gpl", "b.py")] == "non_permissive"
    assert rejects[("org/none", "c.py")] == "no_license"
    assert rejects[("org/header", "d.c")] == "non_permissive"

    capsys.readouterr()
    assert main(["stats", str(out), "--json"]) == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    removed = stages["license"]["removed"]
    assert removed["dropped_no_license"] == 1
    assert removed["dropped_non_permissive"] == sum(1 for v in rejects.values() if v == "non_permissive")
    assert stages["license detect"]["counters"]["repos_permissive"] == 2


def test_memo_makes_repeated_detection_skip_the_engine(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    from stackcurate.licenses.cli import repository_files

    files = repository_files(git_repo_factory("m/one", {"LICENSE": MIT, "COPYING": GPL3}))
    memo = str(tmp_path / "memo.sqlite")
    cold = make_detector(["licensecheck"], memo)
    first = cold.detect_many([files])[0]
    assert cold.engine_calls == 1 and cold.texts_identified == 2
    warm = make_detector(["licensecheck"], memo)  # a new process would see the same SQLite file
    second = warm.detect_many([files, files])
    assert warm.engine_calls == 0
    assert second[0].root == second[1].root == first.root
    # another copyright line is another text: read again (the memo never merges texts), same decision
    relicensed = [(p, t.replace("2021 Example Author", "1999   Somebody Else")) for p, t in files]
    assert warm.detect_many([relicensed])[0].root == first.root and warm.engine_calls == 1


def test_license_batch_is_bounded_by_bytes() -> None:
    """Issue 19: the annotator holds whole repositories until ``batch_bytes``, not a count of them (32
    repositories of a monorepo's size were all in memory at once)."""
    from datatrove.data import Document

    from stackcurate.licenses.stage import LicenseAnnotator

    repo_bytes = 0
    docs: list[Document] = []
    for r in range(12):
        files = {"LICENSE": MIT if r % 2 else GPL3, **{f"m{i}.py": f"x = {i}\n" * 300 for i in range(4)}}
        for path, text in files.items():
            docs.append(Document(text=text, id=f"{r}/{path}", metadata={"repo": f"o/r{r}", "path": path}))
        repo_bytes = max(repo_bytes, sum(len(t.encode()) for t in files.values()))
    pulled = yielded = 0
    held: list[int] = []

    def source():
        nonlocal pulled
        for doc in docs:
            pulled += len(doc.text.encode())
            held.append(pulled - yielded)
            yield doc

    limit = 2 * repo_bytes
    annotator = LicenseAnnotator(["spdx-match", "licensecheck"], None, batch_repos=1000, batch_bytes=limit)
    tagged = {}
    for doc in annotator.run(source()):
        yielded += len(doc.text.encode())
        tagged[doc.id] = doc.metadata["license_class"]
    assert max(held) <= limit + repo_bytes  # a batch flushes once it reaches the limit: at most one repo over
    assert annotator.stats["license_batches"].total >= 12 // 3
    whole = LicenseAnnotator(["spdx-match", "licensecheck"], None, batch_repos=1000, batch_bytes=10**12)
    assert {d.id: d.metadata["license_class"] for d in whole.run(iter(docs))} == tagged
    assert whole.stats["license_batches"].total == 1
    assert tagged["1/m0.py"] == "permissive" and tagged["0/m0.py"] == "non_permissive"
