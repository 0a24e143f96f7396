"""The ``spdx-match`` engine on third-party texts: the SPDX list's canonical texts (npm spdx-license-list,
shipped as package data), Debian's /usr/share/common-licenses, and the Commons Clause rider as
commonsclause.com publishes it. A known license plus terms nobody accounted for is never permissive."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT as MIT
from test_detect import APACHE, detect

from stackcurate.cli import main
from stackcurate.licenses.matcher import SpdxMatchEngine
from stackcurate.licenses.policy import PERMISSIVE, load_license_policy
from stackcurate.licenses.spdx_data import load_spdx_texts
from stackcurate.licenses.stage import DEFAULT_ENGINES, make_detector

ROOT = Path(__file__).resolve().parents[2]

SPDX = load_spdx_texts()["licenses"]
COMMONS_CLAUSE = """"Commons Clause" License Condition v1.0

The Software is provided to you by the Licensor under the License, as defined below, subject to the
following condition.

Without limiting other conditions in the License, the grant of rights under the License will not include,
and the License does not grant to you, the right to Sell the Software.

For purposes of the foregoing, "Sell" means practicing any or all of the rights granted to you under the
License to provide to third parties, for a fee or other consideration (including without limitation fees for
hosting or consulting/ support services related to the Software), a product or service whose value derives,
entirely or substantially, from the functionality of the Software. Any license notice or attribution required
by the License must also include this Commons Clause License Condition notice.

Software: Example
License: Apache 2.0
Licensor: Example Inc.
"""
Factory = Callable[..., Path]


@pytest.mark.parametrize(
    "spdx_id",
    ["FSL-1.1-MIT", "FSL-1.1-ALv2", "GL2PS", "BUSL-1.1", "SSPL-1.0", "Elastic-2.0",
     "PolyForm-Noncommercial-1.0.0", "CC-BY-NC-4.0"],
)  # fmt: skip
def test_source_available_and_non_commercial_texts_are_named_and_not_permissive(
    git_repo_factory: Factory, spdx_id: str
) -> None:
    report = detect(git_repo_factory("sa/repo", {"LICENSE": SPDX[spdx_id], "a.py": "a = 1\n"}))
    assert (report["license"], report["license_class"]) == (spdx_id, "non_permissive")


@pytest.mark.parametrize(
    "spdx_id",
    ["WTFPL", "HPND", "blessing", "libpng-2.0", "zlib-acknowledgement", "BSD-Source-Code",
     "BSD-3-Clause-Attribution", "ISC", "0BSD"],
)  # fmt: skip
def test_permissive_texts_licensecheck_missed_are_recognised(git_repo_factory: Factory, spdx_id: str) -> None:
    report = detect(git_repo_factory("p/repo", {"LICENSE.rst": SPDX[spdx_id], "a.py": "a = 1\n"}))
    assert (report["license"], report["license_class"]) == (spdx_id, "permissive")


# ISC as hundreds of npm packages ship it (isaacs' once, semver, glob, ...): "the author" for "ISC", and the
# notice condition wrapped onto a line of its own that starts with "copyright"
ISC_AS_NPM_SHIPS_IT = """The ISC License

Copyright (c) Isaac Z. Schlueter and Contributors

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR
IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""


def test_a_license_line_that_starts_with_copyright_is_license_text(git_repo_factory: Factory) -> None:
    """Only copyright statements are left out of the comparison: dropping ISC's "copyright notice and this
    permission notice appear in all copies" line made it 0BSD, which has no notice condition."""
    report = detect(git_repo_factory("npm/once", {"LICENSE": ISC_AS_NPM_SHIPS_IT}))
    assert (report["license"], report["license_class"]) == ("ISC", "permissive")
    assert detect(git_repo_factory("spdx/0bsd", {"LICENSE": SPDX["0BSD"]}))["license"] == "0BSD"


