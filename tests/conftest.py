"""Shared test helpers: real git repositories made with GitPython in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import git
import pytest

FileSpec = Mapping[str, "str | bytes"]


def make_git_repo(
    root: Path,
    name: str,
    files: FileSpec,
    symlinks: Mapping[str, str] | None = None,
    commits: int = 1,
) -> Path:
    """Create ``root/<owner>/<name>`` (``name`` is ``owner/name``) as a git repository with ``files``.

    ``symlinks`` maps a path in the repository to the link target (committed as a symlink, never resolved).
    ``commits`` > 1 adds empty commits on top, to check that shallow clones really are shallow.
    """
    path = root / name
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "test")
        config.set_value("user", "email", "test@example.invalid")
        config.set_value("commit", "gpgsign", "false")
    for relative, content in files.items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    for relative, link_target in (symlinks or {}).items():
        link = path / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(link_target, link)
    repo.git.add("--all", "--force")
    repo.git.commit("--quiet", "--allow-empty", "-m", "initial")
    for i in range(1, commits):
        repo.git.commit("--quiet", "--allow-empty", "-m", f"commit {i}")
    repo.close()
    return path


@pytest.fixture
def git_repo_factory(tmp_path: Path) -> Callable[..., Path]:
    """``factory("owner/name", {"a.py": "..."}, symlinks=...)`` -> path of a new repository."""
    root = tmp_path / "repos"

    def factory(name: str, files: FileSpec, **kwargs: object) -> Path:
        return make_git_repo(root, name, files, **kwargs)  # type: ignore[arg-type]

    return factory


def python_file(i: int, lines: int = 30) -> str:
    """A small, distinct, valid Python module."""
    body = "\n".join(f"    total += {j} * value_{i}  # step {j}" for j in range(lines))
    header = f'"""Module {i}."""\n\nvalue_{i} = {i}\n\n\n'
    return f"{header}def compute_{i}():\n    total = 0\n{body}\n    return total\n"
