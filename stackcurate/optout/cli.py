"""``stackcurate opt-out ...`` (request, list, approve, reject, check, purge) and ``stackcurate serve``."""

from __future__ import annotations

import argparse
import json
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
    for each in decided:
        print(f"{each.id}: {each.kind} {each.target} {each.status}; opt-out list version {digest}")
    contacts = sorted({each.contact for each in decided if each.contact})
    if contacts:
        print(f"tell the requesters: {', '.join(contacts)}")
    if status == "approved":
        print("new runs leave it out; purge runs already written: `stackcurate opt-out purge RUN_DIR`")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from stackcurate.optout.purge import owner_files
    from stackcurate.optout.store import normalize_target

    owner = normalize_target("owner", args.name)
    repos = owner_files(args.run, owner)
    if args.json:
        print(json.dumps({"owner": owner, "repos": [{"repo": r, "files": n} for r, n in repos]}))
        return 0
    for repo, files in repos:
        print(f"{printable(repo)}\t{files} files")
    print(f"{owner}: {len(repos)} repositories, {sum(n for _, n in repos)} files in {args.run}/curated")
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
        print(json.dumps(report))
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
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from stackcurate.optout.web import serve

    serve(args.run_dir, args.opt_out_dir, args.host, args.port)
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
    target.add_argument("--owner", metavar="NAME", help="every repository of a user or organisation")
    target.add_argument("--repo", metavar="OWNER/NAME", help="one repository")
    request.add_argument("--contact", metavar="EMAIL", help="where to tell the requester")
    request.set_defaults(func=cmd_request)
    listing = actions.add_parser("list", parents=[common], help="list requests")
    listing.add_argument("--status", choices=["pending", "approved", "rejected"])
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)
    decide = argparse.ArgumentParser(add_help=False)
    decide.add_argument("request_id", metavar="ID", nargs="?", help="a request id (from `list`)")
    by_target = decide.add_mutually_exclusive_group()
    by_target.add_argument("--owner", metavar="NAME", help="the pending requests for this owner")
    by_target.add_argument("--repo", metavar="OWNER/NAME", help="the pending requests for this repository")
    approve = actions.add_parser(
        "approve", parents=[common, decide], help="approve a pending request (and its target's others)"
    )
    approve.set_defaults(func=cmd_decide)
    reject = actions.add_parser(
        "reject", parents=[common, decide], help="reject a pending request (and its target's others)"
    )
    reject.add_argument("--reason", required=True)
    reject.set_defaults(func=cmd_decide)
    check = actions.add_parser("check", parents=[common], help="an owner's repositories and files in a run")
    check.add_argument("name", metavar="NAME")
    check.add_argument("--run", required=True, metavar="RUN_DIR")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)
    purge = actions.add_parser(
        "purge", parents=[common], help="remove approved targets from a finished run, then verify"
    )
    purge.add_argument("run_dir", metavar="RUN_DIR")
    purge.add_argument("--json", action="store_true")
    purge.set_defaults(func=cmd_purge)

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help='"Am I in the dataset?" web page and opt-out form for a run',
        description="A local web app: search an owner in RUN_DIR's curated output, file an opt-out request.",
    )
    serve.add_argument("run_dir", metavar="RUN_DIR")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)
