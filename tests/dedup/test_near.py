"""Near dedup (MinHash LSH): the kernel against datasketch and exact Jaccard on real files, the passes on
real git repositories, verify, bucket groups and the clusters' priority."""

from __future__ import annotations

import inspect
import json
import random
import re
import shlex
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import MIT_TEXT
from datasketch import MinHash
from datatrove.data import Document
from test_runner import sorted_rows

import stackcurate
from stackcurate.cli import main
from stackcurate.dedup.minhash import (
    MinHasher,
    estimate_jaccard,
    jaccard,
    shingle_hashes,
    shingles,
)
from stackcurate.dedup.near import (
    NearDedupClusters,
    NearDedupPairs,
    NearDedupSignatures,
    candidate_pairs,
    groups_for,
    iter_clusters,
)
from stackcurate.lsh import optimal_bands
from stackcurate.parquet_io import iter_rows

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
WRAP = inspect.getsource(textwrap)


def real_files(limit: int = 40) -> list[str]:
    """Real Python sources: this package's modules and standard-library modules."""
    import email
    import json as json_module

    paths = sorted(Path(stackcurate.__file__).parent.rglob("*.py"))
    paths += sorted(Path(json_module.__file__).parent.glob("*.py"))
    paths += sorted(Path(email.__file__).parent.glob("*.py"))
    texts = [path.read_text(encoding="utf-8") for path in paths]
    return [text for text in texts if len(shingles(text)) > 100][:limit]


def mutate(text: str, rng: random.Random) -> str:
    """A copy with a random share of its lines dropped (a range of Jaccard similarities)."""
    rate = rng.uniform(0.02, 0.6)
    return "\n".join(line for line in text.splitlines() if rng.random() > rate)


def datasketch_jaccard(a: str, b: str) -> float:
    sketches = []
    for text in (a, b):
        sketch = MinHash(num_perm=256, seed=42)
        sketch.update_batch([s.encode("utf-8") for s in shingles(text)])
        sketches.append(sketch)
    return float(sketches[0].jaccard(sketches[1]))


def test_estimates_agree_with_datasketch_and_exact_jaccard_on_real_files() -> None:
    rng = random.Random(7)
    hasher = MinHasher()
    ours, reference, exact = [], [], []
    for text in real_files():
        copy = mutate(text, rng)
        sigs, _ = hasher.signatures([text, copy])
        ours.append(estimate_jaccard(sigs[0], sigs[1]))
        reference.append(datasketch_jaccard(text, copy))
        exact.append(jaccard(shingles(text), shingles(copy)))
    ours_a, reference_a, exact_a = np.array(ours), np.array(reference), np.array(exact)
    assert len(ours) >= 30 and exact_a.min() < 0.6 < exact_a.max()  # a real range of similarities
    assert np.abs(ours_a - reference_a).mean() <= 0.05
    assert np.abs(ours_a - reference_a).max() <= 0.15
    # our estimator is as good as datasketch's against the truth
    assert np.abs(ours_a - exact_a).mean() <= np.abs(reference_a - exact_a).mean() + 0.01


def test_kernel_shingles_are_the_reference_shingles() -> None:
    texts = [*real_files(10), "naïve café = données_1 + ünïcode\n" * 3]
    for text, hashes in zip(texts, shingle_hashes(texts, 5), strict=True):
        assert len(hashes) == len(shingles(text))
    text = "def f(a, b):\n    return a + b  # sum\n"
    reformatted = "def f( a,b ) :\n  return a+b # sum"
    sigs, tokens = MinHasher().signatures([text, reformatted, "x = 1\n", ""])
    assert (sigs[0] == sigs[1]).all()  # only separators changed: same tokens, same shingles
    assert tokens.tolist() == [8, 8, 2, 0]


def test_optimal_banding_is_starcoders() -> None:
    assert optimal_bands(0.7, 256) == (25, 10)


def test_candidate_pairs_star_and_small_bucket_pairs() -> None:
    buckets = pl.DataFrame(
        {"band": [0, 0, 0, 1, 1, 2], "key": [7, 7, 7, 9, 9, 3], "doc": [5, 3, 8, 3, 8, 1]},
        schema={"band": pl.UInt8, "key": pl.UInt64, "doc": pl.Int64},
    )
    star = candidate_pairs(buckets)
    assert star.rows() == [(3, 5), (3, 8)]
    everything = candidate_pairs(buckets, all_pairs_up_to=3)
    assert everything.rows() == [(3, 5), (3, 8), (5, 8)]


