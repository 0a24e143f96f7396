"""Per-repository, per-directory license decisions from the evidence found in a repository's files.

Rules (see ``rules/licenses.yaml`` for the data):

- A license file governs its directory and everything below it, until a deeper directory has evidence of its
  own (a vendored GPL library inside an MIT repository stays GPL). A file's own ``SPDX-License-Identifier``
  header overrides for that file.
- Several license files in one directory are combined with AND (conservative: permissive only if all are),
  except that a short license file the detectors cannot read and that names the other license files is a
  *pointer*: "either ... LICENSE.APACHE or LICENSE.BSD" makes ``Apache-2.0 OR BSD-3-Clause``.
- A manifest's declared license (package.json, Cargo.toml, ...) in the same directory wins when the license
  files agree with it (it is more precise, e.g. it says OR where files cannot), is ANDed with them when they
  disagree, and decides alone when the directory has no readable license file.
- A license file no engine can identify, with nothing else in its directory, counts as
  ``LicenseRef-unknown-license-text``: evidence of *some* license, so never permissive.
- An SPDX exception found with a license joins it (``Apache-2.0 WITH LLVM-exception``); a file that is only an
  exception joins its directory's single license.
- A license file's bundled-component stanzas (``Name:``/``Files:``/``License:``, as numpy's wheels list
  their bundled libraries) and paragraphs that license named files ("The files at a/x.pack are licensed
  under ...") govern those files only: their license is ANDed to the files' own.
- A folder with no license file and no manifest takes the license notice of its ``NOTICE`` file, if any.
- No evidence anywhere above a file: ``no_license``.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from license_expression import ExpressionError

from stackcurate.licenses.engines import Detection, LicenseEngine, LicenseMemo, memo_key
from stackcurate.licenses.evidence import (
    Stanza,
    _safe_glob,
    bundle_stanzas,
    is_manifest,
    license_header,
    manifest_directory,
    manifest_licenses,
    spdx_header,
)
from stackcurate.licenses.license_files import (
    copyright_only,
    dep5_folder,
    dep5_paragraphs,
    readme_license_section,
    reuse_folder,
    reuse_id,
)
from stackcurate.licenses.matcher import UNKNOWN_TERMS, SpdxMatchEngine
from stackcurate.licenses.policy import (
    NO_LICENSE,
    UNKNOWN_TEXT,
    LicensePolicy,
    and_all,
    or_all,
    spdx_exception_ids,
)

#: Documentation often quotes SPDX lines as examples; their headers are not taken as the file's license.
DOC_SUFFIXES = (".md", ".rst", ".markdown", ".adoc")
NOTICE_FILE = re.compile(r"notice(\.txt)?", re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: the file, the SPDX expression read from it (None: unreadable), and by what."""

    path: str
    license: str | None
    engine: str
    unaccounted: str = ""
    #: a bundled component's stanza: its name and the globs its license governs
    scope: str = ""


@dataclass(frozen=True)
class Decision:
    """The license of a directory or file, its class, the path of the deciding file, and -- for a permissive
    expression with a choice (``MIT OR GPL-3.0-only``) -- the permissive branch taken (``policy.choose``)."""

    license: str | None
    license_class: str
    evidence: str | None
    choice: str | None = None


@dataclass
class RepoLicenses:
    """Decisions for one repository: per directory with evidence, plus every piece of evidence seen."""

    directories: dict[str, Decision] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    headers: dict[str, Decision] = field(default_factory=dict)
    #: (folder of the license file, glob under it, the stanza's decision): bundled components' licenses
    scoped: list[tuple[str, str, Decision]] = field(default_factory=list)

    @property
    def root(self) -> Decision:
        return self.directories.get("", Decision(None, NO_LICENSE, None))

    def for_file(self, path: str, policy: LicensePolicy) -> Decision:
        """The decision for one file: its SPDX header, else the nearest directory above it with evidence;
        ANDed with the license of every bundled-component stanza whose ``Files:`` names it (a stanza adds
        terms to its files, it never removes the folder's)."""
        decision = self.headers.get(path) or self._directory_decision(path)
        stanzas = [d for folder, glob, d in self.scoped if _names(folder, glob, path)]
        if not stanzas:
            return decision
        expression = and_all([e for e in [decision.license, *(d.license for d in stanzas)] if e])
        return Decision(
            expression, policy.classify(expression), stanzas[0].evidence, policy.choose(expression)
        )

    def _directory_decision(self, path: str) -> Decision:
        directory = posixpath.dirname(path)
        while True:
            decision = self.directories.get(directory)
            if decision is not None:
                return decision
            if not directory:
                return Decision(None, NO_LICENSE, None)
            directory = posixpath.dirname(directory)


