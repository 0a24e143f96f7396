"""License decisions on real git repositories with real license texts (Debian's /usr/share/common-licenses
and the MIT text as published by the OSI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT as MIT

from stackcurate.cli import main
from stackcurate.licenses.cli import detect_paths
from stackcurate.licenses.policy import load_license_policy
from stackcurate.licenses.stage import DEFAULT_ENGINES

COMMON = Path("/usr/share/common-licenses")
APACHE = (COMMON / "Apache-2.0").read_text()
GPL3 = (COMMON / "GPL-3").read_text()
NOTICE = (
    "Example Project\nCopyright 2020 The Example Authors\n\n"
    "This product includes software developed at Example.\n"
)

Factory = Callable[..., Path]


def detect(path: Path) -> dict:
    return detect_paths([str(path)], engines=list(DEFAULT_ENGINES), memo=False)[0]


def decision_for(report: dict, directory: str) -> tuple[str | None, str]:
    entry = report["directories"][directory]
    return entry["license"], entry["license_class"]


def test_mit_repository(git_repo_factory: Factory) -> None:
    report = detect(git_repo_factory("a/mit", {"LICENSE": MIT, "src/a.py": "a = 1\n"}))
    assert (report["license"], report["license_class"]) == ("MIT", "permissive")
    assert report["evidence"] == [
        {"path": "LICENSE", "license": "MIT", "engine": report["evidence"][0]["engine"]}
    ]
    assert report["evidence"][0]["engine"] == "spdx-match"


def test_apache_with_notice(git_repo_factory: Factory) -> None:
    report = detect(
        git_repo_factory("a/apache", {"LICENSE": APACHE, "NOTICE": NOTICE, "Main.java": "class Main {}\n"})
    )
    assert (report["license"], report["license_class"]) == ("Apache-2.0", "permissive")
    assert [e["path"] for e in report["evidence"]] == ["LICENSE"]  # NOTICE is attribution, not a license


def test_gpl_repository(git_repo_factory: Factory) -> None:
    report = detect(git_repo_factory("a/gpl", {"COPYING": GPL3, "main.c": "int main(void) { return 0; }\n"}))
    assert report["license_class"] == "non_permissive"
    assert "GPL-3.0" in report["license"]


def test_dual_mit_or_apache_from_the_manifest(git_repo_factory: Factory) -> None:
    files = {
        "LICENSE-MIT": MIT,
        "LICENSE-APACHE": APACHE,
        "Cargo.toml": '[package]\nname = "dual"\nversion = "0.1.0"\nlicense = "MIT OR Apache-2.0"\n',
        "src/lib.rs": "pub fn f() {}\n",
    }
    report = detect(git_repo_factory("a/dual", files))
    assert report["license"] in ("MIT OR Apache-2.0", "Apache-2.0 OR MIT")
    assert report["license_class"] == "permissive"
    assert report["directories"]["."]["evidence"] == "Cargo.toml"


def test_dual_license_pointer_file(git_repo_factory: Factory) -> None:
    pointer = (
        "This software is made available under the terms of *either* of the licenses\n"
        "found in LICENSE.APACHE or LICENSE.MIT. Contributions are made under the terms\n"
        "of *both* these licenses.\n"
    )
    report = detect(
        git_repo_factory("a/pointer", {"LICENSE": pointer, "LICENSE.APACHE": APACHE, "LICENSE.MIT": MIT})
    )
    assert report["license"] in ("MIT OR Apache-2.0", "Apache-2.0 OR MIT")


def test_no_license_and_readme_mention_is_not_enough(git_repo_factory: Factory) -> None:
    report = detect(git_repo_factory("a/none", {"main.py": "print(1)\n"}))
    assert (report["license"], report["license_class"]) == (None, "no_license")
    readme = "# tool\n\nThis project is licensed under the MIT license.\n"
    report = detect(git_repo_factory("a/readme", {"README.md": readme, "main.py": "print(1)\n"}))
    assert (report["license"], report["license_class"]) == (None, "no_license")


def test_mit_repository_vendoring_gpl_directory(git_repo_factory: Factory) -> None:
    files = {
        "LICENSE": MIT,
        "src/app.py": "import vendor\n",
        "vendor/gplthing/COPYING": GPL3,
        "vendor/gplthing/thing.c": "int thing(void) { return 1; }\n",
        "vendor/gplthing/sub/deep.c": "int deep(void) { return 2; }\n",
    }
    path = git_repo_factory("a/vendoring", files)
    report = detect(path)
    assert decision_for(report, ".") == ("MIT", "permissive")
    assert decision_for(report, "vendor/gplthing")[1] == "non_permissive"


def test_spdx_headers_override_for_their_file(git_repo_factory: Factory, tmp_path: Path) -> None:
    files = {
        "LICENSE": MIT,
        "ok.py": "# SPDX-License-Identifier: MIT\nx = 1\n",
        "gpl_file.c": "// SPDX-License-Identifier: GPL-2.0-only\nint x;\n",
        "dual.c": "/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */\nint y;\n",
        "docs/howto.md": "Put `SPDX-License-Identifier: GPL-3.0-only` at the top of files.\n",
    }
    path = git_repo_factory("a/headers", files)
    from stackcurate.licenses.cli import repository_files
    from stackcurate.licenses.stage import make_detector

    detector = make_detector(["licensecheck"], None)
    repo = detector.detect_many([repository_files(path)])[0]
    assert repo.for_file("ok.py", load_license_policy()).license_class == "permissive"
    assert (
        repo.for_file("gpl_file.c", load_license_policy()).license,
        repo.for_file("gpl_file.c", load_license_policy()).license_class,
    ) == (
        "GPL-2.0-only",
        "non_permissive",
    )
    assert (
        repo.for_file("dual.c", load_license_policy()).license_class == "permissive"
    )  # OR: either side permissive
    assert (
        repo.for_file("docs/howto.md", load_license_policy()).license == "MIT"
    )  # documentation quoting a header is not a header


def test_unreadable_license_text_is_never_permissive(git_repo_factory: Factory) -> None:
    odd = "You may use this file only on Tuesdays, and only for good.\n" * 3
    report = detect(git_repo_factory("a/odd", {"LICENSE": odd, "x.py": "x = 1\n"}))
    assert report["license_class"] == "non_permissive"
    assert report["license"] == "LicenseRef-unknown-terms"  # terms of use no license accounts for
    strange = "This work belongs to the Example Guild and its members.\n"
    report = detect(git_repo_factory("a/strange", {"LICENSE": strange, "x.py": "x = 1\n"}))
    assert (report["license"], report["license_class"]) == (
        "LicenseRef-unknown-license-text",
        "non_permissive",
    )


def test_cli_json_output(git_repo_factory: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    one = git_repo_factory("b/one", {"LICENSE": MIT})
    two = git_repo_factory("b/two", {"x.py": "x = 1\n"})
    assert main(["license", "detect", "--json", "--no-memo", str(one), str(two)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["repo"], r["license"], r["license_class"]) for r in lines] == [
        ("b/one", "MIT", "permissive"),
        ("b/two", None, "no_license"),
    ]
    assert set(lines[0]) >= {"repo", "license", "license_class", "evidence"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("MIT OR GPL-3.0-only", "permissive"),
        ("MIT AND GPL-3.0-only", "non_permissive"),
        ("GPL-3.0-or-later WITH GCC-exception-3.1", "non_permissive"),
        ("Apache-2.0 WITH LLVM-exception", "permissive"),
        ("MPL-2.0", "non_permissive"),  # excluded by default (BigCode: weak copyleft)
        ("LGPL-2.1-or-later", "non_permissive"),
        ("(MIT AND BSD-3-Clause) OR GPL-2.0-only", "permissive"),
        ("LicenseRef-something-else", "non_permissive"),
        (None, "no_license"),
    ],
)
def test_expression_classes(expression: str | None, expected: str) -> None:
    assert load_license_policy().classify(expression) == expected


def test_name_only_and_titled_license_files(git_repo_factory: Factory) -> None:
    blue_oak = "# Blue Oak Model License\n\nVersion 1.0.0\n\n## Purpose\n\nThis license gives everyone"
    report = detect(git_repo_factory("t/name", {"LICENSE.txt": "Apache 2.0\n", "a.py": "a = 1\n"}))
    assert report["license"] == "Apache-2.0"  # a license file that is only a license's name
    report = detect(
        git_repo_factory(
            "t/blueoak",
            {"LICENSE.md": blue_oak + " as much permission to work with this software as possible.\n"},
        )
    )
    assert (report["license"], report["license_class"]) == ("BlueOak-1.0.0", "permissive")


def test_missing_licensecheck_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stackcurate.errors import FatalError
    from stackcurate.licenses.engines import LicensecheckEngine

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: the binary is not installed
    with pytest.raises(FatalError, match="apt-get install licensecheck"):
        LicensecheckEngine()