def doc(text: str, name: str, stars: int = 0) -> Document:
    return Document(
        text=text,
        id=name,
        metadata={"repo": f"org/{name}", "path": "f.py", "license_class": "permissive", "stars": stars},
    )


def run_passes(
    folder: Path, shards: list[list[Document]], groups: int, verify: bool = False, extra_pairs=None
) -> dict[str, dict]:
    for rank, shard in enumerate(shards):
        list(NearDedupSignatures(str(folder), groups, verify=verify).run(iter(shard), rank, len(shards)))
    for rank in range(2):
        list(NearDedupPairs(str(folder), groups, 64 if verify else 0).run(None, rank, 2))
    if extra_pairs is not None:
        extra_pairs.write_parquet(folder / "pairs" / "99999.parquet")
    list(NearDedupClusters(str(folder), verify=verify).run(None, 0, 1))
    by_key = {}
    for rank, shard in enumerate(shards):
        for index, document in enumerate(shard):
            by_key[(rank, index)] = document.id
    return {by_key[(row["origin"], row["index"])]: row for row in iter_clusters(str(folder))}


def test_results_do_not_depend_on_the_bucket_groups(tmp_path: Path) -> None:
    rng = random.Random(3)
    texts = real_files(24)
    docs = [doc(text, f"f{i}") for i, text in enumerate(texts)]
    docs += [doc(mutate(text, rng) if i % 2 else text, f"copy{i}", 1) for i, text in enumerate(texts[:12])]
    shards = [docs[0::3], docs[1::3], docs[2::3]]
    one = run_passes(tmp_path / "one", shards, groups=1)
    many = run_passes(tmp_path / "many", shards, groups=7)
    assert one == many
    assert len(list((tmp_path / "many" / "buckets").iterdir())) == 7
    assert {name for name, row in one.items() if not row["keep"]} >= {f"f{i}" for i in range(0, 12, 2)}


