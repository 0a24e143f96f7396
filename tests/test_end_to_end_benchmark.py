"""``benchmarks/end_to_end.py`` times a run by wrapping two of the product's functions by name (the runner's
pass runner and the tokenizer's preparation). A move of either must fail here, in CI, not the next time
someone measures (the benchmark broke unnoticed once when the shards stage moved into ``plan/``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from stackcurate import runner
from stackcurate.plan import shards

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("end_to_end", ROOT / "benchmarks" / "end_to_end.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "end_to_end", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_wraps_the_pass_runner_and_the_tokenizer_the_run_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def run_pass(cfg: Any, pass_: Any, layout: Any, console: Any) -> None:
        calls.append(pass_.name)

    def prepare(cfg: Any, console: Any = None) -> str:
        calls.append("tokenizer")
        return "tokenizer.json"

    # the module globals the run calls to run a pass and to prepare the tokenizer (setattr fails on a
    # missing name); replaced here by recorders, which the benchmark then wraps
    monkeypatch.setattr(runner, "_run_pass", run_pass)
    monkeypatch.setattr(shards, "prepare_tokenizer", prepare)
    module = _benchmark(monkeypatch)
    measured = module.Measured()
    module.instrument(measured)

    runner._run_pass(None, SimpleNamespace(name="clone", tasks=3), None, None)
    runner._run_pass(None, SimpleNamespace(name="near_components/r001", tasks=2), None, None)
    assert shards.prepare_tokenizer(None) == "tokenizer.json"
    assert calls == ["clone", "near_components/r001", "tokenizer"]
    assert list(measured.passes) == ["clone", "near_components", "tokenizer"]
    assert [measured.passes[name].tasks for name in measured.passes] == [3, 2, 1]
    assert all(timing.wall >= 0 and timing.cpu >= 0 for timing in measured.passes.values())
