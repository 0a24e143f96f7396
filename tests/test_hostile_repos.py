"""Hostile repositories and repos lists, made from real git objects (``git hash-object``, ``git mktree``):
per-repository limits, crafted names, bad lines that must stay the line's problem."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackcurate.sources.reader import GitRepoReader
from stackcurate.sources.repos_list import parse_repos_text
from stackcurate.sources.walk import RepoLimits

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin",
}


def _git(repo: Path, *args: str, stdin: bytes = b"") -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, env=ENV, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


def _mktree(repo: Path, entries: list[tuple[str, str, str, str]]) -> str:
    """A tree object from ``(mode, type, sha, name)`` entries; names may hold any byte but NUL and '/'."""
    listing = b"".join(f"{mode} {kind} {sha}\t{name}".encode() + b"\0" for mode, kind, sha, name in entries)
    return _git(repo, "mktree", "-z", stdin=listing)


def tree_repo(root: Path, name: str, build: object) -> Path:
    """A repository whose single commit has the tree ``build(repo)`` returns (a tree sha)."""
    repo = root / name
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    tree = build(repo)  # type: ignore[operator]
    commit = _git(repo, "commit-tree", tree, "-m", "crafted")
    _git(repo, "update-ref", "refs/heads/main", commit)
    return repo


def _blob(repo: Path, content: bytes) -> str:
    return _git(repo, "hash-object", "-w", "--stdin", stdin=content)


def _million_entries(repo: Path) -> str:
    """10 entries nested 6 levels: one blob, 10^6 paths (a 224 KB repository)."""
    sha = _blob(repo, b"x = 1\n")
    tree = _mktree(repo, [("100644", "blob", sha, f"f{i}.py") for i in range(10)])
    for _ in range(5):
        tree = _mktree(repo, [("040000", "tree", tree, f"d{i}") for i in range(10)])
    return tree


#: Peak memory of the clone stage's process and its git children. The process's own peak is ``VmHWM``
#: (/proc/self/status), not ``RUSAGE_SELF``'s ``ru_maxrss``: subprocess starts this child with vfork, and
#: Linux keeps the high-water mark of the memory an exec replaces, so ``ru_maxrss`` would report the pytest
#: process's own peak (1.4 GB after the rest of a full run) whatever the reader does. The git children's
#: ``ru_maxrss`` carries this process's peak at their start the same way, which is still a peak of ours.
MEASURE = """
import json, resource, sys
from stackcurate.sources.reader import GitRepoReader
def cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
started = cpu_seconds()
reader = GitRepoReader(sys.argv[1], failures_folder=sys.argv[2])
docs = sum(1 for _ in reader.run(None, rank=0, world_size=1))
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "docs": docs,
    "cpu_seconds": cpu_seconds() - started,
    "stats": {k: v.total for k, v in reader.stats.stats.items()},
    "peak_kb": max(hwm_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
}))
"""


@pytest.mark.slow
def test_a_million_entry_repository_is_skipped_in_seconds_with_bounded_memory(tmp_path: Path) -> None:
    huge = tree_repo(tmp_path, "evil/nested", _million_entries)
    small = tree_repo(
        tmp_path, "org/small", lambda r: _mktree(r, [("100644", "blob", _blob(r, b"y = 2\n"), "a.py")])
    )
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{huge}\n{small}\n")
    failures = tmp_path / "failures"
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(listing), str(failures)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["docs"] == 1  # org/small's file; nothing of evil/nested
    assert result["stats"]["repos_skipped_too_many_files"] == 1
    assert result["stats"]["repos_ok"] == 1
    # CPU seconds of the reader and its git processes, not wall time: a loaded machine does not change them
    assert result["cpu_seconds"] < 60, result  # ~4.5 s on an idle core (benchmarks/hostile_repo.py)
    assert result["peak_kb"] < 300 * 1024, result
    recorded = [json.loads(line) for line in (failures / "00000.jsonl").read_text().splitlines()]
    assert [(r["repo"], r["reason"]) for r in recorded] == [("evil/nested", "too_many_files")]


def test_limits_on_bytes_are_configurable(tmp_path: Path) -> None:
    def two_files(repo: Path) -> str:
        return _mktree(
            repo,
            [
                ("100644", "blob", _blob(repo, b"a = 1\n" * 100), "a.py"),
                ("100644", "blob", _blob(repo, b"b = 2\n"), "b.py"),
            ],
        )

    repo = tree_repo(tmp_path, "org/two", two_files)
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{repo}\n")
    for limits, expected in (
        (RepoLimits(max_entries=2, max_bytes=10_000), "repos_ok"),
        (RepoLimits(max_entries=1), "repos_skipped_too_many_files"),
        (RepoLimits(max_bytes=100), "repos_skipped_too_many_bytes"),
    ):
        reader = GitRepoReader(str(listing), limits=limits)
        docs = list(reader.run(None, rank=0, world_size=1))
        assert reader.stats.stats[expected].total == 1
        assert len(docs) == (2 if expected == "repos_ok" else 0)


def test_crafted_names_never_reach_the_data(tmp_path: Path) -> None:
    def crafted(repo: Path) -> str:
        code = _blob(repo, b"print('payload')\n")
        inner = _mktree(repo, [("100644", "blob", code, "payload.py")])
        return _mktree(
            repo,
            [
                ("040000", "tree", inner, ".."),
                ("040000", "tree", inner, "."),
                ("100644", "blob", code, "new\nline.py"),
                ("100644", "blob", code, "tab\there.py"),
                ("100644", "blob", code, "\x1b]0;pwned\x07\x1b[2J.py"),
                ("100644", "blob", code, "rlo\u202egnp.py"),
                ("100644", "blob", code, "fine.py"),
            ],
        )

    repo = tree_repo(tmp_path, "evil/names", crafted)
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{repo}\n")
    reader = GitRepoReader(str(listing))
    docs = list(reader.run(None, rank=0, world_size=1))
    assert [doc.metadata["path"] for doc in docs] == ["fine.py"]
    assert reader.stats.stats["skipped_unsafe_path"].total == 6


def test_a_file_url_ending_in_an_encoded_newline_is_refused(tmp_path: Path) -> None:
    entries, problems = parse_repos_text(f"file://{tmp_path}/evil/nl%0a\nfile://{tmp_path}/evil/ok\n")
    assert [entry.name for entry in entries] == ["evil/ok"]
    assert [(p.line, p.reason) for p in problems] == [(1, "refused_url")]


def test_every_bad_line_is_skipped_with_its_number_and_the_rest_is_cloned(tmp_path: Path) -> None:
    good = tree_repo(
        tmp_path, "org/good", lambda r: _mktree(r, [("100644", "blob", _blob(r, b"z = 3\n"), "z.py")])
    )
    listing = tmp_path / "repos.csv"
    listing.write_text(
        "url,stars,forks\n"
        "https://github.com/a/b,99999999999999999999,1\n"
        "https://[bad/owner/repo,1,1\n"
        "https://github.com/c/d,1,-5\n"
        '"unclosed,1,1\n'
        f"{good},7,1\n"
    )
    entries, problems = parse_repos_text(listing.read_text())
    assert [entry.name for entry in entries] == ["org/good"]
    assert [p.line for p in problems] == [2, 3, 4, 5]
    assert "line 2" in problems[0].message and "99999999999999999999" in problems[0].message
    assert problems[1].message.startswith("line 3: ") and "IPv6" in problems[1].message
    started = time.process_time()
    reader = GitRepoReader(str(listing))
    docs = list(reader.run(None, rank=0, world_size=1))
    assert [(doc.metadata["repo"], doc.metadata["stars"]) for doc in docs] == [("org/good", 7)]
    assert reader.stats.stats["list_skipped_malformed_line"].total == 2
    assert reader.stats.stats["list_skipped_refused_url"].total == 2
    assert time.process_time() - started < 30  # CPU seconds of this process: the same on a loaded machine


def test_attribute_escapes_control_characters_of_names_in_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Curated data written before the name policy (or by another tool) may hold any name: the terminal
    output shows escapes, never the raw ESC/BEL sequences that retitle a window or clear the screen."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stackcurate.cli import main

    content = "\n".join(
        f"def handler_{i}(request, value):\n    return request.process(value * {i})" for i in range(40)
    )
    hostile = "src/\x1b]0;pwned\x07\x1b[2Jx.py"
    curated = tmp_path / "run" / "curated"
    curated.mkdir(parents=True)
    row = {
        "id": "0" * 40,
        "repo": "evil/term",
        "repo_url": "https://example.com/evil/term",
        "commit": "1" * 40,
        "path": hostile,
        "language": "python",
        "extension": "py",
        "size_bytes": len(content),
        "content": content,
        "stars": 1,
        "forks": 0,
        "license": "MIT\x1b[31m",
    }
    pq.write_table(pa.Table.from_pylist([row]), curated / "00000.parquet")
    assert main(["index", "build", str(tmp_path / "run")]) == 0
    snippet = tmp_path / "snippet.py"
    snippet.write_text(content)
    capsys.readouterr()
    assert main(["attribute", str(snippet), "--run", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil/term/src/\\x1b]0;pwned\\x07\\x1b[2Jx.py" in out and "MIT\\x1b[31m" in out


def test_a_tree_git_cannot_list_is_an_item_error_not_a_crash(tmp_path: Path) -> None:
    """A commit whose tree names a missing subtree (``git mktree --missing``): ls-tree fails, and the walk
    says so as the repository's ``tree_unreadable`` error (recorded and skipped by the clone stage)."""
    import git

    from stackcurate.sources.walk import TreeUnreadable, check_limits

    def broken(repo: Path) -> str:
        listing = f"040000 tree {'1' * 40}\tgone\0".encode()
        return _git(repo, "mktree", "-z", "--missing", stdin=listing)

    repo = tree_repo(tmp_path, "evil/broken", broken)
    with pytest.raises(TreeUnreadable) as raised:
        check_limits(git.Repo(repo), RepoLimits())
    assert raised.value.reason == "tree_unreadable" and "ls-tree" in str(raised.value)


