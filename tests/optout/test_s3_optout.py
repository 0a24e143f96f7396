"""The opt-out tools on a run kept on object storage (moto's S3 server on loopback): check, purge (the
incremental purge, in place: the files it does not change are not rewritten), index build, serve and stats
read and write the run where it is."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_purge_dedup import corpus, curated, shard_rows

from stackcurate.cli import main
from stackcurate.manifest import RunManifest
from stackcurate.optout.store import OptOutStore
from stackcurate.optout.web import create_app
from stackcurate.shards.verify import verify_shards

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
pytestmark = pytest.mark.slow


def test_opt_out_tools_work_on_an_s3_run(
    s3_env: dict[str, str],
    git_repo_factory: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("optout")
    url, record = "s3://optout/run", tmp_path / "record"
    settings = [f"stages.opt_out.folder={record}", "stages.pii=null", "stages.shards.train_vocab_size=400"]
    command = ["run", STARCODER, "--repos", str(corpus(git_repo_factory, tmp_path)), "--out", url]
    command += ["--tasks", "2", "--workers", "1", *[x for s in settings for x in ("--set", s)]]
    assert main(command) == 0

    capsys.readouterr()
    assert main(["opt-out", "check", "big", "--run", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["repos"] == [{"repo": "big/star", "files": 4}]
    assert main(["index", "build", url]) == 0
    store = OptOutStore(record)
    store.decide(store.request("owner", "big").id, "approved")
    local = tmp_path / "local"  # the same run purged on a local disk, to compare with
    fs.get("optout/run", str(local), recursive=True)
    etags = {name: info["ETag"] for name, info in fs.find("optout/run", detail=True).items()}
    assert main(["opt-out", "purge", url]) == 0  # the record: the one the run recorded
    printed = capsys.readouterr().out
    assert "verified" in printed
    assert f"stackcurate shards verify {url}" in printed and "s3:/optout" not in printed
    assert main(["opt-out", "purge", str(local), "--opt-out-dir", str(record)]) == 0

    fs.invalidate_cache()
    after = {name: info["ETag"] for name, info in fs.find("optout/run", detail=True).items()}
    untouched = [name for name in etags if name.endswith(".parquet") and after.get(name) == etags[name]]
    assert any(
        "/01_clone/" in name for name in untouched
    )  # in place: the other task's files stay as they were
    assert not any("/.purge/" in name for name in after)
    copy = tmp_path / "copy"
    fs.get("optout/run", str(copy), recursive=True)
    assert not list(tmp_path.glob("s3:*")) and not Path("s3:").exists()  # nothing written to a local "s3:/"
    rows = [r for p in sorted(copy.rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert rows and not any("big/star" in str(r.get("repo")) + str(r.get("duplicate_repos")) for r in rows)
    assert curated(copy).to_dicts() == curated(local).to_dicts()  # the same purge as on a local disk
    assert shard_rows(copy) == shard_rows(local)
    assert ("mid/two", "textwrap.py") in set(zip(curated(copy)["repo"], curated(copy)["path"], strict=True))
    manifest = json.loads((copy / "shards" / "manifest.json").read_text())
    assert manifest["source"] == f"{url}/curated"  # names the bucket, not a local folder
    assert verify_shards(copy / "shards") == []
    purge = RunManifest.require(url).purges[0]
    assert purge.promoted >= 1 and purge.removed["curated"] == 4
    assert fs.exists("optout/run/index/meta.json")

    client = create_app(url, record).test_client()
    assert "mid: 1 repositories" in client.get("/owner?name=mid").get_data(as_text=True)
    assert client.get("/attribute").status_code == 200
    assert client.get("/stats").status_code == 200
    assert main(["stats", url, "--json"]) == 0

    # the next commands the purge printed work on the bucket: the shards against their manifest, an export
    capsys.readouterr()
    copies = set(Path(tempfile.gettempdir()).glob("stackcurate-run-*"))
    assert main(["shards", "verify", url, "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["shards_dir"] == f"{url}/shards" and verified["documents"] == manifest["total_rows"]
    assert any("curated source s3://optout/run/curated not found" in note for note in verified["notes"])
    assert main(["shards", "export", url, "--format", "megatron", "--out", str(tmp_path / "mm")]) == 0
    exported = json.loads((tmp_path / "mm" / "export.json").read_text())
    assert exported["source"] == f"{url}/shards" and exported["documents"] == manifest["total_rows"]
    assert set(Path(tempfile.gettempdir()).glob("stackcurate-run-*")) == copies  # their local copies are gone
