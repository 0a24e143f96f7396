"""A license file that is nothing but a URL: read through ScanCode's URL references (package data)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_detect import detect

from stackcurate.licenses.spdx_data import build_urls, load_license_urls, url_key

Factory = Callable[..., Path]


def decided(report: dict) -> tuple[str | None, str, str]:
    return report["license"], report["license_class"], report["evidence"][0]["engine"]


@pytest.mark.parametrize(
    "text",
    [
        "https://github.com/dotnet/docfx/blob/master/LICENSE\n",
        "License: <https://github.com/dotnet/docfx/blob/master/LICENSE>\n",
        "  see http://www.github.com/dotnet/docfx/blob/master/LICENSE/.\n",
    ],
)
def test_a_listed_project_url_reads_as_its_license(git_repo_factory: Factory, text: str) -> None:
    report = detect(git_repo_factory("url/listed", {"LICENSE": text, "a.cs": "class A {}\n"}))
    assert decided(report) == ("MIT", "permissive", "spdx-match:url")


def test_a_listed_url_of_a_restricted_license_is_not_permissive(git_repo_factory: Factory) -> None:
    for url, expected in [
        ("https://www.gnu.org/licenses/old-licenses/gpl-2.0.html", "GPL-2.0-only"),
        ("https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode", "CC-BY-NC-SA-4.0"),
        ("https://firebase.google.com/terms/", "LicenseRef-scancode-proprietary-license"),
    ]:
        report = detect(git_repo_factory(f"url/{expected}", {"LICENSE": url + "\n"}))
        assert decided(report) == (expected, "non_permissive", "spdx-match:url")


def test_an_unlisted_url_stays_unknown_and_a_url_in_prose_is_read_as_text(git_repo_factory: Factory) -> None:
    report = detect(
        git_repo_factory("url/unlisted", {"LICENSE": "https://github.com/nobody/nothing/LICENSE\n"})
    )
    unknown = ("LicenseRef-unknown-license-text", "non_permissive")
    assert (report["license"], report["license_class"]) == unknown
    # a URL inside a sentence is no lone URL: the sentence is read as any text, and its restriction counts
    prose = "For non-commercial use only, see https://github.com/dotnet/docfx/blob/master/LICENSE\n"
    report = detect(git_repo_factory("url/prose", {"LICENSE": prose}))
    assert report["license_class"] == "non_permissive"
    assert report["evidence"][0]["engine"] == "spdx-match"


def test_url_keys_meet_across_scheme_case_and_trailing_marks() -> None:
    assert url_key("https://www.Apache.org/licenses/LICENSE-2.0/.") == "apache.org/licenses/license-2.0"
    assert url_key("http://apache.org/licenses/license-2.0#section") == "apache.org/licenses/license-2.0"
    shipped = load_license_urls()
    assert len(shipped["urls"]) > 2000 and "ScanCode" in shipped["source"]
    assert all(key == url_key(key) for key in shipped["urls"])


def _entry(folder: Path, name: str, meta: str, body: str) -> None:
    (folder / name).write_text(f"---\n{meta}\n---\n\n{body}\n")


def test_the_table_is_built_from_url_rules_in_spdx_ids(tmp_path: Path) -> None:
    licenses, rules = tmp_path / "licenses", tmp_path / "rules"
    licenses.mkdir()
    rules.mkdir()
    _entry(licenses, "mit.LICENSE", "key: mit\nspdx_license_key: MIT", "text")
    _entry(licenses, "gpl-2.0.LICENSE", "key: gpl-2.0\nspdx_license_key: GPL-2.0-only", "text")
    _entry(licenses, "acme.LICENSE", "key: acme\nspdx_license_key: LicenseRef-scancode-acme", "text")
    _entry(
        rules, "mit_1.RULE", "license_expression: mit\nis_license_reference: yes", "https://x.org/A/LICENSE"
    )
    _entry(rules, "dual_1.RULE", "license_expression: mit OR gpl-2.0", "http://www.y.org/license/")
    _entry(rules, "acme_1.RULE", "license_expression: acme", "https://acme.example/terms")
    # two rules that disagree on a URL: left out; a false positive, a text that is more than a URL, an
    # expression with a key that has no SPDX id: not read
    _entry(rules, "mit_2.RULE", "license_expression: mit", "https://z.org/license")
    _entry(rules, "gpl-2.0_9.RULE", "license_expression: gpl-2.0", "https://z.org/license")
    _entry(
        rules, "false-positive_1.RULE", "license_expression: mit\nis_false_positive: yes", "https://f.org/"
    )
    _entry(rules, "mit_3.RULE", "license_expression: mit", "licensed under https://x.org/other")
    _entry(rules, "nokey_1.RULE", "license_expression: nokey", "https://n.org/license")
    built = build_urls(tmp_path)
    assert built["urls"] == {
        "x.org/a/license": "MIT",
        "y.org/license": "MIT OR GPL-2.0-only",
        "acme.example/terms": "LicenseRef-scancode-acme",
    }
    assert built["ambiguous"] == ["z.org/license"]
