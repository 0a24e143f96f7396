"""Dedup decisions join onto the curate pass's stream by file identity: a stream that lost, gained or
reordered a file since the decisions were written stops the run with an error naming the pass and file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import python_file
from datatrove.data import Document

from stackcurate.dedup.exact import ExactDedupDecide, ExactDedupFilter, ExactDedupHashes
from stackcurate.dedup.near import NearDedupClusters, NearDedupFilter, NearDedupPairs, NearDedupSignatures
from stackcurate.errors import FatalError


def stream() -> list[Document]:
    """Five files: two identical copies (one kept), three distinct ones."""
    texts = [python_file(1), python_file(2), python_file(1), python_file(3), python_file(4)]
    return [
        Document(
            text=text,
            id=f"blob{i}",
            metadata={"repo": f"owner{i}/repo", "path": "m.py", "license_class": "permissive", "stars": i},
        )
        for i, text in enumerate(texts)
    ]


def exact_decisions(tmp_path: Path) -> Path:
    list(ExactDedupHashes(str(tmp_path / "hashes"), buckets=2).run(iter(stream())))
    list(ExactDedupDecide(str(tmp_path / "hashes"), str(tmp_path / "decisions"), buckets=2).run())
    return tmp_path / "decisions"


def test_exact_decisions_apply_to_the_same_stream(tmp_path: Path) -> None:
    kept = list(ExactDedupFilter(str(exact_decisions(tmp_path))).run(iter(stream())))
    assert [doc.metadata["repo"] for doc in kept] == [
        "owner1/repo",
        "owner2/repo",
        "owner3/repo",
        "owner4/repo",
    ]
    assert kept[1].metadata["duplicate_repos"] == ["owner0/repo"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda docs: docs[1:], r"exact dedup: the decision at position 0 is for owner0/repo:m.py"),
        (
            lambda docs: docs[:2] + docs[3:],
            r"decision at position 2 is for owner2/repo:m.py .* stream has owner3",
        ),
        (lambda docs: docs[:4], r"1 decisions name files missing from the stream of 4 files, first owner4"),
        (lambda docs: docs + docs[:1], r"exact dedup: no decision for file owner0/repo:m.py \(id blob0\)"),
    ],
)
def test_a_changed_stream_is_a_fatal_error_naming_pass_and_file(tmp_path: Path, change, message) -> None:  # type: ignore[no-untyped-def]
    decisions = exact_decisions(tmp_path)
    with pytest.raises(FatalError, match=message):
        list(ExactDedupFilter(str(decisions)).run(iter(change(stream()))))


def test_near_decisions_are_checked_by_identity(tmp_path: Path) -> None:
    folder = str(tmp_path / "minhash")
    list(NearDedupSignatures(folder, groups=1).run(iter(stream())))
    list(NearDedupPairs(folder, groups=1).run())
    list(NearDedupClusters(folder).run())
    kept = list(NearDedupFilter(folder).run(iter(stream())))
    assert [doc.metadata["repo"] for doc in kept] == [
        "owner1/repo",
        "owner2/repo",
        "owner3/repo",
        "owner4/repo",
    ]
    swapped = stream()
    swapped[0], swapped[3] = swapped[3], swapped[0]
    with pytest.raises(FatalError, match=r"near dedup: the decision at position 0 is for owner0/repo:m.py"):
        list(NearDedupFilter(folder).run(iter(swapped)))
