"""The repros of issue 25, each as the answer it must give: riders and restrictions fail closed, a manifest
never erases what the files say, OR is a choice, the forms projects use are read, ids are exact and ties break
the same way under every ``PYTHONHASHSEED``. Texts: the SPDX list's canonical texts (package data), Debian's
/usr/share/common-licenses, the MIT text as the OSI publishes it, and notices written the way the named
projects write them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT as MIT
from test_detect import APACHE, GPL3, detect

from stackcurate.licenses.policy import load_license_policy
from stackcurate.licenses.spdx_data import load_spdx_texts

SPDX = load_spdx_texts()["licenses"]
GPL2 = (Path("/usr/share/common-licenses") / "GPL-2").read_text()
Factory = Callable[..., Path]


def decided(report: dict) -> tuple[str | None, str]:
    return report["license"], report["license_class"]


@pytest.mark.parametrize(
    "rider",
    [
        "Non-commercial use only, please.",
        "Not for use in commercial products.",
        "This software is not to be used for military purposes.",
        "Companies with annual revenue above 1,000,000 USD are required to purchase a paid commercial "
        "license.",
        "You may not use this software without prior written approval from Example Corp.",
        "Example Corp. and its subsidiaries are not permitted to use this software.",
    ],
)
def test_a_short_rider_after_mit_fails_closed(git_repo_factory: Factory, rider: str) -> None:
    report = detect(git_repo_factory("rider/repo", {"LICENSE": MIT + "\n" + rider + "\n"}))
    assert decided(report) == ("LicenseRef-unknown-terms AND MIT", "non_permissive")
    assert report["evidence"][0]["unaccounted"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SPDX["copyleft-next-0.3.1"], "copyleft-next-0.3.1"),
        (
            "This work is licensed under the Creative Commons Attribution-NonCommercial 4.0 International "
            "License. To view a copy of this license, visit http://creativecommons.org/licenses/by-nc/4.0/.\n",
            "CC-BY-NC-4.0",
        ),
        ("This file is licensed under the MPL v 1.1.\n", "MPL-1.1"),
        (
            "// This Source Code Form is subject to the terms of the Mozilla Public\n"
            "// License, v. 2.0. If a copy of the MPL was not distributed with this\n"
            "// file, You can obtain one at http://mozilla.org/MPL/2.0/.\n",
            "MPL-2.0",
        ),
    ],
    ids=["copyleft-next", "cc-by-nc-notice", "mpl-v-1.1", "mpl-2.0-in-comments"],
)
def test_copyleft_and_non_commercial_texts_are_named_not_permissive(
    git_repo_factory: Factory, text: str, expected: str
) -> None:
    assert decided(detect(git_repo_factory("cl/repo", {"LICENSE": text}))) == (expected, "non_permissive")


def test_a_license_missing_a_clause_is_not_that_license(git_repo_factory: Factory) -> None:
    """Apache-2.0 with all of section 4 (Redistribution) removed."""
    start, end = APACHE.index("4. Redistribution"), APACHE.index("5. Submission of Contributions")
    report = detect(git_repo_factory("cut/apache", {"LICENSE": APACHE[:start] + APACHE[end:]}))
    assert report["license"] != "Apache-2.0" and report["license_class"] == "non_permissive"


def test_a_manifest_adds_to_the_files_and_never_erases_them(git_repo_factory: Factory) -> None:
    package = '{"name": "x", "version": "1.0.0", "license": "MIT"}\n'
    both = detect(git_repo_factory("m/both", {"COPYING": GPL3, "LICENSE": MIT, "package.json": package}))
    assert decided(both) == ("GPL-3.0-only AND MIT", "non_permissive")
    rider = MIT + "\nNot for use in commercial products.\n"
    terms = detect(git_repo_factory("m/terms", {"LICENSE": rider, "package.json": package}))
    assert decided(terms) == ("LicenseRef-unknown-terms AND MIT", "non_permissive")


def test_dual_licenses_are_a_choice_and_the_branch_is_recorded(git_repo_factory: Factory) -> None:
    jszip = (  # jszip's LICENSE.markdown: a preamble offering either, then both texts
        "JSZip is dual licensed. You may use it under the MIT license *or* the GPLv3 license.\n\n"
        f"The MIT License\n===============\n\n{MIT}\n\nGPL version 3\n=============\n\n{GPL3}"
    )
    forge = (  # node-forge's LICENSE and package.json
        "You may use the Forge project under the terms of either the BSD License or the\n"
        f"GNU General Public License (GPL) Version 2.\n\n{SPDX['BSD-3-Clause']}\n\n{GPL2}"
    )
    dompurify = (  # DOMPurify's LICENSE today: a pointer to the two texts beside it
        "DOMPurify\nCopyright 2014-2026 Mario Heiderich, Cure53\n\n"
        "This software is dual-licensed under the Apache License, Version 2.0\n"
        "(see LICENSE-APACHE) and the Mozilla Public License, Version 2.0\n(see LICENSE-MPL). "
        "You may use this software under the terms of\neither license, at your option.\n\n"
        "SPDX-License-Identifier: Apache-2.0 OR MPL-2.0\n"
    )
    repos = {
        "jszip": ({"LICENSE.markdown": jszip}, "MIT OR GPL-3.0-only", "MIT"),
        "forge": (
            {
                "LICENSE": forge,
                "package.json": '{"name": "node-forge", "license": "(BSD-3-Clause OR GPL-2.0)"}',
            },
            "BSD-3-Clause OR GPL-2.0-only",
            "BSD-3-Clause",
        ),
        "dompurify": (
            {"LICENSE": dompurify, "LICENSE-APACHE": APACHE, "LICENSE-MPL": SPDX["MPL-2.0"]},
            None,
            None,
        ),
    }
    for name, (files, expression, branch) in repos.items():
        report = detect(git_repo_factory(f"or/{name}", files))
        assert report["license_class"] == "permissive", name
        assert " OR " in report["license"] and report["license_choice"], name
        if expression is not None:
            assert (report["license"], report["license_choice"]) == (expression, branch), name
        else:
            assert "MPL-2.0" in report["license"] and "Apache-2.0" in report["license_choice"], name


BSD3 = SPDX["BSD-3-Clause"]
GLASSFISH = (  # a GlassFish-style header: CDDL or GPL for the file, over a portion under Apache-2.0
    "The contents of this file are subject to the terms of either the GNU\n"
    'General Public License Version 2 only ("GPL") or the Common Development\n'
    'and Distribution License("CDDL") (collectively, the "License").  You\n'
    "may not use this file except in compliance with the License.\n\n"
    "This file incorporates work covered by the following copyright and\npermission notice:\n\n"
    "Copyright 2004 The Apache Software Foundation\n\n"
    'Licensed under the Apache License, Version 2.0 (the "License");\n'
    "you may not use this file except in compliance with the License.\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MIT.replace("hereby granted", "hereby restricted"), "LicenseRef-unknown-terms AND MIT"),
        (
            BSD3.replace("permitted provided", "permitted, with the approval of Example Corp., provided"),
            "BSD-3-Clause AND LicenseRef-unknown-terms",
        ),
        (
            BSD3 + "\nThis software may not be used by Acme Industries or any of its affiliates.\n",
            "BSD-3-Clause AND LicenseRef-unknown-terms",
        ),
        (GLASSFISH, "Apache-2.0 AND (CDDL-1.0 OR GPL-2.0-only)"),
    ],
    ids=["mit-grant-restricted", "bsd-on-approval", "bsd-banning-a-user", "cddl-or-gpl-over-apache"],
)
def test_restricted_grants_and_headers_over_a_permissive_portion_are_not_permissive(
    git_repo_factory: Factory, text: str, expected: str
) -> None:
    assert decided(detect(git_repo_factory("restricted/repo", {"LICENSE": text}))) == (
        expected,
        "non_permissive",
    )


def test_attribution_of_included_material_is_no_approval_duty(git_repo_factory: Factory) -> None:
    text = MIT + "\nThe test data in tests/data is reproduced with permission of the W3C.\n"
    assert decided(detect(git_repo_factory("attribution/repo", {"LICENSE": text}))) == ("MIT", "permissive")


RUST_NOTICE = """// Copyright 2015 Example Project Developers. See the COPYRIGHT
// file at the top-level directory of this distribution.
//
// Licensed under the Apache License, Version 2.0 <LICENSE-APACHE or
// http://www.apache.org/licenses/LICENSE-2.0> or the MIT license
// <LICENSE-MIT or http://opensource.org/licenses/MIT>, at your
// option. This file may not be copied, modified, or distributed
// except according to those terms.

