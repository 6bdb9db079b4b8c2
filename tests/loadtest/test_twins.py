"""The in-process evaluator's Python twins agree with the alert pack's real rules.

Each case is a set of input series, one sample a minute. The same samples go to the
twins (:class:`loadtest.gameday.twins.AlertTwins`, one poll a minute) and, through
``promtool test rules``, to the generated infrastructure rule file. At every minute the
alerts firing must be the same: same name, severity and the labels the twin reports
(Prometheus adds the scrape's target labels and ``service``; the twin does not know
them). The expected side of each promtool check is the twin's own answer, so promtool
fails the test wherever the two differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alerts.build import INFRASTRUCTURE_RULES_FILE, build
from broker.metrics import catalog as m
from broker.metrics import replication_catalog as r
from contracts.alerts import (
    ACTIVE_CONTROLLER_COUNT,
    BROKER_FENCED,
    BROKER_STORAGE_ERRORS,
    BROKER_UNREACHABLE,
    CONSUMER_LAG_BEYOND_SLA,
    CONSUMER_LAG_STATUS,
    FOLLOWER_LAG_HIGH,
    OFFLINE_PARTITIONS,
    PARTITION_HOT_SPOT,
    RETENTION_HEADROOM_LOW,
    UNDER_MIN_ISR,
    UNDER_REPLICATED_PARTITIONS,
    AlertThresholds,
)
from contracts.scrape import BROKER_JOB, UP
from loadtest.gameday.observations import AlertInstance
from loadtest.gameday.twins import AlertTwins, extrapolated_increase
from slo.sources.samples import Sample
from slo.spec.selector import parse_selector
from tests.alerts.support import BROKER, group_names, needs_promtool, run_promtool_test, series

RULES = build().files[INFRASTRUCTURE_RULES_FILE]
# The labels each twin reports (its rule's ``by`` labels; ``job`` for the unreachable one).
TWIN_LABELS: dict[str, tuple[str, ...]] = {
    BROKER_UNREACHABLE: ("job",),
    BROKER_STORAGE_ERRORS: ("cluster", "broker"),
    CONSUMER_LAG_BEYOND_SLA: ("cluster", "group", "topic"),
    CONSUMER_LAG_STATUS: ("cluster", "group", "topic"),
    RETENTION_HEADROOM_LOW: ("cluster", "group", "topic"),
    PARTITION_HOT_SPOT: ("cluster", "topic"),
    OFFLINE_PARTITIONS: ("cluster", "topic"),
    UNDER_MIN_ISR: ("cluster", "topic"),
    UNDER_REPLICATED_PARTITIONS: ("cluster", "topic"),
    ACTIVE_CONTROLLER_COUNT: ("cluster",),
    FOLLOWER_LAG_HIGH: ("cluster", "replica"),
    BROKER_FENCED: ("cluster", "node"),
}
# A second broker of the cluster, scraped as its own target.
_NODE_1 = {"broker": "1", "instance": "127.0.0.1:9465"}
_BILLING = {"group": "billing", "topic": "orders", "partition": "0"}
_AUDIT = {"group": "audit", "topic": "orders", "partition": "0"}


def _up(values: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in BROKER.items() if k != "broker")
    return {"series": f"{UP}{{{inner}}}", "values": values}


def _partition(spec: Any, values: str, partition: str, **labels: str) -> dict[str, str]:
    return series(spec, values, topic="orders", partition=partition, **labels)


def _lag(values: str, replica: str, partition: str, **labels: str) -> dict[str, str]:
    return series(
        r.REPLICA_LAG_SECONDS,
        values,
        topic="orders",
        partition=partition,
        replica=replica,
        **labels,
    )


@dataclass(frozen=True)
class Case:
    alert: str
    input: list[dict[str, str]]
    minutes: int


CASES: dict[str, Case] = {
    "an_unreachable_broker": Case(BROKER_UNREACHABLE, [_up("1 1 0x8")], 10),
    "a_broker_down_for_less_than_a_minute_then_for_longer": Case(
        BROKER_UNREACHABLE, [_up("1 0 1 1 0 0 0 1x3")], 10
    ),
    "storage_errors": Case(BROKER_STORAGE_ERRORS, [series(m.STORAGE_ERRORS, "0x5 3x12")], 17),
    "storage_errors_across_a_broker_restart": Case(
        BROKER_STORAGE_ERRORS, [series(m.STORAGE_ERRORS, "0x3 2x2 0x12")], 17
    ),
    "no_storage_errors": Case(BROKER_STORAGE_ERRORS, [series(m.STORAGE_ERRORS, "0x15")], 15),
    "lag_growing_beyond_the_sla_for_one_group_of_two": Case(
        CONSUMER_LAG_BEYOND_SLA,
        [
            series(m.GROUP_LAG_SECONDS, "0+60x20", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "0x20", **{**_BILLING, "partition": "1"}),
            series(m.GROUP_LAG_SECONDS, "0+10x20", **_AUDIT),
        ],
        20,
    ),
    "lag_going_back_and_forth_across_the_sla": Case(
        CONSUMER_LAG_BEYOND_SLA,
        [series(m.GROUP_LAG_SECONDS, "200 400x3 200 400x10 100x3", **_BILLING)],
        18,
    ),
    "a_stopped_then_a_stalled_consumer": Case(
        CONSUMER_LAG_STATUS,
        [
            series(m.GROUP_PARTITION_STATUS, "0 0 0 4x14 0x5", **_BILLING),
            series(m.GROUP_PARTITION_STATUS, "3x22", **_AUDIT),
        ],
        22,
    ),
    "warn_and_rewind": Case(
        CONSUMER_LAG_STATUS,
        [series(m.GROUP_PARTITION_STATUS, "1 2 1 2 1 2 1 2 1 2 1 2 1 2 1 2", **_BILLING)],
        15,
    ),
    "retention_headroom_shrinking_for_a_stopped_group": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(m.GROUP_RETENTION_HEADROOM, "7200-60x70", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "36000+60x70", **_BILLING),
        ],
        70,
    ),
    "short_retention_for_a_group_within_the_lag_sla": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(m.GROUP_RETENTION_HEADROOM, "3599x20", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "2x20", **_BILLING),
        ],
        20,
    ),
    "short_retention_for_a_group_falling_beyond_the_lag_sla": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(m.GROUP_RETENTION_HEADROOM, "3599-60x30", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "60+60x30", **_BILLING),
        ],
        30,
    ),
    "a_hot_partition_from_the_start_of_its_series": Case(
        PARTITION_HOT_SPOT,
        [
            series(m.PARTITION_BYTES_APPENDED, "0+1200000x40", topic="orders", partition="0"),
            series(m.PARTITION_BYTES_APPENDED, "0+60000x40", topic="orders", partition="1"),
            series(m.PARTITION_BYTES_APPENDED, "0+60000x40", topic="orders", partition="2"),
        ],
        40,
    ),
    "evenly_spread_traffic_and_a_skewed_topic_below_the_floor": Case(
        PARTITION_HOT_SPOT,
        [
            series(m.PARTITION_BYTES_APPENDED, "0+600000x40", topic="orders", partition="0"),
            series(m.PARTITION_BYTES_APPENDED, "0+600000x40", topic="orders", partition="1"),
            series(m.PARTITION_BYTES_APPENDED, "0+60000x40", topic="audit", partition="0"),
            series(m.PARTITION_BYTES_APPENDED, "0+1000x40", topic="audit", partition="1"),
        ],
        40,
    ),
    # Replication (three brokers; partition state and controller gauges from the active
    # controller, which moves from node 0 to node 1 where a series ends with ``stale``).
    "an_offline_partition_reported_by_a_moving_controller": Case(
        OFFLINE_PARTITIONS,
        [
            _partition(r.PARTITION_OFFLINE, "0 0 1 1 stale _x10", "0"),
            _partition(r.PARTITION_OFFLINE, "_x3 1x6 0x5", "0", **_NODE_1),
            _partition(r.PARTITION_OFFLINE, "_x3 0x11", "1", **_NODE_1),
        ],
        14,
    ),
    "partitions_below_min_isr_then_offline": Case(
        UNDER_MIN_ISR,
        [
            _partition(r.PARTITION_UNDER_MIN_ISR, "0 0 1x12", "0"),
            _partition(r.PARTITION_OFFLINE, "0x6 1x7", "0"),
            _partition(r.PARTITION_UNDER_MIN_ISR, "0x4 1x9", "1"),
            _partition(r.PARTITION_OFFLINE, "0x14", "1"),
        ],
        14,
    ),
    "no_active_controller_then_two": Case(
        ACTIVE_CONTROLLER_COUNT,
        [
            series(r.CONTROLLER_ACTIVE, "1 1 0x5 1x7"),
            series(r.CONTROLLER_ACTIVE, "0x8 1x5", **_NODE_1),
        ],
        14,
    ),
    "every_broker_down_leaves_no_controller_series": Case(
        ACTIVE_CONTROLLER_COUNT,
        [
            series(r.CONTROLLER_ACTIVE, "1 1 stale _x10"),
            series(r.CONTROLLER_ACTIVE, "0 0 stale _x10", **_NODE_1),
        ],
        12,
    ),
    "under_replicated_for_a_restart_then_for_longer": Case(
        UNDER_REPLICATED_PARTITIONS,
        [
            _partition(r.PARTITION_UNDER_REPLICATED, "0 1x3 0x3 1x11", "0"),
            _partition(r.PARTITION_UNDER_REPLICATED, "0x18", "1"),
        ],
        18,
    ),
    "a_follower_behind_on_partitions_of_two_leaders": Case(
        FOLLOWER_LAG_HIGH,
        [
            _lag("0+10x20", replica="1", partition="0"),
            _lag("40x2 0x18", replica="1", partition="1", **_NODE_1),
            _lag("0x20", replica="2", partition="0"),
        ],
        20,
    ),
    "a_broker_fenced_for_a_restart_then_for_good": Case(
        BROKER_FENCED,
        [
            series(r.CONTROLLER_BROKER_FENCED, "0 1 1 0x3 1x14", node="2"),
            series(r.CONTROLLER_BROKER_FENCED, "0x20", node="1"),
        ],
        20,
    ),
}

_TOKEN = re.compile(r"^(-?[0-9.e]+)(?:([+-])([0-9.e]+))?(?:x([0-9]+))?$")


_ABSENT = re.compile(r"^(?:_|_x([0-9]+)|stale)$")


def expand(values: str) -> list[float | None]:
    """promtool's series notation: ``a`` one sample, ``axn`` n+1 samples of a,
    ``a+bxn`` / ``a-bxn`` n+1 samples from a in steps of b; ``stale`` ends the series and
    ``_`` (``_xn``: n of them) is no sample (``None``), only used before a series starts
    or after it ended: in between, Prometheus would still see the last value."""
    out: list[float | None] = []
    for token in values.split():
        absent = _ABSENT.match(token)
        if absent is not None:
            out.extend([None] * int(absent.group(1) or 1))
            continue
        match = _TOKEN.match(token)
        assert match is not None, f"unsupported series notation {token!r}"
        start, sign, step, times = match.groups()
        delta = float(step or 0) * (-1 if sign == "-" else 1)
        out.extend(float(start) + delta * i for i in range(int(times or 0) + 1))
    return out


def _twin_answers(case: Case) -> list[set[AlertInstance]]:
    """What the twins say at minutes 0 .. case.minutes, fed one poll a minute."""
    twins = AlertTwins(AlertThresholds(), time_scale=1.0)
    parsed = []
    for item in case.input:
        selector = parse_selector(item["series"])
        labels = {mt.label: mt.value for mt in selector.matchers}
        values = expand(item["values"])
        assert len(values) > case.minutes, f"{item['series']} ends before minute {case.minutes}"
        parsed.append((selector.metric, labels, values))
    answers = []
    for minute in range(case.minutes + 1):
        samples = [
            Sample(name, labels, value)
            for name, labels, v in parsed
            if name != UP and (value := v[minute]) is not None
        ]
        up = [v[minute] for name, _, v in parsed if name == UP]
        firing = twins.evaluate(60.0 * minute, samples, broker_up=not up or up[0] == 1)
        answers.append({i for i in firing if i.name == case.alert})
    return answers


def _expected(instances: set[AlertInstance]) -> list[dict[str, Any]]:
    out = []
    for instance in sorted(instances, key=lambda i: i.describe()):
        labels = {"alertname": instance.name, **dict(instance.labels)}
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        out.append({"labels": f"{{{inner}}}", "value": 1})
    return out


def _promql_checks(case: Case, answers: Sequence[set[AlertInstance]]) -> list[dict[str, Any]]:
    by = ", ".join(("alertname", "severity", *TWIN_LABELS[case.alert]))
    expr = f'count by ({by}) (ALERTS{{alertstate="firing", alertname="{case.alert}"}})'
    return [
        {"expr": expr, "eval_time": f"{minute}m", "exp_samples": _expected(firing)}
        for minute, firing in enumerate(answers)
    ]


@needs_promtool
def test_every_twin_fires_when_and_as_the_packs_rule_does(tmp_path: Path) -> None:
    # One promtool run for every case (each a named test group: a failure names its case).
    tests = [
        {
            "name": name,
            "input_series": case.input,
            "promql_expr_test": _promql_checks(case, _twin_answers(case)),
        }
        for name, case in sorted(CASES.items())
    ]
    run_promtool_test(tmp_path, {INFRASTRUCTURE_RULES_FILE: RULES}, tests, group_names(RULES))


def test_every_case_makes_its_twin_fire_or_proves_silence_and_every_twin_is_covered() -> None:
    fired = {case.alert for case in CASES.values() if any(_twin_answers(case))}
    assert fired == set(TWIN_LABELS)
    assert AlertTwins(AlertThresholds(), 1.0).names == set(TWIN_LABELS)


def test_a_twin_reports_the_labels_its_rule_aggregates_by() -> None:
    assert _twin_answers(CASES["an_unreachable_broker"])[-1] == {
        AlertInstance.of(BROKER_UNREACHABLE, {"job": BROKER_JOB, "severity": "page"})
    }


@pytest.mark.parametrize(
    ("points", "start", "end", "expected"),
    [
        pytest.param([(0.0, 0.0), (60.0, 6.0)], 0.0, 60.0, 6.0, id="a_range_covered_end_to_end"),
        pytest.param(
            [(60.0, 10.0), (120.0, 16.0)], 0.0, 120.0, 12.0, id="extrapolated_to_a_start_in_reach"
        ),
        pytest.param(
            [(300.0, 0.0), (360.0, 6.0)], 0.0, 360.0, 6.0, id="never_below_a_counter_at_zero"
        ),
        pytest.param(
            [(0.0, 5.0), (60.0, 2.0), (120.0, 4.0)],
            0.0,
            120.0,
            4.0,
            id="a_reset_adds_the_value_before_it",
        ),
    ],
)
def test_increase_is_prometheus_extrapolated_increase(
    points: list[tuple[float, float]], start: float, end: float, expected: float
) -> None:
    assert extrapolated_increase(points, start, end) == pytest.approx(expected)
