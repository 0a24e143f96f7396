"""Evidence beyond license files, each a counted source in ``license_evidence``: package metadata
(PKG-INFO/METADATA, setup.py, setup.cfg, pyproject classifiers), manifests with odd names, and license
notices in the first comment block of source files. Real git repositories; the manifests are written the way
their ecosystems publish them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import MIT_TEXT as MIT
from test_detect import detect

from stackcurate.licenses.policy import load_license_policy

Factory = Callable[..., Path]

PKG_INFO = """Metadata-Version: 2.1
Name: example
Version: 1.0
Summary: An example
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Classifier: Operating System :: OS Independent

Long description mentioning the GPL, which is not a declaration.
"""
METADATA = (
    "Metadata-Version: 2.4\nName: example\nVersion: 1.0\nLicense-Expression: Apache-2.0 OR MIT\n\nText\n"
)
SETUP_PY = """from setuptools import setup

setup(
    name="example",
    version="1.0",
    license="BSD-3-Clause",
    packages=["example"],
)
"""
SETUP_PY_CLASSIFIERS = """from setuptools import setup

setup(name="example", classifiers=["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"])
"""
APACHE_HEADER = """#!/usr/bin/env python
# Copyright 2020 The Example Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
import os
"""
GPL_HEADER = """/* example.c
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 2 of the License, or
 * (at your option) any later version.
 */
int main(void) { return 0; }
"""


def evidence_of(report: dict) -> dict[str, tuple[str, str]]:
    return {e["path"]: (e["license"], e["engine"]) for e in report["evidence"]}


def test_package_metadata_decides_when_there_is_no_license_file(git_repo_factory: Factory) -> None:
    from stackcurate.licenses.cli import detect_paths
    from stackcurate.licenses.stage import DEFAULT_ENGINES

    cases = {
        "pkg-info": ({"PKG-INFO": PKG_INFO}, "MIT", "permissive"),
        "dist-info": ({"example-1.0.dist-info/METADATA": METADATA}, "Apache-2.0 OR MIT", "permissive"),
        "setup-py": ({"setup.py": SETUP_PY}, "BSD-3-Clause", "permissive"),
        "classifiers": ({"setup.py": SETUP_PY_CLASSIFIERS}, "GPL-3.0-only", "non_permissive"),
        "composer": ({"composer.json": '{"name": "a/b", "license": "MIT-only"}'}, "MIT", "permissive"),
    }
    paths = [
        str(git_repo_factory(f"meta/{name}", {**files, "a.py": "a = 1\n"}))
        for name, (files, _, _) in cases.items()
    ]
    reports = detect_paths(paths, engines=list(DEFAULT_ENGINES), memo=False)  # one batch
    for report, (name, (files, expected, license_class)) in zip(reports, cases.items(), strict=True):
        assert (report["license"], report["license_class"]) == (expected, license_class), name
        (path,) = files
        assert evidence_of(report)[path] == (expected, "manifest"), name
    # the dist-info METADATA speaks for the folder above it: the package's code
    assert reports[1]["directories"]["."]["evidence"] == "example-1.0.dist-info/METADATA"


def test_uninformative_manifest_value_leaves_the_decision_to_the_license_file(
    git_repo_factory: Factory,
) -> None:
    setup_cfg = "[metadata]\nname = example\nlicense = Dual License\n"
    report = detect(git_repo_factory("meta/dual", {"LICENSE": MIT, "setup.cfg": setup_cfg, "a.py": "a\n"}))
    assert (report["license"], report["license_class"]) == ("MIT", "permissive")
    assert "setup.cfg" not in evidence_of(report)


def test_source_file_license_notice_decides_that_file(git_repo_factory: Factory) -> None:
    from stackcurate.licenses.cli import repository_files
    from stackcurate.licenses.stage import DEFAULT_ENGINES, make_detector

    repo = git_repo_factory(
        "hdr/repo",
        {"main.py": APACHE_HEADER, "gpl/example.c": GPL_HEADER, "plain.py": "# just code\nx = 1\n"},
    )
    result = make_detector(list(DEFAULT_ENGINES), None).detect_many([repository_files(repo)])[0]
    found = {e.path: (e.license or "", e.engine) for e in result.evidence}
    assert found["main.py"][0] == "Apache-2.0" and found["main.py"][1].startswith("header:")
    assert "GPL" in found["gpl/example.c"][0]
    assert "plain.py" not in found
    assert result.for_file("main.py", load_license_policy()).license_class == "permissive"
    assert result.for_file("gpl/example.c", load_license_policy()).license_class == "non_permissive"
    assert result.for_file("plain.py", load_license_policy()).license_class == "no_license"


BADGES = (
    "\n\n[npm-image]: https://img.shields.io/npm/v/tool.svg?style=flat-square\n"
    "[npm-url]: https://npmjs.org/package/tool\n"
    "[`http.websocketMask()`]:\n  https://nodejs.org/api/http.html#httpwebsocketmask\n"
    "<!-- prettier-ignore-start -->\n[downloads-image]: https://img.shields.io/npm/dm/tool.svg\n"
)


def test_a_readme_license_section_is_read_as_rendered(git_repo_factory: Factory) -> None:
    # link definitions gathered at a README's end, comments and badges are not the section's words; a
    # link reads as its text, its target only when that is a license's own page
    cases = {
        "defs": ("# tool\n\n## License\n\n  MIT" + BADGES, "MIT"),
        "json-url": (
            "# tool\n\n## License\n\n[MIT](https://github.com/o/fast-json-tool/blob/master/LICENSE)\n",
            "MIT",
        ),
        "page": ("# tool\n\n## License\n\nSee [the license](https://opensource.org/licenses/ISC).\n", "ISC"),
        "holder": (
            "# tool\n\n## license\n\nBSD 3 Clause. Copyright (c) 2008, Fair Oaks Labs, Inc.\n",
            "BSD-3-Clause",
        ),
    }
    for name, (readme, expected) in cases.items():
        report = detect(git_repo_factory(f"readme/{name}", {"README.md": readme, "a.js": "x = 1\n"}))
        assert (report["license"], report["license_class"]) == (expected, "permissive"), name
    badge = "# tool\n\n## License\n[![FOSSA Status](https://app.fossa.io/api/x.svg?type=large)](https://app.fossa.io/x)\n"
    report = detect(git_repo_factory("readme/badge", {"README.md": badge, "a.js": "x = 1\n"}))
    assert report["license_class"] == "no_license" and report["evidence"] == []


def test_a_copyleft_license_file_in_latin_1_still_counts(git_repo_factory: Factory) -> None:
    gpl = (Path("/usr/share/common-licenses") / "GPL-3").read_text().replace("(C)", "\xa9")
    files = {
        "COPYING": gpl.encode("latin-1"),
        "package.json": '{"name": "x", "license": "MIT"}\n',
        "index.js": "module.exports = 1;\n",
    }
    report = detect(git_repo_factory("latin1/gpl", files))
    assert (report["license"], report["license_class"]) == ("GPL-3.0-only AND MIT", "non_permissive")
