"""Replicated test clusters: quick replication timings, topic creation through a real
admin client, and what the replicas hold on disk (to compare them byte for byte)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from broker.records.batch import LOG_OVERHEAD, read_prefix
from contracts.broker_cluster import BrokerCluster

__all__ = [
    "FAST_REPLICATION",
    "TROUBLE",
    "create_topic",
    "replica_bytes",
    "running_cluster",
]

# Small enough that failures are detected within seconds, large enough that a busy
# machine does not flap (a session must survive a slow heartbeat round).
FAST_REPLICATION: Mapping[str, Any] = {
    "replication": {
        "replica_lag_time_max_ms": 2000,
        "replica_fetch_max_wait_ms": 200,
        "replica_fetch_backoff_ms": 100,
        "controlled_shutdown_timeout_ms": 3000,
    },
    "brokers": {"session_timeout_ms": 3000, "heartbeat_interval_ms": 250},
    "groups": {"initial_rebalance_delay_ms": 100, "min_session_timeout_ms": 1000},
}

# What a broker logs when something broke inside it.
TROUBLE = re.compile(r"Traceback| ERROR ")


@contextmanager
def running_cluster(
    size: int,
    base_dir: Path,
    config: Mapping[str, Any] | None = None,
    *,
    prepare: Callable[[BrokerCluster], None] | None = None,
    **options: Any,
) -> Iterator[BrokerCluster]:
    """A started cluster with ``FAST_REPLICATION`` (and ``config`` on top), stopped at
    the end; fails the test when a broker logged a traceback or an error. ``prepare``
    sees the cluster before it starts (to set a broker's advertised address, say)."""
    merged: dict[str, Any] = {k: dict(v) for k, v in FAST_REPLICATION.items()}
    for key, value in (config or {}).items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, Mapping) else value
    cluster = BrokerCluster(size, base_dir, merged, **options)
    if prepare is not None:
        prepare(cluster)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
    trouble = [
        f"b{node}: {line}"
        for node, broker in cluster.brokers.items()
        for line in broker.log_path.read_text(errors="replace").splitlines()
        if TROUBLE.search(line)
    ]
    assert not trouble, "a broker reported trouble:\n" + "\n".join(trouble[:40])


def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = 3,
    configs: Mapping[str, str] | None = None,
    assignments: Mapping[int, list[int]] | None = None,
) -> None:
    """Create a topic with confluent-kafka's admin client (raises on any error)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if assignments is not None:
        topic = NewTopic(
            name,
            num_partitions=len(assignments),  # librdkafka wants the count, and no factor
            replication_factor=-1,
            replica_assignment=[assignments[i] for i in range(len(assignments))],
            config=dict(configs or {}),
        )
    else:
        topic = NewTopic(name, partitions, replication_factor, config=dict(configs or {}))
    for future in admin.create_topics([topic], operation_timeout=30).values():
        future.result(timeout=60)


def replica_bytes(data_dir: Path, topic: str, partition: int, end_offset: int) -> bytes:
    """The partition's segments in ``data_dir`` concatenated, cut after the last batch
    below ``end_offset`` (a high watermark): what replicas must agree on byte for byte."""
    directory = data_dir / f"{topic}-{partition}"
    data = b"".join(p.read_bytes() for p in sorted(directory.glob("*.log")))
    position = 0
    while position + LOG_OVERHEAD <= len(data):
        base_offset, size = read_prefix(data, position)
        if base_offset >= end_offset:
            break
        position += size
    return data[:position]
