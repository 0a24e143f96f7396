"""Clone + walk throughput on the sample repositories (real third-party code), one process, one core.

    python benchmarks/clone_throughput.py [--sample-dir runs/sample] [--limit N] [--depth 1]

Makes the sample repositories first when the folder has none (``stackcurate sample-repos``), then runs the
clone stage (``GitRepoReader``: ``git clone --depth 1 --no-checkout`` from file:// plus the tree walk and
blob reads) over every repository in a single task, and prints repositories/s, files/s and MB/s. MB/s is
given for the bytes of every tree entry (what the walk looked at) and for the bytes of the files it kept.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from stackcurate.sources.reader import GitRepoReader
from stackcurate.sources.sample import make_sample_repos


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample-dir", default="runs/sample")
    parser.add_argument("--limit", type=int, default=None, help="first N sample repositories only")
    parser.add_argument("--depth", type=int, default=1)
    args = parser.parse_args()

    sample = Path(args.sample_dir)
    repos_csv = sample / "repos.csv"
    if not repos_csv.exists():
        made = make_sample_repos(sample)
        print(f"made {len(made)} sample repositories in {sample}")
    lines = repos_csv.read_text().splitlines()
    if args.limit:
        repos_csv = sample / f"repos-first-{args.limit}.csv"
        repos_csv.write_text("\n".join(lines[: args.limit + 1]) + "\n")

    reader = GitRepoReader(str(repos_csv), depth=args.depth)
    started = time.perf_counter()
    files = sum(1 for _ in reader.run(None, rank=0, world_size=1))
    seconds = time.perf_counter() - started
    counters = {key: value.total for key, value in reader.stats.stats.items()}
    repos = counters.get("repos_ok", 0)
    seen_mb = counters.get("bytes_in", 0) / 1e6
    kept_mb = counters.get("bytes_out", 0) / 1e6
    print(f"repositories          {repos:>10.0f}   ({counters.get('repos_in', 0):.0f} listed)")
    print(f"tree entries walked   {counters.get('files_in', 0):>10.0f}   {seen_mb:8.1f} MB")
    print(f"files kept            {files:>10d}   {kept_mb:8.1f} MB")
    print(f"wall time             {seconds:>10.2f} s (one process)")
    print(f"throughput            {repos / seconds:>10.1f} repos/s")
    walked = counters.get("files_in", 0)
    print(f"{'':22}{walked / seconds:>10.0f} files walked/s   {files / seconds:8.0f} files kept/s")
    print(f"{'':22}{seen_mb / seconds:>10.1f} MB walked/s      {kept_mb / seconds:8.1f} MB kept/s")


if __name__ == "__main__":
    main()
