"""Shards of real code for the distributed and export tests: standard-library modules (json, email) as a
curated folder, a small tokenizer trained on them, shards in small row groups. (A helper module, not a
conftest: tests/conftest.py is imported by name as ``conftest``.)"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stackcurate.shards.build import build_shards
from stackcurate.shards.tokenizer import train_tokenizer


def build_small_shards(root: Path) -> Path:
    """``root/shards``: two shards of row groups of 4 documents, of the json and email packages' files."""
    import email
    import json

    curated = root / "curated"
    curated.mkdir()
    paths = sorted(Path(json.__file__).parent.glob("*.py")) + sorted(Path(email.__file__).parent.glob("*.py"))
    rows = [
        {
            "id": f"blob{i}",
            "repo": f"python/{path.parent.name}",
            "path": path.name,
            "language": "python",
            "license": "PSF-2.0",
            "stars": i * 29,
            "content": path.read_text(encoding="utf-8"),
        }
        for i, path in enumerate(paths)
    ]
    pq.write_table(pa.Table.from_pylist(rows), curated / "00000.parquet")
    train_tokenizer(curated, vocab_size=1200).save(str(root / "tokenizer.json"))
    build_shards(curated, root / "tokenizer.json", root / "shards", shard_tokens=60_000, row_group_rows=4)
    return root / "shards"
