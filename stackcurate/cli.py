"""The ``stackcurate`` command: one entry point, one subcommand per job.

stackcurate sample-repos OUT_DIR          installed Python distributions -> local git repos + repos.csv
stackcurate run PIPELINE.yaml             run a pipeline (``--dry-run`` prints the resolved config)
stackcurate stats RUN_DIR [--json]        per-stage counts and dataset statistics (--html report, --compare)
stackcurate inspect RUN_DIR --reason R    a sample of the files a reason removed (or ``--kept``)

The convention every subcommand follows: a run directory is the positional ``RUN_DIR``; ``--json`` prints
the results as JSON; every option's help states its default; ``--top N`` sizes a ranked list.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from stackcurate import __version__
from stackcurate.cli_errors import expected_failure
from stackcurate.errors import FatalError
from stackcurate.sources.names import printable


def _stdout_console() -> Console:
    """Tables go to stdout; when it is not a terminal (logs, CI), use a width that keeps columns readable."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def _cmd_sample_repos(args: argparse.Namespace) -> int:
    from stackcurate.sources.sample import make_sample_repos

    console = Console(stderr=True)
    repos = make_sample_repos(Path(args.out_dir), limit=args.limit, include=args.include or None)
    files = sum(repo.files for repo in repos)
    listing = Path(args.out_dir).resolve() / "repos.csv"
    if args.json:
        print(json.dumps({"repos_csv": str(listing), "repos": len(repos), "files": files}))
        return 0
    console.print(f"{len(repos)} sample repositories ({files:,} files) under {Path(args.out_dir).resolve()}")
    print(listing)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from stackcurate.stats.report import collect_report
    from stackcurate.stats.table import compare_tables, report_tables, stages_table

    # the dataset sections need the curated output; without it (an unfinished run) the table and --json
    # still show the stage counts, while --html and --compare say what is missing
    needs_curated = bool(args.html or args.compare)
    # a comparison needs no distributions: only the HTML report and the plain report show them
    distributions = bool(args.html or not args.compare)
    report = collect_report(
        args.run_dir, top_repos=args.top, require_curated=needs_curated, distributions=distributions
    )
    comparison = None
    if args.compare:
        from stackcurate.stats.compare import compare_reports

        try:
            other = collect_report(args.compare, top_repos=args.top, distributions=False)
        except FatalError as error:
            raise FatalError(f"--compare {args.compare}: {error}") from None
        comparison = compare_reports(report, other)
    if args.json:
        print(json.dumps(comparison if comparison is not None else report, indent=2))
    elif comparison is not None:
        _stdout_console().print(compare_tables(comparison))
    else:
        console = _stdout_console()
        console.print(stages_table(report))
        if report["dataset"] is not None:
            console.print(report_tables(report))
        else:
            Console(stderr=True).print(f"note: {args.run_dir} has no curated output: no dataset statistics")
    if not report["complete"]:
        Console(stderr=True).print("note: the run is not complete; counts cover the finished tasks only")
    if args.html:
        from stackcurate.stats.html import write_report_html
        from stackcurate.stats.metadata import record_report

        written = write_report_html(report, args.html, comparison)
        if comparison is None:
            record_report(args.run_dir, written)  # `opt-out purge` regenerates the reports it knows
        Console(stderr=True).print(f"report written to {written}")
    return 0


