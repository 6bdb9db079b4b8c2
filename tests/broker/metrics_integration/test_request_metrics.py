"""Request metrics count errors under their Kafka error code name, including errors
reported per partition (produce and fetch), and count malformed requests and
requests with trailing bytes."""

from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.members import wait_until
from tests.broker.groups_integration.support import create_topic, metric_samples, produce, quiet
from tests.broker.metrics_integration.raw import (
    send_garbage,
    send_metadata_with_trailing_bytes,
    send_produce_to_partition,
)

pytestmark = pytest.mark.interop

REQUESTS = "tidewatch_broker_requests_total"
UNKNOWN_TOPIC_OR_PARTITION = 3


def requests(broker: BrokerProcess, api: str, error: str) -> float:
    return sum(v for _, v in metric_samples(broker.http_url, REQUESTS, api=api, error=error))


def test_a_produce_to_a_missing_partition_is_counted_under_its_error_code(
    shared_broker: BrokerProcess,
) -> None:
    create_topic(shared_broker.bootstrap, "two-partitions", 2)
    response = send_produce_to_partition(shared_broker.bootstrap, "two-partitions", 7)
    # correlation id, one topic (2-byte name length + name), one partition: its index
    # and then its error code.
    name = b"two-partitions"
    at = 4 + 4 + 2 + len(name) + 4 + 4
    assert struct.unpack_from(">h", response, at)[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert requests(shared_broker, "produce", "unknown_topic_or_partition") == 1


def test_a_fetch_beyond_the_end_of_the_log_is_counted_as_offset_out_of_range(
    shared_broker: BrokerProcess,
) -> None:
    create_topic(shared_broker.bootstrap, "short", 1)
    produce(shared_broker.bootstrap, "short", ["only"], 1)
    consumer = Consumer(
        {
            "bootstrap.servers": shared_broker.bootstrap,
            "group.id": "out-of-range",
            "auto.offset.reset": "earliest",
            **quiet,
        }
    )
    consumer.assign([TopicPartition("short", 0, 1000)])
    try:
        message = None
        deadline = time.monotonic() + 15
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.2)
        assert message is not None and message.offset() == 0  # reset after the error
    finally:
        consumer.close()
    assert requests(shared_broker, "fetch", "offset_out_of_range") >= 1


def test_malformed_requests_and_trailing_bytes_are_counted_by_reason_and_api(
    shared_broker: BrokerProcess,
) -> None:
    assert send_garbage(shared_broker.bootstrap) == b""  # the broker hung up
    assert send_metadata_with_trailing_bytes(shared_broker.bootstrap)
    url = shared_broker.http_url
    assert (
        metric_samples(url, "tidewatch_broker_malformed_requests_total", reason="unknown_api")[0][1]
        == 1
    )
    assert (
        metric_samples(url, "tidewatch_broker_request_trailing_bytes_total", api="metadata")[0][1]
        == 1
    )
    # The broker keeps serving everyone else.
    wait_until(lambda: requests(shared_broker, "metadata", "none") > 0, 5, "metadata counted")
