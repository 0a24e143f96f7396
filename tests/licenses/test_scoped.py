"""SPDX exceptions, bundled-component stanzas, paragraphs that license named files, NOTICE-only folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT as MIT
from test_detect import APACHE, GPL3, detect

from stackcurate.licenses.cli import repository_files
from stackcurate.licenses.detect import RepoLicenses
from stackcurate.licenses.evidence import bundle_stanzas, path_notices
from stackcurate.licenses.policy import load_license_policy
from stackcurate.licenses.spdx_data import load_spdx_exceptions, load_spdx_texts
from stackcurate.licenses.stage import DEFAULT_ENGINES, make_detector

Factory = Callable[..., Path]
EXCEPTIONS = load_spdx_exceptions()["exceptions"]
BSD3 = (Path("/usr/share/common-licenses") / "BSD").read_text()


def decide(path: Path) -> RepoLicenses:
    """The pipeline's per-file decisions for a repository (the license stage's own detector)."""
    return make_detector(list(DEFAULT_ENGINES), None).detect_many([repository_files(path)])[0]


def file_class(repo: RepoLicenses, path: str) -> tuple[str | None, str]:
    decision = repo.for_file(path, load_license_policy())
    return decision.license, decision.license_class


def test_license_and_exception_in_one_text_join_with_with(git_repo_factory: Factory) -> None:
    text = (
        f"{APACHE}\n\n---- LLVM Exceptions to the Apache 2.0 License ----\n\n{EXCEPTIONS['LLVM-exception']}"
    )
    report = detect(git_repo_factory("a/llvm", {"LICENSE.TXT": text, "lib.cpp": "int f();\n"}))
    assert (report["license"], report["license_class"]) == ("Apache-2.0 WITH LLVM-exception", "permissive")


def test_an_exception_never_makes_copyleft_permissive(git_repo_factory: Factory) -> None:
    text = f"{GPL3}\n\n{EXCEPTIONS['GCC-exception-3.1']}"
    report = detect(git_repo_factory("a/gcc", {"COPYING": text, "lib.c": "int f(void);\n"}))
    assert report["license"] == "GPL-3.0-only WITH GCC-exception-3.1"
    assert report["license_class"] == "non_permissive"


def test_an_exception_file_beside_its_license_file_joins_it(git_repo_factory: Factory) -> None:
    files = {"COPYING3": GPL3, "COPYING.RUNTIME": EXCEPTIONS["GCC-exception-3.1"], "a.c": "int a;\n"}
    report = detect(git_repo_factory("a/runtime", files))
    assert report["license"] == "GPL-3.0-only WITH GCC-exception-3.1"
    alone = detect(git_repo_factory("a/alone", {"LICENSE": EXCEPTIONS["LLVM-exception"], "a.c": "int a;\n"}))
    assert (
        alone["license_class"] == "non_permissive"
    )  # an exception to no license found: some unknown license


def test_with_anything_but_a_listed_exception_is_not_permissive() -> None:
    policy = load_license_policy()
    assert policy.classify("Apache-2.0 WITH LLVM-exception") == "permissive"
    assert policy.classify(policy.normalize_expression("MIT WITH Commons-Clause")) == "non_permissive"


NUMPY_LIKE = f"""{BSD3}
----

This binary distribution also bundles the following software:


Name: GCC runtime library
Files: pkg.libs/libgfortran*.so
Description: dynamically linked to files compiled with gcc
License: GPL-3.0-or-later WITH GCC-exception-3.1

{GPL3}

