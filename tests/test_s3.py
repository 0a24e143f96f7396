"""Object storage: the repos list and the whole run directory on ``s3://``, against a real S3-compatible
server on loopback (moto's standalone server). Credentials and endpoint come from the environment only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_runner import STARCODER, make_repos

from stackcurate.cli import main
from stackcurate.parquet_io import list_parquet_files

SECRET = "moto-secret-key-for-the-test"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    import s3fs
    from moto.server import ThreadedMotoServer

    # each module starts its own server: an s3fs instance cached by an earlier one names a stopped endpoint
    s3fs.S3FileSystem.clear_instance_cache()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "moto-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def test_a_run_reads_its_list_from_and_writes_its_output_to_s3(
    s3_env: dict[str, str],
    git_repo_factory: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("corpus")
    listing = make_repos(git_repo_factory, tmp_path, count=4, files=3, duplicate=True)
    fs.put(str(listing), "corpus/lists/repos.csv")
    # every pass of the StarCoder pipeline but PII (slow to load, and no different on object storage)
    common = ["--tasks", "2", "--workers", "2", "--set", "stages.shards.train_vocab_size=400"]
    common += ["--set", "stages.pii=null"]
    reference = tmp_path / "local"
    assert main(["run", STARCODER, "--repos", str(listing), "--out", str(reference), *common]) == 0

    command = [sys.executable, "-m", "stackcurate.cli", "run", STARCODER, *common]
    command += ["--repos", "s3://corpus/lists/repos.csv", "--out", "s3://corpus/runs/starcoder"]
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **s3_env}, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]

    fs.invalidate_cache()
    for folder in ("01_clone", "02_filtered", "curated"):
        names = list_parquet_files(str(reference / folder))
        assert list_parquet_files(f"s3://corpus/runs/starcoder/{folder}") == names
        for name in names:
            with fs.open(f"corpus/runs/starcoder/{folder}/{name}", "rb") as handle:
                assert pq.read_table(handle).equals(pq.read_table(reference / folder / name))
    # the shards were made by the executor's passes reading and writing the bucket, manifest last: the
    # same tokenizer (trained on the same sample) and the same shard files as the local run
    run_json = json.loads(fs.cat("corpus/runs/starcoder/run.json"))
    assert {"shards_encode", "shards_write"} <= set(run_json["passes"])
    manifest = json.loads(fs.cat("corpus/runs/starcoder/shards/manifest.json"))
    local_manifest = json.loads((reference / "shards" / "manifest.json").read_text())
    assert (manifest["total_rows"], manifest["total_tokens"]) == (
        local_manifest["total_rows"],
        local_manifest["total_tokens"],
    )
    assert manifest["tokenizer"]["sha256"] == local_manifest["tokenizer"]["sha256"]
    assert manifest["tokenizer"]["path"] == "s3://corpus/runs/starcoder/tokenizer.json"
    assert manifest["shards"] == local_manifest["shards"]
    assert manifest["source"] == "s3://corpus/runs/starcoder/curated"
    assert sorted(fs.ls("corpus/runs/starcoder/shards", detail=False)) == sorted(
        f"corpus/runs/starcoder/shards/{name}"
        for name in ["manifest.json", *(s["file"] for s in manifest["shards"])]
    )
    assert fs.exists("corpus/runs/starcoder/tokenizer.json")
    # nothing half-written is left under a final name, and the credentials are nowhere in the run
    assert not [path for path in fs.find("corpus/runs/starcoder") if path.endswith(".tmp")]
    assert SECRET not in fs.cat("corpus/runs/starcoder/run.json").decode()

    # the statistics read the run where it is
    capsys.readouterr()
    assert main(["stats", str(reference), "--json"]) == 0
    local_stats = json.loads(capsys.readouterr().out)
    assert main(["stats", "s3://corpus/runs/starcoder", "--json"]) == 0
    remote_stats = json.loads(capsys.readouterr().out)
    assert remote_stats["dataset"] == local_stats["dataset"] and remote_stats["dataset"]["files"] > 0
    assert remote_stats["languages"] == local_stats["languages"]

    # a rerun of the finished run does nothing
    again = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **s3_env}, timeout=300)
    assert again.returncode == 0 and "pass clone" not in again.stderr
