from pathlib import Path

import pytest

from stackcurate.errors import FatalError
from stackcurate.sources.repos_list import load_repos_list, parse_repos_text


def test_csv_with_header_columns_in_any_order(tmp_path: Path) -> None:
    text = "forks,url,stars\n3,https://github.com/a/one,10\n,https://github.com/b/two,\n"
    entries, problems = parse_repos_text(text, tmp_path)
    assert problems == []
    assert [(e.name, e.stars, e.forks) for e in entries] == [("a/one", 10, 3), ("b/two", None, None)]


def test_plain_text_with_comments_blank_lines_and_positional_columns(tmp_path: Path) -> None:
    text = "# mirrors\n\nhttps://github.com/a/one\n/srv/x/b/two,5,1\n"
    entries, problems = parse_repos_text(text, tmp_path)
    assert problems == []
    assert [(e.name, e.stars, e.forks, e.line) for e in entries] == [
        ("a/one", None, None, 3),
        ("b/two", 5, 1, 4),
    ]


def test_bad_lines_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "url,stars,forks",
            "https://github.com/a/one,many,0",
            "ext::sh -c evil,1,1",
            "https://github.com/b/two,-4,0",
            "https://github.com/c/three,7,0",
            "https://github.com/C/Three.git,9,0",
        ]
    )
    entries, problems = parse_repos_text(text, tmp_path)
    assert [e.name for e in entries] == ["c/three"]
    assert [(p.line, p.reason) for p in problems] == [
        (2, "malformed_line"),
        (3, "refused_url"),
        (4, "malformed_line"),
        (6, "duplicate_repo"),
    ]
    assert "stars must be an integer" in problems[0].message


def test_missing_or_binary_list_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="not found"):
        load_repos_list(str(tmp_path / "nope.csv"))
    binary = tmp_path / "list.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FatalError, match="not UTF-8"):
        load_repos_list(str(binary))
