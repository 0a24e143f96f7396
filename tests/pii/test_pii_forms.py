"""PII in the forms people leak it: config files, comments, prose, shell commands, connection strings; the
context (not the value's shape) deciding what is a placeholder; person names in author, copyright and
trailer lines; and the reproduction lines of the issue redacted by ``stackcurate pii redact``."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackcurate.cli import main
from stackcurate.pii.redact import PiiScanner, redact

SCANNER = PiiScanner(names=True)

# the lines a new user found missed (each with the values that must go)
REPRODUCTION = [
    (
        "AWS_SECRET_ACCESS_KEY=FH9X+NnYSqEibo13LZ1HQzVn3sCVeuyjyX3kEpfV",
        ["FH9X+NnYSqEibo13LZ1HQzVn3sCVeuyjyX3kEpfV"],
    ),
    (
        "# aws_secret_access_key = 1ni/tomcOdO1KX7Kuf1P8aUmp8yFd6nTXmVD8lwh",
        ["1ni/tomcOdO1KX7Kuf1P8aUmp8yFd6nTXmVD8lwh"],
    ),
    ("# the initial console password is Tr0ub4dor&3", ["Tr0ub4dor&3"]),
    ("mysql -h db -u app -pS3cr3t!x", ["S3cr3t!x"]),
    ("PGPASSWORD=Wint3r-2024 psql -h db.prod.internal -U app sales", ["Wint3r-2024"]),
    ("curl -u deploy:hunter2 https://ci.acme-robotics.io/api/builds", ["hunter2"]),
    ("sshpass -p 'Gr33nTea' ssh root@build01.acme-robotics.io", ["Gr33nTea"]),
    ('url = "jdbc:mysql://db.prod.internal:3306/sales?user=app&password=Qx7pLm2z"', ["Qx7pLm2z"]),
    ("Server=tcp:sql01.corp.net,1433;Database=sales;Uid=sa;Pwd=Sunset99;Encrypt=yes;", ["Sunset99"]),
    (
        "    environment:\n      - POSTGRES_PASSWORD=postgres\n      MYSQL_ROOT_PASSWORD: root",
        ["postgres", "root"],
    ),
    ('listen = "2a01:4f8:c0c:1234::"', ["2a01:4f8:c0c:1234::"]),
    ("ssh admin@[2a01:4f8:c0c:1234::2]", ["2a01:4f8:c0c:1234::2"]),
    ("DB_PASSWORD=admin\nDB_HOST=db.prod.acme-robotics.io", ["admin"]),
    ("mysql -h 52.14.88.201 -u root -p1234 sales", ["1234", "52.14.88.201"]),
    (
        'DATABASE_URL = "postgres://postgres:postgres@db.prod.acme-robotics.io:5432/app"',
        ["postgres:postgres@"],
    ),
    ("# questions to jane.doe@mail.com", ["jane.doe@mail.com"]),
]


def test_every_reproduction_line_is_redacted_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "leaks.txt"
    source.write_text("\n".join(line for line, _ in REPRODUCTION) + "\n")
    assert main(["pii", "redact", str(source)]) == 0
    redacted = capsys.readouterr().out
    lines = redacted.splitlines()
    for line, secrets in REPRODUCTION:
        count = line.count("\n") + 1
        out, lines = "\n".join(lines[:count]), lines[count:]
        for secret in secrets:
            if secret.endswith("@"):  # the password of a URL's userinfo, not the user name
                user = secret.split(":")[0]
                assert secret not in out and f"{user}:<PASSWORD>@" in out
            else:
                assert secret not in out, (line, secret, out)
    assert redacted.count("<PASSWORD>") >= 12 and redacted.count("<KEY>") == 2


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "aws_secret_access_key: 9Qm2+zLk8Xp4Rt7Vb1Nc5Hs3Jd6Pf0GaWq2Ey8Tu",
            ("KEY", "9Qm2+zLk8Xp4Rt7Vb1Nc5Hs3Jd6Pf0GaWq2Ey8Tu"),
        ),
        (
            "[api]\nsecret_key = hxWINUjLDYeqYzONZNZJXsaxXRMjBOJc\n",
            ("KEY", "hxWINUjLDYeqYzONZNZJXsaxXRMjBOJc"),
        ),
        ("app.api.key=k3Jd8s0Lq2Zx7Vn4Bm1Pt6Rw9Yc5Ha\n", ("KEY", "k3Jd8s0Lq2Zx7Vn4Bm1Pt6Rw9Yc5Ha")),
        (
            'const API_KEY: &str = "f3a9c2e81b7d4a6f9e0c5b8d2a1f7e3c";\n',
            ("KEY", "f3a9c2e81b7d4a6f9e0c5b8d2a1f7e3c"),
        ),
        (
            "# the staging API key is 7Hq2Lm9Xz4Rt1Vb8Nc3Ks6Pw0Yj5Ga\n",
            ("KEY", "7Hq2Lm9Xz4Rt1Vb8Nc3Ks6Pw0Yj5Ga"),
        ),
        ("GITLAB_TOKEN=glpat-x8Rq2Lm9Zt4Vb1Nc7Hs3K\n", ("KEY", "glpat-x8Rq2Lm9Zt4Vb1Nc7Hs3K")),
        ('password = "postgres"  # next to db.prod.internal\n', ("PASSWORD", "postgres")),
        ("  password: 123456\n", ("PASSWORD", "123456")),
        ("db.password=coffee-tiger-maple\n", ("PASSWORD", "coffee-tiger-maple")),
        ("  # password: letmein\n", ("PASSWORD", "letmein")),
        ("# default credentials are admin:Falc0n!\n", ("PASSWORD", "Falc0n!")),
        ("redis-cli -h cache01.prod.net -a Sh4d0w ping\n", ("PASSWORD", "Sh4d0w")),
        ("mysqldump --user=app --password=Marble88 sales > out.sql\n", ("PASSWORD", "Marble88")),
        ('dsn = "jdbc:oracle:thin:scott/tiger@db01.corp.net:1521:ORCL"\n', ("PASSWORD", "tiger")),
        ("upstream = 2a03:2880:f12f:83::\n", ("IP_ADDRESS", "2a03:2880:f12f:83::")),
        ("allow 185.199.108.153;\n", ("IP_ADDRESS", "185.199.108.153")),
    ],
)
def test_each_form_is_found(text: str, expected: tuple[str, str]) -> None:
    assert expected in [(span.type, span.text) for span in SCANNER.scan(text)]


@pytest.mark.parametrize(
    "text",
    [
        "e.g. `pass` in `https://user:pass@host:port/path?query#fragment`\n",  # a template URL
        'engine = create_engine("postgresql://postgres:postgres@localhost/test")\n',  # a local default
        'password = "${DB_PASSWORD}"\nPGPASSWORD=$DB_PASS psql -h db\n',  # references, not values
        "    password: str\n    # the password is required\n    pwd = os.getcwd()\n",
        "# 1st pass: check if the value is an exact instance\n",
        'field = "user_password"\nautocomplete = "current-password"\n',
        "tokenizer = Tokenizer(Unigram(vocab))\n",
        "webhdfs(host, password=None, user=None)\n",
        "    password=parts['password'],\n",
    ],
)
def test_placeholders_and_code_are_left_alone(text: str) -> None:
    assert [(s.type, s.text) for s in SCANNER.scan(text) if s.type != "NAME"] == []


@pytest.mark.parametrize(
    "text, name",
    [
        ("# Author: Mirela Vuković\n", "Mirela Vuković"),
        ('__author__ = "Thierry Delahaye"\n', "Thierry Delahaye"),
        ('__credits__ = ["Ana da Silva"]\n', "Ana da Silva"),
        (" * @author Pilar Zamorano\n", "Pilar Zamorano"),
        ("Signed-off-by: Fernando Freitas <ff@posteo.de>\n", "Fernando Freitas"),
        ("Co-authored-by: Ian Hughes <ian@hughes.dev>\n", "Ian Hughes"),
        ("* Fri Mar 01 2024 Christine Lowe <cl@fedoraproject.org> - 1.2-1\n", "Christine Lowe"),
        (
            " -- Jens Dahl Møllerhøj <jens@debian.org>  Mon, 04 Mar 2024 10:12:00 +0100\n",
            "Jens Dahl Møllerhøj",
        ),
        ('authors = [{ name = "Kaito Watanabe", email = "kw@fastmail.com" }]\n', "Kaito Watanabe"),
        ('  "author": "Olga Petrova",\n', "Olga Petrova"),
        ("#   Marja Nyman <marja@nyman.fi>\n", "Marja Nyman"),
        ("# thanks to Dennis Huel for the patch\n", "Dennis Huel"),
    ],
)
def test_names_in_the_lines_code_keeps_them(text: str, name: str) -> None:
    assert ("NAME", name) in [(s.type, s.text) for s in SCANNER.scan(text)]


def test_copyright_keeps_its_structure_and_organisations_stay() -> None:
    text = (
        "# Copyright (c) 2020 Ingrid Solberg\n"
        "# Copyright 2016-2019 Kim Walisch. All rights reserved.\n"
        "# Copyright (c) 2005-2024, NumPy Developers.\n"
        "# Copyright 2019 Google LLC\n"
        "# Copyright (c) 2001 Python Software Foundation\n"
        "MAX_VALUE = 10  # Max Value of the May Release\n"
    )
    redacted, counts = redact(text, SCANNER.scan(text))
    assert redacted.splitlines() == [
        "# Copyright (c) 2020 <NAME>",
        "# Copyright 2016-2019 <NAME>. All rights reserved.",
        "# Copyright (c) 2005-2024, NumPy Developers.",
        "# Copyright 2019 Google LLC",
        "# Copyright (c) 2001 Python Software Foundation",
        "MAX_VALUE = 10  # Max Value of the May Release",
    ]
    assert counts["NAME"] == 2


def test_names_are_off_without_names() -> None:
    assert [s.type for s in PiiScanner().scan("# Author: Mirela Vuković\n")] == []


@pytest.mark.parametrize("module", ["pii_values.py", "pii_forms.py", "pii_plants.py"])
def test_the_benchmark_generator_knows_nothing_of_the_detector(module: str) -> None:
    """benchmarks/pii_{values,forms,plants}.py make the planted values; they may not import stackcurate nor
    read the rules, and the detector may not import them (the benchmark would measure the rules against
    themselves)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    tree = ast.parse((root / "benchmarks" / module).read_text())
    imported = set()
    strings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node.value)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported and not any(name.startswith("stackcurate") for name in imported)
    docstring = ast.get_docstring(tree, clean=False)
    assert not any("pii.yaml" in text for text in strings if text != docstring)
    for source in (root / "stackcurate" / "pii").glob("*.py"):
        assert module.removesuffix(".py") not in source.read_text()