def _cmd_license_detect(args: argparse.Namespace) -> int:
    from stackcurate.licenses.cli import detect_paths, render_detections
    from stackcurate.licenses.stage import DEFAULT_ENGINES

    engines = args.engine or list(DEFAULT_ENGINES)
    reports = detect_paths(args.paths, engines=engines, memo=not args.no_memo)
    if args.json:
        for report in reports:
            print(json.dumps(report))
    else:
        _stdout_console().print(render_detections(reports))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackcurate",
        description="Turn git repositories into clean, legal, deduplicated training data for code LLMs.",
    )
    parser.add_argument("--version", action="version", version=f"stackcurate {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (anywhere on the line)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample = commands.add_parser(
        "sample-repos",
        help="turn the installed Python distributions into local git repositories (offline sample input)",
        description="Make one git repository per installed Python distribution (its files and license files) "
        "under OUT_DIR/pypi/ and write OUT_DIR/repos.csv. Prints the path of repos.csv.",
    )
    sample.add_argument("out_dir", metavar="OUT_DIR")
    sample.add_argument(
        "--limit", type=int, default=None, help="keep the first N distributions by name (default: all)"
    )
    sample.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help="only distributions matching GLOB, repeatable (default: every one)",
    )
    sample.add_argument(
        "--json", action="store_true", help='print {"repos_csv", "repos", "files"} instead of the path'
    )
    sample.set_defaults(func=_cmd_sample_repos)

    from stackcurate.cli_run import add_parser as add_run_parser

    add_run_parser(commands)

    license = commands.add_parser("license", help="license detection tools")
    license_commands = license.add_subparsers(dest="license_command", required=True, metavar="COMMAND")
    detect = license_commands.add_parser(
        "detect",
        help="detect the license of local repositories",
        description="Detect the license of each repository PATH (a git repository: its HEAD tree is read; "
        "or a plain folder) the way the pipeline does: license files, SPDX headers, manifests, decided per "
        "directory. --json prints one object per repository: repo, license, license_class, evidence, "
        "directories.",
    )
    detect.add_argument("paths", metavar="PATH", nargs="+")
    detect.add_argument("--json", action="store_true", help="one JSON object per repository")
    detect.add_argument(
        "--engine",
        action="append",
        choices=["spdx-match", "licensecheck", "titles", "scancode"],
        help="detector, repeat for fallbacks (default: spdx-match, licensecheck, titles)",
    )
    detect.add_argument(
        "--no-memo",
        action="store_true",
        help="do not read or write the detector memo (default: use ~/.cache/stackcurate/license-memo.sqlite)",
    )
    detect.set_defaults(func=_cmd_license_detect)

    stats = commands.add_parser(
        "stats",
        help="per-stage counts and dataset statistics of a run; HTML report with charts; compare two runs",
        description="Files and bytes in and out of every stage of a run, removals by reason, time per stage; "
        "then what the curated output holds: files, bytes and tokens per language, repositories, files and "
        "bytes per license, the removal waterfall, near-duplicate cluster sizes, PII replaced by type, file "
        "size and line length distributions, the top repositories by kept bytes.",
    )
    stats.add_argument("run_dir", metavar="RUN_DIR")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML report with charts (opens offline: no scripts, no links; "
        "default: none)",
    )
    stats.add_argument(
        "--compare",
        metavar="RUN_B",
        help="compare with run RUN_B: counts of both and the change (RUN_B - RUN_DIR) per language, "
        "license and removal reason (default: none)",
    )
    stats.add_argument(
        "--top", type=int, default=20, metavar="N", help="repositories in the top list (default: 20)"
    )
    stats.set_defaults(func=_cmd_stats)

    from stackcurate.pii.cli import add_parser as add_pii_parser

    add_pii_parser(commands)

    from stackcurate.optout.cli import add_parsers as add_opt_out_parsers

    add_opt_out_parsers(commands)

    from stackcurate.shards.cli import add_parsers as add_shards_parsers

    add_shards_parsers(commands)

    from stackcurate.attribution.cli import add_parsers as add_attribution_parsers

    add_attribution_parsers(commands)

    from stackcurate.clean import add_parser as add_clean_parser

    add_clean_parser(commands)

    from stackcurate.inspection import add_parser as add_inspect_parser

    add_inspect_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, before or after the command
    args = parser.parse_args([arg for arg in argv if arg != "--debug"])
    args.command_line = ["stackcurate", *argv]  # what `run` records in its summary
    try:
        return int(args.func(args))
    except Exception as error:
        message = expected_failure(error)
        if message is None or debug:
            raise  # a bug (or --debug): the traceback is what a report needs
        print(f"stackcurate: error: {printable(message, keep_newlines=True)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stackcurate: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The ``stackcurate`` command (and ``python -m stackcurate.cli``): ``main``, then the process exits.
    What the command made is frozen first (``gc.freeze``): the interpreter's shutdown would otherwise walk
    every object of the process in its last garbage collections, for nothing a finished command needs (about
    0.5 s after a purge, which holds presidio's recognisers and the tables it read). Handlers registered with
    ``atexit`` run as before, and objects freed by their reference counts are freed as before."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
