"""Prometheus exposition of the broker's state, built at scrape time.

The collector reads plain counters (``BrokerStats``, partition fields) and the live
partition table, so the request path pays nothing for metrics beyond a few integer
additions. Every family comes from a ``MetricSpec`` in the catalog, and every sample
gets the constant ``cluster`` and ``broker`` labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from broker.metrics import catalog as c
from broker.metrics.stats import BrokerStats, LatencyHistogram
from contracts.families import FamilyBuilder
from contracts.metrics import MetricSpec

__all__ = ["BrokerCollector", "PartitionView", "disk_space"]


def disk_space(path: Path) -> tuple[int, int] | None:
    """(bytes available to unprivileged writers, file-system size) of the file system
    holding ``path``: one statvfs call, cheap enough for every scrape. None when the path
    cannot be read (the scrape then has no samples for it instead of failing)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


class PartitionView(Protocol):
    topic: str
    index: int
    high_watermark: int
    records_appended: int
    bytes_appended: int
    records_fetched: int
    bytes_fetched: int
    retention_deleted_bytes: int

    @property
    def log_start_offset(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def segment_count(self) -> int: ...

    @property
    def max_timestamp_ms(self) -> int: ...


class BrokerCollector(Collector):
    def __init__(
        self,
        *,
        cluster: str,
        node_id: int,
        version: str,
        flush_policy: str,
        stats: BrokerStats,
        partitions: Callable[[], Iterable[PartitionView]],
        recovery_truncated_bytes: Callable[[], int],
        unflushed_partitions: Callable[[], int],
        data_dir_space: Callable[[], tuple[int, int] | None],
    ) -> None:
        self._families = FamilyBuilder((cluster, str(node_id)))
        self._version = version
        self._flush_policy = flush_policy
        self._stats = stats
        self._partitions = partitions
        self._recovery_truncated = recovery_truncated_bytes
        self._unflushed = unflushed_partitions
        self._data_dir_space = data_dir_space

    def _family(self, spec: MetricSpec) -> Metric:
        return self._families.family(spec)

    def _add(self, family: Metric, labels: Iterable[str], value: float) -> None:
        self._families.add(family, labels, value)

    def _add_histogram(self, family: Metric, labels: Iterable[str], h: LatencyHistogram) -> None:
        self._families.add_histogram(family, labels, h)

    def collect(self) -> Iterator[Metric]:
        yield from self._partition_families()
        yield from self._request_families()
        yield from self._broker_families()

    def _partition_families(self) -> Iterator[Metric]:
        getters: list[tuple[MetricSpec, Callable[[PartitionView], float]]] = [
            (c.PARTITION_LOG_START_OFFSET, lambda p: p.log_start_offset),
            (c.PARTITION_LOG_END_OFFSET, lambda p: p.log_end_offset),
            (c.PARTITION_HIGH_WATERMARK, lambda p: p.high_watermark),
            (c.PARTITION_SIZE_BYTES, lambda p: p.size_bytes),
            (c.PARTITION_SEGMENTS, lambda p: p.segment_count),
            (c.PARTITION_NEWEST_RECORD_TIMESTAMP, lambda p: max(p.max_timestamp_ms, 0) / 1000),
            (c.PARTITION_RECORDS_APPENDED, lambda p: p.records_appended),
            (c.PARTITION_BYTES_APPENDED, lambda p: p.bytes_appended),
            (c.PARTITION_RECORDS_FETCHED, lambda p: p.records_fetched),
            (c.PARTITION_BYTES_FETCHED, lambda p: p.bytes_fetched),
            (c.PARTITION_RETENTION_DELETED_BYTES, lambda p: p.retention_deleted_bytes),
        ]
        partitions = sorted(self._partitions(), key=lambda p: (p.topic, p.index))
        for spec, getter in getters:
            family = self._family(spec)
            for p in partitions:
                self._add(family, (p.topic, str(p.index)), getter(p))
            yield family

    def _request_families(self) -> Iterator[Metric]:
        requests = self._family(c.REQUESTS)
        duration = self._family(c.REQUEST_DURATION)
        queue = self._family(c.REQUEST_QUEUE_TIME)
        for api, stats in sorted(self._stats.requests.items()):
            for error, n in sorted(stats.errors.items()):
                self._add(requests, (api, error), n)
            self._add_histogram(duration, (api,), stats.duration)
            self._add_histogram(queue, (api,), stats.queue)
        yield requests
        yield duration
        yield queue
        malformed = self._family(c.MALFORMED_REQUESTS)
        for reason, n in sorted(self._stats.malformed.items()):
            self._add(malformed, (reason,), n)
        yield malformed
        trailing = self._family(c.TRAILING_BYTES)
        for api, n in sorted(self._stats.trailing_bytes.items()):
            self._add(trailing, (api,), n)
        yield trailing

    def _broker_families(self) -> Iterator[Metric]:
        simple: list[tuple[MetricSpec, float]] = [
            (c.CONNECTIONS_OPEN, self._stats.connections_open),
            (c.CONNECTIONS_ACCEPTED, self._stats.connections_accepted),
            (c.STORAGE_ERRORS, self._stats.storage_errors),
            (c.RECOVERY_TRUNCATED_BYTES, self._recovery_truncated()),
            (c.UNFLUSHED_PARTITIONS, self._unflushed()),
        ]
        for spec, value in simple:
            family = self._family(spec)
            self._add(family, (), value)
            yield family
        free, size = self._family(c.DATA_DIR_FREE_BYTES), self._family(c.DATA_DIR_SIZE_BYTES)
        space = self._data_dir_space()
        if space is not None:
            self._add(free, (), space[0])
            self._add(size, (), space[1])
        yield free
        yield size
        flush = self._family(c.FLUSH_DURATION)
        self._add_histogram(flush, (), self._stats.flush)
        yield flush
        info = self._family(c.BROKER_INFO)
        self._add(info, (self._version, self._flush_policy), 1)
        yield info
