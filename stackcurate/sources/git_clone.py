"""Shallow, hook-free, prompt-free clones with a time limit, through GitPython.

Clones are made with ``--no-checkout``: the file walk reads blobs straight from the object database, so no
working tree is ever written (nothing from the repository lands on disk as a file, and no symlink in it can
point anywhere).

A repository on this machine (a local path or ``file://``) is cloned with ``--reference`` to itself
(``local_objects="reference"``, the default): the clone still goes through ``git-upload-pack`` and
``pack-objects`` as any clone (its refs, its shallow history), but finds every object already in the source's
object store, named in its ``objects/info/alternates``, so no object is copied, decompressed, written and
hashed again (the sample's 229 repositories: the clone processes' CPU 16.5 s -> 4.7 s, the walk's reads of
the source's compressed objects 2.9 s -> 6.0 s, the clone pass 38.8 -> 33.5 task-seconds;
``docs/scaling.md``). The walk reads the source's own packs: the source must not be repacked or pruned
while the run reads it (a mirror that is updated in place: ``stages.clone.local_objects: copy``, the copying
clone). A source that git refuses as a reference (a shallow repository, a linked worktree) is cloned by
copying.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import git
from git.refs.symbolic import SymbolicReference

from stackcurate.errors import ItemError, RetryableError
from stackcurate.sources.urls import GIT_ALLOW_PROTOCOL, RepoLocation

#: Substrings of git's stderr that mean "try again later" rather than "this repository is unusable".
TRANSIENT_MARKERS = (
    "could not resolve host",
    "connection reset",
    "connection timed out",
    "operation timed out",
    "early eof",
    "the remote end hung up unexpectedly",
    "rpc failed",
    "temporary failure",
    "http 5",
    "error: 5",
)


#: git settings of a clone from a repository on this machine (``file://``, a local path), read by both ends
#: through ``GIT_CONFIG_SYSTEM`` (git clears ``GIT_CONFIG_PARAMETERS`` for the local transport's
#: ``upload-pack``). The "transfer" is a pipe, so the sending side's delta search and zlib compression
#: only cost CPU: without them a depth-1 clone of the sample's largest repository (babel, 16 MB of loose
#: objects) took 0.4 s of CPU instead of 2.6 s, and 40 sample repositories 2.2 s instead of 7.6 s
#: (docs/scaling.md). The pack is stored uncompressed in the clone's temporary folder (babel: 33 MB
#: instead of 11 MB), for as long as the clone is walked. Objects travel so only in a copying clone
#: (``local_objects="copy"``, or a source git refuses as a reference); a reference clone receives none.
LOCAL_CLONE_CONFIG = "[pack]\n\twindow = 0\n\tcompression = 0\n[core]\n\tcompression = 0\n"
#: how a local repository's objects reach its clone (see the module docstring)
LOCAL_OBJECTS = ("reference", "copy")
#: git's stderr when a repository cannot serve as ``--reference`` (shallow, grafted, a linked worktree)
_NOT_A_REFERENCE = "reference repository"


def _git_env() -> dict[str, str]:
    return {
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a private or missing repository
        "GIT_ASKPASS": "/bin/true",
        "SSH_ASKPASS": "/bin/true",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30",
        "GIT_ALLOW_PROTOCOL": GIT_ALLOW_PROTOCOL,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_LFS_SKIP_SMUDGE": "1",
        # git's messages in English whatever the user's locale: its stderr is read for English markers
        # (TRANSIENT_MARKERS, _NOT_A_REFERENCE). GitPython sets C, but the os.environ merged over it may not
        "LC_ALL": "C",
        "LANGUAGE": "C",
    }


def clone_repository(
    location: RepoLocation,
    dest: Path,
    depth: int = 1,
    timeout_s: float = 600.0,
    local_objects: str = "reference",
) -> git.Repo:
    """Clone ``location`` into ``dest`` (which must not exist) and return the repository.

    ``depth`` 0 means full history. ``local_objects``: ``reference`` or ``copy``, for a repository on this
    machine (see the module docstring). Raises ``RetryableError`` for timeouts and transient network failures
    and ``ItemError("clone_failed", ...)`` for everything else (missing repository, authentication, not a
    repo).
    """
    git.Git.check_unsafe_protocols(location.clone_url)
    if local_objects not in LOCAL_OBJECTS:
        raise ValueError(f"local_objects must be one of {LOCAL_OBJECTS}, not {local_objects!r}")
    options = ["--no-checkout", "--single-branch", "--no-tags", "--quiet"]
    if depth > 0:
        options.append(f"--depth={depth}")
    reference = location.is_local and local_objects == "reference"
    if reference:
        options.append(f"--reference={unquote(urlsplit(location.clone_url).path)}")
    git.Git.check_unsafe_options(options=options, unsafe_options=git.Repo.unsafe_git_clone_options)
    runner = git.Git(str(dest.parent))
    env = {**os.environ, **_git_env()}
    if location.is_local:
        config = dest.parent / "local-clone.gitconfig"
        config.write_text(LOCAL_CLONE_CONFIG)
        del env["GIT_CONFIG_NOSYSTEM"]  # it would make git ignore GIT_CONFIG_SYSTEM
        env["GIT_CONFIG_SYSTEM"] = str(config)
    started = time.monotonic()
    try:
        runner.execute(
            # --template= (empty: no hook samples or info files copied into a clone that only lives to be
            # walked) is ours, a constant: GitPython's option check refuses any --template
            ["git", "clone", "--template=", *options, "--", location.clone_url, str(dest)],
            kill_after_timeout=timeout_s,
            env=env,
        )
    except git.GitCommandError as error:
        stderr = str(error.stderr or error).strip()
        if reference and _NOT_A_REFERENCE in stderr and time.monotonic() - started < timeout_s:
            shutil.rmtree(dest, ignore_errors=True)
            left = timeout_s - (time.monotonic() - started)
            return clone_repository(location, dest, depth, left, local_objects="copy")
        if time.monotonic() - started >= timeout_s:
            raise RetryableError(
                "clone_timeout", f"clone of {location.url} timed out after {timeout_s:.0f}s"
            ) from None
        message = f"clone of {location.url} failed: {stderr.splitlines()[-1] if stderr else error}"
        # the markers are network trouble: a clone from this machine that ends so ("early EOF" when the
        # sending side stops on a corrupt object) fails the same way every time, so it is not retried
        if not location.is_local and any(marker in stderr.lower() for marker in TRANSIENT_MARKERS):
            raise RetryableError("clone_transient", message) from None
        raise ItemError("clone_failed", message) from None
    try:
        repo = git.Repo(str(dest))
        head_commit(repo)  # an empty repository has no HEAD commit
    except (git.InvalidGitRepositoryError, ValueError) as error:
        raise ItemError("empty_repo", f"{location.url} has no commit to read: {error}") from None
    return repo


def head_commit(repo: git.Repo) -> str:
    """The hex sha HEAD names, read from the refs (``ValueError`` when there is none, as in an empty
    repository). ``repo.head.commit`` would start a ``git cat-file --batch-check`` process per repository
    to look at the object; the walk's ``ls-tree HEAD`` reads it anyway."""
    return str(SymbolicReference.dereference_recursive(repo, "HEAD"))


def clone_with_retries(
    location: RepoLocation,
    dest: Path,
    depth: int = 1,
    timeout_s: float = 600.0,
    retries: int = 2,
    backoff_s: float = 2.0,
    deadline: float | None = None,
    local_objects: str = "reference",
) -> git.Repo:
    """``clone_repository`` with ``retries`` extra attempts for ``RetryableError`` (exponential back-off).

    ``deadline`` (a ``time.monotonic()`` value): no attempt starts after it, and none runs past it."""
    attempt = 0
    while True:
        budget = timeout_s if deadline is None else min(timeout_s, deadline - time.monotonic())
        try:
            return clone_repository(location, dest, depth, max(budget, 0.001), local_objects)
        except RetryableError:
            late = deadline is not None and time.monotonic() + backoff_s * 2**attempt >= deadline
            if attempt >= retries or late:
                raise
            attempt += 1
            shutil.rmtree(dest, ignore_errors=True)  # a partial clone; the next attempt needs the path free
            time.sleep(backoff_s * 2 ** (attempt - 1))
