"""``stackcurate tokenizer train`` and ``stackcurate shards build|verify|export``."""

from __future__ import annotations

import argparse
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
    print(
        f"tokenizer with {tokenizer.get_vocab_size():,} tokens written to {args.out} "
        f"in {time.monotonic() - started:.1f}s (trained on {text.bytes / 1e6:.1f} MB, {text.files:,} files)"
    )
    shortfall = vocabulary_shortfall(tokenizer, args.vocab_size, text, args.min_frequency)
    if shortfall is not None:
        logger.warning(shortfall)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from stackcurate.shards.build import build_shards

    started = time.monotonic()
    manifest = build_shards(
        args.curated, args.tokenizer, args.out, seed=args.seed, shard_tokens=args.shard_tokens
    )
    seconds = time.monotonic() - started
    print(
        f"{manifest['total_rows']:,} documents, {manifest['total_tokens']:,} tokens in "
        f"{len(manifest['shards'])} shards under {args.out} ({seconds:.1f}s)"
    )
    for language, stats in sorted(manifest["languages"].items(), key=lambda kv: -kv[1]["tokens"])[:10]:
        print(f"  {language:<24} {stats['rows']:>8,} documents {stats['tokens']:>14,} tokens")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from stackcurate.shards.verify import load_manifest, verify_manifest

    problems, notes = verify_manifest(args.shards_dir, args.tokenizer)
    if problems:
        raise FatalError(f"{args.shards_dir} does not match its manifest:\n  " + "\n  ".join(problems))
    manifest = load_manifest(Path(args.shards_dir))
    for note in notes:
        print(f"note: {note}")
    print(
        f"{args.shards_dir}: {len(manifest['shards'])} shards, {manifest['total_rows']:,} documents, "
        f"{manifest['total_tokens']:,} tokens match the manifest and the tokenizer"
    )
    return 0


def add_parsers(commands: Any) -> None:
    tokenizer = commands.add_parser("tokenizer", help="train a tokenizer on curated output")
    tokenizer_actions = tokenizer.add_subparsers(dest="tokenizer_command", required=True, metavar="ACTION")
    train = tokenizer_actions.add_parser(
        "train",
        help="byte-level BPE with StarCoder's special tokens",
        description="Train a byte-level BPE tokenizer (digits split, StarCoder's special tokens) by "
        "streaming a curated folder.",
    )
    train.add_argument("curated", metavar="CURATED_DIR")
    train.add_argument("--vocab-size", type=int, default=49152)
    train.add_argument("--min-frequency", type=int, default=2)
    train.add_argument(
        "--max-bytes", type=int, metavar="N", help="train on a sample of N bytes drawn from every file"
    )
    train.add_argument("--out", required=True, metavar="tokenizer.json")
    train.set_defaults(func=cmd_train)

    shards = commands.add_parser("shards", help="tokenized Parquet training shards")
    actions = shards.add_subparsers(dest="shards_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="tokenize a curated folder into shards + manifest.json",
        description="Format (StarCoder metadata tokens), tokenize and write Parquet shards with a manifest.",
    )
    build.add_argument("curated", metavar="CURATED_DIR")
    build.add_argument("--tokenizer", required=True, metavar="tokenizer.json")
    build.add_argument("--out", required=True, metavar="SHARDS_DIR")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--shard-tokens", type=int, default=50_000_000, help="tokens per shard (default 50M)")
    build.set_defaults(func=cmd_build)
    verify = actions.add_parser(
        "verify", help="check shards and their tokenizer against the manifest (every figure it states)"
    )
    verify.add_argument("shards_dir", metavar="SHARDS_DIR")
    verify.add_argument(
        "--tokenizer", metavar="tokenizer.json", help="the tokenizer file (default: the manifest's path)"
    )
    verify.set_defaults(func=cmd_verify)
    from stackcurate.shards.export import add_export_parser

    add_export_parser(actions)