Name: ColorBrewer
Files: pkg/_cm.py
License: Apache-2.0
"""


def test_bundled_stanzas_govern_their_files_only(git_repo_factory: Factory) -> None:
    path = git_repo_factory(
        "a/wheel",
        {"LICENSE.txt": NUMPY_LIKE, "pkg/core.py": "x = 1\n", "pkg/_cm.py": "y = 2\n"},
    )
    report = detect(path)
    assert (report["license"], report["license_class"]) == ("BSD-3-Clause", "permissive")
    scopes = {e["scope"]: e["license"] for e in report["evidence"] if e["engine"] == "bundle-stanza"}
    assert set(scopes) == {"GCC runtime library: pkg.libs/libgfortran*.so", "ColorBrewer: pkg/_cm.py"}
    assert scopes["ColorBrewer: pkg/_cm.py"] == "Apache-2.0"
    # the field, AND what the stanza's own text reads as (the GPL text cannot say "or later")
    assert (
        "GPL-3.0-or-later WITH GCC-exception-3.1" in scopes["GCC runtime library: pkg.libs/libgfortran*.so"]
    )
    repo = decide(path)
    assert file_class(repo, "pkg/core.py") == ("BSD-3-Clause", "permissive")
    assert file_class(repo, "pkg/_cm.py")[1] == "permissive"  # BSD AND Apache-2.0
    # a stanza adds its terms to the folder's, it never replaces them
    gfortran = file_class(repo, "pkg.libs/libgfortran-1234.so")
    assert gfortran[1] == "non_permissive" and "BSD-3-Clause" in (gfortran[0] or "")


def test_a_stanza_naming_everything_cancels_the_split() -> None:
    hostile = f"{GPL3}\n\nName: everything\nFiles: *\nLicense: MIT\n\n{MIT}"
    own, stanzas = bundle_stanzas(hostile)
    assert (own, stanzas) == (hostile, [])
    escaping = f"{GPL3}\n\nName: up\nFiles: ../../x.so\nLicense: MIT\n"
    assert bundle_stanzas(escaping) == (escaping, [])


def test_a_stanza_cannot_hide_copyleft_of_the_folder(git_repo_factory: Factory) -> None:
    text = f"{GPL3}\n\nName: vendored\nFiles: vendor/x.c\nLicense: MIT\n\n{MIT}"
    path = git_repo_factory("a/gpl-stanza", {"COPYING": text, "vendor/x.c": "int x;\n", "main.c": "int m;\n"})
    repo = decide(path)
    assert file_class(repo, "main.c")[1] == "non_permissive"
    assert file_class(repo, "vendor/x.c")[1] == "non_permissive"  # GPL-3.0 AND MIT


def test_a_paragraph_licensing_named_files_governs_those_files(git_repo_factory: Factory) -> None:
    text = (
        f"{BSD3}\n\nAdditional Licenses\n-------------------\nThe files at\ntests/fixtures/pack-1.pack\nand\n"
        "tests/fixtures/pack-1.idx\nare licensed under GNU GPL as part of the git source repository.\n"
    )
    path = git_repo_factory("a/fixtures", {"LICENSE": text, "lib.py": "z = 3\n"})
    report = detect(path)
    assert (report["license"], report["license_class"]) == ("BSD-3-Clause", "permissive")
    repo = decide(path)
    assert file_class(repo, "lib.py")[1] == "permissive"
    assert file_class(repo, "tests/fixtures/pack-1.pack")[1] == "non_permissive"


LXML_LIKE = (
    "lxml is copyright Infrae and distributed under the BSD license (see\ndoc/licenses/BSD.txt), with the "
    "following exceptions:\n\nA copy of difflib is used as part of lxml.html, forked from the CPython\n"
    "standard library and licensed under the PSF-License v2.\n\ntest.py, the test-runner script, is GPL "
    "and copyright Shuttleworth\nFoundation. See doc/licenses/GPL.txt. It is believed the unchanged\n"
    'inclusion of test.py to run the unit test suite falls under the\n"aggregation" clause of the GPL '
    "and thus does not affect the license\nof the rest of the package.\n"
)


def test_a_sentence_saying_a_named_file_is_under_a_license_governs_that_file(
    git_repo_factory: Factory,
) -> None:
    # lxml's LICENSES.txt: a folder in a path ("doc/licenses/BSD.txt") is no license (DOC), and
    # "test.py ... is GPL" scopes the GPL to test.py
    path = git_repo_factory("a/lxml-like", {"LICENSES.txt": LXML_LIKE, "lxml/etree.py": "x = 1\n"})
    report = detect(path)
    assert (report["license"], report["license_class"]) == ("BSD-3-Clause AND PSF-2.0", "permissive")
    repo = decide(path)
    assert file_class(repo, "lxml/etree.py")[1] == "permissive"
    assert file_class(repo, "test.py") == ("BSD-3-Clause AND GPL-1.0-or-later AND PSF-2.0", "non_permissive")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("test.py, the test-runner script, is GPL and copyright Someone.", [(("test.py",), "GPL")]),
        ("lib/a.c is LGPL 2.1, see COPYING.", [(("lib/a.c",), "LGPL 2.1")]),
        ("src/a.js and src/b.js are MIT licensed.", [(("src/a.js", "src/b.js"), "MIT")]),
        ("x.py is licensed under the Apache License 2.0.", [(("x.py",), "Apache License 2.0")]),
        ("setup.py is the build script.", []),
        ("lxml.html are copyright Ian Bicking and distributed under the BSD license.", []),
    ],
)
def test_file_is_license_sentences(text: str, expected: list[tuple[tuple[str, ...], str]]) -> None:
    beside = f"Licensed under the MIT license.\n\n{text}\n"
    assert [(s.files, s.license) for s in path_notices(beside)[1]] == expected
    # alone, such a sentence is the project's own statement ("jquery.js is MIT licensed."), not a scope
    assert path_notices(text)[1] == []


def test_a_folder_in_a_path_is_no_license_name(git_repo_factory: Factory) -> None:
    for notice, expected in [
        ("This library is distributed under the MIT license (see json/LICENSE.txt).\n", "MIT"),
        ("Licensed under the BSD license; see doc/licenses/BSD.txt.\n", "BSD-3-Clause"),
        ("This package is MIT/GPL2 licensed.\n", "MIT OR GPL-2.0-only"),
    ]:
        report = detect(git_repo_factory(f"a/path-{len(notice)}", {"LICENSE": notice}))
        assert report["license"] == expected, notice


def test_a_notice_file_speaks_only_for_a_folder_without_license_file(git_repo_factory: Factory) -> None:
    notice = "#\n# Copyright (c) Example Inc.\n# SPDX-License-Identifier: Apache-2.0\n#\n"
    report = detect(git_repo_factory("a/notice", {"NOTICE": notice, "pkg/a.py": "a = 1\n"}))
    assert (report["license"], report["license_class"]) == ("Apache-2.0", "permissive")
    both = detect(git_repo_factory("a/notice-gpl", {"NOTICE": notice, "COPYING": GPL3, "a.py": "a = 1\n"}))
    assert both["license_class"] == "non_permissive"  # the license file decides; NOTICE is attribution


def test_a_stanza_declaring_mit_above_a_pasted_gpl_text_is_not_mit(git_repo_factory: Factory) -> None:
    text = f"{MIT}\n\nName: vendored\nFiles: vendor/x.c\nLicense: MIT\n\n{GPL3}"
    path = git_repo_factory(
        "a/stanza-lies", {"LICENSE": text, "vendor/x.c": "int x;\n", "main.c": "int m;\n"}
    )
    repo = decide(path)
    assert file_class(repo, "main.c") == ("MIT", "permissive")
    license_, class_ = file_class(repo, "vendor/x.c")
    assert class_ == "non_permissive" and "GPL-3.0" in (license_ or "")


def _sections(*parts: str) -> str:
    rule = "\n\n" + "-" * 59 + "\n\n"
    return rule.join(parts)


def test_sections_that_list_their_files_scope_their_license(git_repo_factory: Factory) -> None:
    # gRPC's form: the project's license, then sections between identical rule lines, each "Following applies
    # to:" and its paths, then a license text (its own rule lines and boxes are not separators)
    boxed_gpl = f"{GPL3}\n\n{'*' * 72}\n*  Disclaimer of Warranty  *\n{'*' * 72}\n"
    text = _sections(
        APACHE,
        f"Following applies to:\n./src/objc/Plugin.podspec\n./templates/Plugin.podspec.inja\n\n{BSD3}",
        f"The following applies to:\n./etc/roots.pem\n\n{boxed_gpl}",
    )
    files = {
        "LICENSE": text,
        "src/main.py": "x = 1\n",
        "src/objc/Plugin.podspec": "Pod::Spec.new\n",
        "pkg/_credentials/roots.pem": "-----BEGIN CERTIFICATE-----\n",  # the listed file, moved
    }
    repo = decide(git_repo_factory("a/applies", files))
    assert repo.root.license == "Apache-2.0" and repo.root.license_class == "permissive"
    assert file_class(repo, "src/main.py") == ("Apache-2.0", "permissive")
    assert file_class(repo, "src/objc/Plugin.podspec") == ("Apache-2.0 AND BSD-3-Clause", "permissive")
    moved = file_class(repo, "pkg/_credentials/roots.pem")
    assert moved[1] == "non_permissive" and "GPL-3.0" in (moved[0] or "")


def test_a_section_listing_an_unsafe_path_cancels_the_split(git_repo_factory: Factory) -> None:
    text = _sections(APACHE, f"Following applies to:\n../../outside.c\n\n{GPL3}")
    report = detect(git_repo_factory("a/applies-hostile", {"LICENSE": text, "a.c": "int a;\n"}))
    assert report["license_class"] == "non_permissive" and "GPL-3.0" in report["license"]
    # a section whose head lists no paths is no scope: its text is the folder's
    prose = _sections(APACHE, f"This applies to:\nall of the code in this folder and below\n\n{GPL3}")
    report = detect(git_repo_factory("a/applies-prose", {"LICENSE": prose, "a.c": "int a;\n"}))
    assert report["license_class"] == "non_permissive"


def test_a_last_section_holding_more_than_one_license_binds_the_folder(git_repo_factory: Factory) -> None:
    # no rule line closes the last section: a GPL text written after the component's MIT may be the folder's
    text = _sections(APACHE, f"Following applies to:\nvendor/x.c\n\n{MIT}\n\nAll other files:\n\n{GPL3}")
    files = {"LICENSE": text, "vendor/x.c": "int x;\n", "main.c": "int m;\n"}
    repo = decide(git_repo_factory("a/applies-open", files))
    assert repo.root.license_class == "non_permissive" and "GPL-3.0" in (repo.root.license or "")
    assert file_class(repo, "main.c")[1] == "non_permissive"


OFL = load_spdx_texts()["licenses"]["OFL-1.1"]
FONTS_NOTE = (
    "This project includes the following font projects for testing purposes, which are under the SIL Open "
    "Font License, Version 1.1:\n\nLobster\n  This Font Software is licensed under the SIL Open Font "
    "License, Version 1.1.\n\n"
)


def test_a_font_license_beside_a_code_license_governs_the_fonts_only(git_repo_factory: Factory) -> None:
    files = {
        "LICENSE": MIT,
        "LICENSE.external": FONTS_NOTE + OFL,
        "pkg/render.py": "def render():\n    return 1\n",
    }
    path = git_repo_factory("a/fonttools-like", files)
    report = detect(path)
    assert (report["license"], report["license_class"]) == ("MIT", "permissive")
    scoped = [e for e in report["evidence"] if e["engine"] == "subject-scope"]
    assert [(e["license"], e["path"]) for e in scoped] == [("OFL-1.1", "LICENSE.external")]
    assert "*.ttf" in scoped[0]["scope"]
    repo = decide(path)
    assert file_class(repo, "pkg/render.py") == ("MIT", "permissive")
    assert file_class(repo, "Tests/fonts/Lobster.ttf") == ("MIT AND OFL-1.1", "non_permissive")
    assert file_class(repo, "Tests/fonts/Test.ufo/glyphs/a.glif") == ("MIT AND OFL-1.1", "non_permissive")


def test_a_font_license_alone_or_beside_unknown_terms_governs_every_file(git_repo_factory: Factory) -> None:
    alone = decide(git_repo_factory("a/font-only", {"OFL.txt": OFL, "build.py": "print(1)\n"}))
    assert file_class(alone, "build.py") == ("OFL-1.1", "non_permissive")
    rider = "\nNon-commercial use only, please.\n"
    unknown = decide(git_repo_factory("a/font-rider", {"OFL.txt": OFL + rider, "build.py": "print(1)\n"}))
    assert file_class(unknown, "build.py")[1] == "non_permissive"
    assert "OFL-1.1" in (file_class(unknown, "build.py")[0] or "")


def test_a_declared_font_license_is_not_scoped(git_repo_factory: Factory) -> None:
    # a manifest says which licenses a project uses, not which files each governs: nothing is scoped
    manifest = '{"name": "icons", "version": "1.0.0", "license": "(MIT AND OFL-1.1)"}\n'
    report = detect(git_repo_factory("a/icons", {"LICENSE": MIT, "package.json": manifest}))
    assert (report["license"], report["license_class"]) == ("MIT AND OFL-1.1", "non_permissive")
    assert not [e for e in report["evidence"] if e["engine"] == "subject-scope"]
    # beside a font license read in a text, a declared one still stays the folder's
    files = {
        "LICENSE": MIT,
        "LICENSE.external": FONTS_NOTE + OFL,
        "package.json": '{"name": "icons", "license": "(MIT AND OFL-1.0)"}\n',
    }
    report = detect(git_repo_factory("a/icons-both", files))
    assert (report["license"], report["license_class"]) == ("MIT AND OFL-1.0", "non_permissive")
