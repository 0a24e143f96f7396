"""The opt-out tools on a run kept on object storage (moto's S3 server on loopback): check, purge (with
the dedup rerun), index build, serve and stats read and write the run where it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_purge_dedup import listing

from stackcurate.cli import main
from stackcurate.optout.store import OptOutStore
from stackcurate.optout.web import create_app
from stackcurate.shards.build import verify_shards

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
    command = ["run", STARCODER, "--repos", str(listing(git_repo_factory, tmp_path)), "--out", url]
    command += ["--tasks", "2", "--workers", "1", *[x for s in settings for x in ("--set", s)]]
    assert main(command) == 0

    capsys.readouterr()
    assert main(["opt-out", "check", "big", "--run", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["repos"] == [{"repo": "big/star", "files": 2}]
    assert main(["index", "build", url]) == 0
    store = OptOutStore(record)
    store.decide(store.request("owner", "big").id, "approved")
    assert main(["opt-out", "purge", url, "--opt-out-dir", str(record)]) == 0
    assert "verified" in capsys.readouterr().out

    fs.invalidate_cache()
    local = tmp_path / "copy"
    fs.get("optout/run", str(local), recursive=True)
    assert not list(tmp_path.glob("s3:*")) and not Path("s3:").exists()  # nothing written to a local "s3:/"
    rows = [r for p in sorted(local.rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert rows and not any("big/star" in str(r.get("repo")) + str(r.get("duplicate_repos")) for r in rows)
    curated = {
        (r["repo"], r["path"])
        for p in (local / "curated").glob("*.parquet")
        for r in pq.read_table(p).to_pylist()
    }
    assert ("small/one", "shared.py") in curated
    manifest = json.loads((local / "shards" / "manifest.json").read_text())
    assert manifest["source"] == f"{url}/curated"  # names the bucket, not a staging folder
    assert verify_shards(local / "shards") == []
    assert json.loads((local / "run.json").read_text())["purges"][0]["rerun"]
    assert fs.exists("optout/run/index/meta.json")

    client = create_app(url, record).test_client()
    assert "small: 1 repositories, 6 files" in client.get("/owner?name=small").get_data(as_text=True)
    assert client.get("/attribute").status_code == 200
    assert client.get("/stats").status_code == 200
    assert main(["stats", url, "--json"]) == 0
