"""The README states what the code does, and the code cites the project's own documentation."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_names_the_python_the_package_requires() -> None:
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = re.search(r"(\d+\.\d+)", required)
    assert version and f"Python {version.group(1)}+" in README
    assert not re.search(r"Python 3\.(?:[0-9]|10)\+", README)


def test_the_readme_makes_no_claim_the_code_does_not_keep() -> None:
    for claim in ("swapped in atomically", "sized for the configured false-positive rate"):
        assert claim not in README, claim
    index = (ROOT / "stackcurate" / "attribution" / "index.py").read_text()
    assert "curated_bytes(run_dir) // per_fingerprint" in index  # the filter is sized from the bytes
    assert "name changed" not in (ROOT / "stackcurate" / "optout" / "apply.py").read_text()


def test_comments_cite_docs_in_the_repository() -> None:
    cited = []
    for folder in ("stackcurate", "tests", "docs", "benchmarks", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".yaml") or path.name == "test_docs.py":
                continue
            if re.search(r"\b(DESIGN|STYLE)\.md", path.read_text(encoding="utf-8")):
                cited.append(str(path.relative_to(ROOT)))
    assert cited == [] and not re.search(r"\b(DESIGN|STYLE)\.md", README)
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for section in ("## Passes and folders", "Decisions join by id", "## Invariants", "## Opt-out"):
        assert section in architecture
