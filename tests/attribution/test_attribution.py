"""Attribution: membership filter + full-text index over a run's curated output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import MIT_TEXT

from stackcurate.attribution.query import Attributor
from stackcurate.attribution.windows import token_spans, window_hashes_batch, winnow
from stackcurate.cli import main
from stackcurate.optout.store import OptOutStore

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")


def owner_of(name: str) -> str:
    names = sorted(stdlib_sources())
    return "psf/lib" if name in names[: len(names) // 2] else "mail/lib"


def stdlib_sources() -> dict[str, str]:
    import email
    import json as json_module

    paths = (
        sorted(Path(json_module.__file__).parent.glob("*.py"))
        + sorted(Path(email.__file__).parent.glob("*.py"))[:12]
    )
    return {path.name: path.read_text(encoding="utf-8") for path in paths}


@pytest.fixture(scope="module")
def indexed_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from conftest import make_git_repo

    root = tmp_path_factory.mktemp("attr")
    sources = stdlib_sources()
    names = sorted(sources)
    lines = ["url,stars,forks"]
    for owner, chunk in (("psf", names[: len(names) // 2]), ("mail", names[len(names) // 2 :])):
        repo = make_git_repo(
            root / "repos", f"{owner}/lib", {"LICENSE": MIT_TEXT, **{f"src/{n}": sources[n] for n in chunk}}
        )
        lines.append(f"{repo},5,0")
    (root / "repos.csv").write_text("\n".join(lines) + "\n")
    out = root / "run"
    record = root / "record"
    args = ["run", STARCODER, "--repos", str(root / "repos.csv"), "--out", str(out)]
    assert (
        main(
            [*args, "--set", f"stages.opt_out.folder={record}", "--set", "stages.shards.train_vocab_size=400"]
        )
        == 0
    )
    assert main(["index", "build", str(out), "--fp-rate", "0.01"]) == 0
    return {"out": out, "record": record}


def test_the_kernel_and_the_span_tokenizer_agree() -> None:
    for text in [*stdlib_sources().values(), "naïve_ü = données['clé'] + 3.14  # ✓ 🚀\n\t\r\n", "", "x"]:
        hashes, counts = window_hashes_batch([text], 10)
        assert len(hashes) == counts[0] == max(0, len(token_spans(text)) - 9)
    a, _ = window_hashes_batch(["def f(a, b):\n    return a + b  # sum of a and b\n"], 5)
    b, _ = window_hashes_batch(["def f( a,b ):\n  return a+b # sum of a and b"], 5)
    assert a.tolist() == b.tolist()  # reformatting does not change windows


def test_every_fingerprint_of_a_long_enough_passage_is_a_fingerprint_of_its_source() -> None:
    """Winnowing's guarantee, which lets the filter hold one window in three: a passage of at least
    window + guard - 1 tokens has only fingerprints its source has too."""
    rng = random.Random(1)
    for text in stdlib_sources().values():
        hashes, counts = window_hashes_batch([text], 10)
        source = set(hashes[winnow(hashes, counts, 4)].tolist())
        assert 0.3 < len(source) / max(len(set(hashes.tolist())), 1) < 0.5 or len(hashes) < 50
        spans = token_spans(text)
        for _ in range(5):
            size = rng.randint(13, 60)
            if len(spans) <= size:
                continue
            start = rng.randrange(len(spans) - size)
            passage = text[spans[start][0] : spans[start + size - 1][1]]
            part, part_counts = window_hashes_batch([passage], 10)
            assert set(part[winnow(part, part_counts, 4)].tolist()) <= source
    hashes, counts = window_hashes_batch(["a b c d e f g h i j k l m n o p", "x", "1 2 3 4 5 6 7 8 9 10"], 10)
    chosen = winnow(hashes, counts, 4)
    assert counts.tolist() == [7, 0, 1] and chosen[-1] == 7
    assert chosen.tolist() == sorted(set(chosen.tolist()))
    assert winnow(hashes, counts, 1).tolist() == list(range(8))  # guard 1: every window


def test_a_copied_reformatted_snippet_is_found_ranked_first_with_its_license(
    indexed_run: dict[str, Path],
) -> None:
    source = stdlib_sources()["decoder.py"]
    lines = source.splitlines()
    snippet = "\n".join("  " + line.strip() for line in lines[120:160])  # re-indented copy
    result = Attributor(indexed_run["out"]).attribute(snippet)
    assert result.fraction > 0.9 and result.verdict == "likely copied from the dataset"
    top = result.candidates[0]
    assert (top.repo, top.path, top.license) == (owner_of("decoder.py"), "src/decoder.py", "MIT")
    assert top.longest_overlap > 300 and top.url.startswith("file://")


def test_new_code_is_not_in_the_dataset(
    indexed_run: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = (
        "def bake_sourdough(starter_grams: int, hydration: float) -> dict:\n"
        "    flour = starter_grams * 5\n    water = round(flour * hydration)\n"
        "    return {'flour': flour, 'water': water, 'salt': flour // 50, 'rest_hours': 18}\n"
    )
    result = Attributor(indexed_run["out"]).attribute(snippet)
    assert result.verdict == "not in the dataset" and result.fraction < 0.1
    assert all(candidate.longest_overlap < 40 for candidate in result.candidates)
    path = indexed_run["out"].parent / "new.py"
    path.write_text(snippet)
    assert main(["attribute", str(path), "--run", str(indexed_run["out"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "not in the dataset"
    short = Attributor(indexed_run["out"]).attribute("return x + y")  # 4 tokens: under one window
    assert short.verdict == "too short to tell" and short.fingerprints == 0


def test_measured_false_positive_rate_is_near_the_configured_one(indexed_run: dict[str, Path]) -> None:
    attributor = Attributor(indexed_run["out"])
    rng = random.Random(0)
    probes = [rng.getrandbits(64) for _ in range(50_000)]
    rate = sum(p in attributor.bloom for p in probes) / len(probes)
    assert rate <= 2 * 0.01


def test_after_purge_the_repo_is_no_longer_attributed(
    indexed_run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(indexed_run["out"], out)
    snippet = "\n".join(stdlib_sources()["decoder.py"].splitlines()[120:160])
    owner = owner_of("decoder.py")
    assert Attributor(out).attribute(snippet).candidates[0].repo == owner
    store = OptOutStore(tmp_path / "record")
    store.decide(store.request("repo", owner).id, "approved")
    assert main(["opt-out", "purge", str(out), "--opt-out-dir", str(tmp_path / "record")]) == 0
    after = Attributor(out).attribute(snippet)
    assert after.fraction < 0.2 and all(c.repo != owner for c in after.candidates)


def test_the_attribution_page(indexed_run: dict[str, Path], tmp_path: Path) -> None:
    import re

    from stackcurate.optout.web import create_app

    client = create_app(indexed_run["out"], tmp_path / "record").test_client()
    form = client.get("/attribute").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    snippet = "\n".join(stdlib_sources()["decoder.py"].splitlines()[120:150]) + "\n<script>alert(1)</script>"
    page = client.post("/attribute", data={"snippet": snippet, "csrf_token": token}).get_data(as_text=True)
    assert "likely copied from the dataset" in page and "src/decoder.py" in page and "MIT" in page
    assert "<script>alert(1)</script>" not in page


def test_a_candidate_links_its_file_on_a_known_forge_only() -> None:
    from stackcurate.attribution.query import source_url

    commit = "0123456789abcdef0123456789abcdef01234567"
    assert source_url("https://github.com/psf/requests", commit, "src/requests/api.py") == (
        f"https://github.com/psf/requests/blob/{commit}/src/requests/api.py"
    )
    assert source_url("https://gitlab.com/a/b.git", commit, "dir with space/x.py") == (
        f"https://gitlab.com/a/b/blob/{commit}/dir%20with%20space/x.py"
    )
    for url in ("file:///work/sample/pypi/rich", "/work/sample/pypi/rich", "https://example.org/a/b"):
        assert source_url(url, commit, "x.py") == ""  # no page to link: the URL and commit are shown instead
    assert source_url("https://github.com/psf/requests", "", "x.py") == ""
