"""License detection accuracy and speed on real, labelled license evidence nobody on this project wrote.

    python benchmarks/license_accuracy.py [--sample-dir runs/sample] [--npm-dir DIR] [--engine licensecheck]

Corpora:
- the sample repositories (``stackcurate sample-repos``; made when missing): every installed Python
  distribution as a git repository with its LICENSE/COPYING files. Label: the distribution's declared license
  from its metadata (``License-Expression``, else a ``License`` field that names SPDX ids, else its trove
  classifiers). The metadata is not part of the repository, so the label never leaks into the evidence.
- with ``--npm-dir``, every package under a ``node_modules`` folder (e.g. after ``npm install`` of a few
  popular packages). Label: ``package.json``'s ``license``; the package.json is withheld from the detector
  for the same reason.

Only repositories that carry at least one license file and have a usable label are scored (the others are
counted). A decision is *exact* when it is equivalent (SPDX boolean equivalence) to the label either for the
repository's root directory or for all its directories together (labels such as numpy's
``BSD-3-Clause AND 0BSD AND MIT ...`` describe the vendored parts too); a label of plain "BSD" matches any
BSD-*-Clause. Class metrics use the label's class under rules/licenses.yaml. Speed: detection only (the files
already read), one process, first with an empty memo (cold), then again with the memo filled (warm).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from importlib import metadata
from pathlib import Path

from license_expression import ExpressionError

from stackcurate.licenses.cli import repository_files
from stackcurate.licenses.policy import PERMISSIVE, load_license_policy
from stackcurate.licenses.stage import DEFAULT_ENGINES, make_detector
from stackcurate.sources.sample import _normalise, make_sample_repos

POLICY = load_license_policy()


def _usable(expression: str | None) -> str | None:
    """A label is usable when it normalises to SPDX ids (no LicenseRef-<free text>)."""
    if not expression:
        return None
    normalised = POLICY.normalize_name(expression)
    if not normalised:
        return None
    keys = POLICY.licensing.license_keys(POLICY.licensing.parse(normalised, validate=False))
    if any(k.startswith("LicenseRef-") and k not in POLICY.permissive for k in keys):
        return None
    return normalised


def python_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for dist in metadata.distributions():
        meta = dist.metadata
        if not meta or not meta["Name"]:
            continue
        candidates = [meta.get("License-Expression"), meta.get("License")]
        classifiers = [
            c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
        ]
        classifiers = [c for c in classifiers if c not in ("OSI Approved", "DFSG approved")]
        if classifiers:
            candidates.append(" AND ".join(classifiers) if len(classifiers) == 1 else classifiers[0])
        for candidate in candidates:
            label = _usable(candidate.strip() if candidate and len(candidate) < 200 else None)
            if label:
                labels[_normalise(meta["Name"])] = label
                break
    return labels


def python_corpus(sample_dir: Path) -> list[tuple[str, list[tuple[str, str]], str | None]]:
    if not (sample_dir / "repos.csv").exists():
        make_sample_repos(sample_dir)
    labels = python_labels()
    corpus = []
    for repo in sorted((sample_dir / "pypi").iterdir()):
        corpus.append((f"pypi/{repo.name}", repository_files(repo), labels.get(repo.name)))
    return corpus


def npm_corpus(node_modules: Path) -> list[tuple[str, list[tuple[str, str]], str | None]]:
    corpus = []
    manifests = sorted(node_modules.glob("*/package.json")) + sorted(node_modules.glob("@*/*/package.json"))
    for manifest in manifests:
        package = manifest.parent
        try:
            declared = json.loads(manifest.read_text()).get("license")
        except (OSError, ValueError):
            continue
        files = [
            (p, t) for p, t in repository_files(package) if p != "package.json" and "node_modules/" not in p
        ]
        corpus.append(
            (
                f"npm/{package.relative_to(node_modules)}",
                files,
                _usable(declared) if isinstance(declared, str) else None,
            )
        )
    return corpus


def equivalent(ours: str | None, label: str) -> bool:
    if not ours:
        return False
    if label == "LicenseRef-BSD-unversioned":
        return all(key.startswith("BSD-") for key in POLICY.licensing.license_keys(ours))
    try:
        return bool(POLICY.licensing.is_equivalent(ours, label))
    except ExpressionError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sample-dir", default="runs/sample")
    parser.add_argument("--npm-dir", default=None, help="a node_modules folder to add as a second corpus")
    parser.add_argument(
        "--engine", action="append", choices=["spdx-match", "licensecheck", "titles", "scancode"]
    )
    parser.add_argument(
        "--show-misses", action="store_true", help="print every inexact decision ([CLASS]: wrong class)"
    )
    args = parser.parse_args()
    engines = args.engine or list(DEFAULT_ENGINES)

    corpus = python_corpus(Path(args.sample_dir))
    if args.npm_dir:
        corpus += npm_corpus(Path(args.npm_dir))
    with_files = [c for c in corpus if any(POLICY.is_license_file(p) for p, _ in c[1])]
    scored = [c for c in with_files if c[2]]
    print(
        f"engines {'+'.join(engines)}; repositories {len(corpus)}, with license files {len(with_files)}, "
        f"with usable labels {len(scored)} (scored)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        memo = str(Path(tmp) / "memo.sqlite")
        timings = []
        for _ in ("cold", "warm"):
            detector = make_detector(engines, memo)
            started = time.perf_counter()
            results = detector.detect_many([files for _, files, _ in scored])
            timings.append((time.perf_counter() - started, detector.engine_calls, detector.texts_identified))

    exact = tp = fp = fn = false_permissive = 0
    misses = []
    for (name, _, label), result in zip(scored, results, strict=True):
        assert label is not None
        everything = [d.license for d in result.directories.values() if d.license]
        from stackcurate.licenses.policy import and_all

        whole = and_all(everything)
        truth = POLICY.classify(label) == PERMISSIVE
        ours = result.root.license_class == PERMISSIVE
        if equivalent(result.root.license, label) or equivalent(whole, label):
            exact += 1
        else:
            misses.append((name, result.root.license, label, truth != ours))
        tp += truth and ours
        fp += ours and not truth
        fn += truth and not ours
        false_permissive += ours and not truth
    n = len(scored)
    print(f"exact SPDX accuracy        {exact}/{n} = {exact / n:.1%}")
    print(f"permissive precision       {tp}/{tp + fp} = {tp / max(1, tp + fp):.1%}")
    print(f"permissive recall          {tp}/{tp + fn} = {tp / max(1, tp + fn):.1%}")
    print(f"false-permissive           {false_permissive}")
    for label, (seconds, calls, texts) in zip(("cold", "warm"), timings, strict=True):
        print(
            f"{label:5} detection          {seconds:6.2f} s  {n / seconds:8.1f} repos/s  "
            f"({calls} engine calls, {texts} texts)"
        )
    if args.show_misses:
        for name, ours, label, wrong_class in misses:
            print(f"  miss {name}: ours {ours!r}, label {label!r}{'  [CLASS]' if wrong_class else ''}")


if __name__ == "__main__":
    main()
