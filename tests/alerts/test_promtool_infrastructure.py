"""promtool unit tests of every infrastructure and probe alert: each fires on its bad case
at the minute worked out below (and not a minute earlier), and stays silent on its good
case. Samples are one minute apart; "t" is the minute of an evaluation.

Expected annotations are the rule's own templates with the labels expanded and the
humanized value stated by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.build import INFRASTRUCTURE_RULES_FILE, build
from alerts.replication import REPLICATION_GROUP
from alerts.rule import AlertRule
from broker.metrics import catalog as m
from contracts.alerts import (
    AUTH_FAILURES,
    BROKER_DISK_NEARLY_FULL,
    BROKER_FLUSH_SLOW,
    BROKER_RECOVERY_TRUNCATED,
    BROKER_STORAGE_ERRORS,
    BROKER_UNREACHABLE,
    CONSUMER_LAG_BEYOND_SLA,
    CONSUMER_LAG_STATUS,
    PARTITION_HOT_SPOT,
    PROBE_DUPLICATES,
    PROBE_RECORDS_LOST,
    REQUEST_ERRORS_HIGH,
    RETENTION_HEADROOM_LOW,
)
from contracts.metrics import MetricSpec
from synthetics.catalog import PROBE_METRICS as PROBES
from tests.alerts.support import (
    BROKER,
    PROBE,
    Case,
    Expect,
    alert_tests,
    fired_and_silent,
    group_names,
    needs_promtool,
    probe_series,
    run_promtool_test,
    series,
)

BUILD = build()
RULES = BUILD.files[INFRASTRUCTURE_RULES_FILE]
# The replication group has its own cases (test_promtool_replication.py).
ALERTS: dict[tuple[str, str], AlertRule] = {
    (a.name, a.severity): a
    for name, group in BUILD.infrastructure.items()
    if name != REPLICATION_GROUP
    for a in group
}
CLUSTER = {"cluster": BROKER["cluster"]}
NODE = {"cluster": BROKER["cluster"], "broker": BROKER["broker"]}
GROUP = {"cluster": "local", "group": "billing", "topic": "orders"}
_BILLING = {"group": "billing", "topic": "orders", "partition": "0"}
PROBED = {k: PROBE[k] for k in ("cluster", "target", "broker")}


def _bucket(spec: MetricSpec, le: str, values: str, **labels: str) -> dict[str, str]:
    return series(spec, values, "_bucket", le=le, **labels)


def _up(values: str) -> dict[str, str]:
    labels = {k: v for k, v in BROKER.items() if k != "broker"}
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"up{{{inner}}}", "values": values}


_UP_LABELS = {k: v for k, v in BROKER.items() if k != "broker"}
_LAG_STATUS_IF = "{{ if eq $value 4.0 }}STOP{{ else }}STALL{{ end }}"
_REQ = {"api": "produce"}

CASES: dict[str, Case] = {
    # up is 0 from t2; for 1m -> firing at t3.
    "broker_unreachable_fires_one_minute_after_the_first_failed_scrape": Case(
        BROKER_UNREACHABLE,
        [_up("1 1 0x8")],
        {2: [], 3: [Expect("page", _UP_LABELS)]},
    ),
    "broker_unreachable_is_silent_while_scrapes_succeed": Case(
        BROKER_UNREACHABLE, [_up("1x10")], {10: []}
    ),
    # 3 storage errors at t6: increase over 5m > 0 from t6; for 1m -> t7, value 3.
    "storage_errors_page_one_minute_after_the_disk_refuses_a_write": Case(
        BROKER_STORAGE_ERRORS,
        [series(m.STORAGE_ERRORS, "0x5 3x10")],
        {6: [], 7: [Expect("page", NODE, {"{{ $value | humanize }}": "3"})]},
    ),
    "storage_errors_are_silent_while_the_counter_stays_at_zero": Case(
        BROKER_STORAGE_ERRORS, [series(m.STORAGE_ERRORS, "0x20")], {20: []}
    ),
    # Every flush takes 0.5-1 s: p99 = 0.5 + 0.5 * 0.99 = 0.995 s from t1; for 15m -> t16.
    "slow_flushes_ticket_after_fifteen_minutes_above_half_a_second": Case(
        BROKER_FLUSH_SLOW,
        [
            _bucket(m.FLUSH_DURATION, "0.5", "0x20"),
            _bucket(m.FLUSH_DURATION, "1.0", "0+10x20"),
            _bucket(m.FLUSH_DURATION, "+Inf", "0+10x20"),
        ],
        {15: [], 16: [Expect("ticket", NODE, {"{{ $value | humanizeDuration }}": "995ms"})]},
    ),
    "fast_flushes_are_silent": Case(
        BROKER_FLUSH_SLOW,
        [
            _bucket(m.FLUSH_DURATION, "0.005", "0+10x20"),
            _bucket(m.FLUSH_DURATION, "1.0", "0+10x20"),
            _bucket(m.FLUSH_DURATION, "+Inf", "0+10x20"),
        ],
        {20: []},
    ),
    # 4096 bytes truncated at the restart at t31: ticket then; 30 minutes later the value
    # is no longer new and the alert resolves.
    "recovery_truncation_tickets_after_a_restart_and_resolves_after_thirty_minutes": Case(
        BROKER_RECOVERY_TRUNCATED,
        [series(m.RECOVERY_TRUNCATED_BYTES, "0x30 4096x40")],
        {
            30: [],
            31: [
                Expect(
                    "ticket",
                    {**BROKER},
                    {"{{ $value | humanize1024 }}": "4ki"},
                )
            ],
            60: [Expect("ticket", {**BROKER}, {"{{ $value | humanize1024 }}": "4ki"})],
            61: [],
        },
    ),
    "clean_restarts_do_not_ticket": Case(
        BROKER_RECOVERY_TRUNCATED,
        [series(m.RECOVERY_TRUNCATED_BYTES, "0x70")],
        {31: [], 70: []},
    ),
    # 10% of the disk free from t3: below 15% for 10m -> ticket at t13; never below 5%.
    "a_disk_below_fifteen_percent_free_tickets_after_ten_minutes": Case(
        BROKER_DISK_NEARLY_FULL,
        [
            series(m.DATA_DIR_SIZE_BYTES, "1000x30"),
            series(m.DATA_DIR_FREE_BYTES, "500 500 500 100x27"),
        ],
        {12: [], 13: [Expect("ticket", NODE, {"{{ $value | humanizePercentage }}": "10%"})]},
    ),
    # 3% free from t3: below 5% for 5m -> page at t8; the ticket joins at t13 (the page
    # silences it in Alertmanager).
    "a_disk_below_five_percent_free_pages_after_five_minutes": Case(
        BROKER_DISK_NEARLY_FULL,
        [
            series(m.DATA_DIR_SIZE_BYTES, "1000x30"),
            series(m.DATA_DIR_FREE_BYTES, "500 500 500 30x27"),
        ],
        {
            7: [],
            8: [Expect("page", NODE, {"{{ $value | humanizePercentage }}": "3%"})],
            12: [Expect("page", NODE, {"{{ $value | humanizePercentage }}": "3%"})],
            13: [
                Expect("page", NODE, {"{{ $value | humanizePercentage }}": "3%"}),
                Expect("ticket", NODE, {"{{ $value | humanizePercentage }}": "3%"}),
            ],
        },
    ),
    # 20% free, with a dip to 3% from t11 to t14 (4 minutes, shorter than the page's 5m):
    # silent throughout.
    "a_disk_with_room_or_a_short_dip_is_silent": Case(
        BROKER_DISK_NEARLY_FULL,
        [
            series(m.DATA_DIR_SIZE_BYTES, "1000x30"),
            series(m.DATA_DIR_FREE_BYTES, "200x10 30x3 200x16"),
        ],
        {14: [], 15: [], 16: [], 30: []},
    ),
    # Lag grows 60 s per minute on partition 0: above 300 s from t6 (360); for 5m -> t11,
    # when it is 660 s.
    "lag_beyond_the_sla_pages_after_five_minutes": Case(
        CONSUMER_LAG_BEYOND_SLA,
        [
            series(m.GROUP_LAG_SECONDS, "0+60x20", group="billing", topic="orders", partition="0"),
            series(m.GROUP_LAG_SECONDS, "0x20", group="billing", topic="orders", partition="1"),
        ],
        {10: [], 11: [Expect("page", GROUP, {"{{ $value | humanizeDuration }}": "11m 0s"})]},
    ),
    "lag_within_the_sla_is_silent": Case(
        CONSUMER_LAG_BEYOND_SLA,
        [series(m.GROUP_LAG_SECONDS, "0+10x30", group="billing", topic="orders", partition="0")],
        {30: []},
    ),
    # STOP (4) from t3; for 10m -> t13.
    "a_stopped_consumer_tickets_after_ten_minutes": Case(
        CONSUMER_LAG_STATUS,
        [
            series(
                m.GROUP_PARTITION_STATUS,
                "0 0 0 4x20",
                group="billing",
                topic="orders",
                partition="0",
            ),
            series(
                m.GROUP_PARTITION_STATUS, "0x23", group="billing", topic="orders", partition="1"
            ),
        ],
        {12: [], 13: [Expect("ticket", GROUP, {_LAG_STATUS_IF: "STOP"})]},
    ),
    "a_stalled_consumer_tickets_as_stall": Case(
        CONSUMER_LAG_STATUS,
        [series(m.GROUP_PARTITION_STATUS, "3x20", group="billing", topic="orders", partition="0")],
        {9: [], 10: [Expect("ticket", GROUP, {_LAG_STATUS_IF: "STALL"})]},
    ),
    "warn_and_rewind_do_not_ticket": Case(
        CONSUMER_LAG_STATUS,
        [
            series(
                m.GROUP_PARTITION_STATUS,
                "1 2 1 2 1 2 1 2 1 2 1 2 1 2 1 2",
                group="billing",
                topic="orders",
                partition="0",
            )
        ],
        {15: []},
    ),
    # A stopped group (lag 10 h + 1 min per minute, beyond the 5 min lag SLA throughout)
    # with headroom 7200 - 60 t: below 6 h from t0 (ticket at t5), below 1 h from t61 (page
    # at t66, when 3240 s = 54 min remain; the page and the ticket both fire, Alertmanager
    # inhibits the ticket).
    "retention_headroom_tickets_below_six_hours_and_pages_below_one_hour": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(
                m.GROUP_RETENTION_HEADROOM,
                "7200-60x100",
                group="billing",
                topic="orders",
                partition="0",
            ),
            series(m.GROUP_LAG_SECONDS, "36000+60x100", **_BILLING),
        ],
        {
            4: [],
            5: [Expect("ticket", GROUP, {"{{ $value | humanizeDuration }}": "1h 55m 0s"})],
            65: [Expect("ticket", GROUP, {"{{ $value | humanizeDuration }}": "55m 0s"})],
            66: [
                Expect("page", GROUP, {"{{ $value | humanizeDuration }}": "54m 0s"}),
                Expect("ticket", GROUP, {"{{ $value | humanizeDuration }}": "54m 0s"}),
            ],
        },
    ),
    "ample_retention_headroom_is_silent_even_for_a_group_beyond_its_sla": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(m.GROUP_RETENTION_HEADROOM, "86400x30", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "3600x30", **_BILLING),
        ],
        {30: []},
    ),
    # The probe's own group on its 1 h-retention topic: a second or two behind between
    # commits, so its headroom is always just under 1 h. It is consuming: silent.
    "a_group_within_the_lag_sla_on_a_short_retention_topic_is_silent": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(m.GROUP_RETENTION_HEADROOM, "3599x30", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "2x30", **_BILLING),
        ],
        {5: [], 30: []},
    ),
    # The same group stops: its lag passes the SLA at t5 (360 s) while its headroom drops
    # below 1 h; for 5m -> page and ticket at t10.
    "a_group_on_a_short_retention_topic_pages_once_it_falls_beyond_the_lag_sla": Case(
        RETENTION_HEADROOM_LOW,
        [
            series(m.GROUP_RETENTION_HEADROOM, "3599-60x30", **_BILLING),
            series(m.GROUP_LAG_SECONDS, "60+60x30", **_BILLING),
        ],
        {
            9: [],
            10: [
                Expect("page", GROUP, {"{{ $value | humanizeDuration }}": "49m 59s"}),
                Expect("ticket", GROUP, {"{{ $value | humanizeDuration }}": "49m 59s"}),
            ],
        },
    ),
    # Partition 0 gets 20000 B/s, partitions 1 and 2 get 1000 B/s: skew 20000 / 7333 =
    # 2.727. rate() divides by the whole 10m range, so while the series is younger than
    # that the topic's rate is 22000 B/s x t/10: above the 10240 B/s floor from t5
    # (11000); for 30m -> t35.
    "a_hot_partition_tickets_after_thirty_minutes": Case(
        PARTITION_HOT_SPOT,
        [
            series(m.PARTITION_BYTES_APPENDED, "0+1200000x40", topic="orders", partition="0"),
            series(m.PARTITION_BYTES_APPENDED, "0+60000x40", topic="orders", partition="1"),
            series(m.PARTITION_BYTES_APPENDED, "0+60000x40", topic="orders", partition="2"),
        ],
        {
            34: [],
            35: [
                Expect(
                    "ticket",
                    {"cluster": "local", "topic": "orders"},
                    {"{{ $value | humanize }}": "2.727"},
                )
            ],
        },
    ),
    "evenly_spread_traffic_is_silent": Case(
        PARTITION_HOT_SPOT,
        [
            series(m.PARTITION_BYTES_APPENDED, "0+600000x40", topic="orders", partition=str(p))
            for p in range(3)
        ],
        {40: []},
    ),
    "a_skewed_topic_below_the_traffic_floor_is_silent": Case(
        PARTITION_HOT_SPOT,
        [
            series(m.PARTITION_BYTES_APPENDED, "0+60000x40", topic="orders", partition="0"),
            series(m.PARTITION_BYTES_APPENDED, "0+600x40", topic="orders", partition="1"),
            series(m.PARTITION_BYTES_APPENDED, "0+600x40", topic="orders", partition="2"),
        ],
        {40: []},
    ),
    # 10 storage errors per 100 successes per minute: 9.09% of produce requests from t1,
    # but the 5m error rate (10 t / 300 s while the series is young) passes the 0.1/s
    # floor only at t4 (0.133); for 10m -> t14.
    "unexpected_request_errors_ticket_after_ten_minutes": Case(
        REQUEST_ERRORS_HIGH,
        [
            series(m.REQUESTS, "0+100x20", api="produce", error="none"),
            series(m.REQUESTS, "0+10x20", api="produce", error="kafka_storage_error"),
        ],
        {
            13: [],
            14: [
                Expect(
                    "ticket",
                    {**CLUSTER, **_REQ},
                    {"{{ $value | humanizePercentage }}": "9.091%"},
                )
            ],
        },
    ),
    "rebalance_errors_are_expected_and_silent": Case(
        REQUEST_ERRORS_HIGH,
        [
            series(m.REQUESTS, "0+100x20", api="join_group", error="none"),
            series(m.REQUESTS, "0+50x20", api="join_group", error="rebalance_in_progress"),
        ],
        {20: []},
    ),
    "a_trickle_of_errors_below_the_rate_floor_is_silent": Case(
        REQUEST_ERRORS_HIGH,
        [
            series(m.REQUESTS, "0+1x20", api="produce", error="none"),
            series(m.REQUESTS, "0+1x20", api="produce", error="unknown_server_error"),
        ],
        {20: []},
    ),
    # 2 denials per minute: the 10-minute increase reaches 10 at t5; for 5m -> t10, when
    # it is 20.
    "authorization_failures_ticket_when_they_persist": Case(
        AUTH_FAILURES,
        [series(m.REQUESTS, "0+2x30", api="produce", error="topic_authorization_failed")],
        {
            9: [],
            10: [
                Expect(
                    "ticket",
                    {**CLUSTER, **_REQ, "error": "topic_authorization_failed"},
                    {"{{ $value | humanize }}": "20"},
                )
            ],
        },
    ),
    "a_few_denials_are_silent": Case(
        AUTH_FAILURES,
        [series(m.REQUESTS, "0 1 2x20", api="produce", error="topic_authorization_failed")],
        {20: []},
    ),
    # Probe alerts: one lost record at t5 pages at once.
    "a_lost_probe_record_pages_immediately": Case(
        PROBE_RECORDS_LOST,
        [
            probe_series(PROBES.lost, "0x4 1x10", partition="0"),
            probe_series(PROBES.lost, "0x14", partition="1"),
        ],
        {
            4: [],
            5: [Expect("page", {**PROBED, "partition": "0"}, {"{{ $value | humanize }}": "1"})],
        },
    ),
    # A standalone probe is scraped as its own job: the alert does not care.
    "a_lost_record_of_a_standalone_probe_pages_the_same": Case(
        PROBE_RECORDS_LOST,
        [
            probe_series(
                PROBES.lost,
                "0x4 1x10",
                partition="0",
                job="tidewatch-probe",
                instance="127.0.0.1:9465",
            )
        ],
        {
            4: [],
            5: [Expect("page", {**PROBED, "partition": "0"}, {"{{ $value | humanize }}": "1"})],
        },
    ),
    "no_lost_probe_records_is_silent": Case(
        PROBE_RECORDS_LOST, [probe_series(PROBES.lost, "0x14", partition="0")], {14: []}
    ),
    "duplicate_probe_records_ticket": Case(
        PROBE_DUPLICATES,
        [probe_series(PROBES.duplicated, "0x4 2x10", partition="1")],
        {
            4: [],
            5: [Expect("ticket", {**PROBED, "partition": "1"}, {"{{ $value | humanize }}": "2"})],
        },
    ),
    "no_duplicate_probe_records_is_silent": Case(
        PROBE_DUPLICATES,
        [probe_series(PROBES.duplicated, "0x14", partition="1")],
        {14: []},
    ),
}


@needs_promtool
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_alert_fires_when_it_should_and_not_before(tmp_path: Path, case_id: str) -> None:
    case = CASES[case_id]
    horizon = max(case.checks)
    test = {"input_series": case.input, "alert_rule_test": alert_tests(case, ALERTS)}
    assert horizon > 0
    run_promtool_test(tmp_path, {INFRASTRUCTURE_RULES_FILE: RULES}, [test], group_names(RULES))


def test_every_infrastructure_and_probe_alert_has_a_firing_and_a_silent_case() -> None:
    fired, silent, severities_fired = fired_and_silent(CASES)
    names = {name for name, _ in ALERTS}
    assert fired == names
    assert silent == names
    assert severities_fired == set(ALERTS)
