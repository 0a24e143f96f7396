"""``stackcurate index build RUN_DIR`` and ``stackcurate attribute FILE|- --run RUN_DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stackcurate.errors import FatalError


def cmd_build(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

    from stackcurate.attribution.index import build_index, curated_bytes
    from stackcurate.run_copy import local_run_copy

    # an s3:// run: built from a local copy of its curated output, the index uploaded
    with local_run_copy(args.run_dir, folders=["curated", "index"], write=True) as local:
        total = curated_bytes(local)
        with Progress(
            TextColumn("index"),
            BarColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[files]} files"),
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("index", total=total, files=0)
            meta = build_index(
                local,
                fp_rate=args.fp_rate,
                window=args.window,
                guard=args.guard,
                progress=lambda files, nbytes: progress.update(task, completed=nbytes, files=files),
            )
    print(
        f"indexed {meta['files']:,} files ({meta['bytes'] / 1e6:.1f} MB, "
        f"{meta['fingerprints']:,} fingerprints) in "
        f"{meta['seconds']:.1f}s: membership filter {meta['bloom_bytes'] / 1e6:.1f} MB "
        f"(false-positive rate {meta['fp_rate']}), full-text index {meta['fulltext_bytes'] / 1e6:.1f} MB"
    )
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from stackcurate.attribution.query import Attributor
    from stackcurate.sources.names import printable

    if args.file == "-":
        snippet = sys.stdin.read()
    else:
        try:
            snippet = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FatalError(f"cannot read {args.file}: {error}") from None
    result = Attributor(args.run).attribute(snippet, top_k=args.top_k)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(
        f"{result.verdict}: {result.found} of {result.fingerprints} fingerprints ({result.fraction:.0%})"
        " in the dataset"
    )
    for start, end in result.spans:
        line = snippet.count("\n", 0, start) + 1
        print(f"  looks copied: characters {start}-{end} (from line {line})")
    for rank, candidate in enumerate(result.candidates, 1):
        # names come from repositories: escaped, so a file name cannot retitle or clear the terminal
        print(
            f"{rank}. {printable(candidate.repo)}/{printable(candidate.path)}  "
            f"license {printable(candidate.license or 'unknown')}  "
            f"longest exact overlap {candidate.longest_overlap} chars  BM25 {candidate.score}\n"
            f"   {printable(candidate.url)} @ {printable(candidate.commit[:12])}"
        )
    return 0


def add_parsers(commands: Any) -> None:
    index = commands.add_parser("index", help="attribution indexes of a run")
    actions = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="membership filter + full-text index of a run's curated output",
        description="Build <RUN_DIR>/index: a Bloom filter of winnowed 10-token windows and a BM25 "
        "full-text index.",
    )
    build.add_argument("run_dir", metavar="RUN_DIR")
    build.add_argument("--fp-rate", type=float, default=0.001, help="membership false-positive rate")
    build.add_argument("--window", type=int, default=10, help="tokens per window (default 10)")
    build.add_argument(
        "--guard",
        type=int,
        default=4,
        help="winnowing: one fingerprint of every GUARD consecutive windows goes into the filter (default 4;"
        " 1 keeps every window)",
    )
    build.set_defaults(func=cmd_build)
    attribute = commands.add_parser(
        "attribute",
        help="is a snippet in the dataset, and from which files?",
        description="Check a snippet (a file, or - for standard input) against a run's attribution index.",
    )
    attribute.add_argument("file", metavar="FILE|-")
    attribute.add_argument("--run", required=True, metavar="RUN_DIR")
    attribute.add_argument("--top-k", type=int, default=5)
    attribute.add_argument("--json", action="store_true")
    attribute.set_defaults(func=cmd_attribute)
