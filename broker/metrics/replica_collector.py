"""Exposition of this broker's own replication figures (``replication_catalog``): the
partitions it leads and how many of them are under-replicated or at / under
``min.insync.replicas``, its ISR and replication counters (``ReplicationStats``), and,
for every partition it leads, each follower's lag (``follower_lag``).

Read at scrape time from the leader states and logs the broker holds: no request goes
to a follower, so a dead or paused peer never slows a scrape (its lag just grows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from broker.cluster.partition import Partition
from broker.metrics import replication_catalog as r
from broker.metrics.follower_lag import FollowerLag, follower_lag, follower_position
from broker.metrics.stats import ReplicationStats
from broker.replication import LeaderReplicaState
from contracts.families import FamilyBuilder

__all__ = ["ReplicaCollector"]


class ReplicaCollector(Collector):
    def __init__(
        self,
        *,
        cluster: str,
        node_id: int,
        stats: ReplicationStats,
        partitions: Callable[[], Iterable[Partition]],
        now_ms: Callable[[], int],
    ) -> None:
        """``partitions``: every local replica (those led here are reported);
        ``now_ms``: the broker's data clock, the one record timestamps are compared to
        (as for consumer lag)."""
        self._f = FamilyBuilder((cluster, str(node_id)))
        self._stats = stats
        self._partitions = partitions
        self._now_ms = now_ms

    def collect(self) -> Iterator[Metric]:
        led = sorted(
            ((p, p.leader) for p in self._partitions() if p.leader is not None),
            key=lambda pair: pair[0].key,
        )
        yield from self._broker_families([leader for _, leader in led])
        yield from self._counter_families()
        yield from self._lag_families(led)

    def _broker_families(self, leaders: list[LeaderReplicaState]) -> Iterator[Metric]:
        f = self._f
        counts = (
            (r.BROKER_PARTITIONS_LED, len(leaders)),
            (
                r.BROKER_UNDER_REPLICATED_PARTITIONS,
                sum(len(s.isr) < len(s.replicas) for s in leaders),
            ),
            (r.BROKER_UNDER_MIN_ISR_PARTITIONS, sum(s.under_min_isr for s in leaders)),
            (
                r.BROKER_AT_MIN_ISR_PARTITIONS,
                sum(len(s.isr) == s.config.min_insync_replicas for s in leaders),
            ),
        )
        for spec, value in counts:
            family = f.family(spec)
            f.add(family, (), value)
            yield family

    def _counter_families(self) -> Iterator[Metric]:
        f, s = self._f, self._stats
        for spec, value in (
            (r.BROKER_ISR_SHRINKS, s.isr_shrinks),
            (r.BROKER_ISR_EXPANDS, s.isr_expands),
            (r.BROKER_ISR_UPDATE_FAILURES, s.isr_update_failures),
            (r.BROKER_REPLICATION_BYTES_IN, s.bytes_in),
            (r.BROKER_REPLICATION_BYTES_OUT, s.bytes_out),
        ):
            family = f.family(spec)
            f.add(family, (), value)
            yield family
        fetch = f.family(r.BROKER_FOLLOWER_FETCH_DURATION)
        f.add_histogram(fetch, (), s.follower_fetch)
        yield fetch

    def _lag_families(self, led: list[tuple[Partition, LeaderReplicaState]]) -> Iterator[Metric]:
        f = self._f
        records = f.family(r.REPLICA_LAG_RECORDS)
        size = f.family(r.REPLICA_LAG_BYTES)
        seconds = f.family(r.REPLICA_LAG_SECONDS)
        now = self._now_ms()
        for partition, leader in led:
            for replica, lag in sorted(_lags(partition, leader, now).items()):
                labels = (partition.topic, str(partition.index), str(replica))
                f.add(records, labels, lag.records)
                f.add(size, labels, lag.bytes)
                f.add(seconds, labels, lag.seconds)
        yield from (records, size, seconds)


def _lags(partition: Partition, leader: LeaderReplicaState, now_ms: int) -> dict[int, FollowerLag]:
    """Each follower's lag behind this leader's log."""
    log = partition.log
    start, end = log.log_start_offset, log.log_end_offset
    return {
        replica: follower_lag(
            follower_position(
                progress.log_end_offset,
                in_isr=replica in leader.isr,
                high_watermark=partition.high_watermark,
                log_start_offset=start,
            ),
            log_end_offset=end,
            log_start_offset=start,
            record_timestamp_ms=log.record_timestamp,
            bytes_from=log.bytes_from,
            now_ms=now_ms,
        )
        for replica, progress in leader.followers.items()
    }
