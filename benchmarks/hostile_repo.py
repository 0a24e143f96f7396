"""Per-repository limits on a crafted tree: time and peak memory of the clone stage on a repository whose
tree nests ``--fanout`` entries ``--depth`` levels deep (one blob, fanout^depth paths, made with
``git hash-object`` and ``git mktree``), with the default ``stages.clone`` limits.

Prints the repository's size on disk, its path count, the seconds and the peak resident memory (the
clone stage's process, ``VmHWM``, and its git children, ``getrusage``) and the counters. ``--quick``:
fanout 10, depth 4 (10^4 paths, kept: under the default limit); the default, depth 6 (10^6 paths), is
skipped as ``too_many_files``.

    python benchmarks/hostile_repo.py [--depth 6] [--fanout 10] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin",
}

MEASURE = """
import json, resource, sys, time
from stackcurate.sources.reader import GitRepoReader
started = time.monotonic()
reader = GitRepoReader(sys.argv[1], failures_folder=sys.argv[2])
docs = sum(1 for _ in reader.run(None, rank=0, world_size=1))
with open("/proc/self/status") as status:  # VmHWM: RUSAGE_SELF would carry the parent's peak (vfork + exec)
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "documents": docs,
    "seconds": round(time.monotonic() - started, 2),
    "peak_mb": round(max(hwm_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024, 1),
    "counters": {k: v.total for k, v in reader.stats.stats.items() if k.startswith("repos")},
}))
"""


def git(repo: Path, *args: str, stdin: bytes = b"") -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, env=ENV, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


def nested_repo(repo: Path, fanout: int, depth: int) -> None:
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    blob = git(repo, "hash-object", "-w", "--stdin", stdin=b"x = 1\n")
    listing = b"".join(f"100644 blob {blob}\tf{i}.py".encode() + b"\0" for i in range(fanout))
    tree = git(repo, "mktree", "-z", stdin=listing)
    for _ in range(depth - 1):
        listing = b"".join(f"040000 tree {tree}\td{i}".encode() + b"\0" for i in range(fanout))
        tree = git(repo, "mktree", "-z", stdin=listing)
    git(repo, "update-ref", "refs/heads/main", git(repo, "commit-tree", tree, "-m", "nested"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="depth 4: 10^4 paths")
    args = parser.parse_args()
    depth = 4 if args.quick else args.depth
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "evil" / "nested"
        nested_repo(repo, args.fanout, depth)
        size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
        listing = Path(tmp) / "repos.txt"
        listing.write_text(f"{repo}\n")
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(listing), str(Path(tmp) / "failures")],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.splitlines()[-1])
    print(f"repository: {size / 1024:.0f} KB on disk, {args.fanout}^{depth} = {args.fanout**depth:,} paths")
    documents = f"{result['documents']:,} documents"
    print(f"clone stage: {result['seconds']} s, peak memory {result['peak_mb']} MB, {documents}")
    print(f"counters: {result['counters']}")


if __name__ == "__main__":
    main()