def test_license_plus_rider_is_not_the_license_and_the_rider_is_quoted(
    git_repo_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    rider = "This software may be used for non-commercial purposes only."
    repos = {
        "commons": git_repo_factory("r/commons", {"LICENSE": APACHE + "\n" + COMMONS_CLAUSE}),
        "rider": git_repo_factory("r/rider", {"LICENSE": MIT + "\n" + rider + "\n"}),
    }
    commons, noncommercial = detect(repos["commons"]), detect(repos["rider"])
    assert commons["license_class"] == noncommercial["license_class"] == "non_permissive"
    assert "Apache-2.0" in commons["license"] and "LicenseRef-unknown-terms" in commons["license"]
    assert "the right to Sell the Software" in commons["evidence"][0]["unaccounted"]
    assert noncommercial["license"] == "LicenseRef-unknown-terms AND MIT"
    assert noncommercial["evidence"][0]["unaccounted"] == rider.rstrip(".")
    capsys.readouterr()
    assert main(["license", "detect", "--no-memo", str(repos["rider"])]) == 0
    table = capsys.readouterr().out
    assert "not accounted for" in table and "non-commercial" in table


def test_recognised_remainders_keep_the_license(git_repo_factory: Factory) -> None:
    authors = "\nAuthors:\n  Jane Doe <jane@example.org>\n  John Roe (https://example.org/john)\n"
    disclaimer = (
        "\nIN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY DAMAGES ARISING FROM THE USE OF THIS SOFTWARE, "
        "EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.\n"
    )
    cases = {
        "authors": (MIT + authors, "MIT"),
        "disclaimer": (MIT + disclaimer, "MIT"),
        "two-licenses": (MIT + "\n---\n\n" + APACHE, "Apache-2.0 AND MIT"),
    }
    for name, (text, expected) in cases.items():
        report = detect(git_repo_factory(f"ok/{name}", {"LICENSE": text}))
        assert (report["license"], report["license_class"]) == (expected, "permissive"), name
        assert "unaccounted" not in report["evidence"][0]


@pytest.mark.slow
def test_every_spdx_text() -> None:
    """The acceptance figures of issue 16 on the whole list (benchmarks/license_spdx.py prints them)."""
    data = load_spdx_texts()
    policy = load_license_policy()
    labels = sorted(data["licenses"])
    results = make_detector(list(DEFAULT_ENGINES), None).detect_many(
        [[("LICENSE", data["licenses"][k])] for k in labels]
    )
    exact = sum(r.root.license in (k, policy.normalize_name(k)) for k, r in zip(labels, results, strict=True))
    assert exact / len(labels) >= 0.95
    for label, result in zip(labels, results, strict=True):
        truth = policy.classify(policy.normalize_name(label)) == PERMISSIVE
        assert (result.root.license_class == PERMISSIVE) == truth, (label, result.root.license)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("MIT", "Python-2.0.1", {"MIT", "Python-2.0.1"}),  # mypy's LICENSE: the PSF text shares a sentence
        ("Python-2.0.1", "MIT", {"MIT", "Python-2.0.1"}),
        ("Apache-2.0", "MPL-2.0", {"Apache-2.0", "MPL-2.0"}),  # grpcio's: MPL-2.0 shares dozens of phrases
    ],
)
def test_a_second_license_split_by_phrases_the_first_covered_is_found_whole(
    first: str, second: str, expected: set[str]
) -> None:
    text = f"{SPDX[first]}\n\nPortions of this project are licensed as follows:\n\n{SPDX[second]}"
    names = set(SpdxMatchEngine().read(text).names)
    assert expected <= names
    assert not any(name.startswith("LicenseRef-") for name in names), names


def test_where_to_reach_the_author_is_no_term_but_a_duty_to_ask_is(git_repo_factory: Factory) -> None:
    contact = MIT + "\nYou can contact the author at https://example.org/contact.\n"
    assert detect(git_repo_factory("c/reach", {"LICENSE": contact}))["license"] == "MIT"
    duty = MIT + "\nYou must contact the author before any use in a product.\n"
    report = detect(git_repo_factory("c/duty", {"LICENSE": duty}))
    expected = ("LicenseRef-unknown-terms AND MIT", "non_permissive")
    assert (report["license"], report["license_class"]) == expected


def test_planning_the_clone_pass_does_not_build_the_spdx_index(tmp_path: Path) -> None:
    """The driver makes the license engines to check them when it plans the clone pass; the index (about
    2 s of CPU) is built where texts are read, not there too. A fresh process, so no test built it before."""
    repos = tmp_path / "repos.txt"
    repos.write_text("https://github.com/acme/one\n")
    pipeline, out = str(ROOT / "pipelines" / "starcoder.yaml"), str(tmp_path / "run")
    script = f"""
from stackcurate.config import load_config
from stackcurate.layout import RunLayout
from stackcurate.licenses.matcher import SpdxMatchEngine, _index_of
from stackcurate.plan.passes import build_clone
cfg = load_config({pipeline!r}, {{"out": {out!r}, "repos": {str(repos)!r}}})
build_clone(cfg, RunLayout(cfg.out), 1)
print(_index_of.cache_info().currsize)
SpdxMatchEngine().read("Permission is hereby granted, free of charge")
print(_index_of.cache_info().currsize)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["0", "1"]


@pytest.mark.parametrize(
    ("notice", "expected"),
    [
        ("Licensed under the Creative Commons Attribution 3.0 License.", "CC-BY-3.0"),
        ("Released under the Creative Commons Attribution-Share-Alike License 3.0.", "CC-BY-SA-3.0"),
        (
            "Licensed under the Creative Commons Attribution-NonCommercial-ShareAlike 3.0 License.",
            "CC-BY-NC-SA-3.0",
        ),
        ("Licensed under the Creative Commons Attribution 4.0 License.", "CC-BY-4.0"),
        ("Licensed under the Creative Commons Attribution 3.0 Austria License.", "CC-BY-3.0-AT"),
    ],
)
def test_creative_commons_names_without_unported_or_international(notice: str, expected: str) -> None:
    # the list's names end "3.0 Unported" / "4.0 International"; notices often leave that out, and a port
    # names its country
    assert SpdxMatchEngine().read(notice).names == (expected,)
