"""PII: each entity in realistic code contexts, look-alikes left alone, consistent replacement, offsets with
multi-byte text, the CLI, and the stage in a real run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MIT_TEXT

from stackcurate.cli import main
from stackcurate.parquet_io import iter_rows
from stackcurate.pii.redact import PiiScanner, Span, redact, resolve_overlaps

STARCODER = str(Path(__file__).resolve().parents[2] / "pipelines" / "starcoder.yaml")
SCANNER = PiiScanner()


def found(text: str) -> list[tuple[str, str]]:
    return [(span.type, span.text) for span in SCANNER.scan(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("# Maintainer: Ana Pérez <ana.perez@protonmail.com>\n", ("EMAIL", "ana.perez@protonmail.com")),
        ('AUTHOR_EMAIL = "dev.team+ci@acme-robotics.io"\n', ("EMAIL", "dev.team+ci@acme-robotics.io")),
        ('<a href="mailto:jobs@startup.dev">jobs</a>\n', ("EMAIL", "jobs@startup.dev")),
        ('SERVER = "52.14.88.201"  # production\n', ("IP_ADDRESS", "52.14.88.201")),
        ("upstream backend { server 34.120.8.9:8080; }\n", ("IP_ADDRESS", "34.120.8.9")),
        ('url = "http://91.198.174.192/wiki"\n', ("IP_ADDRESS", "91.198.174.192")),
        # a Markdown link to the address itself, and an address under a key that names no software
        ("see [74.125.127.100](http://74.125.127.100/) for the host\n", ("IP_ADDRESS", "74.125.127.100")),
        ('  "origin": "52.14.200.3",\n', ("IP_ADDRESS", "52.14.200.3")),
        ("# 52.14.88.201 Production, behind the balancer\n", ("IP_ADDRESS", "52.14.88.201")),
        ("# IPv6 of the origin: 2a01:4f8:c0c:1234::1\n", ("IP_ADDRESS", "2a01:4f8:c0c:1234::1")),
        ('AWS_ACCESS_KEY_ID = "AKIAQ3EGRE7X2KP4ZT6M"\n', ("KEY", "AKIAQ3EGRE7X2KP4ZT6M")),
        (
            "token: ghp_8fQ2vLr0ZkX1mN7pT4sB9cW3yH6jD5aE0uKg\n",
            ("KEY", "ghp_8fQ2vLr0ZkX1mN7pT4sB9cW3yH6jD5aE0uKg"),
        ),
        (
            'slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"\n',
            ("KEY", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ),
        (
            'maps_key = "AIzaSyD3x7Q-k9Lm2Np4Rs6Tu8Vw0Xy1Za3Bc5D"\n',
            ("KEY", "AIzaSyD3x7Q-k9Lm2Np4Rs6Tu8Vw0Xy1Za3Bc5D"),
        ),
        (
            'stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n',
            ("KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ),
        ('client_secret = "q8Zr2Lw9Xk4Tn7Vb1Mc5Hs3Jd6Pf0Ga"\n', ("KEY", "q8Zr2Lw9Xk4Tn7Vb1Mc5Hs3Jd6Pf0Ga")),
        ('db_password = "Tr0ub4dor&3x"\n', ("PASSWORD", "Tr0ub4dor&3x")),
        ("  password: 'S3cure!Pass99'\n", ("PASSWORD", "S3cure!Pass99")),
        ("DB_PASSWORD=k9#Lm2xQ\n", ("PASSWORD", "k9#Lm2xQ")),
        ('DSN = "postgres://app:Zq7%21pX2m@db.internal.net:5432/app"\n', ("PASSWORD", "Zq7%21pX2m")),
        ("    # export PGPASSWORD=Shadow#7868\n", ("PASSWORD", "Shadow#7868")),
        ('#define DB_PASSWORD "SA&W&qXnp6W"\n', ("PASSWORD", "SA&W&qXnp6W")),
        (
            '#define AUTH_TOKEN "eUEhXKxJmQb2B8YFFBiXXZxWxZ1CKjAC39N4"\n',
            ("KEY", "eUEhXKxJmQb2B8YFFBiXXZxWxZ1CKjAC39N4"),
        ),
        ('secret_key = "hxWINUjLDYeqYzONZNZJXsaxXRMjBOJc"\n', ("KEY", "hxWINUjLDYeqYzONZNZJXsaxXRMjBOJc")),
    ],
)
def test_each_entity_is_found_in_code_contexts(text: str, expected: tuple[str, str]) -> None:
    assert expected in found(text)


def test_pem_private_keys_and_jwts() -> None:
    pem = (
        "KEY = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAr8w2bY3xQ9mZ0pL1kV7nT4sR6u\n"
        "HqW2eJ5cX8dF3gK9aB1oP7tY0sU4mL6vN2zC8rE5w==\n-----END RSA PRIVATE KEY-----'''\n"
    )
    assert [kind for kind, _ in found(pem)] == ["KEY"]
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFuYSJ9"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert found(f'headers = {{"Authorization": "Bearer {jwt}"}}\n') == [("KEY", jwt)]


@pytest.mark.parametrize(
    "text",
    [
        '__version__ = "1.2.3.4"\n',  # a version
        'requires = ["numpy>=1.26.0.1"]\n',
        "LOCAL = '127.0.0.1'; LAN = '192.168.1.20'; DNS = '8.8.8.8'\n",  # loopback, private, popular DNS
        "DOCS = '203.0.113.7'  # RFC 5737 documentation range\n",
        'oid = ObjectIdentifier("2.5.4.43")\n',  # X.500 object identifier
        "x = values[::2]; y = v[1::3]; z = w[::20]; std::vector<int> v; # 'a::b%zone' hosts\n",
        '_PKCS1 = ("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----")\n',
        'token = "my_fake_token_for_tests"\n',
        # a lock file's hashes
        '"integrity": "sha512-Q1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6A7B8C9D0E1F2"\n',
        'resolved "https://registry.yarnpkg.com/x/-/x-1.0.0.tgz#8f14e45fceea167a5a36dedd4bea2543"\n',
        'request_id = "123e4567-e89b-12d3-a456-426614174000"  # a UUID\n',
        'contact = "user@example.com"  # placeholder domain\n',
        'password = os.environ["DB_PASSWORD"]\npassword = "${DB_PASSWORD}"\npassword = "changeme"\n',
        "password = settings.database_password\n",
        'token_type = "bearer_access_token_v2"\nPUBLIC_KEY_CLASS = "RSAPublicKeyNumbers"\n',
        'api_key = "YOUR_API_KEY_HERE"\nsecret = "<your-secret>"\n',
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert found(text) == []


def test_the_same_value_gets_the_same_replacement() -> None:
    text = (
        'primary = "52.14.88.201"\nbackup = "34.120.8.9"\nagain = "52.14.88.201"\n'
        "# mail ana@protonmail.com or ana@protonmail.com\n"
    )
    redacted, counts = redact(text, SCANNER.scan(text))
    lines = redacted.splitlines()
    first, second, third = (line.split('"')[1] for line in lines[:3])
    assert first == third != "52.14.88.201" and second != "34.120.8.9"
    assert first.startswith(("10.", "172.16.", "192.168."))
    assert lines[3] == "# mail <EMAIL> or <EMAIL>"
    assert counts == {"EMAIL": 2, "IP_ADDRESS": 3, "KEY": 0, "PASSWORD": 0, "NAME": 0}
    v6, _ = redact("h = '2a01:4f8:c0c:1234::1'\n", SCANNER.scan("h = '2a01:4f8:c0c:1234::1'\n"))
    assert "fd" in v6


def test_offsets_are_characters_with_multibyte_text() -> None:
    text = "# Zoë Müller — 連絡先: zoe.mueller@posteo.de 🚀\nhost = '52.14.88.201'  # ünïcode\n"
    spans = SCANNER.scan(text)
    assert [text[s.start : s.end] for s in spans] == ["zoe.mueller@posteo.de", "52.14.88.201"]
    redacted, _ = redact(text, spans)
    assert redacted.startswith("# Zoë Müller — 連絡先: <EMAIL> 🚀\nhost = '")


def test_overlaps_keep_the_more_sensitive_type() -> None:
    spans = [Span("EMAIL", 0, 20, "x" * 20, "email"), Span("PASSWORD", 5, 12, "y" * 7, "pw")]
    assert [s.type for s in resolve_overlaps(spans)] == ["PASSWORD"]


def test_private_addresses_are_redacted_when_configured() -> None:
    text = "LAN = '192.168.1.20'\n"
    assert PiiScanner(keep_public_ips_only=False).scan(text)[0].text == "192.168.1.20"


def test_cli_scan_and_redact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "settings.py"
    source.write_text('ADMIN = "ops@fastmail.com"  # café\nDB_URL = "mysql://root:x7Kp!q2Z@10.1.2.3/app"\n')
    assert main(["pii", "scan", str(source), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(s["type"], s["text"]) for s in report["spans"]] == [
        ("EMAIL", "ops@fastmail.com"),
        ("PASSWORD", "x7Kp!q2Z"),
    ]
    text = source.read_text()
    assert all(text[s["start"] : s["end"]] == s["text"] for s in report["spans"])
    assert main(["pii", "redact", str(source)]) == 0
    assert (
        capsys.readouterr().out
        == 'ADMIN = "<EMAIL>"  # café\nDB_URL = "mysql://root:<PASSWORD>@10.1.2.3/app"\n'
    )
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    assert main(["pii", "scan", str(tmp_path / "blob.bin")]) == 2
    assert "is not UTF-8" in capsys.readouterr().err


def test_the_stage_redacts_curated_output_and_writes_an_audit(
    git_repo_factory: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "ghp_8fQ2vLr0ZkX1mN7pT4sB9cW3yH6jD5aE0uKg"
    files = {
        "LICENSE": MIT_TEXT,
        "app/config.py": (
            f'# Author: Mirela Vuković\nGITHUB_TOKEN = "{secret}"\nOWNER = "ana.perez@protonmail.com"\n'
        ),
        "app/clean.py": "def add(a, b):\n    return a + b\n",
    }
    listing = tmp_path / "repos.txt"
    listing.write_text(f"{git_repo_factory('lab/app', files)}\n")
    out = tmp_path / "run"
    args = ["run", STARCODER, "--repos", str(listing), "--out", str(out), "--set", "stages.pii.audit=true"]
    assert main(args) == 0
    rows = {row["path"]: row for row in iter_rows(str(out / "curated"))}
    config = rows["app/config.py"]
    assert config["content"] == '# Author: <NAME>\nGITHUB_TOKEN = "<KEY>"\nOWNER = "<EMAIL>"\n'
    assert config["pii_counts"] == {"EMAIL": 1, "IP_ADDRESS": 0, "KEY": 1, "PASSWORD": 0, "NAME": 1}
    assert config["size_bytes"] == len(config["content"].encode())
    assert rows["app/clean.py"]["pii_counts"]["KEY"] == 0
    audit = list(iter_rows(str(out / "pii_audit")))
    assert {(row["path"], row["type"], row["text"]) for row in audit} == {
        ("app/config.py", "KEY", secret),
        ("app/config.py", "EMAIL", "ana.perez@protonmail.com"),
        ("app/config.py", "NAME", "Mirela Vuković"),
    }
    assert not any(secret in str(row.get("content")) for row in iter_rows(str(out / "curated")))

    capsys.readouterr()
    assert main(["stats", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["pii"]["counters"]["files_with_pii"] == 1
    assert stages["pii"]["counters"]["redacted_KEY"] == 1
    # the stats' pii section: counts per type and per recognizer (the rule of rules/pii.yaml that fired)
    assert report["pii"]["redacted"] == {"EMAIL": 1, "KEY": 1, "NAME": 1}
    assert sorted((r["type"], r["recognizer"], r["count"]) for r in report["pii"]["by_recognizer"]) == [
        ("EMAIL", "email", 1),
        ("KEY", "vendor_token", 1),
        ("NAME", "name_author", 1),
    ]
    assert main(["stats", str(out)]) == 0
    table = capsys.readouterr().out
    assert "PII by recognizer" in table and "vendor_token" in table and "name_author" in table
    page = tmp_path / "report.html"
    assert main(["stats", str(out), "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert re.search(r'id="pii-recognizers">.*<td>KEY</td><td>vendor_token</td><td>1</td>', html, re.S)
