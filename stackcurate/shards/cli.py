"""``stackcurate tokenizer train`` and ``stackcurate shards build|verify|export``.

``verify`` and ``export`` take a run directory (``RUN_DIR``, its ``shards/`` is used) or a shards folder;
every command prints its result as one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from stackcurate.errors import FatalError


def cmd_train(args: argparse.Namespace) -> int:
    from loguru import logger

    from stackcurate.shards.tokenizer import train_on, training_text, vocabulary_shortfall

    started = time.monotonic()
    text = training_text(args.curated, args.max_bytes)
    tokenizer = train_on(text, vocab_size=args.vocab_size, min_frequency=args.min_frequency)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(args.out)
    seconds = time.monotonic() - started
    shortfall = vocabulary_shortfall(tokenizer, args.vocab_size, text, args.min_frequency)
    if shortfall is not None:
        logger.warning(shortfall)
    if args.json:
        print(
            json.dumps(
                {
                    "tokenizer": args.out,
                    "vocab_size": tokenizer.get_vocab_size(),
                    "seconds": seconds,
                    "trained_bytes": text.bytes,
                    "trained_files": text.files,
                }
            )
        )
        return 0
    print(
        f"tokenizer with {tokenizer.get_vocab_size():,} tokens written to {args.out} "
        f"in {seconds:.1f}s (trained on {text.bytes / 1e6:.1f} MB, {text.files:,} files)"
    )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from stackcurate.shards.build import build_shards

    started = time.monotonic()
    manifest = build_shards(
        args.curated, args.tokenizer, args.out, seed=args.seed, shard_tokens=args.shard_tokens
    )
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps({**manifest, "seconds": round(seconds, 3)}))
        return 0
    print(
        f"{manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens in "
        f"{len(manifest['shards'])} shards under {args.out} ({seconds:.1f}s)"
    )
    for language, stats in sorted(manifest["languages"].items(), key=lambda kv: -kv[1]["tokens"])[:10]:
        print(f"  {language:<24} {stats['rows']:>8,} documents {stats['tokens']:>14,} tokens")
    return 0


#: what ``shards verify`` and ``export`` copy of a run on object storage: not the curated source, so the
#: sampled re-encoding is skipped there (with a note)
REMOTE_COPY = ["shards", "tokenizer.json"]


def cmd_verify(args: argparse.Namespace) -> int:
    from stackcurate.run_copy import local_run_copy
    from stackcurate.shards.export import shards_folder, shown_path
    from stackcurate.shards.verify import load_manifest, verify_manifest

    with local_run_copy(args.shards_dir, folders=REMOTE_COPY) as local:
        folder = shards_folder(local)  # a run directory or its shards folder, as `shards export`
        problems, notes = verify_manifest(folder, args.tokenizer)
        manifest = load_manifest(folder) if not problems else {}
        shards = shown_path(args.shards_dir, local, folder)
    if problems:
        raise FatalError(f"{shards} does not match its manifest:\n  " + "\n  ".join(problems))
    if args.json:
        print(
            json.dumps(
                {
                    "shards_dir": shards,
                    "ok": True,
                    "shards": len(manifest["shards"]),
                    "documents": manifest["total_rows"],
                    "tokens": manifest["total_tokens"],
                    "notes": notes,
                }
            )
        )
        return 0
    for note in notes:
        print(f"note: {note}")
    print(
        f"{shards}: {len(manifest['shards'])} shards, {manifest['total_rows']:,} documents, "
        f"{manifest['total_tokens']:,} tokens match the manifest and the tokenizer"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from stackcurate.run_copy import is_remote, local_run_copy
    from stackcurate.shards.export import export_shards

    started = time.monotonic()
    if is_remote(args.out):
        raise FatalError(f"--out {args.out}: export writes a local folder (copy it to the bucket after)")
    with local_run_copy(args.run_dir, folders=REMOTE_COPY) as local:
        summary = export_shards(
            local, args.out, args.format, source_name=args.run_dir if is_remote(args.run_dir) else None
        )
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"{summary['documents']:,} documents, {summary['tokens']:,} tokens exported as {args.format} to "
        f"{args.out} ({time.monotonic() - started:.1f}s)"
    )
    if args.format == "megatron":
        print(f"  Megatron-LM: --data-path {summary['data_path']}")
    else:
        print(f"  litdata: litdata.StreamingDataset({str(Path(args.out).resolve())!r})")
    return 0


def _json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def add_parsers(commands: Any) -> None:
    from stackcurate.shards.export import FORMATS

    tokenizer = commands.add_parser("tokenizer", help="train a tokenizer on curated output")
    tokenizer_actions = tokenizer.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")
    train = tokenizer_actions.add_parser(
        "train",
        help="byte-level BPE with StarCoder's special tokens",
        description="Train a byte-level BPE tokenizer (digits split, StarCoder's special tokens) by "
        "streaming a curated folder.",
    )
    train.add_argument("curated", metavar="CURATED_DIR")
    train.add_argument(
        "--vocab-size", type=int, default=49152, help="tokens in the vocabulary (default: 49152, StarCoder's)"
    )
    train.add_argument(
        "--min-frequency", type=int, default=2, help="merges seen fewer times are not learnt (default: 2)"
    )
    train.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help="train on a sample of N bytes drawn from every file (default: all the content)",
    )
    train.add_argument("--out", required=True, metavar="tokenizer.json", help="where to write it (required)")
    _json_flag(train)
    train.set_defaults(func=cmd_train)

    shards = commands.add_parser("shards", help="tokenized Parquet training shards")
    actions = shards.add_subparsers(dest="shards_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="tokenize a curated folder into shards + manifest.json",
        description="Format (StarCoder metadata tokens), tokenize and write Parquet shards with a manifest.",
    )
    build.add_argument("curated", metavar="CURATED_DIR")
    build.add_argument(
        "--tokenizer", required=True, metavar="tokenizer.json", help="the tokenizer (required)"
    )
    build.add_argument("--out", required=True, metavar="SHARDS_DIR", help="a new shards folder (required)")
    build.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the metadata sampling and the document order (default: 0)",
    )
    build.add_argument(
        "--shard-tokens", type=int, default=50_000_000, help="tokens per shard (default: 50000000)"
    )
    _json_flag(build)
    build.set_defaults(func=cmd_build)
    verify = actions.add_parser(
        "verify",
        help="check shards and their tokenizer against the manifest (every figure it states)",
        description="Recompute every figure the manifest states from the shard files and the tokenizer.",
    )
    verify.add_argument(
        "shards_dir", metavar="RUN_DIR", help="a run directory (its shards/ is checked), or a shards folder"
    )
    verify.add_argument(
        "--tokenizer", metavar="tokenizer.json", help="the tokenizer file (default: the manifest's path)"
    )
    _json_flag(verify)
    verify.set_defaults(func=cmd_verify)
    export = actions.add_parser(
        "export",
        help="write the shards as a Megatron-LM indexed dataset or a litdata streaming dataset",
        description="Export a run's training shards (verified against their manifest) to a format "
        "trainers read: megatron (.bin/.idx, <|endoftext|> after every document) or litdata (one item "
        "per document).",
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, or its shards folder")
    export.add_argument("--format", required=True, choices=FORMATS, help="the trainer's format (required)")
    export.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder (required)")
    _json_flag(export)
    export.set_defaults(func=cmd_export)
