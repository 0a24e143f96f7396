"""Shards as executor passes: the shard files and the manifest are the same whatever the number of encode
tasks, write groups or curated files, and a pipeline run with 3 tasks writes what a one-task run writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, dictionary_columns, python_file

from stackcurate.cli import main
from stackcurate.shards.passes import ShardEncode, ShardWrite, merge_manifest
from stackcurate.shards.tokenizer import train_tokenizer
from stackcurate.shards.verify import verify_shards

ROOT = Path(__file__).resolve().parents[2]
STARCODER = str(ROOT / "pipelines" / "starcoder.yaml")


def standard_library_rows() -> list[dict]:
    import json as json_module

    paths = sorted(Path(json_module.__file__).parent.glob("*.py"))
    return [
        {
            "id": f"blob{i}",
            "repo": "python/json",
            "path": path.name,
            "language": "python",
            "license": "PSF-2.0",
            "stars": i * 37,
            "content": path.read_text(encoding="utf-8"),
            "size_bytes": len(path.read_bytes()),
        }
        for i, path in enumerate(paths)
    ]


def build(curated: Path, tokenizer: Path, out: Path, tasks: int, groups: int, count: int) -> dict:
    for rank in range(tasks):
        encode = ShardEncode(str(curated), str(tokenizer), str(out), count, groups)
        list(encode.run(rank=rank, world_size=tasks))  # a step is a generator: run it to its end
    for rank in range(groups):
        list(ShardWrite(str(out), count, tasks).run(rank=rank, world_size=groups))
    return merge_manifest(out, tokenizer, 0, "curated", "auto", count)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tok")
    (root / "curated").mkdir()
    pq.write_table(pa.Table.from_pylist(standard_library_rows()), root / "curated" / "00000.parquet")
    trained = train_tokenizer(root / "curated", vocab_size=600)
    trained.save(str(root / "tokenizer.json"))
    return root / "tokenizer.json"


@pytest.mark.parametrize(("files", "tasks", "groups"), [(3, 3, 2), (2, 2, 4), (3, 1, 3)])
def test_shards_do_not_depend_on_the_split(
    tokenizer: Path, tmp_path: Path, files: int, tasks: int, groups: int
) -> None:
    rows = standard_library_rows()
    one, many = tmp_path / "one", tmp_path / "many"
    for folder, parts in ((one, 1), (many, files)):
        (folder / "curated").mkdir(parents=True)
        for part in range(parts):  # a different cut of the same rows, in another order
            share = rows[part::parts][::-1]
            pq.write_table(pa.Table.from_pylist(share), folder / "curated" / f"{part:05d}.parquet")
    reference = build(one / "curated", tokenizer, one / "shards", 1, 1, count=4)
    manifest = build(many / "curated", tokenizer, many / "shards", tasks, groups, count=4)
    assert manifest == reference
    assert reference["total_rows"] == len(rows) and len(reference["shards"]) > 1
    for entry in reference["shards"]:
        assert (one / "shards" / entry["file"]).read_bytes() == (many / "shards" / entry["file"]).read_bytes()
    assert verify_shards(many / "shards") == []
    assert not (many / "shards" / ".parts").exists()
    keys = [json.dumps(row) for row in pq.read_table(many / "shards" / "shard-00000.parquet").to_pylist()]
    assert len(keys) == len(set(keys))


def test_a_three_task_run_writes_the_shards_of_a_one_task_run(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    lines = []
    for i in range(3):
        files = {"LICENSE": MIT_TEXT, **{f"src/m{j}.py": python_file(i * 10 + j, lines=40) for j in range(4)}}
        lines.append(str(git_repo_factory(f"octo/lib{i}", files)))
    listing = tmp_path / "repos.txt"
    listing.write_text("\n".join(lines) + "\n")
    manifests = []
    for tasks in (1, 3):
        out = tmp_path / f"run{tasks}"
        args = ["run", STARCODER, "--repos", str(listing), "--out", str(out), "--tasks", str(tasks)]
        args += ["--workers", "2", "--set", "stages.shards.train_vocab_size=400"]
        args += ["--set", "stages.shards.shard_tokens=1000"]
        assert main(args) == 0
        assert verify_shards(out / "shards") == []
        manifest = json.loads((out / "shards" / "manifest.json").read_text())
        assert all(
            "input_ids.list.element" not in dictionary_columns(out / "shards" / entry["file"])
            for entry in manifest["shards"]
        )
        manifest.pop("source"), manifest["tokenizer"].pop("path")
        manifests.append(manifest)
    assert manifests[0] == manifests[1]
    assert manifests[0]["total_rows"] == 12 and len(manifests[0]["shards"]) > 1
    run3 = json.loads((tmp_path / "run3" / "run.json").read_text())
    assert run3["passes"]["shards_encode"]["tasks"] == 3