pub fn f() {}
"""


def test_sentences_that_describe_or_refer_to_licenses_are_no_terms(git_repo_factory: Factory) -> None:
    # the notice of Rust's dual-licensed crates refers back to the two licenses: the file is MIT OR Apache-2.0
    report = detect(git_repo_factory("rust/crate", {"LICENSE-MIT": MIT, "src/lib.rs": RUST_NOTICE}))
    header = next(e for e in report["evidence"] if e["path"] == "src/lib.rs")
    assert header["license"] == "Apache-2.0 OR MIT" and "unaccounted" not in header
    described = [
        # where a bundle's third-party licenses are, as LLVM's license file says it
        (
            "Third party software will be in a separate directory tree with its own LICENSE file at the top "
            "containing the specific license and restrictions which apply to that software.",
            "MIT",
        ),
        # a patent grant's termination, named (the license it names is read as a notice)
        (
            "This project includes code from the Go project, BSD 3-clause license + PATENTS weak patent "
            "termination clause.",
            "BSD-3-Clause AND MIT",
        ),
        # what a project bundles for its own tests
        (
            "This package includes the following font projects for testing purposes, which are under their "
            "own licenses.",
            "MIT",
        ),
    ]
    for number, (sentence, expected) in enumerate(described):
        report = detect(git_repo_factory(f"described/{number}", {"LICENSE": MIT + "\n" + sentence + "\n"}))
        assert decided(report) == (expected, "permissive")


DOCSTRING = '''"""
Proxy Fix
=========

