"""License detection over every text of the SPDX license list: exact id, permissive recall, restricted kept.

    python benchmarks/license_spdx.py [--spdx-json PATH] [--limit N] [--variant exact|edited]

The measured data are the SPDX list's canonical texts, as third parties publish them: the npm package
``spdx-license-list`` (``npm pack spdx-license-list && tar xzf spdx-license-list-*.tgz`` gives
``package/spdx-full.json``, 727 licenses). Without ``--spdx-json`` the copy shipped in the package data is
used (the same texts, identical ones grouped; see ``stackcurate.licenses.spdx_data``). Every text goes into
its own folder as ``LICENSE`` and the whole set is decided in one ``detect_many`` call, as the pipeline
would.

The matcher's index is built from these very texts, so ``exact`` mostly checks that nothing else in the
detector (licensecheck's reading, aliases, the remainder rules) spoils a match; ``--variant edited`` is the
harder reading: a real copyright line replaces the template's, the text is rewrapped at 60 columns and every
``<placeholder>`` becomes a made-up name, as a project's own LICENSE file would read.

Exact: the decision is the label, an id whose text is identical (``GPL-3.0-only``/``-or-later``), or the
label as the pipeline normalises it (SPDX's own deprecations: ``GPL-2.0+`` is ``GPL-2.0-or-later``,
``BSD-2-Clause-NetBSD`` is ``BSD-2-Clause``). Permissive recall: over the labels on rules/licenses.yaml's
permissive list. Restricted kept: every text whose (normalised) label is *not* permissive (copyleft,
source-available, non-commercial, anything off the list) but that was classed permissive -- must be empty.

Exceptions (the SPDX exceptions list, ``licenses/data/spdx-exceptions.json.gz``: ids from npm
``spdx-exceptions``, texts from ScanCode's license database): each exception's text alone must read as its id
(exact exception id), and ``GPL-2.0-only`` followed by the exception must read as ``GPL-2.0-only WITH <id>``
where the rules allow that base, and never as permissive (an exception adds permissions; it does not make a
copyleft license permissive).
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
import time
from pathlib import Path

from stackcurate.licenses.policy import PERMISSIVE, load_license_policy
from stackcurate.licenses.spdx_data import build, load_spdx_exceptions, load_spdx_texts
from stackcurate.licenses.stage import DEFAULT_ENGINES, make_detector


def load_texts(spdx_json: Path | None) -> tuple[dict[str, str], dict[str, set[str]], str]:
    """(label -> text, label -> ids with the identical text, source)."""
    if spdx_json is not None:
        package = spdx_json.parent / "package.json"
        version = json.loads(package.read_text())["version"] if package.exists() else "unknown"
        raw = json.loads(spdx_json.read_text())
        data = build(raw, version)
        texts = {k: str(v.get("licenseText") or "") for k, v in raw.items() if v.get("licenseText")}
    else:
        data = load_spdx_texts()
        texts = dict(data["licenses"])
    same: dict[str, set[str]] = {}
    for canonical, others in data["same_text"].items():
        group = {canonical, *others}
        for member in group:
            same[member] = group
    if spdx_json is None:
        for canonical, others in data["same_text"].items():
            for other in others:
                texts[other] = data["licenses"][canonical]
    return texts, same, str(data["source"])


def edited(text: str) -> str:
    """A project's copy of a license: its own copyright line, names instead of placeholders, rewrapped."""
    body = re.sub(r"<[^<>\n]{0,80}>", "Example Project Authors", text)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body)]
    wrapped = "\n\n".join(textwrap.fill(p, 60) for p in paragraphs if p)
    return f"Copyright (c) 2021 Jane Q. Example <jane@example.org>\n\n{wrapped}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spdx-json", type=Path, help="spdx-full.json of the npm package spdx-license-list")
    parser.add_argument("--limit", type=int, help="first N texts only (a quick look)")
    parser.add_argument("--variant", choices=["exact", "edited"], default="exact")
    parser.add_argument("--engine", action="append", help=f"engines (default {', '.join(DEFAULT_ENGINES)})")
    args = parser.parse_args()
    texts, same, source = load_texts(args.spdx_json)
    labels = sorted(texts)[: args.limit] if args.limit else sorted(texts)
    policy = load_license_policy()
    detector = make_detector(args.engine or list(DEFAULT_ENGINES), None)
    repos = [[("LICENSE", edited(texts[k]) if args.variant == "edited" else texts[k])] for k in labels]
    started = time.perf_counter()
    results = detector.detect_many(repos)
    seconds = time.perf_counter() - started
    exact = 0
    permissive_labels = [k for k in labels if k in policy.permissive]
    recognised = 0
    kept: list[str] = []
    missed: list[str] = []
    for label, result in zip(labels, results, strict=True):
        found = result.root.license or ""
        names = {label, *same.get(label, ())}
        if found in names or found in {policy.normalize_name(n) for n in names}:
            exact += 1
        else:
            missed.append(f"{label} -> {found or '-'}")
        is_permissive = result.root.license_class == PERMISSIVE
        if label in policy.permissive:
            recognised += is_permissive
            if not is_permissive:
                print(f"  permissive not recognised: {label} -> {found or '-'}")
        elif is_permissive and policy.classify(policy.normalize_name(label)) != PERMISSIVE:
            kept.append(f"{label} (read as {found})")
    engines = ", ".join(args.engine or DEFAULT_ENGINES)
    print(f"source: {source}; variant: {args.variant}; engines: {engines}")
    speed = len(labels) / seconds
    print(f"texts: {len(labels)} in {seconds:.2f} s ({speed:.0f} texts/s, index load excluded)")
    print(f"exact SPDX id: {exact} / {len(labels)} = {exact / len(labels):.3f}")
    print(
        f"permissive-list texts recognised as permissive: {recognised} / {len(permissive_labels)}"
        f" = {recognised / max(1, len(permissive_labels)):.3f}"
    )
    print(f"non-permissive texts classed permissive: {len(kept)}")
    for line in kept:
        print(f"  KEPT {line}")
    print(f"not exact ({len(missed)}): " + "; ".join(missed[:60]) + (" ..." if len(missed) > 60 else ""))
    if not args.limit:
        exceptions_report(detector, policy, texts["GPL-2.0-only"])


