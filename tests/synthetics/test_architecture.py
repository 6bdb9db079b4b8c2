"""Layering of the synthetics package: the judging logic is pure, and no broker module is
used (the probes speak Kafka, never broker internals; what they share with the broker,
the lag model and the metric specs, lives in ``contracts``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2] / "synthetics"
PURE = [
    "record.py",
    "classify.py",
    "coverage.py",
    "health.py",
    "catalog.py",
    "status.py",
    "config.py",
    "lagmon/tracker.py",
    "lagmon/config.py",
]
IO_MODULES = ("asyncio", "aiokafka", "aiohttp", "socket", "subprocess", "confluent_kafka", "kafka")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_no_io(module: str) -> None:
    imported = _imports(ROOT / module)
    offending = {name for name in imported if name.split(".")[0] in IO_MODULES}
    assert not offending, f"{module} imports {offending}"


def test_no_broker_module_is_used() -> None:
    used = {
        name
        for path in ROOT.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] == "broker"
    }
    assert used == set()
