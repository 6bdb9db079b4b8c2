"""Every client family reads what every client family wrote, byte for byte.

Each family produces its data set (keys, null keys and values, empty keys and values,
binary payloads, binary and repeated headers, a null header value where the client can
send one, explicit timestamps where it can set them) to a topic of its own; then every
family consumes every topic with partitions assigned by hand (no consumer group). The
diagonal of the matrix is each family's own round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pytest

from contracts.launcher import BrokerProcess
from tests.interop.checks import assert_same_records
from tests.interop.clients import FAMILIES, samples_for
from tests.interop.kcat import kcat_consume
from tests.interop.messages import Message

pytestmark = pytest.mark.interop


@dataclass(frozen=True)
class ProducedTopic:
    topic: str
    expected: list[Message]


class ProducedTopics:
    """Each family's data set, produced once per module on first use."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.broker = broker
        self._topics: dict[str, ProducedTopic] = {}
        self._failed: dict[str, str] = {}

    def by(self, producer: str) -> ProducedTopic:
        if producer in self._failed:
            pytest.fail(f"producing with {producer} failed earlier: {self._failed[producer]}")
        if producer not in self._topics:
            try:
                self._topics[producer] = self._produce(producer)
            except Exception as exc:
                # Never produce twice to the same topic: offsets would no longer match.
                self._failed[producer] = f"{type(exc).__name__}: {exc}"
                raise
        return self._topics[producer]

    def _produce(self, producer: str) -> ProducedTopic:
        client = FAMILIES[producer]
        topic = f"matrix-from-{producer}"
        messages = samples_for(client)
        before_ms = int(time.time() * 1000)
        client.produce(self.broker.bootstrap, topic, messages)
        after_ms = int(time.time() * 1000)
        if not client.timestamps:
            messages = self._stamped(topic, messages, before_ms, after_ms)
        return ProducedTopic(topic, messages)

    def _stamped(
        self, topic: str, messages: list[Message], before_ms: int, after_ms: int
    ) -> list[Message]:
        """The producer's own clock stamped the records: learn the stamps (any reader
        will do; every consumer is then held to them) and check they are plausible."""
        stored = kcat_consume(self.broker.bootstrap, topic, 0, len(messages))
        stamps = [r.timestamp_ms for r in stored]
        assert all(before_ms - 1000 <= ts <= after_ms + 1000 for ts in stamps), (
            f"timestamps {stamps} are outside the produce window {before_ms}..{after_ms}"
        )
        return [replace(m, timestamp_ms=ts) for m, ts in zip(messages, stamps, strict=True)]


@pytest.fixture(scope="module")
def produced(shared_broker: BrokerProcess) -> ProducedTopics:
    return ProducedTopics(shared_broker)


MATRIX = [(p, c) for p in FAMILIES for c in FAMILIES]


@pytest.mark.parametrize(
    ("producer", "consumer"),
    MATRIX,
    ids=[f"{c} consumes what {p} produced" for p, c in MATRIX],
)
def test_records_are_consumed_byte_identically_across_client_families(
    shared_broker: BrokerProcess, produced: ProducedTopics, producer: str, consumer: str
) -> None:
    source = produced.by(producer)
    consumed = FAMILIES[consumer].consume(
        shared_broker.bootstrap, source.topic, len(source.expected)
    )
    assert_same_records(consumed, source.expected)


@pytest.mark.parametrize("name", list(FAMILIES), ids=[f"{n} starts mid-log" for n in FAMILIES])
def test_a_consumer_assigned_at_an_offset_reads_from_that_offset(
    shared_broker: BrokerProcess, produced: ProducedTopics, name: str
) -> None:
    source = produced.by("confluent-kafka")
    start = 3
    consumed = FAMILIES[name].consume(
        shared_broker.bootstrap, source.topic, len(source.expected) - start, start_offset=start
    )
    assert_same_records(consumed, source.expected[start:], first_offset=start)
