"""Fetch semantics as clients see them: the long poll waits up to max wait (consumers on
an empty partition do not spin), a record produced during a long poll is delivered at
once, a batch larger than the partition byte limit is still delivered whole, and a
position below the log start (after retention) is OFFSET_OUT_OF_RANGE, which each
client's auto.offset.reset then handles.

Fetch requests are counted with the broker's own request counter from /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, TopicPartition
from kio.schema.errors import ErrorCode

from broker.records.record import Record, build_batch
from contracts.launcher import BrokerProcess
from tests.interop.checks import fetch_request_count
from tests.interop.clients import FAMILIES, confluent_consumer, kafka_python
from tests.interop.messages import BASE_TIMESTAMP_MS, Message
from tests.interop.wire import WireClient

pytestmark = pytest.mark.interop

MAX_WAIT_MS = 500
WATCH_S = 3.0
MIN_POLLS = 10
# A long poll that does not wait for data or max wait: the client would be answered at
# once. These tests wait longer than any loaded machine needs and assert "at once" as
# "well before max wait", never as a tight bound.
LONG_MAX_WAIT_MS = 60_000
AT_ONCE_S = 30.0


def max_fetches(watched_s: float) -> int:
    """A busy loop fetches hundreds of times a second; the long poll allows one fetch per
    max wait, plus the start-up requests (ListOffsets, first fetch). A slower machine
    only fetches less."""
    return int(watched_s * 1000 / MAX_WAIT_MS) + 4


def _watching(started: float, polls: int) -> bool:
    """Go on for WATCH_S and for at least MIN_POLLS polls, however slow the machine."""
    return polls < MIN_POLLS or time.monotonic() - started < WATCH_S


@pytest.fixture(scope="module")
def fetch_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker checking retention every 100 ms, so the log start moves quickly."""
    base = tmp_path_factory.mktemp("fetch")
    config = base / "broker.yaml"
    config.write_text("retention_check_interval_ms: 100\n")
    process = BrokerProcess(base / "data", "--config", str(config)).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def fwire(fetch_broker: BrokerProcess) -> Iterator[WireClient]:
    with WireClient(fetch_broker.bootstrap) as client:
        yield client


def _record_batch(value: bytes, offset_hint: int = 0) -> bytes:
    return build_batch([Record(value, b"k", BASE_TIMESTAMP_MS + offset_hint)])


# -- long poll ---------------------------------------------------------------------------


def test_a_raw_fetch_on_an_empty_partition_waits_for_max_wait(
    fwire: WireClient, topic: str
) -> None:
    fwire.create_topic(topic)
    started = time.monotonic()
    result = fwire.fetch(topic, 0, 0, max_wait_ms=800, min_bytes=1)
    elapsed = time.monotonic() - started
    assert not result.records
    # A lower bound only: it answered because max wait passed, however slow the machine.
    assert elapsed >= 0.8, f"answered after {elapsed:.2f}s for a max wait of 0.8s"


def _watch_confluent(bootstrap: str, topic: str) -> int:
    consumer = confluent_consumer(
        bootstrap, {"enable.auto.commit": False, "fetch.wait.max.ms": MAX_WAIT_MS}
    )
    polls = 0
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        started = time.monotonic()
        while _watching(started, polls):
            assert consumer.poll(0.1) is None
            polls += 1
    finally:
        consumer.close()
    return polls


def _watch_kafka_python(bootstrap: str, topic: str) -> int:
    kafka = kafka_python()
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=MAX_WAIT_MS
    )
    tp = kafka.TopicPartition(topic, 0)
    polls = 0
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        started = time.monotonic()
        while _watching(started, polls):
            assert not consumer.poll(timeout_ms=100)
            polls += 1
    finally:
        consumer.close()
    return polls


def _watch_aiokafka(bootstrap: str, topic: str) -> int:
    async def watch() -> int:
        from aiokafka import AIOKafkaConsumer
        from aiokafka import TopicPartition as AioTopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=MAX_WAIT_MS
        )
        await consumer.start()
        tp = AioTopicPartition(topic, 0)
        polls = 0
        try:
            consumer.assign([tp])
            consumer.seek(tp, 0)
            started = time.monotonic()
            while _watching(started, polls):
                assert not await consumer.getmany(timeout_ms=100)
                polls += 1
        finally:
            await consumer.stop()
        return polls

    return asyncio.run(watch())


WATCHERS = {
    "confluent-kafka": _watch_confluent,
    "kafka-python": _watch_kafka_python,
    "aiokafka": _watch_aiokafka,
}