def test_verify_removes_pairs_below_the_threshold(tmp_path: Path) -> None:
    base = real_files(1)[0]
    lines = base.splitlines()
    half = "\n".join(lines[: len(lines) // 2])
    assert jaccard(shingles(base), shingles(half)) < 0.7
    shards = [[doc(base, "base", 5), doc(half, "half")]]
    false_positive = pl.DataFrame({"a": [0], "b": [1]})  # as if LSH had paired them
    merged = run_passes(tmp_path / "plain", shards, 1, verify=False, extra_pairs=false_positive)
    assert merged["half"]["keep"] is False and merged["half"]["cluster_id"] == "base"
    verified = run_passes(tmp_path / "verified", shards, 1, verify=True, extra_pairs=false_positive)
    assert verified == {}


def near_copies() -> dict[str, str]:
    """textwrap.py and three near copies StarCoder's near dedup must catch, plus look-alike controls."""
    renamed = re.sub(r"\bTextWrapper\b", "LineWrapper", WRAP)
    reformatted = WRAP.replace("    ", "  ").replace(", ", ",").replace(" = ", "=")
    comments = iter(range(1000))
    commented = re.sub(  # every fifth comment line reworded, a header added
        r"^(\s*)# .*$",
        lambda m: f"{m.group(1)}# reworded note" if next(comments) % 5 == 0 else m.group(0),
        WRAP,
        flags=re.MULTILINE,
    )
    commented = "# Vendored copy of textwrap, see upstream for changes.\n" + commented
    return {"renamed": renamed, "reformatted": reformatted, "commented": commented}


def make_listing(factory: Callable[..., Path], tmp_path: Path) -> Path:
    copies = near_copies()
    repos = [
        ("alice/wrap", 5, {"wrap.py": WRAP}),
        ("bob/wrap-renamed", 50, {"wrap.py": copies["renamed"]}),
        ("carol/wrap-fmt", 1, {"src/wrap.py": copies["reformatted"]}),
        ("dave/tools", 2, {"vendor/textwrap.py": copies["commented"], "split.py": inspect.getsource(shlex)}),
        ("erin/mirror", 0, {"textwrap.py": WRAP, "tiny.py": "x = 1\n"}),
    ]
    lines = ["url,stars,forks"]
    for name, stars, files in repos:
        path = factory(name, {"LICENSE": MIT_TEXT, **files})
        lines.append(f"{path},{stars},0")
    listing = tmp_path / "repos.csv"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def test_near_copies_collapse_to_the_best_ranked_file(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, text in near_copies().items():
        # the premise: well above 0.7, where 25 x 10 LSH misses a pair with probability < 1e-3
        assert jaccard(shingles(WRAP), shingles(text)) > 0.88, name
    listing = make_listing(git_repo_factory, tmp_path)
    out = tmp_path / "run"
    common = ["--repos", str(listing), "--out", str(out), "--tasks", "3", "--workers", "1"]
    assert main(["run", STARCODER, *common]) == 0

    rows = {(r["repo"], r["path"]): r for r in iter_rows(str(out / "curated"))}
    kept_files = {("bob/wrap-renamed", "wrap.py"), ("dave/tools", "split.py"), ("erin/mirror", "tiny.py")}
    assert set(rows) == kept_files
    kept = rows["bob/wrap-renamed", "wrap.py"]
    # 4: alice's, carol's and dave's copies; erin's exact copy of alice's went in exact dedup
    assert kept["cluster_size"] == 4 and kept["cluster_id"] == kept["id"]
    assert rows["dave/tools", "split.py"]["cluster_size"] == 1
    assert rows["erin/mirror", "tiny.py"]["cluster_size"] == 1

    capsys.readouterr()
    assert main(["stats", str(out), "--json"]) == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["exact dedup"]["removed"] == {"dropped_exact_duplicate": 1}
    assert stages["near dedup"]["removed"] == {"dropped_near_duplicate": 3}
    assert stages["near dedup: signatures"]["counters"]["too_short"] == 1
    assert stages["near dedup: clusters"]["counters"]["clusters"] == 1
    assert main(["stats", str(out)]) == 0
    assert "files too short to shingle (kept)" in capsys.readouterr().out


def test_near_dedup_alone_also_collapses_identical_files(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    listing = make_listing(git_repo_factory, tmp_path)
    config = tmp_path / "near.yaml"
    config.write_text(
        f"repos: {listing}\nout: {tmp_path / 'run'}\nkeep_rejects: true\n"
        "stages:\n  licenses: {}\n  languages: {keep: [python]}\n  near_dedup: {verify: true}\n"
    )
    assert main(["run", str(config), "--tasks", "2", "--workers", "1"]) == 0
    rows = {(r["repo"], r["path"]): r for r in iter_rows(str(tmp_path / "run" / "curated"))}
    assert rows["bob/wrap-renamed", "wrap.py"]["cluster_size"] == 5
    rejects = iter_rows(str(tmp_path / "run" / "rejects" / "near_dedup"))
    rejected = sorted((r["repo"], r["filter_reason"]) for r in rejects)
    assert rejected == [
        ("alice/wrap", "near_duplicate"),
        ("carol/wrap-fmt", "near_duplicate"),
        ("dave/tools", "near_duplicate"),
        ("erin/mirror", "near_duplicate"),
    ]


def test_bucket_groups_follow_the_memory_setting() -> None:
    assert groups_for(1_000, 25, 512) == 1
    assert groups_for(100_000_000, 25, 512) == 547  # 100M files: 2.5G bucket rows, ~4.6M per group
    assert groups_for(100_000_000, 25, 2048) == 137


def test_a_run_stopped_inside_near_dedup_resumes_to_the_same_output(
    git_repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    listing = make_listing(git_repo_factory, tmp_path)
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    common = ["--repos", str(listing), "--tasks", "3", "--workers", "1"]
    assert main(["run", STARCODER, *common, "--out", str(reference)]) == 0
    assert main(["run", STARCODER, *common, "--out", str(resumed)]) == 0
    # the state a driver killed while the pairs pass ran leaves: signatures done, pairs half written
    # (a finished group file, a temporary one), no clusters, no curated output
    for pass_name in ("near_pairs", "near_clusters", "curate"):
        shutil.rmtree(resumed / "logs" / pass_name)
    shutil.rmtree(resumed / "minhash" / "clusters")
    shutil.rmtree(resumed / "curated")
    (resumed / "minhash" / "pairs" / "00000.parquet.tmp-deadbeef").write_bytes(b"PAR1 truncated")

    assert main(["run", STARCODER, *common, "--out", str(resumed)]) == 0
    assert sorted_rows(resumed / "curated") == sorted_rows(reference / "curated")
    assert list(iter_clusters(str(resumed / "minhash"))) == list(iter_clusters(str(reference / "minhash")))
