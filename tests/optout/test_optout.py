"""Opt-out: the request log, approval, application in a run, purge of a finished run, membership check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT, python_file

from stackcurate.cli import main
from stackcurate.manifest import RunManifest
from stackcurate.optout.apply import OptOutList
from stackcurate.optout.store import OptOutError, OptOutStore
from stackcurate.parquet_io import iter_rows
from stackcurate.shards.verify import verify_shards

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")


def make_listing(factory: Callable[..., Path], tmp_path: Path) -> Path:
    lines = ["url,stars,forks"]
    for i, name in enumerate(["Alice/tools", "alice/site", "bob/lib", "carol/app"]):
        files = {"LICENSE": MIT_TEXT, **{f"src/m{j}.py": python_file(i * 10 + j) for j in range(3)}}
        lines.append(f"{factory(name, files)},{i},0")
    listing = tmp_path / "repos.csv"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def repo_counts(folder: Path) -> Counter[str]:
    return Counter(row["repo"] for row in iter_rows(str(folder), columns=["repo"]))


@pytest.mark.parametrize(
    "kind, target, message",
    [
        ("owner", "-alice", "invalid owner"),
        ("owner", "a" * 40, "invalid owner"),
        ("owner", "al--ice", "invalid owner"),
        ("owner", "<script>alert(1)</script>", "invalid owner"),
        ("repo", "alice", "invalid repository"),
        ("repo", "alice/..", "invalid repository"),
        ("repo", "alice/a b", "invalid repository"),
        ("team", "alice", "invalid kind"),
    ],
)
def test_malformed_targets_are_refused(tmp_path: Path, kind: str, target: str, message: str) -> None:
    with pytest.raises(OptOutError, match=message):
        OptOutStore(tmp_path).request(kind, target)
    assert not (tmp_path / "requests.jsonl").exists() or not (tmp_path / "requests.jsonl").read_text()


def filed_id(output: str) -> str:
    match = re.search(r"^(req-[A-Za-z0-9_-]{22}): ", output, flags=re.MULTILINE)
    assert match, output
    return match.group(1)


def test_request_approve_reject_and_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ["--opt-out-dir", str(tmp_path)]
    assert main(["opt-out", "request", "--owner", "Alice", "--contact", "alice@mail.org", *store]) == 0
    out = capsys.readouterr().out
    first = filed_id(out)
    assert f"{first}: owner alice is pending" in out
    # the same contact again: its pending request, answered as a new one (nothing appended)
    assert main(["opt-out", "request", "--owner", "ALICE", "--contact", "alice@mail.org", *store]) == 0
    assert filed_id(capsys.readouterr().out) == first
    assert main(["opt-out", "request", "--repo", "bob/lib", "--contact", "not-an-email", *store]) == 2
    assert "invalid contact" in capsys.readouterr().err
    assert main(["opt-out", "request", "--repo", "bob/lib", *store]) == 0
    second = filed_id(capsys.readouterr().out)
    assert main(["opt-out", "approve", first, *store]) == 0
    assert main(["opt-out", "reject", "--repo", "Bob/lib", "--reason", "not the owner", *store]) == 0
    assert main(["opt-out", "approve", second, *store]) == 2
    assert "already rejected" in capsys.readouterr().err
    assert main(["opt-out", "request", "--repo", "alice/site", *store]) == 2
    err = capsys.readouterr().err
    assert "already opted out: owner alice is approved" in err and first not in err
    assert main(["opt-out", "list", "--status", "approved", "--json", *store]) == 0
    [approved] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert approved["target"] == "alice" and approved["decided"] and approved["contact"] == "alice@mail.org"
    assert (tmp_path / "approved.txt").read_text() == "alice\n"
    # the log is append-only: 2 requests + 2 decisions, each a JSON line
    events = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert [(e["id"], e["status"]) for e in events] == [
        (first, "pending"),
        (second, "pending"),
        (first, "approved"),
        (second, "rejected"),
    ]
    opt_out = OptOutList.load(tmp_path)
    assert (
        opt_out.covers("alice/anything") and opt_out.covers("ALICE/Tools") and not opt_out.covers("bob/lib")
    )


def test_request_ids_are_unguessable(tmp_path: Path) -> None:
    store = OptOutStore(tmp_path)
    ids = [store.request("repo", f"owner/repo{i}").id for i in range(20)]
    assert all(re.fullmatch(r"req-[A-Za-z0-9_-]{22}", each) for each in ids)
    assert len(set(ids)) == 20 and ids != sorted(ids)  # neither sequential nor ordered


def test_a_second_requester_is_recorded_and_told_the_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stranger filing first for an owner does not block the owner: both requests are recorded and one
    decision answers both, with every contact printed for the maintainer to tell."""
    store = ["--opt-out-dir", str(tmp_path)]
    assert main(["opt-out", "request", "--owner", "alice", "--contact", "squatter@evil.example", *store]) == 0
    squatter = filed_id(capsys.readouterr().out)
    assert main(["opt-out", "request", "--owner", "Alice", "--contact", "alice@mail.org", *store]) == 0
    owner = filed_id(capsys.readouterr().out)
    assert squatter != owner
    assert main(["opt-out", "list", *store]) == 0
    listed = capsys.readouterr().out  # maintainers see contacts on the command line
    assert "squatter@evil.example" in listed and "alice@mail.org" in listed
    assert main(["opt-out", "approve", owner, *store]) == 0
    out = capsys.readouterr().out
    assert f"{owner}: owner alice approved" in out and f"{squatter}: owner alice approved" in out
    assert "tell the requesters: alice@mail.org, squatter@evil.example" in out
    requests = OptOutStore(tmp_path).requests()
    assert {requests[owner].status, requests[squatter].status} == {"approved"}
    assert (tmp_path / "approved.txt").read_text() == "alice\n"


