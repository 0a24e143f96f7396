"""One rank of the 2-rank gloo test (tests/shards/test_distributed.py): started as a process per rank with
RANK, WORLD_SIZE and MASTER_PORT in the environment, on loopback only.

    python tests/shards/ddp_worker.py SHARDS_DIR OUT_JSON TAKE_BATCHES

Writes OUT_JSON: the whole epoch's packed samples through ``ShardLoader(batch_size=4, num_workers=2)``,
an interrupted pass (``TAKE_BATCHES`` batches, then ``state_dict()``), the pass resumed from that state in
a new dataset and loader, and the document keys of an unpacked pass. Every batch is followed by an
all-reduce, as DDP's gradient sync is: ranks with unequal batch counts would hang on the last one (the
process group's timeout turns that into an error).
"""

from __future__ import annotations

import datetime
import json
import os
import sys

import torch
import torch.distributed as dist

from stackcurate.shards.loader import ShardDataset, ShardLoader


def epoch(shards: str, state: dict | None = None, take: int | None = None, pack: bool = True):
    dataset = ShardDataset(shards, seq_len=64, fim_rate=0.5, shuffle_buffer=16, seed=3, pack=pack)
    loader = ShardLoader(dataset, batch_size=4 if pack else None, num_workers=2)
    if state is not None:
        loader.load_state_dict(state)
    samples: list = []
    for batches, batch in enumerate(loader, start=1):
        step = torch.ones(1)
        dist.all_reduce(step)  # the collective every training step makes
        assert step.item() == dist.get_world_size()
        samples += batch["input_ids"].tolist() if pack else [int(batch["doc"])]
        if take is not None and batches == take:
            return samples, loader.state_dict()
    return samples, loader.state_dict()


def main() -> None:
    shards, out, take = sys.argv[1], sys.argv[2], int(sys.argv[3])
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{os.environ['MASTER_PORT']}",
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        timeout=datetime.timedelta(seconds=60),
    )
    full, end_state = epoch(shards)
    first, state = epoch(shards, take=take)
    rest, _ = epoch(shards, state=state)
    documents, _ = epoch(shards, pack=False)
    result = {
        "rank": dist.get_rank(),
        "full": full,
        "end_state": end_state,
        "first": first,
        "state": state,
        "rest": rest,
        "documents": documents,
    }
    with open(out, "w") as handle:
        json.dump(result, handle)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
