"""``stackcurate index build RUN_DIR`` and ``stackcurate attribute RUN_DIR FILE|-``."""

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
    from stackcurate.staging import staged_run

    # an s3:// run: built from a local copy of its curated output, the index uploaded
    with staged_run(args.run_dir, folders=["curated", "index"], write=True) as local:
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
    if args.json:
        print(json.dumps(meta))
        return 0
    print(
        f"indexed {meta['files']:,} files ({meta['bytes'] / 1e6:.1f} MB, "
        f"{meta['fingerprints']:,} fingerprints) in "
        f"{meta['seconds']:.1f}s: membership filter {meta['bloom_bytes'] / 1e6:.1f} MB "
        f"(false-positive rate {meta['fp_rate']}), full-text index {meta['fulltext_bytes'] / 1e6:.1f} MB"
    )
    return 0


def _run_and_file(args: argparse.Namespace) -> tuple[str, str]:
    """``attribute RUN_DIR FILE`` (the convention), or the older ``attribute FILE --run RUN_DIR``."""
    given = list(args.positional)
    if args.run is not None:
        print(
            "note: --run is deprecated: give the run first, `stackcurate attribute RUN_DIR FILE`",
            file=sys.stderr,
        )
        if len(given) != 1:
            raise FatalError("with --run RUN_DIR give one FILE (or - for standard input)")
        return args.run, given[0]
    if len(given) != 2:
        raise FatalError("give the run and the snippet: stackcurate attribute RUN_DIR FILE (or - for stdin)")
    return given[0], given[1]


def render_attribution(result: Any, snippet: str) -> str:
    """The verdict, the spans that look copied, the files sharing a passage with the snippet, and apart
    from them the files that are only similar in wording (no shared passage); names are escaped."""
    from stackcurate.sources.names import printable

    lines = []
    if result.fingerprints == 0:
        lines.append(f"{result.verdict}: the snippet is too short to have a fingerprint")
    elif result.found == 0:
        lines.append(f"{result.verdict}: none of its {result.fingerprints:,} fingerprints is in the dataset")
    else:
        lines.append(
            f"{result.verdict}: {result.found:,} of its {result.fingerprints:,} fingerprints "
            f"({result.fraction:.0%}) are in the dataset"
        )
    for start, end in result.spans:
        line = snippet.count("\n", 0, start) + 1
        lines.append(f"  looks copied: characters {start}-{end} (from line {line})")
    sharing = [c for c in result.candidates if c.longest_overlap > 0]
    similar = [c for c in result.candidates if c.longest_overlap == 0]
    if sharing:
        lines.append("files sharing a passage with it (longest exact overlap first):")
    for rank, candidate in enumerate(sharing, 1):
        # names come from repositories: escaped, so a file name cannot retitle or clear the terminal
        lines.append(
            f"{rank}. {printable(candidate.repo)}/{printable(candidate.path)}  "
            f"license {printable(candidate.license or 'unknown')}  "
            f"longest exact overlap {candidate.longest_overlap} chars  BM25 {candidate.score}"
        )
        lines.append(
            f"   {printable(candidate.file_url or candidate.url)} @ {printable(candidate.commit[:12])}"
        )
    if similar:
        lines.append("similar wording only, no shared passage (BM25, best first):")
    for candidate in similar:
        lines.append(
            f"   {printable(candidate.repo)}/{printable(candidate.path)}  "
            f"license {printable(candidate.license or 'unknown')}  BM25 {candidate.score}"
        )
    return "\n".join(lines)


def cmd_attribute(args: argparse.Namespace) -> int:
    from stackcurate.attribution.query import Attributor

    run, file = _run_and_file(args)
    if file == "-":
        snippet = sys.stdin.read()
    else:
        try:
            snippet = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise FatalError(f"cannot read {file}: {error}") from None
    if args.top_k is not None:
        print("note: --top-k is deprecated: use --top", file=sys.stderr)
    result = Attributor(run).attribute(snippet, top_k=args.top_k if args.top_k is not None else args.top)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(render_attribution(result, snippet))
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
    build.add_argument(
        "--fp-rate",
        type=float,
        default=0.001,
        help="membership filter's false-positive rate (default: 0.001)",
    )
    build.add_argument("--window", type=int, default=10, help="tokens per window (default 10)")
    build.add_argument(
        "--guard",
        type=int,
        default=4,
        help="winnowing: one fingerprint of every GUARD consecutive windows goes into the filter (default 4;"
        " 1 keeps every window)",
    )
    build.add_argument("--json", action="store_true", help="the index's figures as one JSON object")
    build.set_defaults(func=cmd_build)
    attribute = commands.add_parser(
        "attribute",
        help="is a snippet in the dataset, and from which files?",
        description="Check a snippet (a file, or - for standard input) against RUN_DIR's attribution index "
        "(`stackcurate index build RUN_DIR` first).",
        usage="stackcurate attribute [-h] [--top N] [--json] RUN_DIR FILE|-",
    )
    attribute.add_argument(
        "positional", metavar="RUN_DIR FILE|-", nargs="+", help="the run, then the snippet"
    )
    attribute.add_argument("--run", help=argparse.SUPPRESS)  # deprecated: the run was an option
    attribute.add_argument(
        "--top", type=int, default=5, metavar="N", help="candidate files to show (default: 5)"
    )
    attribute.add_argument("--top-k", type=int, default=None, help=argparse.SUPPRESS)  # deprecated: --top
    attribute.add_argument(
        "--json",
        action="store_true",
        help="the verdict, fingerprints, spans and candidates as one JSON object",
    )
    attribute.set_defaults(func=cmd_attribute)
