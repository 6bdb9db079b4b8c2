"""Traffic that makes every metric family of the broker appear: produce, fetch, a
group with commits that leave lag on a topic with retention, a partition error, a
malformed request and a request with trailing bytes."""

from __future__ import annotations

from tests.broker.groups_integration.clients import commit_confluent, read_kafka_python
from tests.broker.groups_integration.support import create_topic, produce
from tests.broker.metrics_integration.raw import (
    send_garbage,
    send_metadata_with_trailing_bytes,
    send_produce_to_partition,
)

__all__ = ["LAGGING_GROUP", "PARTITIONS", "READING_GROUP", "TOPIC", "generate_traffic"]

TOPIC = "observed"
PARTITIONS = 2
PER_PARTITION = 10
LAGGING_GROUP = "lagging"
READING_GROUP = "reading"
COMMITTED = {0: 4, 1: 6}


def generate_traffic(bootstrap: str) -> None:
    create_topic(bootstrap, TOPIC, PARTITIONS, **{"retention.ms": "3600000"})
    produce(bootstrap, TOPIC, [f"v{i}" for i in range(PARTITIONS * PER_PARTITION)], PARTITIONS)
    read_kafka_python(bootstrap, READING_GROUP, TOPIC, PARTITIONS)
    commit_confluent(bootstrap, LAGGING_GROUP, TOPIC, COMMITTED)
    send_produce_to_partition(bootstrap, TOPIC, 99)
    send_metadata_with_trailing_bytes(bootstrap)
    send_garbage(bootstrap)
