"""Do two runs of a pipeline hold the same output? For checking that a faster version of a pass writes what
the slower one wrote (issue 29): run the same pipeline on the same repos list with each version of the code
(``benchmarks/end_to_end.py --out ... --keep``), then

    python benchmarks/same_output.py RUN_A RUN_B

It compares, and prints per item "same" or what differs:

- the curated rows: every column of every row, the rows sorted by (repo, path, id), and the number of
  curated files (a task's file holds its share, so equal task counts give equal files);
- the near-dedup clusters (every clustered file's decision, ``minhash/clusters``), when both runs have them;
- the shards: ``shards/manifest.json`` (without the run-specific ``source`` and tokenizer path) and every
  shard file, byte for byte. Shards are only comparable when both runs used the same tokenizer (the same
  sha256): to compare the shards of runs whose tokenizers were trained differently, give the second run
  the first one's tokenizer (``--set stages.shards.tokenizer=RUN_A/tokenizer.json``).

Exit status 0 when everything compared is the same, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def curated_rows(run: Path) -> tuple[int, list[dict[str, Any]]]:
    files = sorted((run / "curated").glob("*.parquet"))
    rows = [row for name in files for row in pq.read_table(name).to_pylist()]
    rows.sort(key=lambda row: (row.get("repo") or "", row.get("path") or "", row.get("id") or ""))
    return len(files), rows


def first_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    if len(a) != len(b):
        return f"{len(a):,} rows vs {len(b):,}"
    for index, (left, right) in enumerate(zip(a, b, strict=True)):
        if left != right:
            columns = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
            return f"row {index} ({left.get('repo')}/{left.get('path')}) differs in {columns}"
    return ""


def clusters(run: Path) -> list[dict[str, Any]] | None:
    folder = run / "minhash" / "clusters"
    if not folder.is_dir():
        return None
    out = []
    for name in sorted(folder.glob("[0-9]*.parquet")):
        out += [{"origin": name.stem, **row} for row in pq.read_table(name).to_pylist()]
    return out


def shards(run: Path) -> tuple[dict[str, Any], list[Path]] | None:
    manifest_path = run / "shards" / "manifest.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    manifest.pop("source", None)
    manifest["tokenizer"].pop("path", None)
    return manifest, [run / "shards" / entry["file"] for entry in manifest["shards"]]


def compare(a: Path, b: Path) -> list[str]:
    """Problems found (empty: the same), printing each item's result."""
    problems = []
    (files_a, rows_a), (files_b, rows_b) = curated_rows(a), curated_rows(b)
    difference = first_difference(rows_a, rows_b)
    if files_a != files_b:
        difference = f"{files_a} curated files vs {files_b}; {difference}".rstrip("; ")
    print(f"curated rows ({len(rows_a):,}, {files_a} files): {difference or 'same'}")
    if difference:
        problems.append(f"curated: {difference}")
    clusters_a, clusters_b = clusters(a), clusters(b)
    if clusters_a is not None and clusters_b is not None:
        same = clusters_a == clusters_b
        print(f"near-dedup clusters ({len(clusters_a):,} clustered files): {'same' if same else 'differ'}")
        if not same:
            problems.append("clusters differ")
    shards_a, shards_b = shards(a), shards(b)
    if shards_a is None or shards_b is None:
        print("shards: not in both runs")
        return problems
    (manifest_a, files_a_list), (manifest_b, files_b_list) = shards_a, shards_b
    if manifest_a["tokenizer"]["sha256"] != manifest_b["tokenizer"]["sha256"]:
        print("shards: not comparable, the runs used different tokenizers (see the module docstring)")
        problems.append("shards made with different tokenizers")
        return problems
    differing = [
        left.name
        for left, right in zip(files_a_list, files_b_list, strict=False)
        if left.read_bytes() != right.read_bytes()
    ]
    same = manifest_a == manifest_b and not differing
    tokens = manifest_a.get("total_tokens", 0)
    print(
        f"shards ({len(files_a_list)} files, {tokens:,} tokens): "
        + (
            "same, byte for byte"
            if same
            else f"manifests equal: {manifest_a == manifest_b}, differ: {differing}"
        )
    )
    if not same:
        problems.append("shards differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    args = parser.parse_args(argv)
    problems = compare(args.run_a, args.run_b)
    print("SAME OUTPUT" if not problems else "DIFFERENT: " + "; ".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
