"""The replication panels (issue 13): a row of the on-call dashboard, the brokers and
controller panel of the executive one and the replica detail table of the debug one.

Queries follow the reporting model of ``broker/metrics/replication_catalog.py``:

* partition state comes from the active controller: ``max by (cluster, topic,
  partition)`` keeps one series per partition and drops the reporting controller's
  ``broker`` and ``instance`` (while the controller moves, two nodes may report the same
  partition for a scrape; it still counts once);
* per-broker counts and counters (``tidewatch_broker_*``) are each broker about the
  partitions it leads: summed by ``broker``;
* follower lag is reported by each partition's leader, per follower ``replica``: the
  broker that is behind is the ``replica`` label (``broker`` is the leader);
* controller gauges are the active controller's view: ``max by (cluster)``, except
  ``active`` itself, which every node reports and which is summed (1 when healthy).

The on-call row is ordered as an engineer needs it when a broker fails: which partitions
lost a replica, whether any is below ``min.insync.replicas`` or offline, which broker is
behind and by how much, ISR churn, and whether clients noticed. Each panel's
description names the alerts that point at it and what to do first.
"""

from __future__ import annotations

from typing import Final

from broker.metrics import catalog as m
from broker.metrics import replication_catalog as r
from contracts import alerts as a
from contracts.alerts import AlertThresholds
from contracts.metrics import MetricSpec
from contracts.promql import Re, regex_union
from contracts.scrape import BROKER_JOB, UP_SERIES
from dashboards.layout import RATE, Board, Query, Style, Threshold, scoped

__all__ = [
    "BROKERS_AND_CONTROLLER",
    "CLIENT_ERRORS",
    "FOLLOWER_LAG",
    "ISR_CHANGES",
    "MISSING_REPLICAS",
    "OFFLINE",
    "REPLICATION_INTERNALS",
    "REPLICA_DETAIL",
    "ROW",
    "UNDER_MIN_ISR",
    "UNDER_REPLICATED",
    "brokers_and_controller",
    "oncall_row",
    "replica_detail",
    "replication_internals",
]

ROW: Final = "Replication"
# The on-call panels the replication alerts point at (contracts/alerts.py); keep titles.
UNDER_REPLICATED: Final = "Under-replicated partitions"
UNDER_MIN_ISR: Final = "Partitions under min ISR"
OFFLINE: Final = "Offline partitions"
FOLLOWER_LAG: Final = "Follower lag (seconds) by broker"
ISR_CHANGES: Final = "ISR shrinks and expands"
# The others.
MISSING_REPLICAS: Final = "Partitions missing replicas"
CLIENT_ERRORS: Final = "Produce and fetch errors (clients)"
BROKERS_AND_CONTROLLER: Final = "Brokers and controller"
REPLICA_DETAIL: Final = "Replica detail"
REPLICATION_BYTES: Final = "Replication bytes per broker"
REPLICATION_LATENCY: Final = "Replication latency p99"
ELECTIONS: Final = "Leader elections and failed ISR updates"
QUORUM: Final = "Metadata quorum"
REPLICATION_INTERNALS: Final = (REPLICATION_BYTES, REPLICATION_LATENCY, ELECTIONS, QUORUM)

_KEY: Final = "cluster, topic, partition"
_WORST_PARTITIONS: Final = 20
_CLIENT_APIS: Final = Re("produce|fetch")


def _state(spec: MetricSpec) -> str:
    """One series per partition: the active controller's value."""
    return f"max by ({_KEY}) ({scoped(spec)})"


def _count(spec: MetricSpec) -> str:
    """Partitions flagged (1) by ``spec``, per cluster."""
    return f"sum by (cluster) ({_state(spec)})"


def _per_broker(spec: MetricSpec) -> str:
    return f"sum by (broker) ({scoped(spec)})"


def _controller(spec: MetricSpec) -> str:
    return f"max by (cluster) ({scoped(spec)})"