def test_a_listing_past_the_deadline_is_too_slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing stops at the first look at the clock past the deadline, not after 10^6 entries, and
    git is stopped there. The walk's clock is stepped by the test (one second per look, and it looks every
    4,096 entries), so where the deadline passes does not depend on how fast the machine is."""
    import itertools
    import types

    import git
    import psutil

    from stackcurate.sources import walk
    from stackcurate.sources.walk import TooBig, check_limits

    repo = tree_repo(tmp_path, "org/slow", _million_entries)
    ticks = itertools.count()
    monkeypatch.setattr(walk, "time", types.SimpleNamespace(monotonic=lambda: float(next(ticks))))
    listed = [0]
    list_tree = walk.list_tree

    def counted(*args: object, **kwargs: object) -> object:
        for entry in list_tree(*args, **kwargs):  # type: ignore[arg-type]
            listed[0] += 1
            yield entry

    monkeypatch.setattr(walk, "list_tree", counted)
    with pytest.raises(TooBig) as raised:
        check_limits(git.Repo(repo), RepoLimits(max_entries=10**7), deadline=3.5)
    assert raised.value.reason == "too_slow"
    assert listed[0] == 4 * 4096 + 1  # looks at 0, 4096, 8192, 12288 (clock 0..3), then 16384: clock 4
    assert not [p for p in psutil.Process().children(recursive=True) if "ls-tree" in " ".join(p.cmdline())]
