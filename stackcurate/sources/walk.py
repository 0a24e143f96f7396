"""Walk a cloned repository's HEAD tree and turn its blobs into file records.

The walk reads the commit's tree (``git ls-tree -r -l -z``) and the blobs (``git cat-file --batch`` behind
GitPython's object database); it never touches a working tree. Consequences: symlinks are tree entries of
mode 120000 and are skipped without ever being resolved, submodules (gitlinks) are skipped, and ``.git``
internals are never part of a tree (an entry named ``.git`` in a crafted tree is refused all the same).

Skip reasons (counted by the clone stage as ``skipped_<reason>``): ``symlink``, ``submodule``,
``git_internal``, ``bad_path`` (path not valid UTF-8), ``unsafe_path`` (a ``.``/``..``/empty component or
a character that does not print as itself, see ``stackcurate.sources.names``), ``binary`` (binary
extension or magic bytes), ``too_large`` (>= ``max_file_bytes``), ``nul_bytes``, ``not_utf8`` (but
license and notice files are decoded as Windows-1252: ``decode_content``), ``empty``, ``unreadable`` (a
blob git cannot give back).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import git
from loguru import logger

from stackcurate.errors import ItemError
from stackcurate.rules import FileRules, LanguageMap
from stackcurate.sources.names import path_problem, printable

SYMLINK_MODE = "120000"
GITLINK_TYPE = "commit"


@dataclass(frozen=True)
class TreeEntry:
    """One entry of ``git ls-tree -r -l``: mode, object type, blob sha1, size in bytes (None for gitlinks)."""

    mode: str
    kind: str
    sha: str
    size: int | None
    path: str


@dataclass(frozen=True)
class WalkedFile:
    """A file that passed every walk check; ``content`` is its decoded text (UTF-8, or Windows-1252 for the
    license and notice files ``FileRules.legacy_encoding`` names: ``encoding``)."""

    sha: str
    path: str
    language: str | None
    extension: str
    size_bytes: int
    content: str
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Skipped:
    """A tree entry that was not turned into a record, and why."""

    path: str
    reason: str
    size_bytes: int


@dataclass(frozen=True)
class RepoLimits:
    """Per-repository bounds checked from the tree listing before any file is read (``stages.clone``).

    ``max_entries``: tree entries (files, symlinks, submodules); ``max_bytes``: blob bytes summed as git
    records them. A repository over either is skipped whole (``TooBig``), never cut part-way."""

    max_entries: int = 500_000
    max_bytes: int = 4_000_000_000


class TooBig(ItemError):
    """A repository over one of its ``RepoLimits``; ``reason`` is ``too_many_files`` or ``too_many_bytes``."""


class TreeUnreadable(ItemError):
    """``git ls-tree`` failed or printed something that is not a tree listing."""

    def __init__(self, message: str):
        super().__init__("tree_unreadable", message)


def _parse_record(record: bytes) -> TreeEntry | Skipped:
    meta, tab, raw_path = record.partition(b"\t")
    fields = meta.split()
    if not tab or len(fields) != 4:
        raise TreeUnreadable(f"unexpected ls-tree record {record[:200]!r}")
    mode, kind, sha, size = (field.decode("ascii", "replace") for field in fields)
    try:
        path = raw_path.decode("utf-8")
    except UnicodeDecodeError:
        return Skipped(raw_path.decode("utf-8", "replace"), "bad_path", 0)
    if size != "-" and not size.isdigit():
        raise TreeUnreadable(f"unexpected size {size!r} in ls-tree record for {printable(path)}")
    return TreeEntry(mode, kind, sha, None if size == "-" else int(size), path)


def list_tree(repo: git.Repo, treeish: str = "HEAD") -> Iterator[TreeEntry | Skipped]:
    """Entries of the whole tree at ``treeish``, streamed from ``git ls-tree -r -l -z`` 64 KiB at a time (a
    tree of millions of entries is never held whole); paths that are not UTF-8 come out as ``Skipped``.

    Raises ``TreeUnreadable`` when git fails. Closing the iterator early stops git."""
    command = ["git", "--git-dir", str(repo.git_dir), "ls-tree", "-r", "-l", "-z", "--full-tree", treeish]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"},
    )
    assert process.stdout is not None and process.stderr is not None
    finished = False
    try:
        pending = b""
        while chunk := process.stdout.read(1 << 16):
            records = (pending + chunk).split(b"\0")
            pending = records.pop()
            for record in records:
                if record:
                    yield _parse_record(record)
        if pending:
            yield _parse_record(pending)
        finished = True
    finally:
        if not finished:
            process.kill()
        stderr = process.stderr.read().decode("utf-8", "replace").strip()
        process.stdout.close()
        process.stderr.close()
        code = process.wait()
    if code != 0:
        raise TreeUnreadable(f"git ls-tree {treeish} failed (exit {code}): {printable(stderr[-300:])}")


def check_limits(repo: git.Repo, limits: RepoLimits, deadline: float | None = None) -> tuple[int, int]:
    """Count the tree's entries and bytes, streaming; ``(entries, bytes)`` or ``TooBig`` as soon as one
    limit is passed (git is stopped there, so a tree of 10^6 entries costs no more than the limit).
    ``deadline``: a ``time.monotonic()`` value after which the repository is ``too_slow``."""
    entries = total = 0
    for entry in list_tree(repo):
        if deadline is not None and entries % 4096 == 0 and time.monotonic() > deadline:
            raise TooBig("too_slow", "listing its tree took longer than stages.clone.max_repo_seconds")
        entries += 1
        total += entry.size if isinstance(entry, TreeEntry) and entry.size else 0
        if entries > limits.max_entries:
            raise TooBig(
                "too_many_files", f"more than {limits.max_entries} tree entries (stages.clone.max_entries)"
            )
        if total > limits.max_bytes:
            raise TooBig(
                "too_many_bytes", f"more than {limits.max_bytes} bytes of files (stages.clone.max_bytes)"
            )
    return entries, total


def classify_entry(entry: TreeEntry, rules: FileRules, max_file_bytes: int) -> str | None:
    """The skip reason for ``entry`` decided from the listing alone (no blob read), or None."""
    if entry.kind == GITLINK_TYPE:
        return "submodule"
    if entry.mode == SYMLINK_MODE:
        return "symlink"
    if any(part.lower() == ".git" for part in entry.path.split("/")):
        return "git_internal"
    if path_problem(entry.path) is not None:
        return "unsafe_path"
    name = entry.path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else ""
    if extension in rules.binary_extensions:
        return "binary"
    if entry.size is not None and entry.size >= max_file_bytes:
        return "too_large"
    return None


def classify_content(data: bytes, rules: FileRules, path: str = "") -> tuple[str | None, str]:
    """(skip reason or None, decoded text) for a blob's bytes (``decode_content``)."""
    reason, text, _ = decode_content(data, rules, path)
    return reason, text