def _lost_replicas(board: Board, t: AlertThresholds) -> None:
    board.timeseries(
        UNDER_REPLICATED,
        "Partitions whose ISR is smaller than their replica set (they lost a replica), "
        "from the active controller's view, and per leader broker. Any for "
        f"{t.under_replicated_for} tickets ({a.UNDER_REPLICATED_PARTITIONS}); while a "
        f"broker is down ({a.BROKER_UNREACHABLE}) that ticket is inhibited. Which "
        f"partitions: {MISSING_REPLICAS}. Bring the missing broker back, or find why "
        "its follower fell behind (Follower lag).",
        [
            Query(_count(r.PARTITION_UNDER_REPLICATED), "under-replicated {{cluster}}"),
            Query(_per_broker(r.BROKER_UNDER_REPLICATED_PARTITIONS), "led by broker {{broker}}"),
        ],
        "short",
        thresholds=[Threshold(1, "orange")],
    )
    missing = f"{_state(r.PARTITION_REPLICAS)} - {_state(r.PARTITION_IN_SYNC_REPLICAS)}"
    worst = f"topk({_WORST_PARTITIONS}, {missing})"

    def among_worst(spec: MetricSpec) -> str:
        return f"{_state(spec)} and on ({_KEY}) ({worst})"

    board.table(
        MISSING_REPLICAS,
        f"The {_WORST_PARTITIONS} partitions missing the most replicas from their ISR "
        "(0 everywhere when healthy), with the ISR size and the leader (-1: offline). "
        "kcat -L lists each partition's replicas and ISR to see which broker is missing.",
        [
            Query(worst, table=True),
            Query(among_worst(r.PARTITION_IN_SYNC_REPLICAS), table=True),
            Query(among_worst(r.PARTITION_LEADER), table=True),
        ],
        "none",
        columns=("missing replicas", "in-sync replicas", "leader"),
        sort_desc="missing replicas",
    )


def _min_isr_and_offline(board: Board, t: AlertThresholds) -> None:
    offline = f"({_state(r.PARTITION_OFFLINE)} == 1)"
    under_min_isr = f"{_state(r.PARTITION_UNDER_MIN_ISR)} unless on ({_KEY}) {offline}"
    board.timeseries(
        UNDER_MIN_ISR,
        "Partitions whose ISR is below min.insync.replicas: acks=all produce to them is "
        f"refused (NOT_ENOUGH_REPLICAS). Any for {t.under_min_isr_for} pages "
        f"({a.UNDER_MIN_ISR}; offline partitions are left to {OFFLINE}). At min ISR: one "
        "more lost replica and they join them. Restore the lost brokers first; lowering "
        "min.insync.replicas trades durability for availability.",
        [
            Query(f"sum by (cluster) ({under_min_isr})", "under min ISR {{cluster}}"),
            Query(_count(r.PARTITION_AT_MIN_ISR), "at min ISR {{cluster}}"),
        ],
        "short",
        thresholds=[Threshold(1)],
    )
    active = scoped(r.CONTROLLER_ACTIVE)
    unclean = scoped(r.CONTROLLER_LEADER_ELECTIONS, kind="unclean")
    window = t.unclean_election_window
    board.timeseries(
        OFFLINE,
        "Partitions without a leader: neither produce nor fetch is served. Any for "
        f"{t.offline_partitions_for} pages ({a.OFFLINE_PARTITIONS}). With them: active "
        f"controllers (1 when healthy; none or more for {t.active_controller_count_for} "
        f"pages, {a.ACTIVE_CONTROLLER_COUNT}), unclean leader elections per {window} (any "
        f"pages, {a.UNCLEAN_LEADER_ELECTION}: acknowledged records may be lost) and "
        f"brokers the controller fenced (for {t.broker_fenced_for} tickets, "
        f"{a.BROKER_FENCED}). Start a replica of each offline partition: its leader "
        "comes back with it.",
        [
            Query(_count(r.PARTITION_OFFLINE), "offline {{cluster}}"),
            Query(f"sum by (cluster) ({active})", "active controllers {{cluster}}"),
            Query(
                f"sum by (cluster) (increase({unclean}[{window}])) "
                f"or (0 * max by (cluster) ({active}))",
                f"unclean elections per {window} {{{{cluster}}}}",
            ),
            Query(_controller(r.CONTROLLER_FENCED_BROKERS), "fenced brokers {{cluster}}"),
        ],
        "short",
        thresholds=[Threshold(1)],
    )