def _names_license(detection: Detection) -> bool:
    """Whether an engine named a license in a text (unknown terms alone name none)."""
    return bool(detection.names) and detection.names != (UNKNOWN_TERMS,)


def _names(folder: str, glob: str, path: str) -> bool:
    """Whether a stanza glob of a license file in ``folder`` names ``path`` (the file or a folder above)."""
    relative = path[len(folder) + 1 :] if folder else path
    if folder and not path.startswith(folder + "/"):
        return False
    return fnmatch.fnmatchcase(relative, glob) or relative.startswith(glob.rstrip("/") + "/")


class LicenseDetector:
    """Turn repositories' files into ``RepoLicenses``; one engine call per batch of unknown texts."""

    def __init__(
        self,
        policy: LicensePolicy,
        engines: Sequence[LicenseEngine],
        memo: LicenseMemo,
        rules_digest: str = "",
    ):
        self.policy = policy
        self.engines = list(engines)
        self.memo = memo
        #: what, besides the text, decides a verdict: a memo entry is reused only under the same engines+rules
        self.memo_context = "|".join([*(f"{e.name}={e.version}" for e in self.engines), rules_digest])
        #: source-file license notices are read only with the SPDX matcher among the engines
        self.notice_reader = next((e for e in self.engines if isinstance(e, SpdxMatchEngine)), None)
        self.engine_calls = 0
        self.texts_identified = 0

    def _identify(self, texts: dict[str, str]) -> dict[str, Detection]:
        """Each text read by the engines in order; a later engine reads only what earlier ones named nothing
        in. Terms an engine found that no license accounts for (``LicenseRef-unknown-terms`` alone) stay with
        whatever a later engine names: a license found by another engine does not explain them away."""
        known = self.memo.get_many(list(texts))
        missing = {k: v for k, v in texts.items() if k not in known}
        fresh: dict[str, Detection] = {}
        for engine in self.engines:
            todo = {k: v for k, v in missing.items() if not (k in fresh and _names_license(fresh[k]))}
            if not todo:
                break
            self.engine_calls += 1
            self.texts_identified += len(todo)
            for key, detection in engine.identify(todo).items():
                before = fresh.get(key)
                if before is None or (detection.names and not before.names):
                    fresh[key] = detection
                elif detection.names and before.names == (UNKNOWN_TERMS,):
                    fresh[key] = Detection((*detection.names, UNKNOWN_TERMS), detection.engine, before.note)
        for key in missing:
            fresh.setdefault(key, Detection((), "none"))
        self.memo.put_many(fresh)
        return {**known, **fresh}

    def _identify_notices(self, texts: dict[str, str]) -> dict[str, Detection]:
        """Source-file notices: read in-process by the SPDX matcher (never a subprocess per batch of
        thousands of headers), memoised like license texts."""
        known = self.memo.get_many(list(texts))
        assert self.notice_reader is not None
        fresh = {k: self.notice_reader.read_notice(v) for k, v in texts.items() if k not in known}
        self.memo.put_many(fresh)
        return {**known, **fresh}

    def _file_expression(self, detection: Detection) -> str | None:
        ids: set[str] = set()
        for name in detection.names:
            expression = self.policy.normalize_name(name)
            if expression:
                ids.add(expression)
        ids = self.policy.attach_exceptions(self.policy.apply_bundles(ids))
        return and_all(sorted(ids))

    def detect_many(self, repos: Sequence[Sequence[tuple[str, str]]]) -> list[RepoLicenses]:
        """``repos``: for each repository, its (path, text) pairs. One engine call for all unknown texts."""
        texts: dict[str, str] = {}
        notice_texts: dict[str, str] = {}
        digests: list[dict[str, tuple[str, str]]] = []
        notices: list[dict[str, str]] = []
        bundled: list[dict[str, list[Stanza]]] = []
        head = self.policy.spdx_header_bytes
        for files in repos:
            mine: dict[str, tuple[str, str]] = {}
            headers: dict[str, str] = {}
            stanzas: dict[str, list[Stanza]] = {}
            for path, text in files:
                folder, read = self._evidence_text(path, text)
                if folder is not None and read is not None:
                    own, stanzas[path] = bundle_stanzas(read)
                    digest = memo_key(self.memo_context, own)
                    texts.setdefault(digest, own)
                    mine[path] = (digest, folder)
                    for stanza in stanzas[path]:  # each stanza's own texts are read too
                        texts.setdefault(memo_key(self.memo_context, stanza.body), stanza.body)
                elif folder is not None:
                    continue  # a license file that holds only copyright statements: no evidence
                elif self.notice_reader and not path.endswith(DOC_SUFFIXES) and not spdx_header(text, head):
                    notice = license_header(text, head)
                    if notice:
                        digest = memo_key(f"notice|{self.memo_context}", notice)
                        notice_texts.setdefault(digest, notice)
                        headers[path] = digest
            digests.append(mine)
            notices.append(headers)
            bundled.append(stanzas)
        detections = self._identify(texts) if texts else {}
        if notice_texts:
            detections.update(self._identify_notices(notice_texts))
        decided = []
        for files, mine, headers, stanzas in zip(repos, digests, notices, bundled, strict=True):
            result = self._decide(files, mine, headers, detections)
            self._add_stanzas(result, stanzas, detections)
            decided.append(result)
        return decided

    def _evidence_text(self, path: str, text: str) -> tuple[str | None, str | None]:
        """(folder it speaks for, text to read) of a file that is license evidence: a license file, a REUSE
        ``LICENSES/`` text, a README's license section (``license_files``); (folder, None) for a license
        file of copyright statements only; (None, None) for any other file."""
        reuse = reuse_folder(path)
        if self.policy.is_license_file(path) or reuse is not None:
            folder = reuse if reuse is not None else posixpath.dirname(path)
            return folder, (None if copyright_only(text) else text)
        section = readme_license_section(path, text)
        if section is not None and not copyright_only(section):
            return posixpath.dirname(path), section
        return None, None

    def _add_stanzas(
        self, result: RepoLicenses, stanzas: dict[str, list[Stanza]], detections: dict[str, Detection]
    ) -> None:
        """Bundled components' stanzas -> scoped decisions and evidence (``evidence.bundle_stanzas``). A
        stanza's license is its ``License:`` field AND whatever its own texts read as, unless that is within
        the field: a stanza that says MIT above a pasted GPL text is MIT AND GPL. A section without a field
        is what its text reads as (unknown text when nothing); the file's last such section, when it reads
        as more than one license, binds the folder too."""
        for path, found in sorted(stanzas.items()):
            folder = posixpath.dirname(path)
            for stanza in found:
                detection = detections.get(memo_key(self.memo_context, stanza.body), Detection((), "none"))
                read = self._file_expression(detection) if detection.names else None
                if not stanza.license:  # a section that lists its files: its text decides
                    expression = read or UNKNOWN_TEXT
                    if stanza.open_end and read and len(self._keys(read)) > 1:
                        # the last section reads as several licenses: what follows the component's may be
                        # the folder's own, so the folder takes them too (fail closed)
                        current = result.directories.get(folder)
                        merged = and_all([e for e in (current.license if current else None, read) if e])
                        result.directories[folder] = self._decision(merged, path)
                else:
                    declared = self.policy.normalize_expression(stanza.license) or UNKNOWN_TEXT
                    expression = declared
                    if read and not self._keys(read) <= self._keys(declared):
                        expression = and_all([declared, read]) or declared
                decision = self._decision(expression, path)
                scope = f"{stanza.name}: {' '.join(stanza.files)}"
                result.evidence.append(Evidence(path, expression, "bundle-stanza", scope=scope))
                result.scoped.extend((folder, glob, decision) for glob in stanza.files)

    def _decide(
        self,
        files: Sequence[tuple[str, str]],
        digests: dict[str, tuple[str, str]],
        notices: dict[str, str],
        detections: dict[str, Detection],
    ) -> RepoLicenses:
        """Evidence -> decisions. ``notices``: path -> key of a source file's license-notice comment block;
        a notice an engine can read decides that file, as an SPDX header does."""
        result = RepoLicenses()
        by_dir_files: dict[str, list[tuple[str, str, str | None, str]]] = {}
        by_dir_manifest: dict[str, list[Evidence]] = {}
        for path, text in files:
            if path in digests:
                digest, folder = digests[path]
                detection = detections.get(digest, Detection((), "none"))
                expression = self._file_expression(detection)
                if expression is None and reuse_folder(path) is not None:  # LICENSES/<id>.txt names its id
                    expression = self.policy.normalize_expression(reuse_id(path))
                by_dir_files.setdefault(folder, []).append((path, text, expression, detection.engine))
                result.evidence.append(Evidence(path, expression, detection.engine, detection.note))
            elif dep5_folder(path, text) is not None:
                self._add_dep5(result, path, text, by_dir_manifest)
            elif is_manifest(path):
                declared = [self.policy.normalize_expression(v) for v in manifest_licenses(path, text)]
                expression = and_all([d for d in declared if d])
                if expression:
                    evidence = Evidence(path, expression, "manifest")
                    by_dir_manifest.setdefault(manifest_directory(path), []).append(evidence)
                    result.evidence.append(evidence)
            header = None if path.endswith(DOC_SUFFIXES) else spdx_header(text, self.policy.spdx_header_bytes)
            expression = self.policy.normalize_expression(header) if header else None
            if expression:
                result.headers[path] = self._decision(expression, path)
                result.evidence.append(Evidence(path, expression, "spdx-header"))
            elif path in notices:
                detection = detections.get(notices[path], Detection((), "none"))
                expression = self._file_expression(detection) if detection.names else None
                if expression:
                    result.headers[path] = self._decision(expression, path)
                    result.evidence.append(
                        Evidence(path, expression, f"header:{detection.engine}", detection.note)
                    )
        for directory in sorted(set(by_dir_files) | set(by_dir_manifest)):
            decision = self._decide_directory(
                by_dir_files.get(directory, []), by_dir_manifest.get(directory, [])
            )
            if decision is not None:
                result.directories[directory] = decision
        # a NOTICE file's own license notice (an SPDX line, "Licensed under ...") speaks for a folder that has
        # no license file and no manifest (an Apache-style package that ships NOTICE but not LICENSE)
        for path, decision in sorted(result.headers.items()):
            directory = posixpath.dirname(path)
            if NOTICE_FILE.fullmatch(posixpath.basename(path)) and directory not in result.directories:
                result.directories[directory] = decision
        self._scope_subject_licenses(result, by_dir_files)
        return result

    def _scope_subject_licenses(
        self, result: RepoLicenses, by_dir_files: dict[str, list[tuple[str, str, str | None, str]]]
    ) -> None:
        """A license whose subject is one kind of file (``subject_licenses``: the OFL's Font Software), ANDed
        in a folder's decision with a license that covers the rest, governs those files only: the folder
        keeps the other operands, and the subject license is scoped to its globs as a stanza's is (its files
        get both, ``RepoLicenses.for_file``; the evidence names the file it was read in). Only a subject
        license read in one of the folder's license texts (``by_dir_files``: ``_read_in``) is scoped: a
        declaration (a manifest, a license URL's listed expression) says which licenses a project uses, not
        which of its files each governs. Unknown text or terms cover nothing: beside them, or alone, the
        subject license stays the folder's."""
        uncovered = {UNKNOWN_TEXT, UNKNOWN_TERMS}
        for directory, decision in sorted(result.directories.items()):
            for name, ids, globs in self.policy.subject_licenses:
                expression = decision.license or ""
                if " AND " not in expression or not any(i in expression for i in ids):
                    continue
                operands = self._and_operands(decision.license)
                texts = self._read_in(by_dir_files.get(directory, []))
                subject = [o for o in operands if o in ids and o in texts]
                rest = [o for o in operands if o not in subject]
                if not subject or not any(o not in uncovered for o in rest):
                    continue
                decision = self._decision(and_all(rest), decision.evidence)
                result.directories[directory] = decision
                scoped = self._decision(and_all(subject), decision.evidence)
                result.evidence.append(
                    Evidence(
                        texts[subject[0]],
                        scoped.license,
                        "subject-scope",
                        scope=f"{name}: {' '.join(globs)}",
                    )
                )
                result.scoped.extend((directory, glob, scoped) for glob in globs)

    def _read_in(self, found: list[tuple[str, str, str | None, str]]) -> dict[str, str]:
        """License id -> the first of a folder's license files (``found``) whose text it was read in (not a
        license URL's listed expression)."""
        read: dict[str, str] = {}
        for path, _, expression, engine in sorted(found, key=lambda f: f[0]):
            if expression and not engine.endswith(":url"):
                for key in self._keys(expression):
                    read.setdefault(key, path)
        return read

    def _and_operands(self, expression: str | None) -> list[str]:
        """The operands of an expression's top-level AND (the expression itself when it is no AND)."""
        if not expression:
            return []
        try:
            parsed = self.policy.licensing.parse(expression, validate=False)
        except ExpressionError:
            return [expression]
        if str(getattr(parsed, "operator", "")).strip().upper() != "AND":
            return [str(parsed.render())]
        return [str(arg.render()) for arg in parsed.args]

    def _add_dep5(
        self, result: RepoLicenses, path: str, text: str, declared: dict[str, list[Evidence]]
    ) -> None:
        """A DEP-5 file's paragraphs: ``Files: *`` declares the folder's license (as a manifest does), other
        globs scope their license to their files (as bundled-component stanzas do)."""
        folder = dep5_folder(path, text) or ""
        for paragraph in dep5_paragraphs(text):
            expression = self.policy.normalize_expression(paragraph.license) or UNKNOWN_TEXT
            decision = self._decision(expression, path)
            if "*" in paragraph.files:
                evidence = Evidence(path, expression, "dep5")
                declared.setdefault(folder, []).append(evidence)
                result.evidence.append(evidence)
                continue
            globs = [g for g in paragraph.files if _safe_glob(g)]
            result.evidence.append(Evidence(path, expression, "dep5", scope=" ".join(globs)))
            result.scoped.extend((folder, glob, decision) for glob in globs)

    def _decide_directory(
        self, license_files: list[tuple[str, str, str | None, str]], manifests: list[Evidence]
    ) -> Decision | None:
        known = {path: expr for path, _, expr, _ in license_files if expr}
        # a file that is an SPDX exception alone (COPYING.RUNTIME, LICENSE-exception): joined below to the
        # directory's single license with WITH; with no license beside it, it is evidence of an unknown one
        exception_files = {path: expr for path, expr in known.items() if expr in spdx_exception_ids()}
        known = {path: expr for path, expr in known.items() if path not in exception_files}
        unknown = [(path, text) for path, text, expr, _ in license_files if not expr]
        names = {posixpath.basename(path): path for path, _, _, _ in license_files}
        parts: list[str] = []
        pointed: set[str] = set()
        unreadable: list[str] = []
        for path, text in unknown:
            targets = [
                names[n] for n in names if n != posixpath.basename(path) and n in text and names[n] in known
            ]
            if targets and len(text) <= self.policy.pointer_max_chars:
                combine = or_all if any(p.search(text) for p in self.policy.pointer_or) else and_all
                pointer = combine([known[t] for t in targets])
                if pointer:
                    parts.append(pointer)
                    pointed.update(targets)
                    continue
            unreadable.append(path)
        parts.extend(expr for path, expr in sorted(known.items()) if path not in pointed)
        if exception_files and len(parts) == 1:
            joined = self.policy.attach_exceptions({parts[0], *exception_files.values()})
            parts = sorted(joined) if len(joined) == 1 else parts
        elif exception_files and not parts:
            unreadable.extend(sorted(exception_files))  # an exception to no license found: some license
        from_files = and_all(self._branch_texts(parts))
        first_file = sorted(p for p, _, _, _ in license_files)[0] if license_files else None
        declared = and_all([m.license for m in manifests if m.license])
        manifest_path = manifests[0].path if manifests else None
        if unreadable:
            from_files = and_all([e for e in (from_files, UNKNOWN_TEXT) if e])
        if from_files and declared:
            # evidence combines: a declaration (manifest, classifier, DEP-5) may say which branch of a choice
            # the files' texts are (LICENSE-MIT + COPYING under "MIT OR GPL-3.0"), so it stands when every
            # license the files hold is one it names; it never removes a license or unknown terms a file holds
            if self._keys(from_files) <= self._keys(declared):
                return self._decision(declared, manifest_path)
            return self._decision(and_all([from_files, declared]), first_file)
        if from_files:
            return self._decision(from_files, first_file if not unreadable or parts else unreadable[0])
        if declared:
            return self._decision(declared, manifest_path)
        return None

    def _branch_texts(self, parts: list[str]) -> list[str]:
        """Parts without the texts of a choice's branches: a file that says "either LICENSE.APACHE or
        LICENSE.MIT" (``Apache-2.0 OR MIT``) is not ANDed with the two texts it points to."""
        choices = [self._keys(p) for p in parts if " OR " in p]
        return [p for p in parts if " OR " in p or not any(self._keys(p) <= keys for keys in choices)]

    def _decision(self, expression: str | None, evidence: str | None) -> Decision:
        return Decision(
            expression, self.policy.classify(expression), evidence, self.policy.choose(expression)
        )

    def _keys(self, expression: str) -> set[str]:
        licensing = self.policy.licensing
        return set(licensing.license_keys(licensing.parse(expression, validate=False)))