This middleware should only be used if the application is actually behind a proxy, and should be
configured with the number of proxies in front of it. You must set how many proxies set each header.

:copyright: 2007 Example Team
:license: BSD-3-Clause
{rider}"""

class ProxyFix:
    pass
'''


def _header_decision(report: dict, path: str) -> str:
    return next(e["license"] for e in report["evidence"] if e["path"] == path)


def test_a_module_docstring_describing_its_code_is_no_terms(git_repo_factory: Factory) -> None:
    # a source file's notice is read as source code: the description before its license lines is not
    # read for terms, a rider after them is, and so are the strongest kinds anywhere in it
    files = {
        "LICENSE": MIT,
        "fix.py": DOCSTRING.format(rider=""),
        "rider.py": DOCSTRING.format(rider="\nNot for use in commercial products.\n"),
        "wiki.py": "# This module uses material from the Wikipedia article on matchings, which is released\n"
        "# under the Creative Commons Attribution-Share-Alike License 3.0.\n#\n"
        "# Copyright (C) 2015 Example. Licensed under the MIT License.\n\ndef f():\n    pass\n",
        "forum.py": "# The tables below come from a forum post, reused on its site's share-alike\n"
        "# terms.\n#\n# Copyright (C) 2015 Example. Licensed under the MIT License.\n\nT = 1\n",
    }
    report = detect(git_repo_factory("docstring/repo", files))
    assert _header_decision(report, "fix.py") == "BSD-3-Clause"
    assert "LicenseRef-unknown-terms" in _header_decision(report, "rider.py")
    wiki = _header_decision(report, "wiki.py")  # the share-alike material's license is read too
    assert "CC-BY-SA-3.0" in wiki and load_license_policy().classify(wiki) == "non_permissive"
    assert "LicenseRef-unknown-terms" in _header_decision(report, "forum.py")  # share-alike, unnamed


@pytest.mark.parametrize(
    "rider",
    [
        "This file may not be copied, modified, or distributed except with the written permission of Example "
        "Corp.",
        "This software may be included in other projects for testing purposes only.",
        "Each developer must own a license.",
    ],
)
def test_look_alikes_of_those_sentences_still_fail_closed(git_repo_factory: Factory, rider: str) -> None:
    report = detect(git_repo_factory("lookalike/repo", {"LICENSE": MIT + "\n" + rider + "\n"}))
    assert decided(report) == ("LicenseRef-unknown-terms AND MIT", "non_permissive")


@pytest.mark.parametrize(
    ("text", "expected", "branch"),
    [
        (  # Perl's dual license, as CPAN modules write it
            "This program is free software; you can redistribute it and/or modify\n"
            "it under the terms of either:\n\n"
            "    a) the GNU General Public License as published by the Free\n"
            "    Software Foundation; either version 1, or (at your option) any\n    later version, or\n\n"
            '    b) the "Artistic License" which comes with this Kit.\n',
            "GPL-1.0-or-later OR Artistic-1.0",
            None,
        ),
        (
            "This library may be used under one of the following licenses, at your option:\n\n"
            "1. The MIT License (see LICENSE-MIT)\n2. The Apache License, Version 2.0 (see LICENSE-APACHE)\n",
            "MIT OR Apache-2.0",
            "MIT",
        ),
        (
            "You may redistribute this library under either:\n\n"
            "- the MIT License, or\n- the Apache License, Version 2.0.\n",
            "MIT OR Apache-2.0",
            "MIT",
        ),
    ],
    ids=["perl-a-b", "numbered", "bullets"],
)
def test_a_choice_offered_as_a_list_is_an_or(
    git_repo_factory: Factory, text: str, expected: str, branch: str | None
) -> None:
    report = detect(git_repo_factory("list/repo", {"LICENSE": text}))
    assert (report["license"], report["license_choice"]) == (expected, branch)
    assert report["license_class"] == ("permissive" if branch else "non_permissive")


def test_a_numbered_list_of_conditions_is_no_choice(git_repo_factory: Factory) -> None:
    """BSD's numbered conditions follow a colon too; they are conditions, not alternatives."""
    assert decided(detect(git_repo_factory("list/bsd", {"LICENSE": BSD3}))) == ("BSD-3-Clause", "permissive")


