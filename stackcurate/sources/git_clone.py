"""Shallow, hook-free, prompt-free clones with a time limit, through GitPython.

Clones are made with ``--no-checkout``: the file walk reads blobs straight from the object database, so no
working tree is ever written (nothing from the repository lands on disk as a file, and no symlink in it can
point anywhere).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

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
#: instead of 11 MB), for as long as the clone is walked.
LOCAL_CLONE_CONFIG = "[pack]\n\twindow = 0\n\tcompression = 0\n[core]\n\tcompression = 0\n"


def _git_env() -> dict[str, str]:
    return {
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a private or missing repository
        "GIT_ASKPASS": "/bin/true",
        "SSH_ASKPASS": "/bin/true",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30",
        "GIT_ALLOW_PROTOCOL": GIT_ALLOW_PROTOCOL,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_LFS_SKIP_SMUDGE": "1",
    }


def clone_repository(
    location: RepoLocation, dest: Path, depth: int = 1, timeout_s: float = 600.0
) -> git.Repo:
    """Clone ``location`` into ``dest`` (which must not exist) and return the repository.

    ``depth`` 0 means full history. Raises ``RetryableError`` for timeouts and transient network failures and
    ``ItemError("clone_failed", ...)`` for everything else (missing repository, authentication, not a repo).
    """
    git.Git.check_unsafe_protocols(location.clone_url)
    options = ["--no-checkout", "--single-branch", "--no-tags", "--quiet"]
    if depth > 0:
        options.append(f"--depth={depth}")
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
        if time.monotonic() - started >= timeout_s:
            raise RetryableError(
                "clone_timeout", f"clone of {location.url} timed out after {timeout_s:.0f}s"
            ) from None
        message = f"clone of {location.url} failed: {stderr.splitlines()[-1] if stderr else error}"
        if any(marker in stderr.lower() for marker in TRANSIENT_MARKERS):
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
) -> git.Repo:
    """``clone_repository`` with ``retries`` extra attempts for ``RetryableError`` (exponential back-off).

    ``deadline`` (a ``time.monotonic()`` value): no attempt starts after it, and none runs past it."""
    attempt = 0
    while True:
        budget = timeout_s if deadline is None else min(timeout_s, deadline - time.monotonic())
        try:
            return clone_repository(location, dest, depth, max(budget, 0.001))
        except RetryableError:
            late = deadline is not None and time.monotonic() + backoff_s * 2**attempt >= deadline
            if attempt >= retries or late:
                raise
            attempt += 1
            shutil.rmtree(dest, ignore_errors=True)  # a partial clone; the next attempt needs the path free
            time.sleep(backoff_s * 2 ** (attempt - 1))
