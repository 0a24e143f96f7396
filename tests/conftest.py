"""Shared test helpers: real git repositories made with GitPython in tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import git
import pytest
from gate import CloneGate

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


def dictionary_columns(parquet: Path) -> set[str]:
    """The columns of a Parquet file that some row group encodes with a dictionary."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(parquet).metadata
    return {
        column.path_in_schema
        for group in range(metadata.num_row_groups)
        for column in (metadata.row_group(group).column(i) for i in range(metadata.num_columns))
        if any("DICTIONARY" in encoding for encoding in column.encodings)
    }


def python_file(i: int, lines: int = 30) -> str:
    """A small, distinct, valid Python module."""
    body = "\n".join(f"    total += {j} * value_{i}  # step {j}" for j in range(lines))
    header = f'"""Module {i}."""\n\nvalue_{i} = {i}\n\n\n'
    return f"{header}def compute_{i}():\n    total = 0\n{body}\n    return total\n"


# ------------------------------------------------------------------------------------ shared, session-wide
# Runs that several tests read are made once per session (pytest builds a session fixture on first use and
# only then; `pytest -k` and the fast suite pay nothing for them).

ROOT = Path(__file__).resolve().parents[1]
STARCODER = str(ROOT / "pipelines" / "starcoder.yaml")
#: a small tokenizer, and shards small enough to be several: what the shared StarCoder run uses
SHARDS = ["--set", "stages.shards.train_vocab_size=400", "--set", "stages.shards.shard_tokens=2000"]