@pytest.mark.parametrize("spdx_id", ["dtoa", "TCL"])
def test_permissive_texts_missing_from_the_list(git_repo_factory: Factory, spdx_id: str) -> None:
    assert decided(detect(git_repo_factory("gap/repo", {"LICENSE": SPDX[spdx_id]}))) == (
        spdx_id,
        "permissive",
    )


def test_the_forms_projects_use_are_read(git_repo_factory: Factory) -> None:
    setup_cc0 = (
        "from setuptools import setup\n\nsetup(\n    name='x',\n    classifiers=[\n"
        "        'License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication',\n    ],\n)\n"
    )
    dep5 = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n"
        "Files: *\nCopyright: 2020 Jane Doe\nLicense: MIT\n"
    )
    cases = {
        "classifier-cc0": ({"setup.py": setup_cc0, "x.py": "a = 1\n"}, "CC0-1.0"),
        "unlicense-and-pd-line": (
            {
                "LICENSE": SPDX["Unlicense"],
                "README.md": "# x\n\n## License\n\nPublic domain, see unlicense.org\n",
            },
            None,
        ),
        "reuse-folder": (
            {"LICENSES/MIT.txt": MIT, "src/a.py": "# SPDX-License-Identifier: MIT\na = 1\n"},
            "MIT",
        ),
        "dep5": ({".reuse/dep5": dep5, "LICENSES/MIT.txt": MIT, "a.py": "a = 1\n"}, "MIT"),
        "readme-section": (
            {
                "README.md": "# x\n\nDoes things.\n\n## License\n\n"
                "This project is licensed under the MIT License.\n"
            },
            "MIT",
        ),
        "license-html": ({"license.html": f"<html><body><pre>{MIT}</pre></body></html>\n"}, "MIT"),
        "pointer": ({"LICENSE": "MIT. See LICENSE.txt\n", "a.py": "a = 1\n"}, "MIT"),
        "copyright-only-file": ({"LICENSE": MIT, "COPYRIGHT.md": "Copyright (c) 2019 Jane Doe\n"}, "MIT"),
    }
    for name, (files, expected) in cases.items():
        report = detect(git_repo_factory(f"forms/{name}", files))
        assert report["license_class"] == "permissive", name
        if expected is not None:
            assert report["license"] == expected, name
        assert "unknown" not in report["license"].lower(), name