@pytest.mark.parametrize("name", list(WATCHERS), ids=[f"{n} waits" for n in WATCHERS])
def test_a_consumer_on_an_empty_partition_does_not_busy_loop(
    fetch_broker: BrokerProcess, fwire: WireClient, topic: str, name: str
) -> None:
    fwire.create_topic(topic)
    before = fetch_request_count(fetch_broker.http_url)
    started = time.monotonic()
    polls = WATCHERS[name](fetch_broker.bootstrap, topic)
    watched_s = time.monotonic() - started
    fetches = fetch_request_count(fetch_broker.http_url) - before
    assert polls >= MIN_POLLS, "the client did not poll in the loop"
    assert 1 <= fetches <= max_fetches(watched_s), (
        f"{fetches:.0f} fetch requests in {watched_s:.1f}s with max wait {MAX_WAIT_MS} ms"
    )


def test_a_record_produced_during_a_long_poll_is_delivered_at_once(
    fetch_broker: BrokerProcess, fwire: WireClient, topic: str
) -> None:
    fwire.create_topic(topic)
    fwire.timeout_s = 2 * LONG_MAX_WAIT_MS / 1000
    request = fwire.fetch_request(topic, 0, 0, max_wait_ms=LONG_MAX_WAIT_MS, min_bytes=1)
    correlation = fwire.send(request)
    assert not fwire.readable_within(0.3), "the fetch did not wait for data"
    with WireClient(fetch_broker.bootstrap) as producer:
        produced_at = time.monotonic()
        assert producer.produce(topic, 0, _record_batch(b"wake up")).error_code == ErrorCode.none
    response = fwire.receive(1, 12, correlation)
    waited = time.monotonic() - produced_at
    ((result,),) = (t.partitions for t in response.responses)
    assert b"wake up" in bytes(result.records)
    # Woken by the data: a fetch left to its max wait would answer after 60 s.
    assert waited < AT_ONCE_S, f"delivered {waited:.2f}s after the produce (max wait 60 s)"


