"""The consumer-group metrics both the broker and the external lag monitor export.

Same names, types and labels from both, so a dashboard or an alert written for one works
on the other. Every series leads with ``cluster`` and ``broker``: on the broker they are
its ``cluster`` setting and node id; on the lag monitor the watched cluster's name and
the node id of the group's coordinator (see ``synthetics/lagmon/collector.py``).

Cardinality: groups x committed partitions for the per-partition series; the status and
state series have one series per group and value of :data:`GROUP_STATUS_VALUES` /
:data:`GROUP_STATE_VALUES`.
"""

from __future__ import annotations

from typing import Final

from contracts.lag.status import LagStatus
from contracts.metrics import MetricSpec, MetricType

__all__ = [
    "GROUP_COMMITTED_OFFSET",
    "GROUP_LAG_RECORDS",
    "GROUP_LAG_SECONDS",
    "GROUP_MEMBERS",
    "GROUP_PARTITION_STATUS",
    "GROUP_RETENTION_HEADROOM",
    "GROUP_STATE",
    "GROUP_STATE_VALUES",
    "GROUP_STATUS",
    "GROUP_STATUS_VALUES",
    "LAG_LABELS",
    "LAG_METRICS",
]

# The leading labels of every consumer-group series (the broker's common labels).
LAG_LABELS: Final = ("cluster", "broker")
# The values of GROUP_STATUS's ``status`` label and GROUP_STATE's ``state`` label.
GROUP_STATUS_VALUES: Final = tuple(status.name for status in LagStatus)
GROUP_STATE_VALUES: Final = ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead")

_G: Final = ("group", "topic", "partition")


def _gauge(name: str, unit: str, help: str, labels: tuple[str, ...]) -> MetricSpec:
    return MetricSpec(name, MetricType.GAUGE, unit, help, labels, common=LAG_LABELS)


GROUP_COMMITTED_OFFSET: Final = _gauge(
    "tidewatch_group_committed_offset",
    "offset",
    "Offset the group committed for the partition (the next record it will read).",
    _G,
)
GROUP_LAG_RECORDS: Final = _gauge(
    "tidewatch_group_lag_records",
    "records",
    "High watermark minus committed offset; never negative.",
    _G,
)
GROUP_LAG_SECONDS: Final = _gauge(
    "tidewatch_group_lag_seconds",
    "seconds",
    "Age of the first unconsumed record, from its stored timestamp (0 when caught up).",
    _G,
)
GROUP_RETENTION_HEADROOM: Final = _gauge(
    "tidewatch_group_retention_headroom_seconds",
    "seconds",
    "Time until retention.ms deletes the first unconsumed record's segment; absent when "
    "caught up or when the topic keeps data forever.",
    _G,
)
GROUP_PARTITION_STATUS: Final = _gauge(
    "tidewatch_group_partition_status_code",
    "status",
    "Burrow-style status of the partition: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP.",
    _G,
)
GROUP_STATUS: Final = _gauge(
    "tidewatch_group_status",
    "status",
    "1 for the group's worst partition status (OK, WARN, REWIND, STALL, STOP), 0 for the others.",
    ("group", "status"),
)
GROUP_STATE: Final = _gauge(
    "tidewatch_group_state",
    "state",
    "1 for the group's protocol state (Empty, PreparingRebalance, CompletingRebalance, "
    "Stable, Dead), 0 for the others.",
    ("group", "state"),
)
GROUP_MEMBERS: Final = _gauge(
    "tidewatch_group_members", "members", "Members of the group.", ("group",)
)

# What both export, in the order the lag monitor's catalog has always listed them.
LAG_METRICS: Final[tuple[MetricSpec, ...]] = (
    GROUP_COMMITTED_OFFSET,
    GROUP_LAG_RECORDS,
    GROUP_LAG_SECONDS,
    GROUP_RETENTION_HEADROOM,
    GROUP_PARTITION_STATUS,
    GROUP_STATUS,
    GROUP_STATE,
    GROUP_MEMBERS,
)
