"""What a game day saw of its cluster, and the verdicts on the replication, audit and
client-error expectations (pure).

:class:`ClusterHistory` keeps, per poll, the freshest cluster state's counts: partitions
under-replicated, under ``min.insync.replicas`` (of the workload's topic), offline;
whether every partition is led by its preferred leader; whether every ISR is full.
:func:`judge_cluster` turns those, the failover measurements, the log audit and the
clients' errors into :class:`~loadtest.gameday.expectations.Outcome` rows, in the style
of :mod:`loadtest.gameday.expectations` (times are real seconds from the start of the
load; recoveries count from the end of the last fault).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loadtest.audit import AcksAudit
from loadtest.client_errors import classify
from loadtest.gameday.cluster_state import ClusterState
from loadtest.gameday.expectations import EventTimes, Outcome, counts_outcomes
from loadtest.gameday.failover import FailoverMeasurement
from loadtest.gameday.scenario import START, Scenario

__all__ = ["ClusterHistory", "ClusterPoint", "judge_cluster", "still_recovering"]


@dataclass(frozen=True, slots=True)
class ClusterPoint:
    t: float
    controller: int
    under_replicated: int
    under_min_isr: int
    offline: int
    leaders_preferred: bool

    @property
    def isr_full(self) -> bool:
        return self.under_replicated == 0


@dataclass
class ClusterHistory:
    points: list[ClusterPoint] = field(default_factory=list)

    def observe(self, t: float, state: ClusterState | None, topic: str, min_isr: int) -> None:
        if state is None:
            return
        self.points.append(
            ClusterPoint(
                t,
                state.controller_id,
                state.under_replicated(),
                state.under_min_isr(topic, min_isr),
                state.offline(),
                state.leaders_preferred(),
            )
        )

    def first_at_or_after(self, t: float, condition: str) -> float | None:
        """The first poll from ``t`` on where ``condition`` (an attribute) holds for
        good (at that poll and every later one)."""
        found: float | None = None
        for point in self.points:
            if point.t < t:
                continue
            holds = bool(getattr(point, condition))
            found = None if not holds else (point.t if found is None else found)
        return found

    def peak(self, attribute: str) -> int:
        return max((int(getattr(p, attribute)) for p in self.points), default=0)

    def as_dict(self) -> dict[str, object]:
        return {
            "polls": len(self.points),
            "peak_under_replicated": self.peak("under_replicated"),
            "peak_under_min_isr": self.peak("under_min_isr"),
            "peak_offline": self.peak("offline"),
            "points": [
                [
                    round(p.t, 2),
                    p.controller,
                    p.under_replicated,
                    p.under_min_isr,
                    p.offline,
                    p.leaders_preferred,
                ]
                for p in self.points
            ],
            "point_fields": [
                "t",
                "controller",
                "under_replicated",
                "under_min_isr",
                "offline",
                "leaders_preferred",
            ],
        }


def judge_cluster(
    scenario: Scenario,
    events: EventTimes,
    end_seconds: float,
    history: ClusterHistory,
    failovers: Sequence[FailoverMeasurement],
    audits: Sequence[AcksAudit],
    client_errors: Mapping[str, int],
) -> list[Outcome]:
    out: list[Outcome] = []
    r = scenario.expect_replication
    if r is not None:
        for name, expected, attribute in (
            ("ISR shrinks", r.isr_shrinks, "under_replicated"),
            ("under min ISR", r.under_min_isr, "under_min_isr"),
            ("offline partitions", r.offline, "offline"),
        ):
            if expected is not None:
                peak = history.peak(attribute)
                wanted = "happens" if expected else "never happens"
                seen = f"peak {peak} partition(s)" if peak else "never seen"
                out.append(Outcome("replication", name, wanted, seen, (peak > 0) == expected))
        if r.failover_within is not None:
            out.extend(_failover(r.failover_within, failovers))
        last = _last_fault_end(events, end_seconds)
        for name, within, attribute in (
            ("every ISR full", r.isr_full_within, "isr_full"),
            ("preferred leaders back", r.leaders_preferred_within, "leaders_preferred"),
        ):
            if within is not None:
                out.append(
                    _recovered(name, within, history.first_at_or_after(last, attribute), last)
                )
    for acks, bounds in scenario.expect_audit:
        rows = {f"acks={a.acks}": a.as_dict() for a in audits if a.acks == acks}
        out.extend(counts_outcomes("audit", bounds, rows, f"acks={acks}: nothing audited"))
    if scenario.expect_client_errors is not None:
        classes = classify(client_errors)
        totals: dict[str, object] = {k: sum(v.values()) for k, v in classes.items()}
        out.extend(
            counts_outcomes("client errors", scenario.expect_client_errors, {"clients": totals})
        )
    return out


def still_recovering(
    scenario: Scenario, events: EventTimes, history: ClusterHistory, now: float
) -> bool:
    """Whether to keep watching: a recovery the cluster is expected to make (every ISR
    full, preferred leaders back) has not shown at the last poll, and its bound since
    the last fault's end has not passed."""
    r = scenario.expect_replication
    if r is None or not history.points:
        return False
    waits = [
        (within, attribute)
        for within, attribute in (
            (r.isr_full_within, "isr_full"),
            (r.leaders_preferred_within, "leaders_preferred"),
        )
        if within is not None
    ]
    if not waits:
        return False
    deadline = _last_fault_end(events, now) + max(within for within, _ in waits)
    recovered = all(getattr(history.points[-1], attribute) for _, attribute in waits)
    return now < deadline and not recovered


def _last_fault_end(events: EventTimes, end_seconds: float) -> float:
    ends = [end if end is not None else end_seconds for k, (_, end) in events.items() if k != START]
    return max(ends, default=0.0)


def _failover(within: float, failovers: Sequence[FailoverMeasurement]) -> list[Outcome]:
    expected = f"first acks=all produce on the victim's partitions within {within:g} s"
    if not failovers:
        return [Outcome("failover", "failover", expected, "no leader was lost", False)]
    out = []
    for m in failovers:
        subject = f"{m.step}: broker {m.victim} (partitions {list(m.partitions)})"
        seconds = m.first_acked_produce_seconds
        if seconds is None:
            observed = f"not measured: {m.error or 'no acknowledgement'}"
            out.append(Outcome("failover", subject, expected, observed, False))
            continue
        elected = m.leader_elected_seconds
        observed = f"{seconds:.2f} s" + (
            f" (leader elected after {elected:.2f} s)" if elected is not None else ""
        )
        out.append(Outcome("failover", subject, expected, observed, seconds <= within, seconds))
    return out


def _recovered(name: str, within: float, at: float | None, last: float) -> Outcome:
    expected = f"within {within:g} s of the last fault's end"
    if at is None:
        return Outcome("recovery", name, expected, "never", False)
    delay = max(0.0, at - last)
    return Outcome("recovery", name, expected, f"after {delay:.1f} s", delay <= within, None, delay)
