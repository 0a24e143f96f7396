"""``LanguageFilter``: keep the files whose language (from ``rules/languages.yaml``) is selected."""

from __future__ import annotations

from collections.abc import Iterable

from datatrove.data import Document
from datatrove.pipeline.writers.disk_base import DiskWriter

from stackcurate.errors import FatalError
from stackcurate.rules import load_language_map
from stackcurate.stage import FileFilter


class LanguageFilter(FileFilter):
    """Keep files of the selected languages.

    ``keep`` is ``"all"`` (every language the rules file maps), ``"starcoderdata"`` (the 86 languages
    StarCoderData kept, arXiv 2305.06161 Table 1), or a list of language names. Drop reasons:
    ``unknown_language`` (no extension or file-name match) and ``language_not_selected``.

    Files with an ambiguous extension that has content heuristics (``heuristics:`` in languages.yaml:
    ``.h`` C / C++ / Objective-C, ``.m`` Objective-C / MATLAB / Mathematica, ``.pl`` Perl / Prolog /
    Raku, ``.ts`` TypeScript / Qt translation XML) get their ``language`` resolved first (counted as
    ``resolved_<language>``), so the selection sees the right language.
    """

    name = "language"

    def __init__(
        self,
        keep: str | Iterable[str] = "all",
        rules_dir: str | None = None,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer)
        languages = self.languages = load_language_map(rules_dir)
        if keep == "all":
            self.keep = frozenset(languages.languages)
        elif keep == "starcoderdata":
            self.keep = frozenset(languages.starcoderdata)
        elif isinstance(keep, str):
            raise FatalError(
                f"languages.keep must be 'all', 'starcoderdata' or a list of names, got {keep!r}"
            )
        else:
            self.keep = frozenset(keep)
            unknown = sorted(self.keep - languages.languages)
            if unknown:
                raise FatalError(f"languages.keep names languages missing from languages.yaml: {unknown}")

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        language = doc.metadata.get("language")
        extension = doc.metadata.get("extension") or ""
        if extension in self.languages.heuristics:
            resolved = self.languages.resolve(extension, language, doc.text)
            if resolved != language:
                self.stat_update(f"resolved_{resolved}")
                doc.metadata["language"] = language = resolved
        if language is None:
            return False, "unknown_language"
        if language not in self.keep:
            return False, "language_not_selected"
        return True
