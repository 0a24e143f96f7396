"""``stackcurate pii scan FILE... [--json]`` and ``stackcurate pii redact FILE``: the PII stage's scanner
and redactor on local files, for checking what the pipeline would do to them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stackcurate.errors import FatalError


def _read(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise FatalError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FatalError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None


def _scanner(args: argparse.Namespace) -> Any:
    from stackcurate.pii.redact import PiiScanner

    return PiiScanner(names=args.names, keep_public_ips_only=not args.all_ips)


def cmd_scan(args: argparse.Namespace) -> int:
    scanner = _scanner(args)
    found = 0
    for path in args.files:
        spans = scanner.scan(_read(path))
        found += len(spans)
        if args.json:
            print(json.dumps({"path": path, "spans": [span.to_dict() for span in spans]}))
        else:
            for span in spans:
                print(f"{path}:{span.start}-{span.end}\t{span.type}\t{span.text!r}\t({span.recognizer})")
    if not args.json:
        print(f"{found} spans in {len(args.files)} files", file=sys.stderr)
    return 0


def cmd_redact(args: argparse.Namespace) -> int:
    from stackcurate.pii.redact import redact

    text = _read(args.file)
    redacted, counts = redact(text, _scanner(args).scan(text))
    sys.stdout.write(redacted)
    summary = ", ".join(f"{entity} {count}" for entity, count in counts.items() if count) or "nothing"
    print(f"redacted: {summary}", file=sys.stderr)
    return 0


def add_parser(commands: Any) -> None:
    pii = commands.add_parser(
        "pii",
        help="PII scan and redaction of local files",
        description="What the pipeline's PII stage finds (scan) and writes (redact) for local files.",
    )
    actions = pii.add_subparsers(dest="pii_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--names", action="store_true", help="also NAME (person names)")
    common.add_argument(
        "--all-ips", action="store_true", help="also private, loopback and popular DNS addresses"
    )
    scan = actions.add_parser(
        "scan", parents=[common], help="print PII spans", description="Print the PII spans of each file."
    )
    scan.add_argument("files", metavar="FILE", nargs="+")
    scan.add_argument(
        "--json", action="store_true", help='one {"path", "spans": [{type, start, end, text}]} per file'
    )
    scan.set_defaults(func=cmd_scan)
    redact = actions.add_parser(
        "redact", parents=[common], help="print the redacted text", description="Print FILE redacted."
    )
    redact.add_argument("file", metavar="FILE")
    redact.set_defaults(func=cmd_redact)
