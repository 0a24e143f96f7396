"""The loader under torch.distributed: two gloo ranks (two processes on 127.0.0.1) with two DataLoader
workers each see equal sample counts, every document, and resume mid-epoch to exactly the remaining
samples."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from shards_corpus import build_small_shards

from stackcurate.shards.loader import ShardDataset, ShardLoader

WORKER = Path(__file__).with_name("ddp_worker.py")
TAKE = 3  # batches consumed before the interruption: mid-round for two workers (3 = 2 + 1)


@pytest.fixture(scope="module")
def small_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_shards(tmp_path_factory.mktemp("small_shards"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow  # ~20 s: two processes, each starting two DataLoader workers four times
def test_two_gloo_ranks_two_workers_equal_counts_and_exact_resume(small_shards: Path, tmp_path: Path) -> None:
    port = free_port()
    processes = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "GLOO_SOCKET_IFNAME": "lo",  # loopback only
        }
        command = [sys.executable, str(WORKER), str(small_shards), str(tmp_path / f"{rank}.json"), str(TAKE)]
        processes.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    try:
        for process in processes:
            _, err = process.communicate(timeout=240)
            assert process.returncode == 0, err[-3000:]
    finally:
        for process in processes:  # a hung rank (unequal counts) must not outlive the test
            if process.poll() is None:
                process.kill()
                process.wait()
    ranks = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]

    # equal counts: the all-reduce after every batch would have hung otherwise; the epochs are equal too
    assert len(ranks[0]["full"]) == len(ranks[1]["full"]) > 8
    assert ranks[0]["end_state"]["samples"] == len(ranks[0]["full"])  # exact with num_workers=2
    for result in ranks:
        # the interrupted pass's state counts what this rank received, not what its workers prefetched
        assert result["state"] == {"epoch": 0, "samples": 4 * TAKE, "batches": TAKE}
        assert result["first"] == result["full"][: 4 * TAKE]
        assert result["rest"] == result["full"][4 * TAKE :]  # exactly the remaining samples
    assert ranks[0]["full"] != ranks[1]["full"]  # each rank reads its own share

    # unpacked: both ranks together read every document; padding by repetition only
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in small_shards.glob("shard-*.parquet"))
    seen = ranks[0]["documents"] + ranks[1]["documents"]
    assert len(ranks[0]["documents"]) == len(ranks[1]["documents"])
    assert len(set(seen)) == total and len(seen) < total + 4 * 4


def test_packed_ranks_and_workers_yield_equal_counts_in_one_process(small_shards: Path) -> None:
    counts = []
    for rank in (0, 1):
        dataset = ShardDataset(small_shards, seq_len=64, fim_rate=0.5, seed=5, rank=rank, world_size=2)
        loader = ShardLoader(dataset, batch_size=None, num_workers=2)
        counts.append(sum(1 for _ in loader))
        assert loader.state_dict()["samples"] == counts[-1]
    assert counts[0] == counts[1] == 2 * dataset.samples_per_reader(4)


def test_a_share_longer_than_expected_drops_only_its_last_windows(
    small_shards: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackcurate.shards import loader as loader_module

    monkeypatch.setattr(loader_module, "FIM_EXTRA_TOKENS", 0)  # an estimate that FIM's tokens exceed
    datasets = [
        ShardDataset(small_shards, seq_len=16, fim_rate=1.0, seed=5, rank=rank, world_size=2)
        for rank in (0, 1)
    ]
    counts = [sum(1 for _ in dataset) for dataset in datasets]
    assert counts[0] == counts[1] == datasets[0].samples_per_reader(2)
    assert max(dataset.remainder_windows for dataset in datasets) > 0