def test_a_confluent_consumer_gets_a_record_produced_while_it_waits(
    fetch_broker: BrokerProcess, fwire: WireClient, topic: str
) -> None:
    fwire.create_topic(topic)
    consumer = confluent_consumer(
        fetch_broker.bootstrap,
        {"fetch.wait.max.ms": LONG_MAX_WAIT_MS, "socket.timeout.ms": 2 * LONG_MAX_WAIT_MS},
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        # After a second of polling the consumer's fetch is parked in a 60 s long poll.
        assert consumer.poll(1.0) is None
        assert fwire.produce(topic, 0, _record_batch(b"while waiting")).error_code == ErrorCode.none
        # Well before the long poll's max wait: only a wake-up by the produce gets it here.
        msg = consumer.poll(AT_ONCE_S)
    finally:
        consumer.close()
    assert msg is not None, "the waiting fetch was not woken by the produce"
    assert msg.error() is None
    assert msg.value() == b"while waiting"


# -- byte limits -------------------------------------------------------------------------

LIMIT = 1024
BIG = Message(bytes(range(256)) * 800, b"big", timestamp_ms=BASE_TIMESTAMP_MS)  # 200 KiB


@pytest.fixture
def big_batch_topic(fetch_broker: BrokerProcess, fwire: WireClient, topic: str) -> str:
    fwire.create_topic(topic)
    FAMILIES["confluent-kafka"].produce(fetch_broker.bootstrap, topic, [BIG])
    small = Message(b"small", b"s", timestamp_ms=BASE_TIMESTAMP_MS + 1)
    FAMILIES["confluent-kafka"].produce(fetch_broker.bootstrap, topic, [small])
    return topic


PARTITION_LIMITS = {
    "confluent-kafka": {"max.partition.fetch.bytes": LIMIT},
    "kafka-python": {"max_partition_fetch_bytes": LIMIT},
    "aiokafka": {"max_partition_fetch_bytes": LIMIT},
}


@pytest.mark.parametrize(
    "name", list(PARTITION_LIMITS), ids=[f"{n} with a 1 KiB limit" for n in PARTITION_LIMITS]
)
def test_a_batch_larger_than_the_partition_fetch_limit_is_still_delivered(
    fetch_broker: BrokerProcess, big_batch_topic: str, name: str
) -> None:
    consumed = FAMILIES[name].consume(
        fetch_broker.bootstrap, big_batch_topic, 2, options=PARTITION_LIMITS[name]
    )
    assert [(r.offset, r.key, len(r.value or b"")) for r in consumed] == [
        (0, b"big", len(BIG.value or b"")),
        (1, b"s", 5),
    ]
    assert consumed[0].value == BIG.value


def test_a_raw_fetch_with_a_tiny_limit_returns_exactly_one_whole_batch(
    fwire: WireClient, big_batch_topic: str
) -> None:
    result = fwire.fetch(big_batch_topic, 0, 0, partition_max_bytes=100)
    records = bytes(result.records)
    batch_size = int.from_bytes(records[8:12], "big") + 12
    assert batch_size > 200 * 1024
    assert len(records) == batch_size, "more or less than the first whole batch"


# -- below the log start -----------------------------------------------------------------


@pytest.fixture
def truncated_topic(fwire: WireClient, topic: str) -> tuple[str, int, int]:
    """A topic whose first segments retention deleted: (topic, log start, log end)."""
    fwire.create_topic(topic, 1, {"segment.bytes": "1024", "retention.bytes": "2048"})
    for i in range(12):
        batch = _record_batch(f"record {i} ".encode() * 40, i)
        assert fwire.produce(topic, 0, batch).error_code == ErrorCode.none
    deadline = time.monotonic() + 30
    while fwire.list_offset(topic, 0, -2).offset == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Stop retention here so the log start cannot move while the test reads.
    fwire.set_topic_config(topic, "retention.bytes", None)
    start = int(fwire.list_offset(topic, 0, -2).offset)
    assert start > 0, "retention never advanced the log start"
    return topic, start, fwire.log_end_offset(topic)


def test_fetching_below_the_log_start_or_above_the_end_is_offset_out_of_range(
    fwire: WireClient, truncated_topic: tuple[str, int, int]
) -> None:
    topic, start, end = truncated_topic
    for offset in (0, start - 1, end + 1):
        result = fwire.fetch(topic, 0, offset)
        assert result.error_code == ErrorCode.offset_out_of_range, offset
        assert (result.log_start_offset, result.high_watermark) == (start, end)
    assert fwire.fetch(topic, 0, start).error_code == ErrorCode.none
    assert fwire.fetch(topic, 0, end).error_code == ErrorCode.none


RESET_EARLIEST = {
    "confluent-kafka": {"auto.offset.reset": "earliest"},
    "kafka-python": {"auto_offset_reset": "earliest"},
    "aiokafka": {"auto_offset_reset": "earliest"},
}


@pytest.mark.parametrize(
    "name", list(RESET_EARLIEST), ids=[f"{n} resets to earliest" for n in RESET_EARLIEST]
)
def test_a_consumer_below_the_log_start_resets_to_the_earliest_offset(
    fetch_broker: BrokerProcess, truncated_topic: tuple[str, int, int], name: str
) -> None:
    topic, start, end = truncated_topic
    consumed = FAMILIES[name].consume(
        fetch_broker.bootstrap, topic, end - start, start_offset=0, options=RESET_EARLIEST[name]
    )
    assert [r.offset for r in consumed] == list(range(start, end))


def test_confluent_without_a_reset_policy_reports_the_out_of_range_position(
    fetch_broker: BrokerProcess, truncated_topic: tuple[str, int, int]
) -> None:
    topic, _, _ = truncated_topic
    consumer = confluent_consumer(fetch_broker.bootstrap, {"auto.offset.reset": "error"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        msg = None
        deadline = time.monotonic() + 30
        while msg is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
    finally:
        consumer.close()
    assert msg is not None
    assert msg.error() is not None
    assert msg.error().code() == KafkaError._AUTO_OFFSET_RESET
    assert "out of range" in msg.error().str().lower()


def _poll_for(consumer: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        consumer.poll(timeout_ms=500)  # type: ignore[attr-defined]


def test_kafka_python_without_a_reset_policy_raises_offset_out_of_range(
    fetch_broker: BrokerProcess, truncated_topic: tuple[str, int, int]
) -> None:
    kafka = kafka_python()
    topic, _, _ = truncated_topic
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=fetch_broker.bootstrap, group_id=None, auto_offset_reset="none"
    )
    tp = kafka.TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        with pytest.raises(kafka.errors.OffsetOutOfRangeError):
            _poll_for(consumer, seconds=30)
    finally:
        consumer.close()


def test_aiokafka_without_a_reset_policy_raises_offset_out_of_range(
    fetch_broker: BrokerProcess, truncated_topic: tuple[str, int, int]
) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTopicPartition
    from aiokafka.errors import OffsetOutOfRangeError

    topic, _, _ = truncated_topic

    async def consume() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=fetch_broker.bootstrap, group_id=None, auto_offset_reset="none"
        )
        await consumer.start()
        tp = AioTopicPartition(topic, 0)
        try:
            consumer.assign([tp])
            consumer.seek(tp, 0)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await consumer.getmany(tp, timeout_ms=500)
        finally:
            await consumer.stop()

    with pytest.raises(OffsetOutOfRangeError):
        asyncio.run(consume())


def test_kcat_reading_from_a_deleted_offset_starts_at_the_log_start(
    fetch_broker: BrokerProcess, truncated_topic: tuple[str, int, int]
) -> None:
    topic, start, end = truncated_topic
    consumed = FAMILIES["kcat"].consume(
        fetch_broker.bootstrap,
        topic,
        end - start,
        start_offset=0,
        options={"auto.offset.reset": "earliest"},
    )
    assert [r.offset for r in consumed] == list(range(start, end))
