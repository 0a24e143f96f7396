"""``stackcurate opt-out ...`` (request, list, approve, reject, check, purge) and ``stackcurate serve``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stackcurate.errors import FatalError
from stackcurate.sources.names import printable


def _store(args: argparse.Namespace) -> Any:
    from stackcurate.optout.store import OptOutStore

    return OptOutStore(args.opt_out_dir)


def cmd_request(args: argparse.Namespace) -> int:
    # `is not None`: an empty --owner '' is a bad owner (refused by the store), not a missing one
    kind, target = ("owner", args.owner) if args.owner is not None else ("repo", args.repo)
    filed = _store(args).request(kind, target, args.contact)
    if args.json:
        print(json.dumps(filed.public()))
        return 0
    print(
        f"{filed.id}: {filed.kind} {filed.target} is pending; a maintainer approves it with "
        f"`stackcurate opt-out approve {filed.id}` (or `approve --{filed.kind} {filed.target}`)"
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
    digest = OptOutList.load(args.opt_out_dir).digest
    if args.json:
        print(json.dumps({"decided": [each.public() for each in decided], "opt_out_version": digest}))
        return 0
    for each in decided:
        print(f"{each.id}: {each.kind} {each.target} {each.status}; opt-out list version {digest}")
    contacts = sorted({each.contact for each in decided if each.contact})
    if contacts:
        print(f"tell the requesters: {', '.join(contacts)}")
    if status == "approved":
        print("new runs leave it out; purge runs already written: `stackcurate opt-out purge RUN_DIR`")
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
    from stackcurate.optout.apply import OptOutList
    from stackcurate.optout.purge import purge_run

    opt_out = OptOutList.load(args.opt_out_dir)
    if not len(opt_out):
        raise FatalError(f"no approved requests in {args.opt_out_dir}; nothing to purge")
    from stackcurate.staging import staged_run

    with staged_run(args.run_dir, write=True) as local:  # an s3:// run: purged in a local copy, uploaded
        report = purge_run(local, opt_out)
    if args.json:
        from stackcurate.summary import refresh_after_purge

        print(json.dumps({**report, "reports_regenerated": refresh_after_purge(args.run_dir)}))
        return 0
    for repo, rows in report["by_repo"].items():
        print(f"removed {rows} rows of {printable(repo)}")
    for folder, rows in report["by_folder"].items():
        print(f"  {folder}: {rows} rows")
    if report.get("rerun"):
        print(f"ran again on the purged input: {', '.join(report['rerun'])}")
    if report.get("note"):
        print(f"note: {report['note']}")
    print(
        f"purged {report['rows_removed']} rows from {report['files_changed']} files of {args.run_dir} "
        f"(opt-out list {report['digest']}); verified: none of the approved targets remain"
    )
    from stackcurate.summary import purge_summary

    print(purge_summary(args.run_dir))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from werkzeug.serving import make_server

    from stackcurate.optout.web import create_app

    # Werkzeug's own server without Flask's development-server banner (raw colour codes in a log) and its
    # per-request lines: one line says where the pages are
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(args.host, args.port, create_app(args.run_dir, args.opt_out_dir), threaded=True)
    base = f"http://{args.host}:{server.server_port}"
    print(
        f"serving {args.run_dir} on {base}/ (Ctrl-C to stop): {base}/ am I in the dataset, {base}/attribute, "
        f"{base}/stats",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def add_parsers(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--opt-out-dir", default="opt_out", metavar="DIR", help="the opt-out record (default: opt_out)"
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
