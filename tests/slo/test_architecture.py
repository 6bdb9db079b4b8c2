"""The SLO pipeline's layers only point down, and its pure core does no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path("slo")
# Pure layers: spec types, model, window data, numpy evaluation and rule generators.
PURE = [
    "model.py",
    "conventions.py",
    "burnrate.py",
    "alerts.py",
    "history.py",
    "engine.py",
    "sampling.py",
    "backtest.py",
    "report.py",
    "exposition.py",
    "windows/__init__.py",
    "rules/__init__.py",
    "rules/sli.py",
    "rules/meta.py",
    "rules/alerting.py",
    "rules/render.py",
    "rules/types.py",
    "spec/tidewatch.py",
    "spec/sloth.py",
    "spec/openslo.py",
    "spec/selector.py",
    "spec/common.py",
    "sources/samples.py",
]
FORBIDDEN = {
    "aiohttp",
    "asyncio",
    "click",
    "socket",
    "subprocess",
    "time",
    "slo.cli",
    "slo.service",
    "slo.store",
    "slo.notify",
    "slo.sources.local",
    "slo.sources.prometheus",
    "slo.bench",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_layer_and_reads_no_clock(module: str) -> None:
    imported = _imports(PACKAGE / module)
    assert not imported & FORBIDDEN, f"{module} imports {sorted(imported & FORBIDDEN)}"


def test_importing_the_engine_stays_light() -> None:
    code = (
        "import sys, slo.engine, slo.rules; print(sorted(m for m in sys.modules if m in "
        "('aiohttp', 'click', 'rich', 'prometheus_client')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
