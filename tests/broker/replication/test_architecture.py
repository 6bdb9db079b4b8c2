"""broker/replication is a sans-I/O core: pure stdlib modules, storage and record types,
the metadata delta for the role planner, and one edge module that writes to a Log."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import broker.replication

PACKAGE = Path(broker.replication.__file__).parent
MODULES = sorted(p.name for p in PACKAGE.glob("*.py"))
STDLIB_ALLOWED = {"__future__", "collections.abc", "dataclasses", "enum", "typing"}
LOWER_LAYERS = {
    "broker.error_codes",
    "broker.storage.epoch_cache",
    "broker.storage.log_view",
    "broker.records.batch",
}
# Which module may reach which part of the broker beyond the types above.
EXTRA = {
    "roles.py": {"broker.metadata.delta", "broker.metadata.image"},
    "log_actions.py": {"broker.storage.log"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", MODULES)
def test_a_replication_module_imports_only_what_its_layer_allows(module: str) -> None:
    allowed = STDLIB_ALLOWED | LOWER_LAYERS | EXTRA.get(module, set())
    foreign = sorted(
        name
        for name in _imports(PACKAGE / module)
        if name not in allowed and not name.startswith("broker.replication")
    )
    assert foreign == [], f"{module} imports {foreign}"


@pytest.mark.parametrize("module", MODULES)
def test_a_replication_module_stays_small(module: str) -> None:
    assert len((PACKAGE / module).read_text().splitlines()) <= 500


def test_importing_the_core_loads_no_io_protocol_or_network_library() -> None:
    code = (
        "import sys, broker.replication; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('asyncio', 'kio', 'aiohttp', 'uvloop') "
        "or m.startswith(('broker.server', 'broker.network', 'broker.cluster', "
        "'broker.quorum', 'broker.storage.log'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_core_answers_with_the_brokers_one_error_enum() -> None:
    sources = "".join((PACKAGE / module).read_text() for module in MODULES)
    assert "IntEnum" not in sources, "error codes are typed once, in broker.error_codes"


def test_the_public_api_is_pinned() -> None:
    assert sorted(broker.replication.__all__) == [
        "AdvanceLogStart",
        "AppendReplicated",
        "AssignLeaderEpoch",
        "BecomeFollower",
        "BecomeLeader",
        "DeleteLog",
        "EpochRequest",
        "FetchDecision",
        "FetchRequest",
        "FetchResponse",
        "FollowerAction",
        "FollowerPhase",
        "FollowerReplicaState",
        "FollowerRequest",
        "IsrChangeKind",
        "IsrChangeRequest",
        "LeaderConfig",
        "LeaderOffsetsRequest",
        "LeaderReplicaState",
        "LeaderUpdate",
        "LocalReplicas",
        "NO_EPOCH",
        "ProduceWaiters",
        "ReplicaLogView",
        "RoleLogAction",
        "RoleOutcome",
        "RoleTransition",
        "StopReplica",
        "TruncateFullyAndStartAt",
        "TruncateTo",
        "UpdateLeaderIsr",
        "WaiterOutcome",
        "check_leader_epoch",
        "plan_role_changes",
    ]
