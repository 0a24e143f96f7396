"""Object storage: the repos list and the whole run directory on ``s3://``, against a real S3-compatible
server on loopback (moto's standalone server). Credentials and endpoint come from the environment only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import S3_SECRET, starcoder_args

from stackcurate.cli import main
from stackcurate.parquet_io import list_parquet_files

pytestmark = pytest.mark.slow


def test_a_run_reads_its_list_from_and_writes_its_output_to_s3(
    s3_env: dict[str, str], starcoder_run: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared StarCoder run's input and settings, list and run directory on the bucket: the same output
    as the local run (``starcoder_run``), every pass included."""
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("corpus")
    fs.put(str(starcoder_run["repos"]), "corpus/lists/repos.csv")
    reference = starcoder_run["out"]
    args = starcoder_args("s3://corpus/lists/repos.csv", "s3://corpus/runs/starcoder")
    command = [sys.executable, "-m", "stackcurate.cli", "run", *args, "--workers", "2"]
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
    assert S3_SECRET not in fs.cat("corpus/runs/starcoder/run.json").decode()

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
