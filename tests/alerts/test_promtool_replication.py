"""promtool unit tests of the replication alerts (alerts/replication.py): each fires on its
bad case at the minute worked out below (not a minute earlier), with the labels
Alertmanager's inhibition matches on (``cluster``; the subject: topic, follower, broker,
fenced node), and stays silent on its good case. Samples are one minute apart; "t" is
the minute of an evaluation.

The series follow the catalog's reporting model: partition state and controller gauges
from the active controller (``broker`` = the reporting node), follower lag from each
partition's leader with the follower in ``replica``, ISR counters per leader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerts.build import INFRASTRUCTURE_RULES_FILE, build
from alerts.replication import REPLICATION_GROUP
from alerts.rule import AlertRule
from broker.metrics import replication_catalog as r
from contracts.alerts import (
    ACTIVE_CONTROLLER_COUNT,
    BROKER_FENCED,
    FOLLOWER_LAG_HIGH,
    ISR_FLAPPING,
    OFFLINE_PARTITIONS,
    REPLICATION_ALERTS,
    UNCLEAN_LEADER_ELECTION,
    UNDER_MIN_ISR,
    UNDER_REPLICATED_PARTITIONS,
)
from tests.alerts.support import (
    BROKER,
    Case,
    Expect,
    alert_tests,
    fired_and_silent,
    group_names,
    needs_promtool,
    run_promtool_test,
    series,
)

BUILD = build()
RULES = BUILD.files[INFRASTRUCTURE_RULES_FILE]
ALERTS: dict[tuple[str, str], AlertRule] = {
    (a.name, a.severity): a for a in BUILD.infrastructure[REPLICATION_GROUP]
}
CLUSTER = {"cluster": BROKER["cluster"]}
ORDERS = {**CLUSTER, "topic": "orders"}
# A second broker of the same cluster, scraped as its own target.
NODE_1 = {"broker": "1", "instance": "127.0.0.1:9465"}
_VALUE = "{{ $value | humanize }}"
_CONTROLLERS = (
    "{{ if eq $value 0.0 }}no active controller"
    "{{ else }}{{ $value | humanize }} active controllers{{ end }}"
)


def _partition(spec: Any, values: str, partition: str, **labels: str) -> dict[str, str]:
    return series(spec, values, topic="orders", partition=partition, **labels)


def _lag(values: str, replica: str, partition: str = "0", **labels: str) -> dict[str, str]:
    return series(
        r.REPLICA_LAG_SECONDS,
        values,
        topic="orders",
        partition=partition,
        replica=replica,
        **labels,
    )


CASES: dict[str, Case] = {
    # Partition 0 loses its leader at t3; for 1m -> page at t4, one partition.
    "offline_partitions_page_one_minute_after_a_partition_loses_its_leader": Case(
        OFFLINE_PARTITIONS,
        [
            _partition(r.PARTITION_OFFLINE, "0 0 0 1x10", "0"),
            _partition(r.PARTITION_OFFLINE, "0x13", "1"),
        ],
        {3: [], 4: [Expect("page", ORDERS, {_VALUE: "1"})]},
    ),
    # The controller moves from node 0 (gone after t3) to node 1 (from t3): both report
    # the offline partition at t3, still one partition.
    "a_controller_move_does_not_count_an_offline_partition_twice": Case(
        OFFLINE_PARTITIONS,
        [
            _partition(r.PARTITION_OFFLINE, "1x3 stale", "0"),
            _partition(r.PARTITION_OFFLINE, "_x3 1x6", "0", **NODE_1),
        ],
        {1: [Expect("page", ORDERS, {_VALUE: "1"})], 3: [Expect("page", ORDERS, {_VALUE: "1"})]},
    ),
    "partitions_with_a_leader_are_silent": Case(
        OFFLINE_PARTITIONS, [_partition(r.PARTITION_OFFLINE, "0x10", "0")], {10: []}
    ),
    # Partitions 0 and 1 fall below min.insync.replicas at t2; for 1m -> page at t3.
    "partitions_under_min_isr_page_after_a_minute": Case(
        UNDER_MIN_ISR,
        [
            _partition(r.PARTITION_UNDER_MIN_ISR, "0 0 1x10", "0"),
            _partition(r.PARTITION_UNDER_MIN_ISR, "0 0 1x10", "1"),
            _partition(r.PARTITION_OFFLINE, "0x12", "0"),
            _partition(r.PARTITION_OFFLINE, "0x12", "1"),
        ],
        {2: [], 3: [Expect("page", ORDERS, {_VALUE: "2"})]},
    ),
    # An offline partition keeps its last ISR member (below min ISR): the offline page
    # covers it, this one stays silent.
    "an_offline_partition_pages_as_offline_not_as_under_min_isr": Case(
        UNDER_MIN_ISR,
        [
            _partition(r.PARTITION_UNDER_MIN_ISR, "1x10", "0"),
            _partition(r.PARTITION_OFFLINE, "1x10", "0"),
        ],
        {2: [], 10: []},
    ),
    # Node 0, the active controller, stops being one at t2 and nobody takes over.
    "no_active_controller_pages_after_a_minute": Case(
        ACTIVE_CONTROLLER_COUNT,
        [series(r.CONTROLLER_ACTIVE, "1 1 0x10"), series(r.CONTROLLER_ACTIVE, "0x12", **NODE_1)],
        {2: [], 3: [Expect("page", CLUSTER, {_CONTROLLERS: "no active controller"})]},
    ),
    "two_active_controllers_page_after_a_minute": Case(
        ACTIVE_CONTROLLER_COUNT,
        [
            series(r.CONTROLLER_ACTIVE, "1x12"),
            series(r.CONTROLLER_ACTIVE, "0 0 1x10", **NODE_1),
        ],
        {2: [], 3: [Expect("page", CLUSTER, {_CONTROLLERS: "2 active controllers"})]},
    ),
    # A handover with one evaluation (t3) without a controller is shorter than the for.
    "a_controller_handover_is_silent": Case(
        ACTIVE_CONTROLLER_COUNT,
        [
            series(r.CONTROLLER_ACTIVE, "1 1 1 0x9"),
            series(r.CONTROLLER_ACTIVE, "0 0 0 0 1x8", **NODE_1),
        ],
        {3: [], 4: [], 12: []},
    ),
    # Every broker down: no series at all, nothing to sum (BrokerUnreachable pages).
    "a_cluster_with_every_broker_down_has_no_controller_series_and_no_page": Case(
        ACTIVE_CONTROLLER_COUNT,
        [
            series(r.CONTROLLER_ACTIVE, "1 1 stale"),
            series(r.CONTROLLER_ACTIVE, "0 0 stale", **NODE_1),
        ],
        {2: [], 3: [], 10: []},
    ),
    # One unclean election at t5 pages at once; 15 minutes later it resolves.
    "an_unclean_election_pages_at_once_and_resolves_after_the_window": Case(
        UNCLEAN_LEADER_ELECTION,
        [
            series(r.CONTROLLER_LEADER_ELECTIONS, "0x4 1x20", kind="unclean"),
            series(r.CONTROLLER_LEADER_ELECTIONS, "0+1x25", kind="clean"),
        ],
        {
            4: [],
            5: [Expect("page", CLUSTER, {_VALUE: "1"})],
            19: [Expect("page", CLUSTER, {_VALUE: "1"})],
            20: [],
        },
    ),
    # A new controller whose counter is born at its first unclean election (no sample
    # before it for increase() to compare with).
    "an_unclean_election_counted_by_a_new_series_pages_too": Case(
        UNCLEAN_LEADER_ELECTION,
        [series(r.CONTROLLER_LEADER_ELECTIONS, "_x5 1x20", kind="unclean", **NODE_1)],
        {
            4: [],
            5: [Expect("page", CLUSTER, {_VALUE: "1"})],
            19: [Expect("page", CLUSTER, {_VALUE: "1"})],
            20: [],
        },
    ),
    "clean_elections_do_not_page": Case(
        UNCLEAN_LEADER_ELECTION,
        [
            series(r.CONTROLLER_LEADER_ELECTIONS, "0+1x25", kind="clean"),
            series(r.CONTROLLER_LEADER_ELECTIONS, "0x25", kind="unclean"),
            series(r.CONTROLLER_LEADER_ELECTIONS, "_x5 3x20", kind="clean", **NODE_1),
        ],
        {5: [], 25: []},
    ),
    # Two partitions of orders lose a replica at t2; for 5m -> ticket at t7.
    "under_replicated_partitions_ticket_after_five_minutes": Case(
        UNDER_REPLICATED_PARTITIONS,
        [
            _partition(r.PARTITION_UNDER_REPLICATED, "0 0 1x10", "0"),
            _partition(r.PARTITION_UNDER_REPLICATED, "0 0 1x10", "1"),
            _partition(r.PARTITION_UNDER_REPLICATED, "0x12", "2"),
        ],
        {6: [], 7: [Expect("ticket", ORDERS, {_VALUE: "2"})]},
    ),
    # A restart: under-replicated from t2 to t6, back in sync at t7 -- silent.
    "a_broker_restart_shorter_than_five_minutes_is_silent": Case(
        UNDER_REPLICATED_PARTITIONS,
        [_partition(r.PARTITION_UNDER_REPLICATED, "0 0 1x4 0x6", "0")],
        {6: [], 7: [], 12: []},
    ),
    # Follower 1 falls behind on partition 0 (led by node 0): 20 s more per minute from
    # t3, above 30 s from t4; for 5m -> ticket at t9, when it is 140 s behind. Node 1
    # leads partition 1, where follower 2 is a little behind.
    "a_follower_falling_behind_tickets_after_five_minutes": Case(
        FOLLOWER_LAG_HIGH,
        [
            _lag("0 0 0+20x10", replica="1"),
            _lag("0x12", replica="2"),
            _lag("5x12", replica="1", partition="1", **NODE_1),
            _lag("10x12", replica="2", partition="1", **NODE_1),
        ],
        {
            8: [],
            9: [
                Expect(
                    "ticket",
                    {**CLUSTER, "replica": "1"},
                    {"{{ $value | humanizeDuration }}": "2m 20s"},
                )
            ],
        },
    ),
    "followers_a_few_seconds_behind_are_silent": Case(
        FOLLOWER_LAG_HIGH,
        [_lag("0 5 30 2 0 25 30 0x8", replica="1"), _lag("1x15", replica="2")],
        {15: []},
    ),
    # Node 0's partitions shrink and expand once a minute: 3 + 3 changes at t3 (the
    # series start at t0), shrinks within the last 5m throughout; for 5m -> t8, with 8
    # of each in the window.
    "isrs_shrinking_and_expanding_all_the_time_ticket": Case(
        ISR_FLAPPING,
        [
            series(r.BROKER_ISR_SHRINKS, "0+1x30"),
            series(r.BROKER_ISR_EXPANDS, "0+1x30"),
            series(r.BROKER_ISR_SHRINKS, "0x30", **NODE_1),
            series(r.BROKER_ISR_EXPANDS, "0x30", **NODE_1),
        ],
        {
            7: [],
            8: [Expect("ticket", {**CLUSTER, "broker": "0"}, {_VALUE: "16"})],
        },
    ),
    # One restart of a follower of 20 partitions led by node 0: 20 shrinks at t4, 20
    # expands at t6. Shrinks stay within the last 5m from t4 to t8 only: silent.
    "one_restart_is_silent_however_many_partitions_it_touches": Case(
        ISR_FLAPPING,
        [series(r.BROKER_ISR_SHRINKS, "0x3 20x26"), series(r.BROKER_ISR_EXPANDS, "0x5 20x24")],
        {8: [], 9: [], 20: []},
    ),
    # Node 2 fenced from t2; for 5m -> ticket at t7. The controller is node 0.
    "a_broker_fenced_for_five_minutes_tickets": Case(
        BROKER_FENCED,
        [
            series(r.CONTROLLER_BROKER_FENCED, "0 0 1x10", node="2"),
            series(r.CONTROLLER_BROKER_FENCED, "0x12", node="1"),
        ],
        {6: [], 7: [Expect("ticket", {**CLUSTER, "node": "2"})]},
    ),
    "a_broker_fenced_while_it_restarts_is_silent": Case(
        BROKER_FENCED,
        [series(r.CONTROLLER_BROKER_FENCED, "0 1 1 1 0x8", node="2")],
        {3: [], 12: []},
    ),
}


@needs_promtool
def test_replication_alerts_fire_when_they_should_and_not_before(tmp_path: Path) -> None:
    # One promtool run for every case (each a named test group: a failure names its case).
    tests = [
        {"name": case_id, "input_series": case.input, "alert_rule_test": alert_tests(case, ALERTS)}
        for case_id, case in sorted(CASES.items())
    ]
    run_promtool_test(tmp_path, {INFRASTRUCTURE_RULES_FILE: RULES}, tests, group_names(RULES))


def test_every_replication_alert_has_a_firing_and_a_silent_case() -> None:
    fired, silent, severities = fired_and_silent(CASES)
    assert fired == set(REPLICATION_ALERTS)
    assert silent == set(REPLICATION_ALERTS)
    assert severities == set(ALERTS)


def test_the_replication_group_is_the_catalogs_replication_alerts_with_their_severities() -> None:
    pages = {OFFLINE_PARTITIONS, UNDER_MIN_ISR, ACTIVE_CONTROLLER_COUNT, UNCLEAN_LEADER_ELECTION}
    assert [name for name, _ in ALERTS] == list(REPLICATION_ALERTS)
    assert {name for name, severity in ALERTS if severity == "page"} == pages
