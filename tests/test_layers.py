"""``scripts/check_layers.py`` (run by ``make lint``): the package keeps the layers of
docs/architecture.md, and the check finds what would break them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_layers.py"

TABLE = """# Architecture

## Layers

| layer | modules |
|---|---|
| 1 base | `__init__`, `errors` |
| 2 stages | `dedup/` |
| 3 planning | `plan` |
| 5 entry points | `cli`, `*/cli` |

## Next
"""


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True, check=False
    )


def test_the_package_keeps_its_layers() -> None:
    result = check(ROOT)
    assert result.returncode == 0, result.stderr
    assert "0 upward imports, 0 module cycles, 0 package cycles" in result.stdout


def write(root: Path, files: dict[str, str]) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "architecture.md").write_text(TABLE)
    for name, text in files.items():
        path = root / "stackcurate" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_upward_import_a_cycle_and_an_unlisted_module_are_reported(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "",
            "plan.py": "from stackcurate.dedup import near\n",
            "cli.py": "import stackcurate.plan\n",
            "dedup/__init__.py": "",
            # a stage importing the planner, inside a function: still an arrow
            "dedup/near.py": "def build():\n    from stackcurate.plan import x\n",
            "dedup/components.py": "from stackcurate.dedup.exact import y\n",
            "dedup/exact.py": "def f():\n    from stackcurate.dedup.components import z\n",
            "dedup/cli.py": "from stackcurate.cli import main\n",
            "stray.py": "",
        },
    )
    result = check(root)
    assert result.returncode == 1
    problems = result.stderr
    assert "dedup.near (stages) imports plan (planning), a layer above" in problems
    assert "import cycle between modules: dedup.components <-> dedup.exact" in problems
    assert "import cycle between modules: dedup.near <-> plan" in problems
    assert "stackcurate.stray: in no layer" in problems
    assert "dedup.cli" not in problems  # an entry point may import another entry point