def test_logs_with_sequential_ids_are_still_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = [
        {
            "id": "req-000001",
            "created": "2025-01-01T00:00:00+00:00",
            "kind": "owner",
            "target": "alice",
            "contact": "alice@mail.org",
            "status": "pending",
        },
        {
            "id": "req-000002",
            "created": "2025-01-01T00:00:00+00:00",
            "kind": "repo",
            "target": "bob/lib",
            "status": "pending",
        },
        {"id": "req-000001", "status": "approved", "decided": "2025-01-02T00:00:00+00:00"},
    ]
    (tmp_path / "requests.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    requests = OptOutStore(tmp_path).requests()
    assert [(r.id, r.status) for r in requests.values()] == [
        ("req-000001", "approved"),
        ("req-000002", "pending"),
    ]
    assert main(["opt-out", "approve", "req-000002", "--opt-out-dir", str(tmp_path)]) == 0
    assert OptOutList.load(tmp_path).repos == frozenset({"bob/lib"})
    new = OptOutStore(tmp_path).request("repo", "carol/app").id  # new requests get the new ids
    assert re.fullmatch(r"req-[A-Za-z0-9_-]{22}", new)


def test_concurrent_requests_do_not_corrupt_the_log(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom stackcurate.optout.store import OptOutStore\n"
        "store = OptOutStore(sys.argv[1])\n"
        "for i in range(40):\n    store.request('repo', f'{sys.argv[2]}/repo{i}')\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), owner]) for owner in ("alpha", "beta")
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]
    lines = (tmp_path / "requests.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == 80 and len({e["id"] for e in events}) == 80
    assert {e["target"] for e in events} == {f"{o}/repo{i}" for o in ("alpha", "beta") for i in range(40)}


def test_a_run_leaves_out_approved_targets(
    git_repo_factory: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # starcoder.yaml reads the opt-out record from ./opt_out
    store = OptOutStore("opt_out")
    store.decide(store.request("owner", "alice").id, "approved")
    store.decide(store.request("repo", "bob/lib").id, "approved")
    listing = make_listing(git_repo_factory, tmp_path)
    out = tmp_path / "run"
    assert main(["run", STARCODER, "--repos", str(listing), "--out", str(out)]) == 0
    assert set(repo_counts(out / "curated")) == {"carol/app"}
    assert set(repo_counts(out / "shards")) == {"carol/app"}  # the training shards too
    assert set(repo_counts(out / "01_clone")) == {"carol/app"}  # never cloned
    manifest = RunManifest.require(str(out))
    assert manifest.opt_out[0].digest == OptOutList.load("opt_out").digest
    assert manifest.opt_out_dir == str((tmp_path / "opt_out").resolve())  # absolute: where it was run
    stats = json.loads(
        subprocess.check_output([sys.executable, "-m", "stackcurate.cli", "stats", str(out), "--json"])
    )
    clone = next(s for s in stats["stages"] if s["stage"] == "clone")
    assert clone["removed"]["list_skipped_opted_out"] == 3


def test_purge_removes_exactly_the_targets_rows(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = make_listing(git_repo_factory, tmp_path)
    out = tmp_path / "run"
    opt_dir = tmp_path / "record"
    args = ["--repos", str(listing), "--out", str(out), "--set", f"stages.opt_out.folder={opt_dir}"]
    assert main(["run", STARCODER, *args, "--keep-rejects"]) == 0
    before = {
        folder: repo_counts(out / folder) for folder in ("01_clone", "02_filtered", "curated", "shards")
    }
    assert before["curated"]["alice/site"] == 3

    capsys.readouterr()
    assert main(["opt-out", "check", "alice", "--run", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["repos"] == [{"repo": "Alice/tools", "files": 3}, {"repo": "alice/site", "files": 3}]

    store = OptOutStore(opt_dir)
    store.decide(store.request("owner", "alice").id, "approved")
    assert main(["run", STARCODER, *args, "--keep-rejects"]) == 0  # finished: warns, changes nothing
    assert "opt-out purge" in capsys.readouterr().err
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(opt_dir)]) == 0
    printed = capsys.readouterr().out
    record = RunManifest.require(str(out)).purges[0]
    expected_counts = {
        folder: sum(n for repo, n in counts.items() if repo.lower().startswith("alice/"))
        for folder, counts in before.items()
    }
    for folder, rows in expected_counts.items():  # one count per place, as printed
        assert record.removed[folder] == rows, folder
        assert re.search(rf"^  {folder} +{rows} rows removed", printed, flags=re.MULTILINE), printed
    assert "verified" in printed and "bob" not in printed
    for folder, counts in before.items():
        after = repo_counts(out / folder)
        expected = Counter({repo: n for repo, n in counts.items() if repo.lower().split("/")[0] != "alice"})
        assert after == expected, folder
    assert verify_shards(out / "shards") == []  # the shards' manifest follows the purge
    assert main(["opt-out", "check", "alice", "--run", str(out)]) == 0
    assert "0 repositories, 0 files" in capsys.readouterr().out


def test_purge_of_a_cleaned_run_removes_rows_and_updates_the_shards(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    # without the intermediates no kept copy can hand its place on: the covered rows go, the shards that
    # held them are rewritten (the run's own tokenizer untouched), and the record says what was not done
    listing = make_listing(git_repo_factory, tmp_path)
    out, opt_dir = tmp_path / "run", tmp_path / "record"
    args = ["--repos", str(listing), "--out", str(out), "--set", f"stages.opt_out.folder={opt_dir}"]
    assert main(["run", STARCODER, *args, "--set", "stages.pii=null"]) == 0
    assert main(["clean", str(out), "--intermediates"]) == 0
    tokenizer = (out / "tokenizer.json").read_bytes()
    store = OptOutStore(opt_dir)
    store.decide(store.request("owner", "alice").id, "approved")
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(opt_dir)]) == 0
    assert verify_shards(out / "shards") == []
    assert not any(repo.lower().startswith("alice/") for repo in repo_counts(out / "shards"))
    assert repo_counts(out / "shards") == repo_counts(out / "curated")
    assert (out / "tokenizer.json").read_bytes() == tokenizer
    manifest = RunManifest.require(str(out))
    assert manifest.finished and manifest.purges[0].shards is not None
    assert manifest.purges[0].note is not None and "cleaned" in manifest.purges[0].note


def test_a_purge_after_a_rules_change_is_refused_naming_the_file(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files a purge promotes are redacted with the run's rules: a rules file changed since the run
    (here pii.yaml, an override in rules_dir) makes the purge refuse, naming it, and change nothing."""
    from stackcurate.rules import PACKAGED_RULES

    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(PACKAGED_RULES / "pii.yaml", rules / "pii.yaml")
    out, opt_dir = tmp_path / "run", tmp_path / "record"
    settings = [f"stages.opt_out.folder={opt_dir}", f"rules_dir={rules}", "stages.shards=null"]
    command = ["run", STARCODER, "--repos", str(make_listing(git_repo_factory, tmp_path)), "--out", str(out)]
    assert main([*command, *[x for s in settings for x in ("--set", s)]]) == 0
    before = repo_counts(out / "curated")
    store = OptOutStore(opt_dir)
    store.decide(store.request("owner", "alice").id, "approved")
    with (rules / "pii.yaml").open("a") as handle:
        handle.write("\n# edited after the run\n")
    capsys.readouterr()
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(opt_dir)]) == 2
    error = capsys.readouterr().err
    assert f"input {rules / 'pii.yaml'} changed since {out} was started" in error
    assert repo_counts(out / "curated") == before and not RunManifest.require(str(out)).purges


def test_purge_refuses_an_unfinished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text('{"identity": "0123456789abcdef", "passes": {}}')
    store = OptOutStore(tmp_path / "record")
    store.decide(store.request("owner", "alice").id, "approved")
    assert main(["opt-out", "purge", str(tmp_path / "run"), "--opt-out-dir", str(tmp_path / "record")]) == 2
    assert "is not finished" in capsys.readouterr().err


def test_commands_about_a_run_use_the_record_it_was_made_with(
    git_repo_factory: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The run records its opt-out folder (absolute); `serve RUN` and `opt-out purge RUN` started in
    another folder use it, not an empty ./opt_out there; the next steps a command prints repeat the
    --opt-out-dir it was given."""
    from stackcurate.cli import build_parser
    from stackcurate.optout.cli import record_folder
    from stackcurate.optout.web import create_app

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    listing = make_listing(git_repo_factory, tmp_path)
    out = tmp_path / "run"
    monkeypatch.chdir(work)  # starcoder.yaml's record is ./opt_out
    quick = ["--set", "stages.pii=null", "--set", "stages.shards=null"]
    assert main(["run", STARCODER, "--repos", str(listing), "--out", str(out), *quick]) == 0
    record = work / "opt_out"
    monkeypatch.chdir(elsewhere)
    for command in (["serve", str(out)], ["opt-out", "purge", str(out)]):
        args = build_parser().parse_args(command)
        assert record_folder(args, args.run_dir) == str(record)
    web = create_app(
        out, record_folder(build_parser().parse_args(["serve", str(out)]), str(out))
    ).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/").get_data(as_text=True))
    assert token is not None
    form = {"kind": "repo", "target": "bob/lib", "csrf_token": token.group(1)}
    assert web.post("/opt-out", data=form).status_code == 303
    assert [r.target for r in OptOutStore(record).requests().values()] == ["bob/lib"]  # the run's record
    OptOutStore(record).decide(next(iter(OptOutStore(record).requests())), "approved")
    capsys.readouterr()
    assert main(["opt-out", "purge", str(out)]) == 0  # no --opt-out-dir: the run's record
    assert f"of {record}" in capsys.readouterr().out and "bob/lib" not in repo_counts(out / "curated")
    assert not (elsewhere / "opt_out").exists()

    given = tmp_path / "given record"
    flag = f"--opt-out-dir '{given}'"
    assert main(["opt-out", "request", "--repo", "carol/app", "--opt-out-dir", str(given)]) == 0
    printed = capsys.readouterr().out
    request_id = filed_id(printed)
    assert f"`stackcurate opt-out approve {request_id} {flag}`" in printed
    assert f"`approve --repo carol/app {flag}`" in printed
    assert main(["opt-out", "approve", request_id, "--opt-out-dir", str(given)]) == 0
    assert f"`stackcurate opt-out purge RUN_DIR {flag}`" in capsys.readouterr().out


def test_a_purge_stopped_while_moving_its_files_is_finished_by_the_next(
    git_repo_factory: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The new files are written aside and listed in run.json before they move: a purge that stops then
    leaves a run that refuses to resume and that the next purge finishes."""
    import stackcurate.optout.pending as pending
    import stackcurate.optout.purge  # noqa: F401  (bound to the real finish_commit, which a purge runs first)

    out, opt_dir = tmp_path / "run", tmp_path / "record"
    settings = [f"stages.opt_out.folder={opt_dir}", "stages.pii=null", "stages.shards=null"]
    run = ["run", STARCODER, "--repos", str(make_listing(git_repo_factory, tmp_path)), "--out", str(out)]
    run += [x for s in settings for x in ("--set", s)]
    assert main(run) == 0
    store = OptOutStore(opt_dir)
    store.decide(store.request("owner", "alice").id, "approved")

    def power_cut(manifest: RunManifest) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(pending, "finish_commit", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):
        main(["opt-out", "purge", str(out)])
    monkeypatch.undo()
    stopped = RunManifest.require(str(out))
    assert stopped.purge_commit is not None and not stopped.purges and (out / ".purge").is_dir()
    assert repo_counts(out / "curated")["alice/site"] == 3  # nothing moved yet
    capsys.readouterr()
    assert main(run) == 2
    assert "stopped before all its files were in place" in capsys.readouterr().err
    assert main(["opt-out", "purge", str(out)]) == 0
    assert "finished moving into place" in capsys.readouterr().err
    done = RunManifest.require(str(out))
    assert done.purge_commit is None and done.purges[0].removed["curated"] == 6
    assert not any(repo.lower().startswith("alice/") for repo in repo_counts(out / "curated"))
    assert not (out / ".purge").exists()
    assert main(run) == 0  # finished: nothing to do
