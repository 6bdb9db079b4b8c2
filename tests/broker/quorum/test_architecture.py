"""The quorum package stands alone: stdlib only, a pure core, a pinned public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import broker.quorum
from tests.imports import imported_modules

PACKAGE = Path(broker.quorum.__file__).parent
CORE = [
    "messages.py",
    "codec.py",
    "config.py",
    "state.py",
    "log.py",
    "progress.py",
    "leader.py",
    "raft.py",
    "errors.py",
]
STDLIB_ALLOWED = {
    "__future__",
    "collections.abc",
    "dataclasses",
    "enum",
    "random",
    "struct",
    "typing",
    "zlib",
}
# The I/O edge may also touch the file system.
EDGE_ALLOWED = {"storage.py": {"fcntl", "os", "pathlib"}}


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_a_quorum_module_imports_only_the_stdlib_and_its_own_package(module: str) -> None:
    allowed = STDLIB_ALLOWED | EDGE_ALLOWED.get(module, set())
    foreign = {
        name
        for name in imported_modules(PACKAGE / module)
        if not name.startswith("broker.quorum") and name not in allowed
    }
    assert not foreign, f"{module} imports {sorted(foreign)}"


@pytest.mark.parametrize("module", CORE)
def test_the_core_uses_no_global_randomness(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    uses = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "random"
    }
    assert uses <= {"Random"}, f"{module} calls random.{sorted(uses - {'Random'})}"


def test_the_public_api_is_pinned() -> None:
    assert sorted(broker.quorum.__all__) == [
        "AppendEntries",
        "AppendEntriesResponse",
        "Entry",
        "HardState",
        "InstallSnapshot",
        "InstallSnapshotResponse",
        "Message",
        "NodeStatus",
        "NotLeader",
        "PersistedState",
        "PreVoteRequest",
        "PreVoteResponse",
        "ProposeAccepted",
        "ProposeResult",
        "QuorumError",
        "QuorumMessageError",
        "QuorumSafetyError",
        "QuorumStorageError",
        "RaftConfig",
        "RaftNode",
        "Ready",
        "Role",
        "Snapshot",
        "TimeoutNow",
        "VoteRequest",
        "VoteResponse",
    ]


def test_importing_the_quorum_loads_nothing_else_of_the_broker() -> None:
    code = (
        "import sys, broker.quorum, broker.quorum.codec, broker.quorum.storage; "
        "print(sorted(m for m in sys.modules if m.startswith('broker.') "
        "and not m.startswith('broker.quorum')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_a_quorum_module_stays_small(module: str) -> None:
    assert len((PACKAGE / module).read_text().splitlines()) <= 500
