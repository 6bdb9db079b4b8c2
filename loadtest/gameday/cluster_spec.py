"""The multi-broker part of a game-day scenario: fault targets and replication
expectations (pure; :mod:`loadtest.gameday.scenario` reads them in).

``brokers: 3`` runs the game day on a cluster of three brokers (every one a controller
voter); the workload's topic then takes ``replication_factor`` (at most ``brokers``) and
``min_insync_replicas`` (at most the replication factor). Faults on a cluster name their
victim by its role, resolved when the fault is injected from the cluster's state then
(``target``):

- ``most-leaders``: the broker leading most partitions of the workload's topic (ties:
  the lowest node id);
- ``leader`` / ``follower`` with ``partition: N``: the leader of partition N, or its
  first in-sync follower;
- ``controller``: the active controller;
- a node id (``2``).

Fault kinds only a cluster has: ``leader-isolate`` (the target, by default
``most-leaders``, cut off from the other brokers: quorum links both ways and replica
fetches, while its clients still reach it) and ``rolling-restart`` (each broker in turn
SIGTERMed and restarted, the next one only once the previous is back in every ISR; it
ends by itself, so it takes no ``for``). ``expect.replication`` states what the cluster
must show (``isr_shrinks``, ``under_min_isr``, ``offline``: whether it happened at some
poll) and how fast it must recover (``failover_within`` a kill or isolation of a
leader: the first acks=all produce acknowledged on every partition it led;
``isr_full_within`` and ``leaders_preferred_within`` the last fault's end).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from contracts.fields import ConfigError, Fields
from loadtest.gameday.bounds import CountExpectation, parse_counts
from loadtest.workload import ACKS, Workload

__all__ = [
    "AUDIT_FIELDS",
    "CLIENT_ERROR_FIELDS",
    "CLUSTER_FAULTS",
    "MAX_BROKERS",
    "SELF_ENDING_FAULTS",
    "TARGETED_FAULTS",
    "TARGET_ROLES",
    "ReplicationExpectation",
    "check_cluster_fault",
    "check_cluster_setup",
    "parse_audit",
    "parse_client_errors",
    "parse_replication",
]

MAX_BROKERS: Final = 5
TARGET_ROLES: Final = ("most-leaders", "leader", "follower", "controller")
_NEEDS_PARTITION: Final = frozenset({"leader", "follower"})
# Kinds that take a target on a cluster, and the roles each accepts.
TARGETED_FAULTS: Final[dict[str, tuple[str, ...]]] = {
    "broker-kill": TARGET_ROLES,
    "broker-pause": TARGET_ROLES,
    "leader-isolate": ("most-leaders", "leader"),
}
# Kinds only a cluster has -> the fewest brokers they need (an isolated leader leaves a
# majority of voters behind only with three).
CLUSTER_FAULTS: Final[dict[str, int]] = {"leader-isolate": 3, "rolling-restart": 2}
SELF_ENDING_FAULTS: Final = frozenset({"rolling-restart"})
AUDIT_FIELDS: Final = ("lost", "duplicated")
CLIENT_ERROR_FIELDS: Final = ("retriable", "non_retriable")
_REPLICATION: Final = frozenset(
    {
        "isr_shrinks",
        "under_min_isr",
        "offline",
        "failover_within",
        "isr_full_within",
        "leaders_preferred_within",
    }
)


@dataclass(frozen=True, slots=True)
class ReplicationExpectation:
    """None: not expected either way."""

    isr_shrinks: bool | None = None
    under_min_isr: bool | None = None
    offline: bool | None = None
    failover_within: float | None = None
    isr_full_within: float | None = None
    leaders_preferred_within: float | None = None


def check_cluster_setup(top: Fields, brokers: int, broker: Mapping[str, Any], w: Workload) -> None:
    """What a cluster cannot have (yet): the single-broker proxy and tmpfs; and a topic
    replicated more than there are brokers."""
    if brokers > 1:
        for key in ("proxy", "tmpfs"):
            if broker.get(key):
                raise ConfigError(
                    top.file,
                    f"broker.{key}",
                    f"is for a single broker; remove it or set brokers: 1 (not {brokers})",
                )
    if w.topic.replication_factor > brokers:
        raise ConfigError(
            top.file,
            "workload.topic.replication_factor",
            f"{w.topic.replication_factor} is more than the scenario's brokers ({brokers})",
        )


def check_cluster_fault(
    f: Fields, kind: str, values: dict[str, Any], brokers: int, workload: Workload
) -> None:
    """Validate (and normalise in ``values``) a step's cluster fields: ``target`` to its
    spelling as text, ``partition`` to an int within the topic."""
    needed = CLUSTER_FAULTS.get(kind)
    if needed is not None and brokers < needed:
        raise f.error("fault", f"{kind} needs brokers: {needed} or more (not {brokers})")
    if kind in SELF_ENDING_FAULTS and f.has("for"):
        raise f.error("for", f"{kind} ends by itself, once every broker is back in every ISR")
    if "target" in values and brokers < 2:
        raise f.error("target", "needs a cluster (brokers: 2 or more)")
    target = values.get("target")
    if target is None:
        if kind == "leader-isolate":
            values["target"] = "most-leaders"
        elif kind in TARGETED_FAULTS and brokers > 1:
            raise f.error("target", f"is required for {kind} on a cluster")
        _refuse_partition(f, values, None)
        return
    roles = TARGETED_FAULTS[kind]
    if isinstance(target, int) and not isinstance(target, bool) and kind != "leader-isolate":
        if not 1 <= target <= brokers:
            raise f.error("target", f"node {target} is not in the cluster (nodes 1..{brokers})")
        values["target"] = str(target)
        _refuse_partition(f, values, "a node id")
        return
    if target not in roles:
        allowed = ", ".join(roles) + ("" if kind == "leader-isolate" else ", or a node id")
        raise f.error("target", f"{target!r} is not allowed; allowed: {allowed}")
    if target in _NEEDS_PARTITION:
        if "partition" not in values:
            raise f.error("partition", f"is required with target: {target}")
        partitions = workload.topic.partitions
        if not 0 <= values["partition"] < partitions:
            raise f.error(
                "partition",
                f"{values['partition']} is not a partition of the topic (0..{partitions - 1})",
            )
        if target == "follower" and workload.topic.replication_factor < 2:
            raise f.error("target", "a follower needs workload.topic.replication_factor >= 2")
    else:
        _refuse_partition(f, values, target)


def _refuse_partition(f: Fields, values: dict[str, Any], target: str | None) -> None:
    if "partition" in values:
        reason = "applies only to target: leader or follower"
        raise f.error("partition", reason if target is None else f"{reason}, not {target}")


def parse_audit(expect: Fields, workload: Workload) -> tuple[tuple[str, CountExpectation], ...]:
    """``expect.audit``: per acks setting the producers use, bounds on lost/duplicated."""
    if not expect.has("audit"):
        return ()
    used = workload.producer.acks_mix or (workload.producer.acks,)
    raw = expect.raw("audit")
    if not isinstance(raw, Mapping):
        raise expect.error("audit", "must be a mapping of acks settings (0, 1, all) to bounds")
    keyed = {str(k): v for k, v in raw.items()}
    f = Fields(expect.file, expect.at("audit"), keyed, frozenset(ACKS))
    out = []
    for acks in keyed:
        if acks not in used:
            raise f.error(acks, f"no producer uses acks={acks}; used: {', '.join(used)}")
        bounds = parse_counts(f, acks, AUDIT_FIELDS)
        if bounds is not None:
            out.append((acks, bounds))
    return tuple(out)


def parse_client_errors(expect: Fields) -> CountExpectation | None:
    return parse_counts(expect, "client_errors", CLIENT_ERROR_FIELDS)


def parse_replication(expect: Fields, brokers: int) -> ReplicationExpectation | None:
    if not expect.has("replication"):
        return None
    r = expect.mapping("replication", _REPLICATION)
    if brokers < 2:
        raise expect.error("replication", "needs a cluster (brokers: 2 or more)")

    def flag(key: str) -> bool | None:
        return r.flag(key, False) if r.has(key) else None

    def within(key: str) -> float | None:
        return r.duration(key) if r.has(key) else None

    return ReplicationExpectation(
        isr_shrinks=flag("isr_shrinks"),
        under_min_isr=flag("under_min_isr"),
        offline=flag("offline"),
        failover_within=within("failover_within"),
        isr_full_within=within("isr_full_within"),
        leaders_preferred_within=within("leaders_preferred_within"),
    )
