"""Clone + walk on real git repositories made in tmp dirs: every skip reason, shallow clones, safety."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from stackcurate.errors import ItemError
from stackcurate.rules import load_file_rules
from stackcurate.sources.git_clone import LOCAL_OBJECTS, clone_repository
from stackcurate.sources.reader import GitRepoReader
from stackcurate.sources.urls import parse_location
from stackcurate.sources.walk import TreeEntry, classify_entry

PNG_HEADER = bytes.fromhex("89504e470d0a1a0a0000000d49484452")


def _read(repos_list: Path, tmp_path: Path, **kwargs: object) -> tuple[list, dict[str, float]]:
    reader = GitRepoReader(str(repos_list), failures_folder=str(tmp_path / "failures"), **kwargs)  # type: ignore[arg-type]
    docs = list(reader.run(None, rank=0, world_size=1))
    counters = {key: value.total for key, value in reader.stats.stats.items()}
    return docs, counters


@pytest.fixture
def tricky_repo(git_repo_factory: Callable[..., Path], tmp_path: Path) -> Path:
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP SECRET outside the repository\n")
    return git_repo_factory(
        "acme/tricky",
        {
            "src/main.py": "print('hello')\n",
            "README.md": "# tricky\n",
            "assets/logo.png": PNG_HEADER + b"\x00" * 32,
            "assets/disguised.txt": PNG_HEADER + b"no nul here",
            "data/blob.txt": b"text then a NUL \x00 byte",
            "legacy/latin1.py": "caf\xe9 = 1\n".encode("latin-1"),
            "big/huge.py": "x = 1\n" * 200_000,  # 1.2 MB
            "empty/__init__.py": "",
            "bom.py": "\ufeffvalue = 1\n",
        },
        symlinks={
            "escape_abs": str(outside),
            "escape_rel": "../../../secret.txt",
            "inside_link": "src/main.py",
        },
        commits=3,
    )


def test_every_skip_reason_is_counted_and_nothing_escapes(tricky_repo: Path, tmp_path: Path) -> None:
    repos = tmp_path / "repos.txt"
    repos.write_text(f"{tricky_repo}\n")
    docs, counters = _read(repos, tmp_path)
    paths = {doc.metadata["path"]: doc for doc in docs}
    assert set(paths) == {"src/main.py", "README.md", "bom.py"}
    assert paths["bom.py"].text == "value = 1\n"  # byte-order mark dropped
    assert paths["src/main.py"].metadata["language"] == "python"
    assert paths["README.md"].metadata["language"] == "markdown"
    for doc in docs:
        assert "TOP SECRET" not in doc.text
        assert not doc.metadata["path"].startswith(".git")
        assert doc.metadata["repo"] == "acme/tricky"
        assert doc.id == git.Repo(tricky_repo).git.rev_parse(f"HEAD:{doc.metadata['path']}")
    assert counters["skipped_binary"] == 2  # logo.png by extension, disguised.txt by magic bytes
    assert counters["skipped_nul_bytes"] == 1
    assert counters["skipped_not_utf8"] == 1
    assert counters["skipped_too_large"] == 1
    assert counters["skipped_empty"] == 1
    assert counters["skipped_symlink"] == 3
    assert counters["files_in"] == 3 + 2 + 1 + 1 + 1 + 1 + 3
    assert counters["files_out"] == 3
    assert counters["repos_ok"] == 1


def test_max_file_bytes_is_configurable(tricky_repo: Path, tmp_path: Path) -> None:
    repos = tmp_path / "repos.txt"
    repos.write_text(f"{tricky_repo}\n")
    docs, counters = _read(repos, tmp_path, max_file_bytes=2_000_000)
    assert "big/huge.py" in {doc.metadata["path"] for doc in docs}
    assert "skipped_too_large" not in counters


def test_git_internal_entries_are_refused_by_name() -> None:
    rules = load_file_rules()
    for path in (".git/config", "vendor/.git/hooks/post-checkout", "x/.GIT/HEAD"):
        assert (
            classify_entry(TreeEntry("100644", "blob", "0" * 40, 10, path), rules, 1_000_000)
            == "git_internal"
        )
    assert classify_entry(TreeEntry("100644", "blob", "0" * 40, 10, ".gitignore"), rules, 1_000_000) is None
    assert (
        classify_entry(TreeEntry("160000", "commit", "0" * 40, None, "third_party/lib"), rules, 10)
        == "submodule"
    )


def test_clone_is_shallow_and_has_no_working_tree(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    source = git_repo_factory("acme/history", {"a.py": "a = 1\n"}, commits=5)
    for raw in (str(source), source.as_uri()):
        dest = tmp_path / f"clone-{len(raw)}"
        repo = clone_repository(parse_location(raw), dest, depth=1, timeout_s=60)
        assert len(list(repo.iter_commits())) == 1
        assert sorted(p.name for p in dest.iterdir()) == [".git"]  # --no-checkout: nothing but the object db
        repo.close()


def test_git_is_run_in_the_c_locale_whatever_the_users(
    git_repo_factory: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clone's errors are told apart by git's English messages (network trouble, a source that cannot
    be a reference): a user's LC_ALL or LANGUAGE must not reach git and translate them."""
    source = git_repo_factory("acme/locale", {"a.py": "a = 1\n"})
    seen, folder = tmp_path / "seen", tmp_path / "bin"
    folder.mkdir()
    wrapper = folder / "git"  # the git the clone runs: records its locale, then runs the real one
    wrapper.write_text(
        f'#!/bin/sh\necho "$LC_ALL|$LANGUAGE" >> "{seen}"\nexec "{shutil.which("git")}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("LANGUAGE", "de")
    for mode in LOCAL_OBJECTS:
        clone_repository(
            parse_location(str(source)), tmp_path / mode, timeout_s=60, local_objects=mode
        ).close()
    assert seen.read_text().splitlines() == ["C|C", "C|C"]


def test_a_local_clone_reads_the_source_objects_and_walks_the_same_files_as_a_copy(
    tricky_repo: Path, tmp_path: Path
) -> None:
    """``local_objects="reference"`` (the default) copies no object: the clone names the source's object
    store as its alternate; the walk gives the same documents, skips and counters as a copying clone."""
    source = parse_location(tricky_repo.as_uri())
    repo = clone_repository(source, tmp_path / "ref", depth=1, timeout_s=60)
    alternates = (tmp_path / "ref" / ".git" / "objects" / "info" / "alternates").read_text().split()
    assert alternates == [str(tricky_repo / ".git" / "objects")]
    assert len(list(repo.iter_commits())) == 1  # still the shallow history asked for
    repo.close()
    copied = clone_repository(source, tmp_path / "copy", depth=1, timeout_s=60, local_objects="copy")
    assert not (tmp_path / "copy" / ".git" / "objects" / "info" / "alternates").exists()
    copied.close()
    mirror = tmp_path / "mirrors" / "acme" / "tricky.git"  # a bare mirror, as `git clone --mirror` makes
    git.Repo.clone_from(tricky_repo.as_uri(), mirror, mirror=True).close()
    bare = clone_repository(parse_location(str(mirror)), tmp_path / "bare", depth=1, timeout_s=60)
    assert (tmp_path / "bare" / ".git" / "objects" / "info" / "alternates").read_text().split() == [
        str(mirror / "objects")
    ]
    assert bare.git.show("HEAD:src/main.py") == "print('hello')"
    bare.close()

    repos = tmp_path / "repos.txt"
    repos.write_text(f"{tricky_repo}\n")
    outputs = {}
    for mode in ("reference", "copy"):
        docs, counters = _read(repos, tmp_path / mode, local_objects=mode)
        outputs[mode] = ([(d.id, d.text, d.metadata) for d in docs], counters)
    assert outputs["reference"] == outputs["copy"]
    assert len(outputs["copy"][0]) == 3


def test_a_local_source_git_refuses_as_a_reference_is_cloned_by_copying(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """git refuses a shallow repository and a linked worktree (``.git`` is a file) as a reference; such a
    source is cloned by copying, not failed."""
    full = git_repo_factory("acme/deep", {"a.py": "a = 1\n"}, commits=3)
    shallow = tmp_path / "mirror" / "acme" / "shallow"
    git.Repo.clone_from(full.as_uri(), shallow, depth=1).close()
    assert (shallow / ".git" / "shallow").exists()
    linked = tmp_path / "mirror" / "acme" / "linked"
    with git.Repo(full) as source:
        source.git.worktree("add", str(linked), "-b", "linked")
    assert (linked / ".git").is_file()
    for name, path in (("shallow", shallow), ("linked", linked)):
        dest = tmp_path / f"dest-{name}"
        repo = clone_repository(parse_location(str(path)), dest, depth=1, timeout_s=60)
        assert not (dest / ".git" / "objects" / "info" / "alternates").exists()
        assert repo.git.show("HEAD:a.py") == "a = 1"
        repo.close()
    with pytest.raises(ValueError, match="local_objects"):
        clone_repository(parse_location(str(full)), tmp_path / "bad", local_objects="hardlink")


def test_a_corrupt_local_repository_is_one_counted_failure_in_either_mode(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    """A blob overwritten with garbage: the copying clone stops (git says "early EOF", which over a network
    is worth a retry; from this machine it is not), the reference clone's tree listing fails; either way the
    repository is one recorded failure, tried once, and the next repository is read."""
    bad = git_repo_factory("acme/corrupt", {"a.py": "a = 1\n", "b.py": "b = 2\n"})
    good = git_repo_factory("acme/good", {"ok.py": "ok = True\n"})
    with git.Repo(bad) as repo:
        sha = repo.git.rev_parse("HEAD:b.py")
    loose = bad / ".git" / "objects" / sha[:2] / sha[2:]
    loose.chmod(0o644)
    loose.write_bytes(b"garbage")
    repos = tmp_path / "repos.txt"
    repos.write_text(f"{bad}\n{good}\n")
    for mode, reason in (("copy", "clone_failed"), ("reference", "tree_unreadable")):
        docs, counters = _read(repos, tmp_path / mode, local_objects=mode, retries=2)
        assert [doc.metadata["path"] for doc in docs] == ["ok.py"], mode
        assert counters[f"repos_failed_{reason}"] == 1, (mode, counters)
        assert "repos_failed_clone_transient" not in counters
        failures = (tmp_path / mode / "failures" / "00000.jsonl").read_text().splitlines()
        assert [json.loads(line)["repo"] for line in failures] == ["acme/corrupt"]


def test_hostile_urls_and_failed_clones_are_counted_and_the_run_goes_on(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    good = git_repo_factory("acme/good", {"ok.py": "ok = True\n"})
    marker = tmp_path / "pwned"
    repos = tmp_path / "repos.txt"
    repos.write_text(
        "\n".join(
            [
                f"ext::sh -c touch% {marker}",
                f"--upload-pack=touch {marker}",
                str(tmp_path / "missing" / "repo"),
                str(good),
            ]
        )
    )
    docs, counters = _read(repos, tmp_path, retries=0)
    assert [doc.metadata["path"] for doc in docs] == ["ok.py"]
    assert not marker.exists()
    assert counters["list_skipped_refused_url"] == 2
    assert counters["repos_failed_clone_failed"] == 1
    assert counters["repos_ok"] == 1
    failures = [json.loads(line) for line in (tmp_path / "failures" / "00000.jsonl").read_text().splitlines()]
    assert [f["repo"] for f in failures] == ["missing/repo"]
    assert "clone of" in failures[0]["error"]


def test_empty_repository_is_an_item_error(tmp_path: Path) -> None:
    path = tmp_path / "acme" / "empty"
    git.Repo.init(path).close()
    with pytest.raises(ItemError) as error:
        clone_repository(parse_location(str(path)), tmp_path / "dest", timeout_s=60)
    assert error.value.reason in ("empty_repo", "clone_failed")


def test_shards_split_repositories_without_overlap(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    paths = [git_repo_factory(f"org/r{i}", {f"m{i}.py": f"v = {i}\n"}) for i in range(5)]
    repos = tmp_path / "repos.txt"
    repos.write_text("\n".join(map(str, paths)))
    seen: list[str] = []
    for rank in range(3):
        reader = GitRepoReader(str(repos))
        seen += [doc.metadata["repo"] for doc in reader.run(None, rank=rank, world_size=3)]
    assert sorted(seen) == [f"org/r{i}" for i in range(5)]


def test_a_license_file_that_is_not_utf8_is_read_as_windows_1252(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    # license evidence in Latin-1 is read (its license must count); code that is not UTF-8 is still skipped
    source = git_repo_factory(
        "acme/latin1",
        {
            "COPYING": "Copyright \xa9 2002 Example Inc. \u201cAll rights reserved.\u201d\n".encode("cp1252"),
            "docs/LICENSE.txt": "Licence \xe0 lire\n".encode("latin-1"),
            "legacy/latin1.py": "caf\xe9 = 1\n".encode("latin-1"),
            "main.py": "x = 1\n",
        },
    )
    repos = tmp_path / "repos.txt"
    repos.write_text(f"{source}\n")
    docs, counters = _read(repos, tmp_path)
    texts = {doc.metadata["path"]: doc.text for doc in docs}
    assert texts["COPYING"] == "Copyright \xa9 2002 Example Inc. \u201cAll rights reserved.\u201d\n"
    assert texts["docs/LICENSE.txt"] == "Licence \xe0 lire\n"
    assert "legacy/latin1.py" not in texts and counters["skipped_not_utf8"] == 1
    assert counters["files_legacy_encoding"] == 2