def _behind(board: Board, t: AlertThresholds) -> None:
    board.timeseries(
        FOLLOWER_LAG,
        "Per follower broker, the age of the oldest record it is missing on any of its "
        "partitions (reported by each partition's leader from stored record timestamps; "
        f"0 when caught up). Above the dashed line for {t.follower_lag_for} tickets "
        f"({a.FOLLOWER_LAG_HIGH}). Check that broker's disk, network and fetch latency; "
        "records and bytes per replica: Tidewatch Debug / Replica detail.",
        [Query(f"max by (replica) ({scoped(r.REPLICA_LAG_SECONDS)})", "broker {{replica}}")],
        "s",
        thresholds=[Threshold(t.follower_lag_seconds, "orange")],
    )
    window = t.isr_flapping_window
    shrinks = f"sum by (broker) (increase({scoped(r.BROKER_ISR_SHRINKS)}[{window}]))"
    expands = f"sum by (broker) (increase({scoped(r.BROKER_ISR_EXPANDS)}[{window}]))"
    board.timeseries(
        ISR_CHANGES,
        f"ISR changes per {window} of the partitions each broker leads: shrinks (a "
        "follower fell behind or stopped) and expands (it caught up). Shrinks plus "
        "expands at or above the dashed line, with shrinks still coming, for "
        f"{t.isr_flapping_for} ticket ({a.ISR_FLAPPING}): a follower keeps dropping out "
        "and coming back (slow disk or network, or replica_lag_time_max_ms too tight for "
        "it). One broker restart shrinks and expands each of its ISRs once.",
        [
            Query(f"{shrinks} + {expands}", f"changes per {window}, broker {{{{broker}}}}"),
            Query(shrinks, f"shrinks per {window}, broker {{{{broker}}}}"),
            Query(expands, f"expands per {window}, broker {{{{broker}}}}"),
        ],
        "short",
        thresholds=[Threshold(t.isr_flapping_changes, "orange")],
    )


def _clients(board: Board) -> None:
    failing = scoped(m.REQUESTS, api=_CLIENT_APIS, error=Re(regex_union(m.SERVER_ERRORS)))
    total = f"sum by (api) (rate({scoped(m.REQUESTS, api=_CLIENT_APIS)}[{RATE}]))"
    board.timeseries(
        CLIENT_ERRORS,
        "Whether clients noticed: share of produce and fetch requests (followers' replica "
        "fetches included) answered with a server-side error, such as NOT_ENOUGH_REPLICAS "
        "(ISR below min.insync.replicas) or NOT_LEADER_OR_FOLLOWER while leadership "
        "moves. Clients retry them: a spike during a failover is expected, a plateau "
        "means producers fail. The probe panels show what a client saw end to end.",
        [
            Query(
                f"(sum by (api) (rate({failing}[{RATE}])) or (0 * {total})) / {total}",
                "{{api}}",
            )
        ],
        "percentunit",
        width=24,
    )


def oncall_row(board: Board, t: AlertThresholds) -> None:
    """The on-call dashboard's replication row."""
    board.row(ROW)
    _lost_replicas(board, t)
    _min_isr_and_offline(board, t)
    _behind(board, t)
    _clients(board)


def brokers_and_controller(board: Board) -> None:
    """The executive dashboard's broker figures: up (scraped) of registered, fenced, and
    which node is the active controller."""
    active = scoped(r.CONTROLLER_ACTIVE)
    board.stat(
        BROKERS_AND_CONTROLLER,
        "Brokers Prometheus scrapes, brokers registered with the controller and the ones "
        f"it fenced (they serve nothing; {a.BROKER_FENCED} tickets after a while), the "
        "number of active controllers (exactly 1, or "
        f"{a.ACTIVE_CONTROLLER_COUNT} pages) and which node it is.",
        [
            Query(
                f"sum by (cluster) ({scoped(UP_SERIES, job=BROKER_JOB)})",
                "brokers up {{cluster}}",
                style=Style(base_color="blue"),
            ),
            Query(
                _controller(r.CONTROLLER_REGISTERED_BROKERS),
                "registered {{cluster}}",
                style=Style(base_color="blue"),
            ),
            Query(
                _controller(r.CONTROLLER_FENCED_BROKERS),
                "fenced {{cluster}}",
                style=Style(thresholds=(Threshold(1),)),
            ),
            Query(
                f"sum by (cluster) ({active})",
                "active controllers {{cluster}}",
                style=Style(thresholds=(Threshold(1, "green"), Threshold(2)), base_color="red"),
            ),
            Query(
                f"max by (cluster, broker) ({active}) > 0",
                "controller {{cluster}}: broker {{broker}}",
                style=Style(mappings=((1, "active", "green"),)),
            ),
        ],
        "none",
        width=24,
    )


