"""Judging expectations against what a game day observed (no servers)."""

from __future__ import annotations

from loadtest.accounting import GroupAccount
from loadtest.gameday.expectations import judge
from loadtest.gameday.observations import (
    AlertHistory,
    AlertInstance,
    GroupLag,
    LagHistory,
    SLOHistory,
    SLOReading,
)
from loadtest.gameday.scenario import parse_scenario
from tests.loadtest.gameday_support import SCENARIO

LAG = AlertInstance.of("Lag", {"group": "billing", "severity": "page"})
DOWN = AlertInstance.of("BrokerDown", {"job": "broker"})
EVENTS = {"start": (0.0, None), "stop": (5.0, 15.0), "network-latency-1": (20.0, 40.0)}


def history(*polls: tuple[float, set[AlertInstance]]) -> AlertHistory:
    h = AlertHistory()
    for t, firing in polls:
        h.observe(t, firing)
    return h


def lag_history(values: list[tuple[float, float]]) -> LagHistory:
    h = LagHistory()
    for t, seconds in values:
        h.observe(t, {"billing": GroupLag(int(seconds * 100), seconds)})
    return h


def account(lost: int = 0, deleted: int = 5) -> GroupAccount:
    return GroupAccount("billing", 100, 100, 0, 0, 95 - lost, 0, lost, deleted, 0, 0)


def outcomes(alerts: AlertHistory, lag: LagHistory | None = None, acct: GroupAccount | None = None):  # type: ignore[no-untyped-def]
    slos = SLOHistory()
    slos.observe(10.0, {"gameday-e2e": SLOReading(0.4, 20.0)})
    return {
        (o.kind, o.subject): o
        for o in judge(
            parse_scenario("s.yaml", SCENARIO),
            EVENTS,
            alerts,
            slos,
            lag or lag_history([(16.0, 0.5)]),
            [acct or account()],
            probe_counts=None,
            end_seconds=45.0,
            final_lag={"billing": 0},
        )
    }


GOOD = history((4.0, set()), (11.0, {LAG}), (17.0, set()), (30.0, set()))


def test_an_alert_that_fires_and_resolves_in_time_is_met_with_its_detection_and_reset() -> None:
    out = outcomes(GOOD)
    fires = out[("alert fires", 'Lag{group="billing"}')]
    resolves = out[("alert resolves", 'Lag{group="billing"}')]
    assert (fires.met, fires.detection_seconds) == (True, 6.0)
    assert (resolves.met, resolves.reset_seconds) == (True, 2.0)


def test_an_alert_that_never_fires_is_a_miss() -> None:
    out = outcomes(history((4.0, set()), (30.0, set())))
    assert out[("alert fires", 'Lag{group="billing"}')].met is False
    assert out[("alert fires", 'Lag{group="billing"}')].observed == "never fired"
    assert out[("alert resolves", 'Lag{group="billing"}')].met is False


def test_an_alert_that_fires_too_late_is_a_miss() -> None:
    out = outcomes(history((4.0, set()), (16.0, {LAG}), (18.0, set())))
    assert out[("alert fires", 'Lag{group="billing"}')].met is False


def test_an_alert_already_firing_before_the_fault_does_not_count_as_detecting_it() -> None:
    out = outcomes(history((4.0, {LAG}), (16.0, set())))
    assert out[("alert fires", 'Lag{group="billing"}')].observed == "already firing at stop"


def test_an_alert_with_other_labels_does_not_satisfy_the_expectation() -> None:
    other = AlertInstance.of("Lag", {"group": "analytics"})
    out = outcomes(history((4.0, set()), (11.0, {other}), (17.0, set())))
    assert out[("alert fires", 'Lag{group="billing"}')].met is False


def test_a_silent_alert_that_fired_is_a_miss() -> None:
    out = outcomes(history((4.0, set()), (11.0, {LAG, DOWN}), (17.0, set())))
    assert out[("silent", "BrokerDown")].met is False
    assert outcomes(GOOD)[("silent", "BrokerDown")].met is True


def test_slo_burn_is_matched_by_name_within_the_service() -> None:
    assert outcomes(GOOD)[("slo", "gameday-e2e")].met is True


def test_data_loss_bounds_are_checked_per_group() -> None:
    assert outcomes(GOOD)[("data loss", "billing: lost")].met is True
    lost = outcomes(GOOD, acct=account(lost=3))
    assert lost[("data loss", "billing: lost")].met is False
    assert lost[("data loss", "billing: lost")].observed == "3"
    nothing_deleted = outcomes(GOOD, acct=account(deleted=0))
    assert nothing_deleted[("data loss", "billing: deleted_by_retention")].met is False


def test_recovery_measures_lag_and_alerts_from_the_end_of_the_last_fault() -> None:
    late = lag_history([(40.0, 9.0), (45.0, 9.0)])
    out = outcomes(GOOD, lag=late)
    assert out[("recovery", "consumer lag")].met is False
    ok = outcomes(GOOD, lag=lag_history([(41.0, 3.0), (43.0, 0.5)]))
    assert ok[("recovery", "consumer lag")].reset_seconds == 3.0
    assert ok[("recovery", "billing: lag after drain")].met is True


def test_recovery_of_alerts_ignores_slow_slo_tickets_but_not_pages() -> None:
    ticket = AlertInstance.of("Burn", {"sloth_severity": "ticket"})
    page = AlertInstance.of("Burn", {"sloth_severity": "page"})
    with_ticket = outcomes(history((4.0, set()), (11.0, {LAG, ticket}), (17.0, {ticket})))
    assert with_ticket[("recovery", "alerts")].met is True
    with_page = outcomes(history((4.0, set()), (11.0, {LAG, page}), (17.0, {page})))
    assert with_page[("recovery", "alerts")].met is False


def test_an_expected_alert_the_evaluator_does_not_have_is_a_miss_said_plainly() -> None:
    slos = SLOHistory()
    out = judge(
        parse_scenario("s.yaml", SCENARIO),
        EVENTS,
        GOOD,
        slos,
        lag_history([(16.0, 0.5)]),
        [account()],
        probe_counts=None,
        end_seconds=45.0,
        known_alerts={"BrokerDown"},
    )
    by = {(o.kind, o.subject): o for o in out}
    lag = by[("alert fires", 'Lag{group="billing"}')]
    assert (lag.met, lag.observed) == (False, "not in the evaluated rules")
    assert by[("silent", "BrokerDown")].met is True


def test_silence_about_an_alert_the_evaluator_does_not_have_proves_nothing() -> None:
    out = judge(
        parse_scenario("s.yaml", SCENARIO),
        EVENTS,
        GOOD,
        SLOHistory(),
        lag_history([(16.0, 0.5)]),
        [account()],
        probe_counts=None,
        end_seconds=45.0,
        known_alerts={"Lag"},
        probe_unavailable="no probe in this build",
    )
    by = {(o.kind, o.subject): o for o in out}
    assert by[("silent", "BrokerDown")].met is None
    assert by[("silent", "BrokerDown")].status == "skipped"
