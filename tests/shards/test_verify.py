"""`shards verify` checks every figure of the manifest against the shard files and the tokenizer file,
refuses entries outside the shards folder, and reports a malformed manifest in one line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stackcurate.cli import main
from stackcurate.shards.build import build_shards
from stackcurate.shards.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real standard-library files as a curated folder (one holding special-token text), tokenizer, shards."""
    import json as json_module

    root = tmp_path_factory.mktemp("verify")
    curated = root / "curated"
    curated.mkdir()
    paths = sorted(Path(json_module.__file__).parent.glob("*.py"))
    rows = [
        {
            "id": f"blob{i}",
            "repo": "python/json",
            "path": path.name,
            "language": "python" if i % 2 else "python-stub",
            "license": "PSF-2.0",
            "stars": i,
            "content": path.read_text(encoding="utf-8"),
        }
        for i, path in enumerate(paths)
    ]
    rows[0]["content"] += "\n# a file that writes <fim_prefix> and <|endoftext|> in its code\n"
    pq.write_table(pa.Table.from_pylist(rows), curated / "00000.parquet")
    train_tokenizer(curated, vocab_size=600).save(str(root / "tokenizer.json"))
    build_shards(curated, root / "tokenizer.json", root / "shards", shard_tokens=20_000, row_group_rows=2)
    return root


def copy_with(built: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    copy = tmp_path / "shards"
    shutil.copytree(built / "shards", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edited = edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest if edited is None else edited))
    return copy


def test_intact_shards_verify(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shards", "verify", str(built / "shards")]) == 0
    out = capsys.readouterr().out
    assert "match the manifest and the tokenizer" in out and "note:" not in out


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["tokenizer"].update(sha256="0" * 64), "sha256 differs from the manifest's tokenizer"),
        (
            lambda m: m["tokenizer"].update(vocab_size=m["tokenizer"]["vocab_size"] + 1),
            "manifest says vocab_size",
        ),
        (lambda m: m.update(seed=m["seed"] + 1), "not those of seed 1"),
        (lambda m: m.update(encoder="hf" if m["encoder"] == "tiktoken" else "tiktoken"), "with encoder"),
        (
            lambda m: m["languages"]["python"].update(rows=m["languages"]["python"]["rows"] + 1),
            "per-language",
        ),
        (
            lambda m: m["shards"].append({**m["shards"][0], "file": "../../../../etc/passwd"}),
            "outside the shards",
        ),
        (
            lambda m: m["shards"].append({**m["shards"][0], "file": "/etc/passwd"}),
            "outside the shards folder",
        ),
    ],
    ids=["tokenizer-sha", "vocab", "seed", "encoder", "languages", "relative-escape", "absolute"],
)
def test_every_stated_figure_is_checked(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, message: str
) -> None:
    copy = copy_with(built, tmp_path, edit)
    assert main(["shards", "verify", str(copy)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: [m], "a JSON object expected, found list"),
        (lambda m: (m.pop("seed"), None)[1], "key 'seed' is missing"),
        (lambda m: (m["shards"][0].pop("sha256"), None)[1], "shards[0].sha256 is missing"),
        (lambda m: m.update(total_rows="many"), "'total_rows' is not a int"),
    ],
    ids=["list", "no-seed", "no-sha", "wrong-type"],
)
def test_a_malformed_manifest_is_one_line(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, message: str
) -> None:
    copy = copy_with(built, tmp_path, edit)
    assert main(["shards", "verify", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_the_quick_check_shares_the_refusals(built: Path, tmp_path: Path) -> None:
    """``verify_shards`` (the run's resume check and ``shards export``'s gate) refuses what ``shards
    verify`` refuses: an entry outside the folder is never opened, a malformed manifest is one problem."""
    from stackcurate.shards.verify import verify_shards

    assert verify_shards(built / "shards") == []
    escape = copy_with(
        built, tmp_path / "a", lambda m: m["shards"].append({**m["shards"][0], "file": "../x"})
    )
    assert any("outside the shards folder" in problem for problem in verify_shards(escape))
    listed = copy_with(built, tmp_path / "b", lambda m: [m])
    assert verify_shards(listed) == [
        f"{listed}/manifest.json is malformed: a JSON object expected, found list"
    ]