def decode_content(data: bytes, rules: FileRules, path: str = "") -> tuple[str | None, str, str]:
    """(skip reason or None, decoded text, encoding) for a blob's bytes. A UTF-8 byte-order mark is dropped;
    a file ``rules.legacy_encoding`` names (``path``) that is not UTF-8 is decoded as Windows-1252."""
    if not data:
        return "empty", "", ""
    if rules.looks_binary(data[:32]):
        return "binary", "", ""
    if b"\0" in data:
        return "nul_bytes", "", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if path and rules.legacy_encoding(path):
            return None, data.decode("cp1252", errors="replace"), "cp1252"
        return "not_utf8", "", ""
    return None, text.removeprefix("\ufeff"), "utf-8"


def walk_repository(
    repo: git.Repo, languages: LanguageMap, rules: FileRules, max_file_bytes: int
) -> Iterator[WalkedFile | Skipped]:
    """Every blob of HEAD, in tree order (sorted by path), as a ``WalkedFile`` or a ``Skipped``."""
    odb = repo.odb
    for entry in list_tree(repo):
        if isinstance(entry, Skipped):
            yield entry
            continue
        reason = classify_entry(entry, rules, max_file_bytes)
        if reason is not None:
            yield Skipped(entry.path, reason, entry.size or 0)
            continue
        try:
            data = odb.stream(bytes.fromhex(entry.sha)).read()
        except (ValueError, OSError) as error:  # a missing or corrupt object: this file only
            yield Skipped(entry.path, "unreadable", entry.size or 0)
            logger.warning(f"cannot read blob {entry.sha} ({printable(entry.path)}): {error}")
            continue
        reason, text, encoding = decode_content(data, rules, entry.path)
        if reason is not None:
            yield Skipped(entry.path, reason, len(data))
            continue
        language, extension = languages.detect(entry.path)
        yield WalkedFile(entry.sha, entry.path, language, extension, len(data), text, encoding)
