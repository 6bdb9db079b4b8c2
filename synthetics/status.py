"""The JSON shapes of a probe target's ``/status`` entry (pure: data in, dicts out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synthetics.classify import PartitionSummary
from synthetics.coverage import BrokerCheck, ClusterView, Coverage
from synthetics.health import ANOMALIES
from synthetics.leaders import LeaderChange

__all__ = [
    "Anomaly",
    "BrokerState",
    "Tally",
    "brokers_json",
    "coverage_json",
    "leader_changes_json",
    "partitions_json",
    "recent_json",
]


@dataclass(slots=True)
class Tally:
    """Plain totals since start, for the status endpoint and tests."""

    produce_attempts: int = 0
    produce_successes: int = 0
    produce_timeouts: int = 0
    produce_errors: int = 0
    produce_leader_change_errors: int = 0
    produced: int = 0
    consumed: int = 0
    on_time: int = 0
    late: int = 0
    reordered: int = 0
    duplicated: int = 0
    corrupted: int = 0
    foreign: int = 0
    lost: int = 0
    consume_attempts: int = 0
    consume_successes: int = 0
    rounds: int = 0
    leader_changes: int = 0


@dataclass(slots=True)
class BrokerState:
    """A broker's address and its last check."""

    address: str
    check: BrokerCheck | None = None


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One record judged not on time (or lost), kept as an example for the status."""

    kind: str  # lost, corrupted, duplicated, reordered, late
    partition: int
    sequence: int | None
    reason: str
    at_ns: int = field(compare=False)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def brokers_json(brokers: Mapping[int, BrokerState], cov: Coverage | None) -> list[dict[str, Any]]:
    out = []
    for node, state in sorted(brokers.items()):
        check = state.check
        out.append(
            {
                "id": node,
                "address": state.address,
                "leads_partitions": list(cov.led.get(node, ())) if cov else [],
                "connection_ok": None if check is None else check.ok,
                "connection_latency_seconds": _round(check.connect_seconds if check else None),
                "metadata_latency_seconds": _round(check.metadata_seconds if check else None),
                "error": check.error if check else None,
            }
        )
    return out


def coverage_json(cov: Coverage | None) -> dict[str, Any]:
    return {
        "brokers": len(cov.brokers) if cov else 0,
        "uncovered_brokers": list(cov.uncovered) if cov else [],
        "gap": cov.gap if cov else 0,
    }


def partitions_json(
    view: ClusterView | None,
    summaries: Iterable[PartitionSummary],
    next_sequence: Mapping[int, int],
) -> list[dict[str, Any]]:
    by_partition = {s.partition: s for s in summaries}
    out = []
    for p in view.partitions if view else ():
        s = by_partition.get(p.partition)
        out.append(
            {
                "partition": p.partition,
                "leader": p.leader,
                "next_sequence": next_sequence.get(p.partition, 0),
                "highest_sequence_read": s.highest_sequence_read if s else -1,
                "in_flight": s.in_flight if s else 0,
                "awaiting_read": s.awaiting if s else 0,
            }
        )
    return out


def recent_json(
    window_seconds: float, counts: Mapping[str, int], examples: Sequence[Anomaly]
) -> dict[str, Any]:
    return {
        "window_seconds": window_seconds,
        **{kind: counts.get(kind, 0) for kind in ANOMALIES},
        "examples": [
            {
                "kind": a.kind,
                "partition": a.partition,
                "sequence": a.sequence,
                "reason": a.reason,
                "at_unix_seconds": round(a.at_ns / 1e9, 3),
            }
            for a in examples
        ],
    }


def leader_changes_json(changes: Sequence[LeaderChange]) -> list[dict[str, Any]]:
    """The most recent leader changes of probe partitions, oldest first."""
    return [
        {
            "partition": ch.partition,
            "from_broker": ch.previous,
            "to_broker": ch.leader,
            "at_unix_seconds": round(ch.at_ns / 1e9, 3),
        }
        for ch in changes
    ]
