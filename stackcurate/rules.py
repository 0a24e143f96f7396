"""Load the data-driven rules in ``rules/*.yaml`` (rules are data: docs/architecture.md, "Code layout").

Rules are looked up in this order: the ``rules_dir`` named in the pipeline file, then the ``rules/`` folder
shipped with the package. Every loader validates what it reads and raises ``FatalError`` naming the file and
the key at fault, so a typo in a rules file stops the run before any work is done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from stackcurate.errors import FatalError

PACKAGED_RULES = Path(__file__).parent / "rules_data"


def rules_path(name: str, rules_dir: str | None = None) -> Path:
    """Path of rules file ``name`` (e.g. ``languages.yaml``), preferring ``rules_dir`` when it has one."""
    if rules_dir:
        candidate = Path(rules_dir) / name
        if candidate.is_file():
            return candidate
    candidate = PACKAGED_RULES / name
    if not candidate.is_file():
        raise FatalError(f"rules file {name} not found in {rules_dir or '(none)'} nor in {PACKAGED_RULES}")
    return candidate


#: libyaml's parser where PyYAML was built with it (safe tags only, as ``yaml.safe_load``): a rules file is
#: parsed in every task process that uses it, and the pure-Python parser takes ten times as long
_RULES_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a rules file, which must hold a mapping."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_RULES_LOADER)  # a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise FatalError(f"cannot read rules file {path}: {error}") from None
    if not isinstance(data, dict):
        raise FatalError(f"rules file {path} must hold a mapping at the top level")
    return data


def _string_list(data: dict[str, Any], key: str, path: Path) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FatalError(f"{path}: {key!r} must be a list of strings")
    return value


@dataclass(frozen=True)
class LanguageMap:
    """Extension and file-name -> language, from ``rules/languages.yaml``.

    Extensions are matched lower-cased; ``filenames`` (exact, case-sensitive) win over extensions.
    ``ambiguous`` lists extensions several languages claim, default first (the language filter may use
    content heuristics on them).
    """

    by_extension: dict[str, str]
    by_filename: dict[str, str]
    starcoderdata: tuple[str, ...]
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    heuristics: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = field(default_factory=dict)

    def resolve(self, extension: str, language: str | None, text: str) -> str | None:
        """The language of a file whose extension is ambiguous, from ``heuristics`` on its first 8 KB;
        ``language`` (the extension's default) when no rule matches or the extension has no rules."""
        rules = self.heuristics.get(extension)
        if not rules:
            return language
        head = text[:8192]
        for candidate, pattern in rules:
            if pattern.search(head):
                return candidate
        return language

    @property
    def languages(self) -> frozenset[str]:
        return (
            frozenset(self.by_extension.values())
            | frozenset(self.by_filename.values())
            | frozenset(self.starcoderdata)
        )

    def detect(self, path: str) -> tuple[str | None, str]:
        """(language or None, lower-case extension without dot, '' when none) for a repository path."""
        name = PurePosixPath(path).name
        extension = name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else ""
        language = self.by_filename.get(name)
        if language is None and extension:
            language = self.by_extension.get(extension)
        return language, extension


@lru_cache(maxsize=8)
def load_language_map(rules_dir: str | None = None) -> LanguageMap:
    """Parse and validate ``languages.yaml``; an extension claimed twice is a fatal error."""
    path = rules_path("languages.yaml", rules_dir)
    data = load_yaml(path)
    languages = data.get("languages")
    if not isinstance(languages, dict) or not languages:
        raise FatalError(f"{path}: 'languages' must be a non-empty mapping of language -> extensions")
    by_extension: dict[str, str] = {}
    by_filename: dict[str, str] = {}
    for language, spec in languages.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise FatalError(f"{path}: languages.{language} must be a mapping with 'extensions'/'filenames'")
        for extension in _string_list(spec, "extensions", path):
            key = extension.lower().lstrip(".")
            if key in by_extension and by_extension[key] != language:
                raise FatalError(
                    f"{path}: extension {key!r} listed under both {by_extension[key]} and {language}; "
                    "keep it under one language and list it in 'ambiguous'"
                )
            by_extension[key] = str(language)
        for filename in _string_list(spec, "filenames", path):
            by_filename[filename] = str(language)
    starcoderdata = tuple(_string_list(data, "starcoderdata", path))
    unknown = [name for name in starcoderdata if name not in languages]
    if unknown:
        raise FatalError(f"{path}: starcoderdata names languages that are not defined: {unknown}")
    ambiguous_raw = data.get("ambiguous", {}) or {}
    if not isinstance(ambiguous_raw, dict):
        raise FatalError(f"{path}: 'ambiguous' must map an extension to a list of languages")
    ambiguous = {str(ext).lower(): tuple(langs) for ext, langs in ambiguous_raw.items()}
    return LanguageMap(
        by_extension, by_filename, starcoderdata, ambiguous, _heuristics(data, ambiguous, path)
    )


def _heuristics(
    data: dict[str, Any], ambiguous: dict[str, tuple[str, ...]], path: Path
) -> dict[str, tuple[tuple[str, re.Pattern[str]], ...]]:
    raw = data.get("heuristics", {}) or {}
    if not isinstance(raw, dict):
        raise FatalError(f"{path}: 'heuristics' must map an extension to a list of rules")
    heuristics: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {}
    for extension, rules in raw.items():
        key = str(extension).lower()
        if not isinstance(rules, list):
            raise FatalError(f"{path}: heuristics.{key} must be a list of {{language, pattern}} rules")
        compiled = []
        for rule in rules:
            if not isinstance(rule, dict) or set(rule) != {"language", "pattern"}:
                raise FatalError(f"{path}: heuristics.{key}: a rule needs exactly 'language' and 'pattern'")
            if rule["language"] not in ambiguous.get(key, ()):
                raise FatalError(
                    f"{path}: heuristics.{key}: {rule['language']!r} is not listed in ambiguous.{key}"
                )
            try:
                compiled.append((str(rule["language"]), re.compile(str(rule["pattern"]), re.MULTILINE)))
            except re.error as error:
                message = f"{path}: heuristics.{key}: bad pattern {rule['pattern']!r}: {error}"
                raise FatalError(message) from None
        heuristics[key] = tuple(compiled)
    return heuristics


@dataclass(frozen=True)
class FileRules:
    """Binary-file rules from ``rules/files.yaml``."""

    binary_extensions: frozenset[str]
    binary_magic: tuple[bytes, ...]
    #: names of files decoded as Windows-1252 when they are not UTF-8 (license evidence), or None
    legacy_encoding_names: re.Pattern[str] | None = None

    def looks_binary(self, head: bytes) -> bool:
        return any(head.startswith(magic) for magic in self.binary_magic)

    def legacy_encoding(self, path: str) -> bool:
        """Whether a file at ``path`` that is not UTF-8 is read as Windows-1252 (``legacy_encoding_names``
        on its name)."""
        pattern = self.legacy_encoding_names
        return pattern is not None and bool(pattern.match(path.rsplit("/", 1)[-1]))


@lru_cache(maxsize=8)
def load_file_rules(rules_dir: str | None = None) -> FileRules:
    path = rules_path("files.yaml", rules_dir)
    data = load_yaml(path)
    magic = data.get("binary_magic", {}) or {}
    if not isinstance(magic, dict):
        raise FatalError(f"{path}: 'binary_magic' must map a format name to a hex prefix")
    try:
        prefixes = tuple(bytes.fromhex(str(value)) for value in magic.values())
    except ValueError as error:
        raise FatalError(f"{path}: binary_magic holds a value that is not hex: {error}") from None
    extensions = frozenset(e.lower().lstrip(".") for e in _string_list(data, "binary_extensions", path))
    legacy = data.get("legacy_encoding_names")
    if legacy is not None and not isinstance(legacy, str):
        raise FatalError(f"{path}: 'legacy_encoding_names' must be a regular expression (a string)")
    try:
        names = re.compile(legacy, re.IGNORECASE) if legacy else None
    except re.error as error:
        raise FatalError(f"{path}: legacy_encoding_names is not a regular expression: {error}") from None
    return FileRules(extensions, prefixes, names)
