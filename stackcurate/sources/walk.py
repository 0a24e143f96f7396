"""Walk a cloned repository's HEAD tree and turn its blobs into file records.

The walk reads the commit's tree (``git ls-tree -r -l -z``) and the blobs (``git cat-file --batch`` behind
GitPython's object database); it never touches a working tree. Consequences: symlinks are tree entries of
mode 120000 and are skipped without ever being resolved, submodules (gitlinks) are skipped, and ``.git``
internals are never part of a tree (an entry named ``.git`` in a crafted tree is refused all the same).

Skip reasons (counted by the clone stage as ``skipped_<reason>``): ``symlink``, ``submodule``,
``git_internal``, ``bad_path`` (path not valid UTF-8), ``binary`` (binary extension or magic bytes),
``too_large`` (>= ``max_file_bytes``), ``nul_bytes``, ``not_utf8``, ``empty``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import git

from stackcurate.rules import FileRules, LanguageMap

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
    """A file that passed every walk check; ``content`` is decoded UTF-8 text."""

    sha: str
    path: str
    language: str | None
    extension: str
    size_bytes: int
    content: str


@dataclass(frozen=True)
class Skipped:
    """A tree entry that was not turned into a record, and why."""

    path: str
    reason: str
    size_bytes: int


def list_tree(repo: git.Repo, treeish: str = "HEAD") -> Iterator[TreeEntry | Skipped]:
    """Entries of the whole tree at ``treeish``; entries whose path is not UTF-8 come out as ``Skipped``."""
    raw = repo.git.ls_tree(
        "-r", "-l", "-z", "--full-tree", treeish, stdout_as_string=False, strip_newline_in_stdout=False
    )
    for record in raw.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, sha, size = meta.decode("ascii").split()
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            yield Skipped(raw_path.decode("utf-8", "replace"), "bad_path", 0)
            continue
        yield TreeEntry(mode, kind, sha, None if size == "-" else int(size), path)


def classify_entry(entry: TreeEntry, rules: FileRules, max_file_bytes: int) -> str | None:
    """The skip reason for ``entry`` decided from the listing alone (no blob read), or None."""
    if entry.kind == GITLINK_TYPE:
        return "submodule"
    if entry.mode == SYMLINK_MODE:
        return "symlink"
    if any(part.lower() == ".git" for part in entry.path.split("/")):
        return "git_internal"
    name = entry.path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else ""
    if extension in rules.binary_extensions:
        return "binary"
    if entry.size is not None and entry.size >= max_file_bytes:
        return "too_large"
    return None


def classify_content(data: bytes, rules: FileRules) -> tuple[str | None, str]:
    """(skip reason or None, decoded text) for a blob's bytes. A UTF-8 byte-order mark is dropped."""
    if not data:
        return "empty", ""
    if rules.looks_binary(data[:32]):
        return "binary", ""
    if b"\0" in data:
        return "nul_bytes", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", ""
    return None, text.removeprefix("\ufeff")


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
        data = odb.stream(bytes.fromhex(entry.sha)).read()
        reason, text = classify_content(data, rules)
        if reason is not None:
            yield Skipped(entry.path, reason, len(data))
            continue
        language, extension = languages.detect(entry.path)
        yield WalkedFile(entry.sha, entry.path, language, extension, len(data), text)
