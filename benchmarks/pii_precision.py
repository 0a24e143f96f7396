"""PII precision and NAME recall on real code, from labels decided by reading (``stackcurate.pii``, names on
as in pipelines/starcoder.yaml).

    python benchmarks/pii_precision.py                     # score the committed labels
    python benchmarks/pii_precision.py draw --sample-dir SAMPLE [--per-type 150] [--seed 26]
    python benchmarks/pii_precision.py name-lines --sample-dir SAMPLE [--lines 200] [--seed 26]

Labels (``benchmarks/pii_labels/``):

- ``precision.jsonl``: redactions the detector made on the sample repositories' code, drawn at random
  (``draw``, fixed seed) from the held-out half of the repositories (those whose SHA-1 of the name is odd;
  the other half was used to write the rules), at most ``--per-type`` of each type after identical lines
  are merged; each with the recogniser that fired, the line and the lines around it, and ``label`` (true:
  the span is personal data or a credential; false: it is not) and ``reason``, decided by reading the line.
  What counts as true, per type: EMAIL, a mailbox someone reads (a person's, a project's or a team's; not an
  example, a template, a test recipient, an id shaped like an address, a URL's user); NAME, a person's name
  (not a company, a product or a technical term); KEY and PASSWORD, a credential value, live or not (not a
  placeholder, a value that names itself, a field name); IP_ADDRESS, an address Python's ``ipaddress``
  calls global written as an address (the pipeline's policy, also the calibration suite's: example
  addresses such as ``1.2.3.4`` count as addresses; a version, a section number or a network do not).
- ``npm_js_precision.jsonl`` (score it with ``--labels``): the same labels on JavaScript nobody here wrote:
  2,535 ``.js`` files under 200 KB (a quarter of them, drawn with seed 7) of the 531 packages an ``npm
  install --ignore-scripts`` of 27 popular packages brings (express, lodash, react, webpack, eslint, ...),
  scanned with names on; every EMAIL, IP_ADDRESS and KEY redaction and 60 NAME redactions drawn at random
  (seed 2026), identical lines merged.
- ``npm_rest_precision.jsonl`` (``--labels``): the rest of that ``node_modules`` folder, every file the
  quarter above left out and the ``.ts``, ``.json`` and ``.md`` files too (13,520 files under 200 KB),
  scanned with names on; every IP_ADDRESS, KEY and PASSWORD redaction (99), then 60 NAME and 40 EMAIL
  drawn at random (seed 2026), identical lines merged. Drawn before the fixes it led to (V8's four-number
  versions, a specification's sections, a Markdown link's label, a key derivation's salt, a dependency's
  version, code in a string): ``still made`` shows them gone.
- ``stdlib_perl_precision.jsonl`` (``--labels``): code of this machine that is neither Python packages'
  nor npm's: CPython 3.11's ``Lib/`` (its tests too) and Debian's Perl modules (``/usr/share/perl``,
  ``/usr/share/perl5``, ``/usr/share/lintian``), CMake modules and JavaScript (``/usr/share/javascript``):
  6,379 files of kept languages under 1 MB, 57 MB, scanned with names on; every IP_ADDRESS and PASSWORD
  redaction (214 and 34 after merging identical lines; no KEY was made), then 60 NAME and 40 EMAIL drawn at
  random (seed 2026). Drawn before the fixes it led to (a keyword argument set from a variable, a tuple
  assignment's user, a private attribute's path, a MAC address as a .pgpass line, masks and networks, a
  malformed address's tail, a URL fragment's section, message ids, a format template, POD's ``E<gt>``,
  a repeated-letter domain, a foundation's name). Most of its EMAIL and IP_ADDRESS redactions are the test
  data of the ``email`` and ``ipaddress`` packages.
- ``name_lines.jsonl``: lines of the same half that a person's name may stand on, drawn at random among
  those with an authorship, contact, copyright or sign-off cue (``name-lines``: chosen by the cue, not by
  the detector), each labelled with the person names it holds (``names``; empty when it holds none; a
  handle such as ``matth`` or ``4lDO2`` is no name).

Scoring needs no sample: precision per type is the share of labelled redactions that are true; each labelled
redaction is also looked for again in its stored context, so a detector that no longer makes it shows up
(``still made``), and the true share of those it still makes is the current detector's precision on the
labels (``precision of those``, what the target is checked against). NAME recall is the share of the
labelled names that the current detector redacts on their lines (their stored context). Targets: precision
>= 0.95 for every type, NAME recall >= 0.90.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from stackcurate.pii.recognizers import ENTITIES
from stackcurate.pii.redact import PiiScanner
from stackcurate.rules import load_language_map

LABELS = Path(__file__).resolve().parent / "pii_labels"
PRECISION = LABELS / "precision.jsonl"
NAME_LINES = LABELS / "name_lines.jsonl"
MAX_BYTES = 1_000_000
CONTEXT = 3  # lines kept on each side of a labelled line
TARGET_PRECISION = 0.95
TARGET_NAME_RECALL = 0.90
#: where a person's name may stand (the draw of name lines; independent of the detector's rules)
NAME_CUE = re.compile(
    r"(?i)\b(?:authors?|maintainers?|copyright|\(c\)|contact|credits|contributors?|signed-off-by|"
    r"co-authored-by|written by|created by|thanks to|moduleauthor|@author)\b|<[^<>\s]+@[^<>\s]+>"
)


def held_out(repo: str) -> bool:
    """The half of the sample kept apart from writing the rules (SHA-1 of the name is odd)."""
    return int(hashlib.sha1(repo.encode()).hexdigest(), 16) % 2 == 1


def sample_files(sample_dir: Path) -> list[tuple[str, str, Path]]:
    """(repo, path, file) of every tracked file of a kept language, under 1 MB, in the held-out repos."""
    languages = load_language_map()
    found = []
    for line in (sample_dir / "repos.csv").read_text().splitlines()[1:]:
        folder = Path(line.split(",")[0])
        repo = folder.name
        if not held_out(repo):
            continue
        listing = subprocess.run(
            ["git", "-C", str(folder), "ls-files", "-z"], capture_output=True, check=True
        )
        for raw in sorted(listing.stdout.split(b"\0")):
            path = raw.decode("utf-8", "replace")
            file = folder / path
            if path and languages.detect(path)[0] and file.is_file() and 0 < file.stat().st_size < MAX_BYTES:
                found.append((repo, path, file))
    return found


def read(file: Path) -> str | None:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def around(lines: list[str], number: int) -> tuple[str, int]:
    """The context of line ``number`` (0-based): the text of the lines around it and its index there."""
    first = max(0, number - CONTEXT)
    return "\n".join(lines[first : number + CONTEXT + 1]) + "\n", number - first


def draw(args: argparse.Namespace) -> None:
    scanner = PiiScanner(names=True)
    by_type: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for repo, path, file in sample_files(Path(args.sample_dir)):
        text = read(file)
        if text is None:
            continue
        lines = text.split("\n")
        for span in scanner.scan(text):
            number = text.count("\n", 0, span.start)
            line = lines[number]
            key = (span.text, line.strip())  # identical lines (a header copied into many files) count once
            if key not in by_type[span.type]:
                context, index = around(lines, number)
                by_type[span.type][key] = {
                    "repo": repo, "path": path, "line_no": number + 1, "type": span.type,
                    "recognizer": span.recognizer, "text": span.text, "line": line, "context": context,
                    "context_line": index, "label": None, "reason": None,
                }  # fmt: skip
    old = {record_key(r): r for r in load(PRECISION)} if PRECISION.exists() else {}
    rng = random.Random(args.seed)
    drawn = []
    for entity in ENTITIES:
        candidates = sorted(
            by_type[entity].values(), key=lambda r: (r["repo"], r["path"], r["line_no"], r["text"])
        )
        for record in rng.sample(candidates, min(args.per_type, len(candidates))):
            previous = old.get(record_key(record))
            if previous is not None:  # a label already decided for this very redaction is kept
                record["label"], record["reason"] = previous["label"], previous["reason"]
            drawn.append(record)
    write(PRECISION, drawn)
    print(f"{len(drawn)} redactions drawn to {PRECISION}: {dict(Counter(r['type'] for r in drawn))}")


def name_lines(args: argparse.Namespace) -> None:
    candidates = {}
    for repo, path, file in sample_files(Path(args.sample_dir)):
        text = read(file)
        if text is None:
            continue
        lines = text.split("\n")
        for number, line in enumerate(lines):
            if NAME_CUE.search(line) and line.strip() not in candidates and len(line) < 300:
                context, index = around(lines, number)
                candidates[line.strip()] = {
                    "repo": repo, "path": path, "line_no": number + 1, "line": line, "context": context,
                    "context_line": index, "names": None,
                }  # fmt: skip
    ordered = sorted(candidates.values(), key=lambda r: (r["repo"], r["path"], r["line_no"]))
    drawn = random.Random(args.seed).sample(ordered, min(args.lines, len(ordered)))
    write(NAME_LINES, drawn)
    print(f"{len(drawn)} lines drawn to {NAME_LINES}")


def record_key(record: dict[str, Any]) -> tuple[str, ...]:
    return (record["repo"], record["path"], record["type"], record["text"], record["line"].strip())


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def line_spans(scanner: PiiScanner, record: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, text) of the spans the detector finds on the record's line, scanning its stored context."""
    context = record["context"]
    starts = [0] + [i + 1 for i, c in enumerate(context) if c == "\n"]
    first, last = starts[record["context_line"]], starts[record["context_line"] + 1] - 1
    return [(s.type, s.text) for s in scanner.scan(context) if s.start < last and s.end > first]


