"""Exposition of the lag monitor's snapshot under the broker's own metric names.

Names, types, help and label names come from ``broker.metrics.catalog`` (the GROUP_*
specs, via :data:`synthetics.catalog.LAG_METRICS`), so a dashboard or alert written for
the broker works on the monitor unchanged. The constant labels the broker adds are
filled in as follows:

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

import broker.metrics.catalog as bc
from broker.metrics.families import FamilyBuilder
from synthetics.lagmon.tracker import GroupLag, PartitionLag

__all__ = ["LagCollector"]

_STATUSES = ("OK", "WARN", "REWIND", "STALL", "STOP")
_STATES = ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead")


class LagCollector(Collector):
    def __init__(self, snapshots: Callable[[], Sequence[tuple[str, Sequence[GroupLag]]]]) -> None:
        """``snapshots`` returns (cluster name, groups) for every watched cluster."""
        self._snapshots = snapshots
        self._f = FamilyBuilder()

    def _family(self, spec: bc.MetricSpec) -> Metric:
        # the broker adds cluster and broker as constant labels; here they vary per series
        return self._f.family(
            bc.MetricSpec(spec.name, spec.type, spec.unit, spec.help, spec.all_labels)
        )

    def collect(self) -> Iterator[Metric]:
        snapshots = self._snapshots()
        f = self._f
        per_partition: list[tuple[bc.MetricSpec, Callable[[PartitionLag], float]]] = [
            (bc.GROUP_COMMITTED_OFFSET, lambda p: p.committed_offset),
            (bc.GROUP_LAG_RECORDS, lambda p: p.lag_records),
            (bc.GROUP_LAG_SECONDS, lambda p: p.lag_seconds),
            (bc.GROUP_PARTITION_STATUS, lambda p: int(p.status.status)),
        ]
        for spec, getter in per_partition:
            family = self._family(spec)
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
        headroom = self._family(bc.GROUP_RETENTION_HEADROOM)
        status = self._family(bc.GROUP_STATUS)
        state = self._family(bc.GROUP_STATE)
        members = self._family(bc.GROUP_MEMBERS)
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
                for name in _STATUSES:
                    f.add(status, (*prefix, name), 1 if g.status.status.name == name else 0)
                states = _STATES if g.state in _STATES or not g.state else (*_STATES, g.state)
                for name in states:
                    f.add(state, (*prefix, name), 1 if g.state == name else 0)
                f.add(members, prefix, g.members)
        yield from (headroom, status, state, members)
