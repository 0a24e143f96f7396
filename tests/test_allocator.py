"""The package turns off transparent huge pages in Arrow's allocator before pyarrow loads
(stackcurate/__init__.py), and keeps a value the user set. Fresh interpreters: the setting is read once, when
pyarrow loads."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = (
    "import sys, os\n"
    "assert 'pyarrow' not in sys.modules\n"
    "import stackcurate.parquet_io\n"
    "print(os.environ.get('MIMALLOC_ALLOW_THP'), 'pyarrow' in sys.modules)\n"
)


def _run(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_huge_pages_are_off_before_pyarrow_loads_unless_the_user_says_otherwise() -> None:
    env = {key: value for key, value in os.environ.items() if key != "MIMALLOC_ALLOW_THP"}
    assert _run(env) == "0 True"  # set, and pyarrow was loaded after it (a module of the package imports it)
    assert _run({**env, "MIMALLOC_ALLOW_THP": "1"}) == "1 True"
