"""``stackcurate sample-repos``: real third-party code, offline, as local git repositories.

Every Python distribution installed in the running environment becomes one repository
``<out>/pypi/<name>``: the files its RECORD lists (sources, data, stubs; no byte-code), plus the
LICENSE/COPYING/NOTICE files from its ``.dist-info``, committed once with a fixed author and date so that
the same environment always gives the same commits. ``<out>/repos.csv`` lists them (``url,stars,forks``).
This is the embedded default input of the quickstart: code nobody on this project wrote, on any machine.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib import metadata
from pathlib import Path

import git

LICENSE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|UNLICENSE|COPYRIGHT)", re.IGNORECASE)
#: Never part of the sample: this project's own code (it must be code nobody here wrote).
EXCLUDED = {"stackcurate"}
FIXED_DATE = "2000-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class SampleRepo:
    """One sample repository: distribution name and version, where it is, and how many files it holds."""

    name: str
    version: str
    path: Path
    files: int


def _make_repo(
    out_dir: Path, name: str, dist: metadata.Distribution, max_file_bytes: int
) -> SampleRepo | None:
    """The sample repository of one distribution (reused when its version was made already); None when
    the distribution lists no file."""
    version = dist.version
    path = out_dir / "pypi" / name
    stamp = path / ".git" / "stackcurate-sample-version"
    if stamp.is_file() and stamp.read_text() == version:
        files = len(git.Repo(path).git.ls_files().splitlines())
        return SampleRepo(name, version, path, files)
    if path.exists():
        shutil.rmtree(path)
    copied = 0
    for source, target in _files_of(dist, max_file_bytes):
        destination = path / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        copied += 1
    if copied == 0:
        return None  # nothing listed (e.g. an editable install): not a useful sample
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "stackcurate sample-repos")
        config.set_value("user", "email", "sample-repos@stackcurate.invalid")
        config.set_value("core", "autocrlf", "false")
        # zlib's fastest level for the objects: about twice as fast to write as the default, for
        # repositories that only live on this disk
        config.set_value("core", "compression", "1")
        config.set_value("commit", "gpgsign", "false")
    repo.git.add("--all", "--force")
    env = {"GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE}
    with repo.git.custom_environment(**env):
        repo.git.commit(
            "--quiet", "--no-verify", "-m", f"{name} {version} as installed (stackcurate sample-repos)"
        )
    repo.close()
    stamp.write_text(version)
    return SampleRepo(name, version, path, copied)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _files_of(dist: metadata.Distribution, max_file_bytes: int) -> Iterable[tuple[Path, str]]:
    """(source path on disk, path inside the sample repo) for the distribution's files."""
    for entry in dist.files or ():
        relative = entry.as_posix()
        parts = relative.split("/")
        if ".." in parts or "__pycache__" in parts or relative.endswith((".pyc", ".pyo")):
            continue
        if parts[0].endswith(".dist-info"):
            if not LICENSE_NAME.match(parts[-1]):
                continue
            # dist-info/licenses/<path> keeps its layout; dist-info/LICENSE goes to the root
            target = "/".join(parts[2:]) if len(parts) > 2 and parts[1] == "licenses" else parts[-1]
        else:
            target = relative
        source = Path(str(entry.locate()))
        if not source.is_file() or source.is_symlink() or source.stat().st_size > max_file_bytes:
            continue
        yield source, target


def make_sample_repos(
    out_dir: Path,
    limit: int | None = None,
    include: list[str] | None = None,
    max_file_bytes: int = 2_000_000,
) -> list[SampleRepo]:
    """Build the sample repositories under ``out_dir`` and write ``out_dir/repos.csv``.

    ``include``: glob patterns on normalised distribution names (default: all); ``limit``: keep the first N
    by name; files over ``max_file_bytes`` are left out of the sample (the clone stage has its own limit).
    Existing sample repositories with the same version are reused.
    """
    out_dir = out_dir.resolve()
    dists: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        raw = dist.metadata["Name"] if dist.metadata else None
        if not raw:
            continue
        name = _normalise(raw)
        if name in EXCLUDED or name in dists:
            continue
        if include and not any(fnmatch(name, pattern) for pattern in include):
            continue
        dists[name] = dist
    names = sorted(dists)[:limit] if limit else sorted(dists)
    # the work is git's (a process per step) and file copies: threads keep every core busy
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        made = pool.map(lambda name: _make_repo(out_dir, name, dists[name], max_file_bytes), names)
        repos = [repo for repo in made if repo is not None]
    with (out_dir / "repos.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "stars", "forks"])
        for repo_info in repos:
            writer.writerow([str(repo_info.path), "", ""])
    return repos
