"""``stackcurate opt-out ...`` (request, list, approve, reject, check, purge) and ``stackcurate serve``.

Where the opt-out record is: ``--opt-out-dir`` when given; else, for a command about a run (``purge``,
``serve``), the folder the run recorded (``run.json``'s ``opt_out_dir``, absolute) or, for a run made before
that was recorded, its pipeline's ``stages.opt_out.folder``; else the field's default (``opt_out`` in the
current folder). The next steps a command prints repeat the ``--opt-out-dir`` it was given.
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any

from stackcurate.errors import FatalError
from stackcurate.sources.names import printable

if TYPE_CHECKING:
    from stackcurate.manifest import PurgeRecord

# the config, the ledger and the purge are imported where used: this module adds its commands to every
# `stackcurate` invocation's parser


def record_folder(args: argparse.Namespace, run_dir: str | None = None) -> str:
    """The opt-out record a command uses (see the module docstring)."""
    from stackcurate.config import OptOutStage
    from stackcurate.manifest import RunManifest

    if args.opt_out_dir:
        return str(args.opt_out_dir)
    manifest = RunManifest.load(run_dir) if run_dir else None
    if manifest is not None:
        if manifest.opt_out_dir:
            return manifest.opt_out_dir
        stage = manifest.pipeline_config().stages.opt_out
        if stage is not None:
            return stage.folder
    return str(OptOutStage.model_fields["folder"].default)


def _flag(args: argparse.Namespace) -> str:
    """``--opt-out-dir DIR`` as given, to repeat in the commands printed next (empty when not given)."""
    return f" --opt-out-dir {shlex.quote(str(args.opt_out_dir))}" if args.opt_out_dir else ""


def _store(args: argparse.Namespace) -> Any:
    from stackcurate.optout.store import OptOutStore

    return OptOutStore(record_folder(args))


def cmd_request(args: argparse.Namespace) -> int:
    # `is not None`: an empty --owner '' is a bad owner (refused by the store), not a missing one
    kind, target = ("owner", args.owner) if args.owner is not None else ("repo", args.repo)
    filed = _store(args).request(kind, target, args.contact)
    if args.json:
        print(json.dumps(filed.public()))
        return 0
    print(
        f"{filed.id}: {filed.kind} {filed.target} is pending; a maintainer approves it with "
        f"`stackcurate opt-out approve {filed.id}{_flag(args)}` "
        f"(or `approve --{filed.kind} {filed.target}{_flag(args)}`)"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    requests = [r for r in _store(args).requests().values() if args.status in (None, r.status)]
    if args.json:
        for filed in requests:
            print(json.dumps(filed.to_dict()))
        return 0
    for filed in requests:
        note = f"  ({filed.reason})" if filed.reason else ""
        contact = filed.contact or "-"  # contacts are shown here, to maintainers, and never on the web
        head = f"{filed.id}  {filed.status:<8}  {filed.kind:<5}  {filed.target}"
        print(f"{head}  {contact}  {filed.created}{note}")
    if not requests:
        print("no requests" + (f" with status {args.status}" if args.status else ""))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from stackcurate.optout.apply import OptOutList

    status = "approved" if args.opt_out_command == "approve" else "rejected"
    store = _store(args)
    request_id = args.request_id
    if args.owner or args.repo:
        if request_id:
            raise FatalError("give a request ID or --owner/--repo, not both")
        kind, target = ("owner", args.owner) if args.owner else ("repo", args.repo)
        pending = store.pending_for(kind, target)
        if not pending:
            raise FatalError(f"no pending request for {kind} {target}; see `stackcurate opt-out list`")
        request_id = pending[0].id
    elif not request_id:
        raise FatalError("give a request ID, or --owner NAME / --repo OWNER/NAME")
    decided = store.decide(request_id, status, getattr(args, "reason", None))
    digest = OptOutList.load(store.folder).digest
    if args.json:
        print(json.dumps({"decided": [each.public() for each in decided], "opt_out_version": digest}))
        return 0
    for each in decided:
        print(f"{each.id}: {each.kind} {each.target} {each.status}; opt-out list version {digest}")
    contacts = sorted({each.contact for each in decided if each.contact})
    if contacts:
        print(f"tell the requesters: {', '.join(contacts)}")
    if status == "approved":
        command = f"stackcurate opt-out purge RUN_DIR{_flag(args)}"
        print(f"new runs leave it out; purge runs already written: `{command}`")
    return 0


def _check_args(args: argparse.Namespace) -> tuple[str, str]:
    """``check RUN_DIR NAME`` (the convention), or the older ``check NAME --run RUN_DIR``."""
    given = list(args.positional)
    if args.run is not None:
        print(
            "note: --run is deprecated: give the run first, `stackcurate opt-out check RUN_DIR NAME`",
            file=sys.stderr,
        )
        if len(given) != 1:
            raise FatalError("with --run RUN_DIR give one NAME (an owner, or OWNER/NAME)")
        return args.run, given[0]
    if len(given) != 2:
        raise FatalError(
            "give the run and the target: stackcurate opt-out check RUN_DIR OWNER (or OWNER/NAME)"
        )
    return given[0], given[1]


def cmd_check(args: argparse.Namespace) -> int:
    from stackcurate.optout.purge import owner_files
    from stackcurate.optout.store import normalize_target

    run, name = _check_args(args)
    kind = "repo" if "/" in name else "owner"  # the same targets `opt-out request` takes
    target = normalize_target(kind, name)
    repos = owner_files(run, target.split("/", 1)[0])
    if kind == "repo":
        repos = [(repo, files) for repo, files in repos if repo.lower() == target]
    if args.json:
        print(json.dumps({kind: target, "repos": [{"repo": r, "files": n} for r, n in repos]}))
        return 0
    for repo, files in repos:
        print(f"{printable(repo)}\t{files} files")
    files = sum(n for _, n in repos)
    if kind == "repo":
        state = f"in {run}/curated with {files} files" if repos else f"not in {run}/curated"
        print(f"{target}: {state}")
    else:
        print(f"{target}: {len(repos)} repositories, {files} files in {run}/curated")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from rich.console import Console

    from stackcurate import identity
    from stackcurate.manifest import RunManifest
    from stackcurate.optout.apply import OptOutList
    from stackcurate.optout.purge import PurgeSettings, purge_run
    from stackcurate.optout.refresh import refresh_after_purge
    from stackcurate.summary import purge_summary
    from stackcurate.summary import refresh_after_purge as refresh_reports

    started = time.monotonic()
    folder = record_folder(args, args.run_dir)
    opt_out = OptOutList.load(folder)
    if not len(opt_out):
        raise FatalError(f"no approved requests in {folder}; nothing to purge")
    manifest = RunManifest.require(args.run_dir)
    manifest.require_finished("purge")
    cfg = manifest.pipeline_config()
    # the promoted files are redacted with the run's rules: a changed rules file (or input) is refused
    identity.check_inputs(cfg, manifest, purge=True)
    console = Console(stderr=True)
    progress = (lambda line: None) if args.json else (lambda line: console.print(f"purge: {line}"))
    # the objects made so far (modules, the config) outlive the purge: its many small tables and rows would
    # otherwise have every cycle collection walk them again (about 0.5 s of a purge)
    gc.freeze()
    try:
        record = purge_run(manifest, opt_out, PurgeSettings.of(cfg), progress)
    finally:
        gc.unfreeze()  # collectable again, for a caller that goes on (main() called in a process that stays)
    refreshed = refresh_after_purge(args.run_dir)  # the index; a report the run summary did not record
    reports = [made for made in refreshed if made != "index"] + refresh_reports(args.run_dir)
    seconds = time.monotonic() - started
    if args.json:
        made_again = {
            "refreshed": ["index"] * ("index" in refreshed) + reports,
            "reports_regenerated": reports,
        }
        print(json.dumps({**record.model_dump(mode="json", exclude_none=True), **made_again}))
        return 0
    print(summary(args.run_dir, folder, record, refreshed, seconds))
    print(purge_summary(args.run_dir, reports))
    return 0


def summary(run_dir: str, folder: str, record: PurgeRecord, refreshed: list[str], seconds: float) -> str:
    """What a purge did, one count per place."""
    lines = [f"purged {run_dir} with the opt-out list {record.digest} of {folder} ({seconds:.1f}s):"]
    width = max([len(place) for place in record.removed] + [8])
    for place, rows in record.removed.items():
        note = ""
        if place == "curated" and record.promoted:
            note = f", {record.promoted} promoted in their place (the next copy of their duplicate group)"
        if place == "shards" and record.shards:
            note = f", {record.shards['added']} added ({record.shards['rewritten']} shards rewritten)"
        lines.append(f"  {place:<{width}}  {rows:>7,} rows removed{note}")
    if record.promoted and "curated" not in record.removed:
        lines.append(f"  {'curated':<{width}}  {record.promoted:>7,} files promoted")
    if record.regrouped:
        decided = ", ".join(f"{what} {files:,} files" for what, files in record.regrouped.items())
        lines.append(f"  decided again: {decided}")
    if "index" in refreshed:  # the reports are listed by purge_summary
        lines.append("  made again: the attribution index")
    if record.note:
        lines.append(f"note: {record.note}")
    lines.append("verified: no row of an approved target remains")
    return "\n".join(lines)


def cmd_serve(args: argparse.Namespace) -> int:
    from stackcurate.optout.web import serve

    serve(args.run_dir, record_folder(args, args.run_dir), args.host, args.port)
    return 0


def add_parsers(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--opt-out-dir",
        metavar="DIR",
        help="the opt-out record (default: the one the run recorded, for a command about a run; else the "
        "default of the pipelines' stages.opt_out.folder, in the current folder)",
    )
    opt_out = commands.add_parser(
        "opt-out",
        help="opt-out requests, approval, membership check, purge",
        description="File, list and decide opt-out requests; check and purge runs.",
    )
    actions = opt_out.add_subparsers(dest="opt_out_command", required=True, metavar="ACTION")
    request = actions.add_parser("request", parents=[common], help="file a pending request")
    target = request.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--owner",
        metavar="NAME",
        help="every repository of a user or organisation (--owner or --repo: required)",
    )
    target.add_argument("--repo", metavar="OWNER/NAME", help="one repository (--owner or --repo: required)")
    request.add_argument(
        "--contact",
        metavar="EMAIL",
        help="where to tell the requester (default: none; never shown on the web)",
    )
    request.add_argument("--json", action="store_true", help="the filed request (id, kind, target, status)")
    request.set_defaults(func=cmd_request)
    listing = actions.add_parser("list", parents=[common], help="list requests")
    listing.add_argument(
        "--status",
        choices=["pending", "approved", "rejected"],
        help="only requests with this status (default: all)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per request")
    listing.set_defaults(func=cmd_list)
    decide = argparse.ArgumentParser(add_help=False)
    decide.add_argument("request_id", metavar="ID", nargs="?", help="a request id (from `list`)")
    by_target = decide.add_mutually_exclusive_group()
    by_target.add_argument(
        "--owner", metavar="NAME", help="the pending requests for this owner (default: the request ID given)"
    )
    by_target.add_argument(
        "--repo",
        metavar="OWNER/NAME",
        help="the pending requests for this repository (default: the request ID given)",
    )
    decide.add_argument("--json", action="store_true", help="the decided requests and the list's new version")
    approve = actions.add_parser(
        "approve", parents=[common, decide], help="approve a pending request (and its target's others)"
    )
    approve.set_defaults(func=cmd_decide)
    reject = actions.add_parser(
        "reject", parents=[common, decide], help="reject a pending request (and its target's others)"
    )
    reject.add_argument("--reason", required=True, help="why, recorded with the decision (required)")
    reject.set_defaults(func=cmd_decide)
    check = actions.add_parser(
        "check",
        parents=[common],
        help="an owner's repositories (or one repository) and their files in a run",
        usage="stackcurate opt-out check [-h] [--opt-out-dir DIR] [--json] RUN_DIR NAME",
    )
    check.add_argument(
        "positional", metavar="RUN_DIR NAME", nargs="+", help="the run, then an owner or OWNER/NAME"
    )
    check.add_argument("--run", help=argparse.SUPPRESS)  # deprecated: the run was an option
    check.add_argument("--json", action="store_true", help='{"owner" or "repo", "repos": [{repo, files}]}')
    check.set_defaults(func=cmd_check)
    purge = actions.add_parser(
        "purge", parents=[common], help="remove approved targets from a finished run, then verify"
    )
    purge.add_argument("run_dir", metavar="RUN_DIR")
    purge.add_argument(
        "--json", action="store_true", help="what was removed, per repository and folder, as one JSON object"
    )
    purge.set_defaults(func=cmd_purge)

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help='"Am I in the dataset?" web page and opt-out form for a run',
        description="A local web app: search an owner in RUN_DIR's curated output, file an opt-out request.",
    )
    serve.add_argument("run_dir", metavar="RUN_DIR")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port, 0 for any free one (default: 8000)")
    serve.set_defaults(func=cmd_serve)
