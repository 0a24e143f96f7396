"""presidio is imported without PyTorch (``stackcurate.pii.presidio_import``), and PyTorch stays importable in
the same process. Each case runs in a fresh interpreter: what it checks is what the import leaves behind."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

SCAN = (
    "from stackcurate.pii.redact import PiiScanner\n"
    "spans = PiiScanner(names=True).scan('write to jane.doe@corp.io, key = \"AKIAZ3MSJV4WUQJXXKGR\"')\n"
    "print(sorted(span.type for span in spans))\n"
)


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_scanner_works_and_leaves_torch_unimported() -> None:
    lines = _run(SCAN + "import sys\nprint('torch' in sys.modules)\n")
    assert lines == ["['EMAIL', 'KEY']", "False"]


def test_the_fork_servers_preload_imports_presidio_without_torch() -> None:
    code = "import sys\nimport stackcurate.pii.presidio_preload\n"
    code += "print('presidio_analyzer' in sys.modules, 'torch' in sys.modules)\n"
    assert _run(code) == ["True False"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_torch_imports_as_usual_after_presidio_and_before_it() -> None:
    after = SCAN + "import torch\nprint(float(torch.ones(3).sum()))\n"
    assert _run(after) == ["['EMAIL', 'KEY']", "3.0"]
    before = "import torch\nfirst = torch\n" + SCAN + "import sys\nprint(sys.modules['torch'] is first)\n"
    assert _run(before) == ["['EMAIL', 'KEY']", "True"]