def score(args: argparse.Namespace) -> int:
    scanner = PiiScanner(names=True)
    records = load(Path(args.labels))
    unlabelled = [r for r in records if r["label"] is None]
    if unlabelled:
        print(f"{len(unlabelled)} of {len(records)} redactions are not labelled yet", file=sys.stderr)
    failed = 0
    print(f"Precision on {len(records)} labelled redactions of real code ({args.labels}):\n")
    print(
        f"| type | labelled | true | false | precision | still made | precision of those "
        f"| target {TARGET_PRECISION} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for entity in ENTITIES:
        rows = [r for r in records if r["type"] == entity and r["label"] is not None]
        if not rows:
            continue
        true = sum(1 for r in rows if r["label"])
        made = [r for r in rows if (r["type"], r["text"]) in line_spans(scanner, r)]
        precision = true / len(rows)
        # the current detector's precision on these labels: the true share of the redactions it still makes
        now = sum(1 for r in made if r["label"]) / len(made) if made else 1.0
        ok = now >= TARGET_PRECISION
        failed += not ok
        verdict = "ok" if ok else "BELOW"
        false = len(rows) - true
        print(
            f"| {entity} | {len(rows)} | {true} | {false} | {precision:.3f} | {len(made)} | {now:.3f} "
            f"| {verdict} |"
        )
    falses = [r for r in records if r["label"] is False]
    if falses:
        print("\nFalse redactions:")
        for r in falses:
            where = r["line"].strip()[:100]
            print(f"- {r['type']} ({r['recognizer']}) {r['text']!r} in {where!r}: {r['reason']}")
    lines = load(Path(args.name_lines))
    total = found = 0
    missed = []
    for r in lines:
        names = r.get("names") or []
        spans = {text for kind, text in line_spans(scanner, r) if kind == "NAME"}
        for name in names:
            total += 1
            if any(name in span for span in spans):
                found += 1
            else:
                missed.append((name, r["line"].strip()))
    if total:
        recall = found / total
        failed += recall < TARGET_NAME_RECALL
        holding = sum(1 for r in lines if r.get("names"))
        print(
            f"\nNAME recall on {len(lines)} labelled author/contact lines ({holding} hold a name, {total} "
            f"names): {found}/{total} = {recall:.3f} (target {TARGET_NAME_RECALL})"
        )
        for name, line in missed[: args.misses]:
            print(f"- missed {name!r} in {line[:100]!r}")
    return 1 if failed and args.strict else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", default=str(PRECISION))
    parser.add_argument("--name-lines", default=str(NAME_LINES))
    parser.add_argument("--misses", type=int, default=20)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    commands = parser.add_subparsers(dest="command")
    drawing = commands.add_parser("draw", help="draw redactions to label")
    drawing.add_argument("--sample-dir", required=True)
    drawing.add_argument("--per-type", type=int, default=150)
    drawing.add_argument("--seed", type=int, default=26)
    lines = commands.add_parser("name-lines", help="draw author/contact lines to label with their names")
    lines.add_argument("--sample-dir", required=True)
    lines.add_argument("--lines", type=int, default=200)
    lines.add_argument("--seed", type=int, default=26)
    args = parser.parse_args()
    if args.command == "draw":
        draw(args)
    elif args.command == "name-lines":
        name_lines(args)
    else:
        sys.exit(score(args))


if __name__ == "__main__":
    main()
