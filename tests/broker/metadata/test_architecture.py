"""broker/metadata is sans-I/O: it imports the standard library's pure modules,
broker.storage (topic-name and config rules) and itself, nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.imports import imported_modules

PACKAGE = Path("broker/metadata")
ALLOWED_STDLIB = {
    "__future__",
    "collections",
    "collections.abc",
    "dataclasses",
    "enum",
    "functools",
    "json",
    "struct",
    "types",
    "typing",
    "uuid",
}
ALLOWED_PREFIXES = ("broker.metadata", "broker.storage", "broker.error_codes")
MODULES = sorted(p.name for p in PACKAGE.glob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_a_metadata_module_imports_no_io_clock_or_randomness(module: str) -> None:
    imported = imported_modules(PACKAGE / module)
    foreign = sorted(
        name
        for name in imported
        if name not in ALLOWED_STDLIB and not name.startswith(ALLOWED_PREFIXES)
    )
    assert foreign == [], f"{module} imports {foreign}"


def test_importing_the_controller_loads_no_protocol_or_network_library() -> None:
    code = (
        "import sys, broker.metadata.controller, broker.metadata.delta; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('asyncio', 'kio', 'aiohttp', 'socket') or m.startswith('broker.server')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
