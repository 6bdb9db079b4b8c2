"""Judge a game day's expectations against what it observed (pure).

Every expectation becomes one :class:`Outcome`: met, missed, or skipped (with the
reason, e.g. probes not available in this build). Times are real seconds from the start
of the load; fault times are the moments the faults were actually injected and undone.

- alert ``fires_within T`` after event E: a matching alert *starts* firing within
  ``[E.start, E.start + T]``; the detection time is that delay. An alert that was already
  firing before E does not count as a detection of E.
- alert ``resolves_within T``: after E was undone, matching alerts stop firing for good
  within T; the reset time is that delay.
- ``silent``: the alert never fired during the scenario (skipped when the evaluator does
  not have that alert: silence about it proves nothing); an expected alert the evaluator
  does not have is a miss ("not in the evaluated rules").
- SLO ``burns``: its error budget was (or was not) consumed during the scenario.
- data loss / probes: each count is within its bound for every consumer group.
- recovery: within T of the end of the last fault every group's lag was back within a
  tolerance (steady load always shows the lag of one commit interval) and every alert
  resolved (except SLO ticket alerts, whose long windows keep them firing by design);
  once the load has drained, every group's lag is exactly 0 records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from loadtest.accounting import GroupAccount
from loadtest.gameday.bounds import CountExpectation
from loadtest.gameday.observations import AlertHistory, LagHistory, SLOHistory
from loadtest.gameday.scenario import START, AlertExpectation, Scenario
from slo.conventions import LABEL_SEVERITY, SEVERITY_PAGE, SEVERITY_TICKET

__all__ = ["EventTimes", "Outcome", "counts_outcomes", "judge"]

# (injected at, undone at or None) per event id; "start" is the start of the load.
EventTimes = Mapping[str, tuple[float, float | None]]
_BUDGET_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    subject: str
    expected: str
    observed: str
    met: bool | None  # None: skipped
    detection_seconds: float | None = None
    reset_seconds: float | None = None

    @property
    def status(self) -> str:
        return "skipped" if self.met is None else ("met" if self.met else "MISSED")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "status": self.status}


def judge(
    scenario: Scenario,
    events: EventTimes,
    alerts: AlertHistory,
    slos: SLOHistory,
    lag: LagHistory,
    accounts: Sequence[GroupAccount],
    probe_counts: Mapping[str, int] | None,
    end_seconds: float,
    final_lag: Mapping[str, int | None] | None = None,
    probe_unavailable: str | None = None,
    known_alerts: set[str] | None = None,
) -> list[Outcome]:
    """``known_alerts``: the alerts the evaluator had (None: not known, trust the name)."""
    out: list[Outcome] = []
    for e in scenario.expect_alerts:
        if known_alerts is not None and e.alert not in known_alerts:
            out.append(_unknown(e))
            continue
        out.extend(_alert(e, events, alerts))
    for name, labels in scenario.expect_silent:
        spans = alerts.spans(name, labels)
        subject = _subject(AlertExpectation(name, labels))
        if known_alerts is not None and name not in known_alerts and not spans:
            out.append(Outcome("silent", subject, "never fires", _NOT_EVALUATED, None))
            continue
        observed = f"fired at {spans[0][0]:.1f} s" if spans else "never fired"
        out.append(Outcome("silent", subject, "never fires", observed, not spans))
    if scenario.expect_no_page:
        out.append(_no_page(alerts))
    for s in scenario.expect_slos:
        out.append(_slo(s.slo, s.burns, slos))
    if scenario.expect_data_loss is not None:
        rows = {a.group: a.as_dict() for a in accounts}
        out.extend(counts_outcomes("data loss", scenario.expect_data_loss, rows))
    if scenario.expect_probes is not None:
        if probe_counts is None:
            out.append(Outcome("probes", "probe", "counts within bounds", "no probe ran", None))
        else:
            out.extend(
                counts_outcomes("probes", scenario.expect_probes, {"probe": dict(probe_counts)})
            )
    out.extend(_recovery(scenario, events, alerts, lag, end_seconds, final_lag or {}))
    return out


_NOT_EVALUATED = "not in the evaluated rules"
_SEVERITY_LABELS = ("severity", LABEL_SEVERITY)


def _no_page(alerts: AlertHistory) -> Outcome:
    """No alert instance labelled a page (``severity`` or ``sloth_severity``) fired."""
    pages = sorted(
        (spans[0][0], instance.describe())
        for instance, spans in alerts.intervals.items()
        if SEVERITY_PAGE in (dict(instance.labels).get(k) for k in _SEVERITY_LABELS)
    )
    observed = "; ".join(f"{name} at {t:.1f} s" for t, name in pages) or "no page fired"
    return Outcome("silent", "every page", "no page fires", observed, not pages)


def _unknown(e: AlertExpectation) -> Outcome:
    """An expected alert the evaluator does not have cannot fire: a miss, said plainly."""
    kind = "alert fires" if e.fires_within is not None else "alert resolves"
    expected = f"fires within {e.fires_within:g} s of {e.after}" if e.fires_within else "resolves"
    return Outcome(kind, _subject(e), expected, _NOT_EVALUATED, False)


def _subject(e: AlertExpectation) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in e.labels)
    return f"{e.alert}{{{inner}}}" if inner else e.alert


def _alert(e: AlertExpectation, events: EventTimes, alerts: AlertHistory) -> list[Outcome]:
    subject = _subject(e)
    start, end = events.get(e.after, (0.0, None))
    out = []
    if e.fires_within is not None:
        expected = f"fires within {e.fires_within:g} s of {e.after}"
        first = alerts.first_start(e.alert, e.labels, start)
        before = alerts.firing_at(e.alert, e.labels, start) and e.after != START
        if before:
            out.append(
                Outcome("alert fires", subject, expected, f"already firing at {e.after}", False)
            )
        elif first is None:
            out.append(Outcome("alert fires", subject, expected, "never fired", False))
        else:
            delay = first - start
            met = delay <= e.fires_within
            out.append(
                Outcome("alert fires", subject, expected, f"fired after {delay:.1f} s", met, delay)
            )
    if e.resolves_within is not None:
        expected = f"resolves within {e.resolves_within:g} s of the end of {e.after}"
        if end is None:
            out.append(
                Outcome("alert resolves", subject, expected, f"{e.after} never ended", False)
            )
        elif not alerts.spans(e.alert, e.labels):
            out.append(Outcome("alert resolves", subject, expected, "never fired", False))
        else:
            resolved = alerts.resolved_after(e.alert, e.labels, end)
            if resolved is None:
                out.append(Outcome("alert resolves", subject, expected, "still firing", False))
            else:
                delay = resolved - end
                met = delay <= e.resolves_within
                observed = f"resolved after {delay:.1f} s"
                out.append(
                    Outcome("alert resolves", subject, expected, observed, met, reset_seconds=delay)
                )
    return out


def _slo(slo: str, burns: bool, history: SLOHistory) -> Outcome:
    expected = "budget burns" if burns else "budget untouched"
    key = history.find(slo)
    if key is None:
        known = ", ".join(sorted(history.samples)) or "none"
        return Outcome("slo", slo, expected, f"no readings (SLOs seen: {known})", False)
    budget = history.min_budget(key)
    burn = history.max_burn(key)
    if budget is None:
        return Outcome("slo", key, expected, "no budget readings", False)
    burned = budget < 1 - _BUDGET_EPSILON
    peak = f", peak burn rate {burn:.1f}x" if burn is not None else ""
    return Outcome("slo", key, expected, f"budget remaining {budget:.3f}{peak}", burned == burns)


def counts_outcomes(
    kind: str,
    expectation: CountExpectation,
    rows: Mapping[str, Mapping[str, object]],
    nothing: str = "nothing to account",
) -> list[Outcome]:
    """One outcome per row and bounded count; a miss when there is no row at all."""
    out = []
    for subject, values in sorted(rows.items()):
        for name, bound in expectation.bounds:
            raw = values.get(name)
            value = int(raw) if isinstance(raw, int | float) else 0
            out.append(
                Outcome(
                    kind,
                    f"{subject}: {name}",
                    bound.describe(),
                    str(value),
                    bound.holds(value),
                )
            )
    if not rows:
        out.append(Outcome(kind, kind, "counts within bounds", nothing, False))
    return out


def _recovery(
    scenario: Scenario,
    events: EventTimes,
    alerts: AlertHistory,
    lag: LagHistory,
    end_seconds: float,
    final_lag: Mapping[str, int | None],
) -> list[Outcome]:
    r = scenario.recovery
    ends = [end if end is not None else end_seconds for k, (_, end) in events.items() if k != START]
    last = max(ends, default=0.0)
    out = []
    if r.lag_zero_within is not None:
        groups = [g.group for g in scenario.workload.groups]
        back = lag.caught_up_after(groups, last, r.lag_tolerance_seconds)
        expected = (
            f"lag within {r.lag_tolerance_seconds:g} s within {r.lag_zero_within:g} s "
            "of the last fault's end"
        )
        if back is None:
            out.append(Outcome("recovery", "consumer lag", expected, "never caught up", False))
        else:
            delay = back - last
            observed = f"caught up after {delay:.1f} s"
            met = delay <= r.lag_zero_within
            out.append(Outcome("recovery", "consumer lag", expected, observed, met, None, delay))
        for group in groups:
            final = final_lag.get(group)
            observed = "unknown" if final is None else f"{final} records"
            out.append(
                Outcome("recovery", f"{group}: lag after drain", "0 records", observed, final == 0)
            )
    if r.alerts_resolved_within is not None:
        expected = (
            f"every alert but SLO tickets resolved within {r.alerts_resolved_within:g} s "
            "of the last fault's end"
        )
        pending = []
        latest = last
        for instance in sorted(alerts.intervals, key=lambda i: i.describe()):
            if dict(instance.labels).get(LABEL_SEVERITY) == SEVERITY_TICKET:
                continue  # slow-burn tickets look back hours (compressed: minutes) by design
            resolved = alerts.resolved_after(instance.name, instance.labels, last)
            if resolved is None:
                pending.append(instance.describe())
            else:
                latest = max(latest, resolved)
        if pending:
            out.append(
                Outcome(
                    "recovery", "alerts", expected, "still firing: " + ", ".join(pending), False
                )
            )
        else:
            delay = latest - last
            met = delay <= r.alerts_resolved_within
            observed = f"all resolved after {delay:.1f} s"
            out.append(Outcome("recovery", "alerts", expected, observed, met, None, delay))
    return out