@pytest.mark.parametrize(
    ("spdx_id", "kind"),
    [("BSD-3-Clause", "permissive"), ("OFL-1.1", "non_permissive"), ("MPL-2.0", "non_permissive")],
)
def test_canonical_texts_get_their_own_id_not_a_variant(
    git_repo_factory: Factory, spdx_id: str, kind: str
) -> None:
    assert decided(detect(git_repo_factory("ids/repo", {"LICENSE": SPDX[spdx_id]}))) == (spdx_id, kind)


def test_a_gpl_notice_with_any_later_version_from_1_is_gpl_1_or_later(git_repo_factory: Factory) -> None:
    notice = (
        "This program is free software; you can redistribute it and/or modify it under the terms of the GNU "
        "General Public License as published by the Free Software Foundation; either version 1, or (at your "
        "option) any later version.\n"
    )
    assert decided(detect(git_repo_factory("gpl/one", {"LICENSE": notice}))) == (
        "GPL-1.0-or-later",
        "non_permissive",
    )


_ONE_DETECTION = """
import json, sys
from stackcurate.licenses.cli import detect_paths
from stackcurate.licenses.stage import DEFAULT_ENGINES
reports = detect_paths(sys.argv[1:], engines=list(DEFAULT_ENGINES), memo=False)
print(json.dumps([r["license"] for r in reports]))
"""


@pytest.mark.slow
def test_the_same_answers_under_every_hash_seed(git_repo_factory: Factory, tmp_path: Path) -> None:
    """Apache-1.1, close to BSD-Advertising-Acknowledgement and Entessa (the tie of the issue), and texts that
    hold several licenses: one answer under three PYTHONHASHSEED values."""
    repos = [
        git_repo_factory("seed/apache11", {"LICENSE": SPDX["Apache-1.1"]}),
        git_repo_factory("seed/entessa", {"LICENSE": SPDX["Entessa"]}),
        git_repo_factory("seed/bsd4", {"LICENSE": SPDX["BSD-4-Clause"]}),
        git_repo_factory("seed/mixed", {"LICENSE": MIT + "\n\n" + SPDX["Apache-1.1"], "COPYING": GPL2}),
    ]
    answers = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "XDG_CACHE_HOME": str(tmp_path)}
        out = subprocess.run(
            [sys.executable, "-c", _ONE_DETECTION, *map(str, repos)], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr[-2000:]
        answers.add(tuple(json.loads(out.stdout.strip().splitlines()[-1])))
    assert len(answers) == 1 and next(iter(answers))[0] == "Apache-1.1"


def test_a_dual_license_s_instructions_for_dropping_a_license_are_no_notice(
    git_repo_factory: Factory,
) -> None:
    # libev's form: a BSD text, "Alternatively, ... the GPL version 2 or any later version", then how to keep
    # one of the two ("If you wish to allow the use of your version of this file only under the terms of the
    # GPL ..."): the instructions name both licenses but offer nothing more than the choice before them
    text = (
        SPDX["BSD-2-Clause"]
        + "\nAlternatively, the contents of this file may be used under the terms of the GNU General Public "
        'License ("GPL") version 2 or any later version, in which case the provisions of the GPL are '
        "applicable instead of the above. If you wish to allow the use of your version of this file only "
        "under the terms of the GPL and not to allow others to use your version of this file under the BSD "
        "license, indicate your decision by deleting the provisions above and replace them with the notice "
        "and other provisions required by the GPL.\n"
    )
    report = detect(git_repo_factory("dual/instructions", {"LICENSE": text}))
    assert decided(report) == ("BSD-2-Clause OR GPL-2.0-or-later", "permissive")


def test_creative_commons_notice_about_its_own_texts_adds_no_license(git_repo_factory: Factory) -> None:
    # every CC legal code ends with Creative Commons' notice that *its license texts* are CC0: not the work's
    trailer = (
        "\nCreative Commons is not a party to its public licenses. The text of the Creative Commons public "
        "licenses is dedicated to the public domain under the CC0 Public Domain Dedication. For the "
        "avoidance of doubt, this paragraph does not form part of the public licenses.\n"
    )
    report = detect(git_repo_factory("cc/trailer", {"LICENSE.md": SPDX["CC-BY-SA-4.0"] + trailer}))
    assert decided(report) == ("CC-BY-SA-4.0", "non_permissive")
