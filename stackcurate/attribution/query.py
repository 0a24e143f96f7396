"""``stackcurate attribute``: is a snippet in the dataset, and where did it come from?

The snippet's fingerprints (its winnowed windows, ``attribution.windows``) are looked up in the membership
filter: the fraction found, and the character spans covered by the windows of found fingerprints (merged)
-- the parts that look copied. A snippet of fewer than ``window + guard - 1`` tokens (13) is too short to
tell: its fingerprints need not be the corpus'. Then a BM25 query
of the snippet's distinct identifiers and keywords finds ``top_k`` candidate files in the full-text index;
for each, the longest exact overlap with the snippet (the longest run of the snippet's consecutive windows
found in the file: exact up to whitespace, linear time) is measured in characters of the snippet, and
candidates are ranked by that overlap, then by BM25 score.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np

from stackcurate.attribution.index import BLOOM_HASH, index_dir
from stackcurate.attribution.windows import TOKEN, token_spans, window_hashes_batch, winnow
from stackcurate.errors import FatalError

MAX_QUERY_TERMS = 48


#: Forges whose file pages are ``<repo_url>/blob/<commit>/<path>`` (GitLab redirects /blob/ to /-/blob/).
BLOB_FORGES = ("github.com", "gitlab.com")


def source_url(repo_url: str, commit: str, path: str) -> str:
    """A link to the file at its commit on the forge, or "" when the repository is not on a known forge
    (a local path, an unknown host): then the repository URL, commit and path say where it is."""
    parts = urlsplit(repo_url)
    if parts.scheme not in ("http", "https") or parts.hostname not in BLOB_FORGES or not commit:
        return ""
    base = repo_url.rstrip("/").removesuffix(".git")
    return f"{base}/blob/{quote(commit)}/{quote(path)}"


@dataclass
class Candidate:
    repo: str
    path: str
    license: str
    url: str
    commit: str
    score: float
    longest_overlap: int
    #: the file on its forge (``source_url``), "" when there is no such page
    file_url: str = ""


@dataclass
class Attribution:
    fingerprints: int
    found: int
    fraction: float
    spans: list[tuple[int, int]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.fingerprints == 0:
            return "too short to tell"
        if self.fraction >= 0.5:
            return "likely copied from the dataset"
        if self.fraction > 0.1:
            return "partly matches the dataset"
        return "not in the dataset"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


class Attributor:
    """Loads ``<run>/index`` once; ``attribute(snippet)`` answers a query."""

    def __init__(self, run_dir: str | Path):
        try:
            import tantivy
            from rbloom import Bloom
        except ImportError:
            raise FatalError("attribution needs rbloom and tantivy: pip install rbloom tantivy") from None
        root = index_dir(run_dir)
        if not (root / "meta.json").exists():
            raise FatalError(
                f"{run_dir} has no attribution index; build it with `stackcurate index build {run_dir}`"
            )
        self.meta = json.loads((root / "meta.json").read_text())
        self.window = int(self.meta["window_tokens"])
        self.guard = int(self.meta.get("guard", 1))  # indexes built before winnowing hold every window
        self.bloom = Bloom.load(str(root / "membership.bloom"), BLOOM_HASH)
        self.index = tantivy.Index.open(str(root / "fulltext"))
        self.index.reload()
        self.searcher = self.index.searcher()

    def _spans(self, text: str) -> tuple[int, int, list[tuple[int, int]]]:
        tokens = token_spans(text)
        hashes, counts = window_hashes_batch([text], self.window)
        assert len(hashes) == max(0, len(tokens) - self.window + 1), "tokenizer and kernel disagree"
        if len(hashes) < self.guard:
            return 0, 0, []  # too short: its fingerprints need not be the corpus'
        chosen = winnow(hashes, counts, self.guard).tolist()
        found = [h in self.bloom for h in hashes[chosen].view(np.int64).tolist()]
        spans: list[tuple[int, int]] = []
        for i, hit in zip(chosen, found, strict=True):
            if not hit:
                continue
            start, end = tokens[i][0], tokens[i + self.window - 1][1]
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        return len(chosen), sum(found), spans

    def _query(self, text: str) -> Any:
        words: dict[str, None] = {}
        for match in TOKEN.finditer(text):
            # tantivy's default tokenizer splits on every non-alphanumeric (``_`` too) and drops tokens
            # over 40 bytes: query the same terms
            for word in match.group(0).lower().split("_"):
                if word and word.isalnum() and len(word.encode("utf-8")) <= 40:
                    words.setdefault(word, None)
        ranked = sorted(words, key=len, reverse=True)[:MAX_QUERY_TERMS]  # long names are the distinctive ones
        if not ranked:
            return None
        import tantivy

        terms = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self.index.schema, "content", word))
            for word in ranked
        ]
        return tantivy.Query.boolean_query(terms)

    def _longest_overlap(self, tokens: list[tuple[int, int]], hashes: np.ndarray, content: str) -> int:
        """Characters of the snippet's longest run of consecutive windows that all occur in ``content``
        (0 when no window does): an exact overlap up to whitespace, found in linear time."""
        if not len(hashes):
            return 0
        content_hashes, _ = window_hashes_batch([content], self.window)
        matched = np.isin(hashes, content_hashes)
        best, best_start, run = 0, 0, 0
        for i, hit in enumerate(matched.tolist()):
            run = run + 1 if hit else 0
            if run > best:
                best, best_start = run, i - run + 1
        if not best:
            return 0
        return tokens[best_start + best - 1 + self.window - 1][1] - tokens[best_start][0]

    def attribute(self, snippet: str, top_k: int = 5) -> Attribution:
        fingerprints, found, spans = self._spans(snippet)
        fraction = round(found / fingerprints, 4) if fingerprints else 0.0
        result = Attribution(fingerprints, found, fraction, spans)
        query = self._query(snippet)
        if query is None:
            return result
        tokens = token_spans(snippet)
        snippet_hashes, _ = window_hashes_batch([snippet], self.window)
        candidates = []
        for score, address in self.searcher.search(query, limit=top_k).hits:
            doc = self.searcher.doc(address)
            overlap = self._longest_overlap(tokens, snippet_hashes, doc.get_first("content") or "")
            candidates.append(
                Candidate(
                    repo=doc.get_first("repo") or "",
                    path=doc.get_first("path") or "",
                    license=doc.get_first("license") or "",
                    url=doc.get_first("url") or "",
                    commit=doc.get_first("commit") or "",
                    score=round(float(score), 3),
                    longest_overlap=overlap,
                    file_url=source_url(
                        doc.get_first("url") or "", doc.get_first("commit") or "", doc.get_first("path") or ""
                    ),
                )
            )
        result.candidates = sorted(candidates, key=lambda c: (-c.longest_overlap, -c.score))
        return result