def test_code_around_passwords_and_tokens_is_left_alone() -> None:
    text = (
        "          secretKeyRef:\n            name: db-secret\n            key: password\n"
        "    token: ${{ secrets.GITHUB_TOKEN }}\n    password: ${{ secrets.DB_PASSWORD }}\n"
        "DATABASES = {'default': {'PASSWORD': '', 'HOST': 'localhost'}}\n"
        'api_key = os.environ.get("API_KEY")\n'
        'if not password: raise ValueError("password is required")\n'
        "password_hash = bcrypt.hashpw(password, bcrypt.gensalt())\n"
        "    :param token: the access token to use\n    Authorization: Bearer <token>\n"
        'curl -u "$USER:$TOKEN" https://api.github.com\nmysql -u root -p\n'
    )
    assert SCANNER.scan(text) == []


@pytest.mark.timeout(30)
def test_text_whose_lower_case_is_longer_is_scanned_once() -> None:
    """``"İ".lower()`` is two characters: the lower-cased copy the keyword recognisers search used to be
    longer than the text, and the trigger-line search went back to the same line forever (a curate task
    grew to 23 GB on a real package). The scan ends and finds what follows."""
    text = "# İstanbul İzmir\n" * 50 + "redis-cli -h cache01.prod.net -a Sh4d0w ping\n"
    assert ("PASSWORD", "Sh4d0w") in [(span.type, span.text) for span in SCANNER.scan(text)]