def exceptions_report(detector: object, policy: object, gpl: str) -> None:
    from stackcurate.licenses.detect import LicenseDetector
    from stackcurate.licenses.policy import LicensePolicy

    assert isinstance(detector, LicenseDetector) and isinstance(policy, LicensePolicy)
    data = load_spdx_exceptions()
    ids = sorted(data["exceptions"])
    alone = detector.detect_many([[("LICENSE", data["exceptions"][i])] for i in ids])
    joined = detector.detect_many([[("COPYING", f"{gpl}\n\n{data['exceptions'][i]}")] for i in ids])
    exact, with_base, kept, missed = 0, 0, [], []
    for spdx_id, one, both in zip(ids, alone, joined, strict=True):
        read = one.evidence[0].license if one.evidence else None
        exact += read == spdx_id
        if read != spdx_id:
            missed.append(f"{spdx_id} -> {read or '-'}")
        with_base += both.root.license == f"GPL-2.0-only WITH {spdx_id}"
        if both.root.license_class == PERMISSIVE:
            kept.append(f"{spdx_id} (read as {both.root.license})")
    print(f"exceptions: {data['source']}; {len(ids)} texts, {len(data['missing'])} ids without a text")
    print(f"exact exception id (text alone): {exact} / {len(ids)} = {exact / max(1, len(ids)):.3f}")
    print(f"GPL-2.0-only + exception read as 'GPL-2.0-only WITH <id>': {with_base} / {len(ids)}")
    print(
        f"GPL-2.0-only + exception classed permissive: {len(kept)}" + "".join(f"\n  KEPT {k}" for k in kept)
    )
    print(f"exceptions not exact ({len(missed)}): " + "; ".join(missed))


if __name__ == "__main__":
    main()
