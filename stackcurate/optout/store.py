"""The opt-out record: an append-only JSONL log of requests and decisions, and the approved list derived
from it, kept in a folder versioned with the pipeline (``opt_out/`` by default).

``requests.jsonl`` holds one JSON object per event. A request is filed as ``{"id", "created", "kind"
("owner" or "repo"), "target", "contact", "status": "pending"}``; a decision appends the same ``id`` with
``status`` ``approved`` or ``rejected``, ``decided`` and (for a rejection) ``reason``. A request's state is
its last line. Nothing is ever rewritten, so the file's history (and git's) is the audit trail.

The record is private by design. ``requests.jsonl`` is readable by its owner only (0600). Request ids
are unguessable (``req-`` and 128 random bits, ``secrets.token_urlsafe``), so nobody can walk the log
through the web page; logs written before that (ids ``req-000001``...) are read as they are, on the
command line (the web pages do not resolve those ids). Contacts leave the record only through the command
line (``opt-out list``): ``Request.public()`` is what pages show. Several people may ask for the same
target (the real owner after a stranger, say): each request is recorded, and a decision applies to every
pending request for that target, so every requester's page shows the outcome and ``opt-out approve``
prints every contact to tell. The same contact asking again for a pending target gets its pending request
back, answered as a new one would be: the form is no oracle for who asked.
``approved.txt`` (one ``owner`` or ``owner/name`` per line, lower case, sorted) is regenerated from the log
after every decision; its sha256 is the list's version, which every run records.

Writers take an exclusive ``flock`` on ``requests.jsonl.lock`` for the read-check-append cycle, so two
processes filing requests at once neither lose a line nor interleave bytes, and a repeat from the same
contact is caught.
Targets follow GitHub's naming rules (owner: 1-39 letters, digits or single hyphens, not at either end;
repository: 1-100 letters, digits, ``.``, ``_``, ``-``, not ``.`` or ``..``) and match case-insensitively.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from stackcurate.errors import FatalError

OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
EMAIL = re.compile(r"[^@\s<>\"']{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
Kind = Literal["owner", "repo"]


class OptOutError(FatalError):
    """A request or decision that cannot be accepted (the message says why)."""


def normalize_target(kind: str, target: str) -> str:
    """The canonical (lower-case) form of a target; ``OptOutError`` naming the rule it breaks."""
    target = target.strip()
    if kind == "owner":
        if not OWNER.fullmatch(target):
            raise OptOutError(
                f"invalid owner {target!r}: 1-39 letters, digits or single hyphens, not starting or ending "
                "with a hyphen"
            )
        return target.lower()
    if kind == "repo":
        owner, slash, name = target.partition("/")
        if not slash or not OWNER.fullmatch(owner) or not REPO_NAME.fullmatch(name) or name in (".", ".."):
            raise OptOutError(
                f"invalid repository {target!r}: expected OWNER/NAME, OWNER as for --owner and NAME of "
                "1-100 letters, digits, '.', '_' or '-'"
            )
        return f"{owner.lower()}/{name.lower()}"
    raise OptOutError(f"invalid kind {kind!r}: 'owner' or 'repo'")


@dataclass(frozen=True)
class Request:
    """A request's current state (its last line in the log)."""

    id: str
    created: str
    kind: str
    target: str
    contact: str | None
    status: str
    decided: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field that is set, contact included: for the command line and the log only."""
        return {key: value for key, value in self.__dict__.items() if value is not None}

    def public(self) -> dict[str, str]:
        """What anyone may see: kind, target and status (never the contact, nor when it was filed)."""
        return {"id": self.id, "kind": self.kind, "target": self.target, "status": self.status}


def new_request_id() -> str:
    """An unguessable request id: ``req-`` and 22 URL-safe characters (128 random bits)."""
    return "req-" + secrets.token_urlsafe(16)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class OptOutStore:
    """The record in ``folder``: ``requests.jsonl`` (append-only) and ``approved.txt`` (derived)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.log = self.folder / "requests.jsonl"
        self.approved_file = self.folder / "approved.txt"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "requests.jsonl.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _events(self) -> Iterator[dict[str, Any]]:
        if not self.log.exists():
            return
        with self.log.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError as error:
                    raise FatalError(
                        f"{self.log}:{number} is not JSON ({error}); fix the log by hand"
                    ) from None
                if not isinstance(event, dict) or "id" not in event or "status" not in event:
                    raise FatalError(f"{self.log}:{number} is not a request event: {line.strip()[:200]}")
                yield event

    def requests(self) -> dict[str, Request]:
        """Every request's current state, by id, in filing order."""
        state: dict[str, dict[str, Any]] = {}
        for event in self._events():
            state[event["id"]] = {**state.get(event["id"], {}), **event}
        fields = set(Request.__dataclass_fields__)
        values: dict[str, dict[str, Any]] = {
            key: {k: value.get(k) for k in fields} for key, value in state.items()
        }
        return {key: Request(**value) for key, value in values.items()}

    def _append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        # 0600: the log holds every requester's contact (a log made readable before is made private)
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def request(self, kind: str, target: str, contact: str | None = None) -> Request:
        """File a pending request and return it. Raises ``OptOutError`` for a malformed target or contact,
        or when the target is already approved (or covered by an approved owner): facts about the target,
        which its public page shows anyway. When the same contact already has a pending request for the
        target, that request is returned and nothing is appended: the answer is the same as for a new
        request, so nobody learns from it whether an address asked before. A request for a target someone
        else asked for is recorded: the decision covers both. No message names another request's contact."""
        canonical = normalize_target(kind, target)
        if contact is not None:
            contact = contact.strip() or None
        if contact is not None and (len(contact) > 254 or not EMAIL.fullmatch(contact)):
            raise OptOutError("invalid contact: an email address such as name@example.org")
        with self._locked():
            for other in self.requests().values():
                same = (other.kind, other.target) == (kind, canonical)
                if same and other.status == "approved":
                    raise OptOutError(f"{kind} {canonical} is already opted out (approved)")
                covering = other.kind == "owner" and other.status == "approved"
                if kind == "repo" and covering and canonical.split("/")[0] == other.target:
                    raise OptOutError(f"{canonical} is already opted out: owner {other.target} is approved")
            for other in self.requests().values():
                same = (other.kind, other.target) == (kind, canonical)
                if same and other.status == "pending" and contact is not None and other.contact == contact:
                    return other
            request = Request(new_request_id(), _now(), kind, canonical, contact, "pending")
            self._append(request.to_dict())
        return request

    def pending_for(self, kind: str, target: str) -> list[Request]:
        """The pending requests for one target (canonical form), in filing order."""
        canonical = normalize_target(kind, target)
        return [
            r
            for r in self.requests().values()
            if (r.kind, r.target) == (kind, canonical) and r.status == "pending"
        ]

    def decide(
        self, request_id: str, status: Literal["approved", "rejected"], reason: str | None = None
    ) -> list[Request]:
        """Approve or reject a pending request and every other pending request for the same target (each
        gets its own decision line, so each requester sees the outcome); regenerates ``approved.txt``.
        Returns the decided requests, ``request_id``'s first."""
        if status == "rejected" and not (reason or "").strip():
            raise OptOutError("a rejection needs a reason (--reason)")
        with self._locked():
            known = self.requests()
            current = known.get(request_id)
            if current is None:
                raise OptOutError(f"no request {request_id!r}; see `stackcurate opt-out list`")
            if current.status != "pending":
                raise OptOutError(f"request {request_id} is already {current.status}")
            same = [
                r.id
                for r in known.values()
                if (r.kind, r.target) == (current.kind, current.target) and r.status == "pending"
            ]
            ids = [request_id, *(other for other in same if other != request_id)]
            decided = _now()
            for each in ids:
                event: dict[str, Any] = {"id": each, "status": status, "decided": decided}
                if reason:
                    event["reason"] = reason.strip()
                self._append(event)
            self._write_approved()
        after = self.requests()
        return [after[each] for each in ids]

    def approved(self) -> list[tuple[str, str]]:
        """``(kind, target)`` of every approved request, sorted."""
        return sorted({(r.kind, r.target) for r in self.requests().values() if r.status == "approved"})

    def _write_approved(self) -> None:
        lines = "".join(f"{target}\n" for _, target in self.approved())
        tmp = self.approved_file.with_suffix(".txt.tmp")
        tmp.write_text(lines, encoding="utf-8")
        tmp.replace(self.approved_file)


def list_digest(entries: list[tuple[str, str]]) -> str:
    """The version of an approved list: sha256 of its sorted ``kind target`` lines (16 hex digits)."""
    text = "".join(f"{kind} {target}\n" for kind, target in sorted(entries))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
