"""Exposition of the lag monitor's snapshot under the broker's own metric names.

Names, types, help and label names come from ``contracts/lag/metrics.py``, the specs the
broker exports too, so a dashboard or alert written for the broker works on the monitor
unchanged. The common labels, constant on a broker, vary per series here:

- ``cluster``: the cluster's ``name`` in the lag config (set it to the broker's
  ``cluster`` setting when the monitor watches a Tidewatch broker);
- ``broker``: the node id of the group's coordinator, the broker that stores the
  group's offsets: the same broker that reports the group in a Tidewatch cluster, and a
  single, stable series per group and partition elsewhere (it changes only when the
  coordinator moves).

The snapshot is the monitor's last poll; scraping never talks to the cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from contracts.families import FamilyBuilder
from contracts.lag import metrics as lm
from contracts.metrics import MetricSpec
from synthetics.lagmon.tracker import GroupLag, PartitionLag

__all__ = ["LagCollector"]


class LagCollector(Collector):
    def __init__(self, snapshots: Callable[[], Sequence[tuple[str, Sequence[GroupLag]]]]) -> None:
        """``snapshots`` returns (cluster name, groups) for every watched cluster."""
        self._snapshots = snapshots
        self._f = FamilyBuilder()

    def collect(self) -> Iterator[Metric]:
        snapshots = self._snapshots()
        f = self._f
        per_partition: list[tuple[MetricSpec, Callable[[PartitionLag], float]]] = [
            (lm.GROUP_COMMITTED_OFFSET, lambda p: p.committed_offset),
            (lm.GROUP_LAG_RECORDS, lambda p: p.lag_records),
            (lm.GROUP_LAG_SECONDS, lambda p: p.lag_seconds),
            (lm.GROUP_PARTITION_STATUS, lambda p: int(p.status.status)),
        ]
        for spec, getter in per_partition:
            family = f.family(spec)
            for cluster, groups in snapshots:
                for g in groups:
                    for p in g.partitions:
                        labels = (
                            cluster,
                            str(g.coordinator),
                            g.group_id,
                            p.topic,
                            str(p.partition),
                        )
                        f.add(family, labels, getter(p))
            yield family
        headroom = f.family(lm.GROUP_RETENTION_HEADROOM)
        status = f.family(lm.GROUP_STATUS)
        state = f.family(lm.GROUP_STATE)
        members = f.family(lm.GROUP_MEMBERS)
        for cluster, groups in snapshots:
            for g in groups:
                prefix = (cluster, str(g.coordinator), g.group_id)
                for p in g.partitions:
                    if p.retention_headroom_seconds is not None:
                        f.add(
                            headroom,
                            (*prefix, p.topic, str(p.partition)),
                            p.retention_headroom_seconds,
                        )
                for name in lm.GROUP_STATUS_VALUES:
                    f.add(status, (*prefix, name), 1 if g.status.status.name == name else 0)
                known = lm.GROUP_STATE_VALUES
                states = known if g.state in known or not g.state else (*known, g.state)
                for name in states:
                    f.add(state, (*prefix, name), 1 if g.state == name else 0)
                f.add(members, prefix, g.members)
        yield from (headroom, status, state, members)
