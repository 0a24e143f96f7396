"""``scripts/compile_bytecode.py`` (run by ``make setup``): the distributions it compiles are those
stackcurate needs, and the bytecode it writes is what Python loads (checked the way Python checks it)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "compile_bytecode.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compile_bytecode", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_closure_holds_what_stackcurate_requires_and_the_extras_only_when_asked() -> None:
    script = _script()
    runtime = script.closure("stackcurate")
    assert {"stackcurate", "presidio-analyzer", "polars", "pyarrow", "datatrove", "gitpython"} <= runtime
    assert "spacy" in runtime  # presidio-analyzer's own requirement: the closure is recursive
    assert "pytest" not in runtime and "torch" not in runtime
    dev = script.closure("stackcurate", ["dev"])
    assert runtime < dev and {"pytest", "torch", "ray"} <= dev


def test_sources_include_the_editable_package() -> None:
    files = _script().sources(["stackcurate"])
    assert ROOT / "stackcurate" / "runner.py" in files


def test_bytecode_is_written_once_kept_while_fresh_and_written_again_when_the_source_changes(
    tmp_path: Path,
) -> None:
    script = _script()
    source = tmp_path / "module_x.py"
    source.write_text("VALUE = 1\n")
    assert not script.fresh(source)
    assert script.compile_one(source) == "written"
    assert script.fresh(source)
    assert script.compile_one(source) == "fresh"
    source.write_text("VALUE = 22\n")
    stat = source.stat()
    os.utime(source, (stat.st_atime, stat.st_mtime + 5))
    assert not script.fresh(source)
    assert script.compile_one(source) == "written"
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert script.compile_one(broken) == "failed"
    # Python loads what was written: a source changed behind the header's back (same size, same time) still
    # imports as the bytecode says
    stat = source.stat()
    source.write_text("VALUE = 33\n")
    os.utime(source, (stat.st_atime, stat.st_mtime))
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import module_x; print(module_x.VALUE)"
    done = subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["22"]