def replica_detail(board: Board) -> None:
    """The debug dashboard's per-partition (and per follower) replica table."""
    partition = [
        ("leader", r.PARTITION_LEADER),
        ("replicas", r.PARTITION_REPLICAS),
        ("ISR size", r.PARTITION_IN_SYNC_REPLICAS),
        ("leader epoch", r.PARTITION_LEADER_EPOCH),
        ("preferred leader", r.PARTITION_LEADER_IS_PREFERRED),
    ]
    follower = [
        ("lag (records)", r.REPLICA_LAG_RECORDS),
        ("lag (bytes)", r.REPLICA_LAG_BYTES),
        ("lag (seconds)", r.REPLICA_LAG_SECONDS),
    ]
    queries = [Query(_state(spec), table=True) for _, spec in partition]
    queries += [
        Query(f"max by ({_KEY}, replica) ({scoped(spec)})", table=True) for _, spec in follower
    ]
    board.table(
        REPLICA_DETAIL,
        "Per partition, from the active controller: leader (-1: offline), replicas, ISR "
        "size, leader epoch (it grows at every leader change: after "
        f"{a.UNCLEAN_LEADER_ELECTION}, the partitions whose epoch moved) and whether the "
        "leader is the preferred one (1); per follower replica (node id in replica), from "
        "its leader: what it is missing, in records, bytes and seconds (age of the oldest "
        "missing record).",
        queries,
        "none",
        width=24,
        columns=[name for name, _ in (*partition, *follower)],
    )


def _p99(spec: MetricSpec, by: str) -> str:
    bucket = scoped(spec, "_bucket")
    return f"histogram_quantile(0.99, sum by ({by}) (rate({bucket}[{RATE}])))"


def replication_internals(board: Board) -> None:
    """The debug dashboard's per-broker replication figures: why a follower is behind
    (bytes, fetch latency), elections and the metadata quorum."""
    board.timeseries(
        REPLICATION_BYTES,
        "Record-batch bytes per second each broker fetched from leaders as a follower "
        "(in) and served to followers as a leader (out).",
        [
            Query(
                f"sum by (broker) (rate({scoped(r.BROKER_REPLICATION_BYTES_IN)}[{RATE}]))",
                "in, broker {{broker}}",
            ),
            Query(
                f"sum by (broker) (rate({scoped(r.BROKER_REPLICATION_BYTES_OUT)}[{RATE}]))",
                "out, broker {{broker}}",
            ),
        ],
        "Bps",
    )
    board.timeseries(
        REPLICATION_LATENCY,
        "99th percentile of each broker's replica fetch round trips (the leader's long "
        "poll included: about replica_fetch_max_wait_ms when there is nothing new), and "
        "of partition leader elections, from the controller noticing a leader gone to "
        "the new one committed.",
        [
            Query(
                _p99(r.BROKER_FOLLOWER_FETCH_DURATION, "broker, le"),
                "follower fetch, broker {{broker}}",
            ),
            Query(
                _p99(r.CONTROLLER_LEADER_ELECTION_DURATION, "cluster, le"),
                "leader election {{cluster}}",
            ),
        ],
        "s",
    )
    elections = scoped(r.CONTROLLER_LEADER_ELECTIONS)
    failures = scoped(r.BROKER_ISR_UPDATE_FAILURES)
    board.timeseries(
        ELECTIONS,
        "Partition leader elections the controller committed per interval, clean and "
        "unclean (acknowledged records may be lost), and ISR changes a leader asked the "
        "controller for and did not get, per broker.",
        [
            Query(f"sum by (kind) (increase({elections}[{RATE}]))", "{{kind}} elections"),
            Query(
                f"sum by (broker) (increase({failures}[{RATE}]))",
                "failed ISR updates, broker {{broker}}",
            ),
        ],
        "short",
    )
    committed = scoped(r.QUORUM_COMMITTED_OFFSET)
    board.timeseries(
        QUORUM,
        "The metadata quorum as each node sees it: its term, how far its committed "
        "metadata offset is behind the furthest node's, and (from the quorum leader) "
        "the committed records each voter has not acknowledged.",
        [
            Query(f"max by (broker) ({scoped(r.QUORUM_TERM)})", "term, broker {{broker}}"),
            Query(
                f"max by (cluster) ({committed}) - on (cluster) group_right {committed}",
                "committed offset behind, broker {{broker}}",
            ),
            Query(
                f"max by (voter) ({scoped(r.QUORUM_VOTER_LAG_RECORDS)})",
                "voter {{voter}} lag (records)",
            ),
        ],
        "short",
    )