@pytest.fixture(scope="session")
def starcoder_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One local run of the StarCoder pipeline (every pass: PII, exact and near dedup, shards) with 4 tasks
    on repositories with exact and near duplicates; the reference that ``test_cluster.py`` (Ray),
    ``test_s3.py`` (object storage) and ``test_runner.py`` (a killed run resumed) compare their runs with.
    ``repos`` is the list (``repos/`` beside it holds the repositories), ``out`` the run; run with
    ``starcoder_args(...)``. Tests must not write into it."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "dedup"))
    from test_near import make_listing
    from test_runner import make_repos

    from stackcurate.cli import main

    root = tmp_path_factory.mktemp("starcoder")

    def factory(name: str, files: FileSpec) -> Path:
        return make_git_repo(root / "repos", name, files)

    (root / "a").mkdir()
    (root / "b").mkdir()
    plain = make_repos(factory, root / "a", count=6, files=6, duplicate=True).read_text()
    near = make_listing(factory, root / "b").read_text()
    repos = root / "repos.csv"
    repos.write_text(plain + near.split("\n", 1)[1])
    out = root / "local"
    assert main(["run", *starcoder_args(repos, out), "--workers", "2"]) == 0
    return {"repos": repos, "out": out}


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One StarCoder run (2 tasks) over ``run_corpus.make_corpus``, where every reason a repository can be
    dropped occurs: the run that ``test_run_summary.py``, ``test_inspect_samples.py`` and ``test_browser.py``
    read. Its list is ``repos.csv`` beside it, the repositories ``repos/``, its opt-out folder ``opt_out/``.
    Tests may add what a command adds to a finished run (an index, a report, a rerun that does nothing);
    a test that changes its files works on a copy."""
    from run_corpus import make_corpus, run_starcoder

    root = tmp_path_factory.mktemp("corpus")
    out = root / "run"
    assert run_starcoder(make_corpus(root), out, "--tasks", "2") == 0
    return out


def starcoder_args(repos: Path | str, out: Path | str | None, tasks: int = 4) -> list[str]:
    """``stackcurate run`` arguments of the shared StarCoder run (``starcoder_run``), for another output
    (``out`` None: no ``--out``, the caller adds it)."""
    args = [STARCODER, "--repos", str(repos), "--tasks", str(tasks), *SHARDS]
    return [*args, "--out", str(out)] if out is not None else args


def task_niceness(out: Path) -> list[int]:
    """The niceness every task of the run in ``out`` reported as it started (its log's first line)."""
    found = []
    for log in sorted((out / "logs").glob("*/**/logs/task_*.log")):
        for line in log.read_text().splitlines():
            if " started (pid " in line:
                found.append(int(line.split(", nice ", 1)[1].split(",", 1)[0].rstrip(")")))
    return found


@pytest.fixture
def clone_gate(tmp_path: Path) -> Iterator[CloneGate]:
    """A ``gate.CloneGate`` in ``tmp_path/gate``; released at the end, so no held git process outlives the
    test."""
    gate = CloneGate(tmp_path / "gate")
    try:
        yield gate
    finally:
        gate.release()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """One moto S3 server on loopback for the session; the environment a client needs to reach it (apply
    it with the ``s3_env`` fixture)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {
            "AWS_ACCESS_KEY_ID": "moto-key",
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }
    finally:
        server.stop()


#: the secret key of the moto server: a test checks it is written nowhere in a run
S3_SECRET = "moto-secret-key-for-the-test"


@pytest.fixture
def s3_env(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The session's S3 server in this test's environment (credentials and endpoint from the environment
    only, as on a real cluster); each test uses buckets of its own."""
    import s3fs

    for key, value in s3_server.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()  # a cached instance may carry another test's settings
    try:
        yield s3_server
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium (Debian's, through its chromedriver) for the session's browser tests. A test
    that changes a setting (window size, network conditions, implicit wait) puts it back."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("needs Debian's chromium and chromium-driver (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={BROWSER_WINDOW[0]},{BROWSER_WINDOW[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


#: the browser's window size (the report's charts are checked at this width)
BROWSER_WINDOW = (1100, 900)


#: Session fixtures that make a pipeline run or start a server: ``make test`` runs the tests on every core
#: (pytest-xdist), and the tests that read one of these go to one worker, which makes it once
SHARED_FIXTURES = ("starcoder_run", "corpus_run", "s3_server", "browser")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the marks into work units
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for ``pytest -n N --dist loadgroup``: tests joined by a shared session fixture or by a module's
    fixture (a module-, class- or package-scoped one) get one ``xdist_group``, so each run is made once and
    in one worker; a test in no group runs wherever a worker is free. Without xdist the marks do nothing and
    only the order changes (longest first)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    keys: dict[str, list[str]] = {}
    for item in items:
        found = [f"fixture:{name}" for name in SHARED_FIXTURES if name in getattr(item, "fixturenames", ())]
        info = getattr(item, "_fixtureinfo", None)
        for definitions in info.name2fixturedefs.values() if info is not None else ():
            if definitions and definitions[-1].scope in ("package", "module", "class"):
                found.append(f"module:{item.path.relative_to(ROOT)}")
                break
        keys[item.nodeid] = found
        for key in found[1:]:
            parent[root(key)] = root(found[0])
    for item in items:
        if keys[item.nodeid]:
            item.add_marker(pytest.mark.xdist_group(root(keys[item.nodeid][0])))

    # the longest work first (`make test` passes --no-loadscope-reorder, so workers take it in this order): a
    # group or test with a longer timeout, then the slow ones, then the rest, each in collection order; the
    # longest test last would keep one worker busy after the other has run out of work
    def cost(item: pytest.Item) -> tuple[float, int]:
        timeout = item.get_closest_marker("timeout")
        seconds = float(timeout.args[0]) if timeout and timeout.args else 0.0
        return -seconds, 0 if item.get_closest_marker("slow") else 1

    unit_of = {nodeid: root(found[0]) if found else nodeid for nodeid, found in keys.items()}
    units: dict[str, tuple[float, int]] = {}
    for item in items:
        unit = unit_of[item.nodeid]
        units[unit] = min(units.get(unit, (0.0, 1)), cost(item))
    items.sort(key=lambda item: units[unit_of[item.nodeid]])  # stable: collection order within a cost


def pytest_collection_finish(session: pytest.Session) -> None:
    """In an xdist worker with ``--dist loadgroup``, every grouped test's id must carry its group (xdist adds
    ``@group`` to it); where it does not, xdist would spread a group over workers and make each shared run
    once per worker: refuse to run rather than pass slowly."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"pytest-xdist did not group {item.nodeid} (pytest {pytest.__version__}): install the "
                "versions pyproject.toml's [dev] extra names"
            )
