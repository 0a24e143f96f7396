from pathlib import Path

import pytest

from stackcurate.sources.urls import UnsafeUrlError, parse_location


@pytest.mark.parametrize(
    ("raw", "name", "is_local"),
    [
        ("https://github.com/bigcode-project/starcoder", "bigcode-project/starcoder", False),
        ("https://github.com/bigcode-project/starcoder.git", "bigcode-project/starcoder", False),
        ("http://example.org/group/sub/owner/name.git", "owner/name", False),
        ("git@github.com:owner/name.git", "owner/name", False),
        ("ssh://git@github.com:22/owner/name", "owner/name", False),
        ("git://example.org/owner/name", "owner/name", False),
        ("file:///srv/mirrors/owner/name", "owner/name", True),
        ("file:///srv/mirrors/owner/name.git", "owner/name", True),
        ("/srv/mirrors/owner/name", "owner/name", True),
    ],
)
def test_accepted_locations_and_names(raw: str, name: str, is_local: bool) -> None:
    location = parse_location(raw)
    assert location.name == name
    assert location.is_local is is_local


def test_local_paths_become_file_urls_relative_to_the_list(tmp_path: Path) -> None:
    location = parse_location("mirrors/acme/tool", base_dir=tmp_path)
    assert location.clone_url == (tmp_path / "mirrors/acme/tool").as_uri()
    assert location.name == "acme/tool"
    assert (
        parse_location("../x/acme/tool", base_dir=tmp_path).clone_url
        == (tmp_path.parent / "x/acme/tool").as_uri()
    )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("ext::sh -c touch% /tmp/pwned", "remote-helper"),
        ("ext::sh", "remote-helper"),
        ("fd::17", "remote-helper"),
        ("--upload-pack=touch /tmp/pwned", "starts with '-'"),
        ("--upload-pack=touch", "starts with '-'"),
        ("-oProxyCommand=evil", "starts with '-'"),
        ("https://github.com/owner/name --upload-pack=x", "whitespace"),
        ("https://example.org/a/b?--upload-pack=x", "git option"),
        ("https://example.org/owner/name?x=1", "query"),
        ("ftp://example.org/owner/name", "scheme"),
        ("file://remotehost/owner/name", "must not name a host"),
        ("ssh://-oProxyCommand=x/owner/name", "host"),
        ("https://github.com/name-only", "owner/name"),
        ("https://github.com/owner/na\x00me", "control characters"),
        ("https://github.com/owner/%2e%2e", "not a valid"),
        ("", "empty"),
    ],
)
def test_hostile_locations_are_refused_with_a_reason(raw: str, why: str) -> None:
    with pytest.raises(UnsafeUrlError) as error:
        parse_location(raw)
    assert why in str(error.value)
    assert error.value.reason == "refused_url"
