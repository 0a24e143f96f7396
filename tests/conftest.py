"""Shared test helpers: real git repositories made with GitPython in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import git
import pytest

FileSpec = Mapping[str, "str | bytes"]

#: The MIT license text as the OSI publishes it (licensecheck needs the real text, not just its name).
MIT_TEXT = """MIT License

Copyright (c) 2021 Example Author

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


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
