"""Importing the SLO engine stays light. (That its pure core does no I/O and its layers
point down is an import-linter contract in pyproject.toml, checked by `make lint`.)"""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_stays_light() -> None:
    code = (
        "import sys, slo.engine, slo.rules; print(sorted(m for m in sys.modules if m in "
        "('aiohttp', 'click', 'rich', 'prometheus_client')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
