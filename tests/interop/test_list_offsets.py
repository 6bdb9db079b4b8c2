"""ListOffsets as clients use it: the offset for a timestamp (the first record at or
after it, also inside a batch and inside a compressed batch), earliest and latest, the
record with the largest timestamp, and "no such record" for a time after the last one.

The data: three batches of four records each, the last one gzip-compressed, at known
timestamps, produced one raw batch at a time so the batch boundaries are known (and
read back by kcat to show they are sound). Expected offsets are computed from the list
of timestamps, not typed in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from kio.schema.errors import ErrorCode

from broker.records.batch import Compression
from broker.records.record import Record, build_batch
from contracts.launcher import BrokerProcess
from tests.interop.checks import stored_batches
from tests.interop.clients import confluent_consumer, kafka_python
from tests.interop.kcat import kcat_consume, kcat_query_offset
from tests.interop.messages import BASE_TIMESTAMP_MS
from tests.interop.wire import WireClient

pytestmark = pytest.mark.interop

TOPIC = "list-offsets-by-time"
TIMEOUT_S = 15
T0 = BASE_TIMESTAMP_MS
# Per batch: record timestamps relative to T0 (non-decreasing; one repeated stamp).
BATCHES = ([0, 10, 10, 30], [1000, 1010, 1020, 1030], [2000, 2010, 2020, 2030])
TIMESTAMPS = [T0 + delta for batch in BATCHES for delta in batch]


@dataclass(frozen=True)
class Query:
    label: str
    timestamp_ms: int

    @property
    def expected(self) -> int | None:
        """Offset of the first record with a timestamp >= the query, None if none."""
        return next((i for i, ts in enumerate(TIMESTAMPS) if ts >= self.timestamp_ms), None)

    @property
    def expected_timestamp(self) -> int | None:
        offset = self.expected
        return None if offset is None else TIMESTAMPS[offset]


QUERIES = [
    Query("before every record", T0 - 60_000),
    Query("the first record's time", T0),
    Query("a time between two records of a batch", T0 + 5),
    Query("a time two records share", T0 + 10),
    Query("the last record of the first batch", T0 + 30),
    Query("a time between batches", T0 + 500),
    Query("inside the middle batch", T0 + 1015),
    Query("inside the compressed batch", T0 + 2011),
    Query("the last record's time", T0 + 2030),
    Query("after the last record", T0 + 2031),
]
QUERY_IDS = [q.label for q in QUERIES]


@pytest.fixture(scope="module")
def data(shared_broker: BrokerProcess) -> str:
    """One raw Produce per batch, so the batch boundaries are exactly as listed."""
    with WireClient(shared_broker.bootstrap) as wire:
        wire.create_topic(TOPIC, 1)
        offset = 0
        for i, batch in enumerate(BATCHES):
            records = [
                Record(f"record {offset + j}".encode(), b"k", T0 + delta)
                for j, delta in enumerate(batch)
            ]
            codec = Compression.GZIP if i == len(BATCHES) - 1 else Compression.NONE
            result = wire.produce(TOPIC, 0, build_batch(records, compression=codec))
            assert (result.error_code, result.base_offset) == (ErrorCode.none, offset)
            offset += len(batch)
    return TOPIC


def test_the_data_is_stored_as_listed_and_reads_back_with_its_timestamps(
    shared_broker: BrokerProcess, data: str
) -> None:
    batches = stored_batches(shared_broker.data_dir, data)
    assert [b.records_count for b in batches] == [len(b) for b in BATCHES]
    assert [b.codec for b in batches] == [0, 0, 1]
    consumed = kcat_consume(shared_broker.bootstrap, data, 0, len(TIMESTAMPS))
    assert [(r.offset, r.timestamp_ms) for r in consumed] == list(enumerate(TIMESTAMPS))


@pytest.mark.parametrize("query", QUERIES, ids=QUERY_IDS)
def test_confluent_offsets_for_times_finds_the_first_record_at_or_after_the_time(
    shared_broker: BrokerProcess, data: str, query: Query
) -> None:
    consumer = confluent_consumer(shared_broker.bootstrap)
    try:
        (found,) = consumer.offsets_for_times(
            [TopicPartition(data, 0, query.timestamp_ms)], timeout=TIMEOUT_S
        )
    finally:
        consumer.close()
    assert found.error is None
    assert found.offset == (-1 if query.expected is None else query.expected)


@pytest.mark.parametrize("query", QUERIES, ids=QUERY_IDS)
def test_kafka_python_offsets_for_times_finds_the_first_record_at_or_after_the_time(
    shared_broker: BrokerProcess, data: str, query: Query
) -> None:
    kafka = kafka_python()
    consumer = kafka.KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, group_id=None)
    tp = kafka.TopicPartition(data, 0)
    try:
        found = consumer.offsets_for_times({tp: query.timestamp_ms})[tp]
    finally:
        consumer.close()
    if query.expected is None:
        assert found is None
    else:
        assert (found.offset, found.timestamp) == (query.expected, query.expected_timestamp)


async def _aiokafka_offsets_for_times(
    bootstrap: str, topic: str
) -> tuple[dict[int, tuple[int, int] | None], int, int]:
    """(offset, timestamp) or None for each query's time, then the earliest and latest."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    tp = AioTopicPartition(topic, 0)
    try:
        found: dict[int, tuple[int, int] | None] = {}
        for query in QUERIES:
            result = (await consumer.offsets_for_times({tp: query.timestamp_ms}))[tp]
            found[query.timestamp_ms] = (
                None if result is None else (result.offset, result.timestamp)
            )
        earliest = (await consumer.beginning_offsets([tp]))[tp]
        latest = (await consumer.end_offsets([tp]))[tp]
        return found, earliest, latest
    finally:
        await consumer.stop()


def test_aiokafka_offsets_for_times_finds_the_first_record_at_or_after_each_time(
    shared_broker: BrokerProcess, data: str
) -> None:
    found, earliest, latest = asyncio.run(
        _aiokafka_offsets_for_times(shared_broker.bootstrap, data)
    )
    for query in QUERIES:
        want = None if query.expected is None else (query.expected, query.expected_timestamp)
        assert found[query.timestamp_ms] == want, query.label
    assert (earliest, latest) == (0, len(TIMESTAMPS))


@pytest.mark.parametrize("query", QUERIES, ids=QUERY_IDS)
def test_kcat_query_finds_the_first_record_at_or_after_the_time(
    shared_broker: BrokerProcess, data: str, query: Query
) -> None:
    offset = kcat_query_offset(shared_broker.bootstrap, data, 0, query.timestamp_ms)
    assert offset == (-1 if query.expected is None else query.expected)


def test_earliest_and_latest_offsets_agree_across_clients(
    shared_broker: BrokerProcess, data: str
) -> None:
    end = len(TIMESTAMPS)
    consumer = confluent_consumer(shared_broker.bootstrap)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(data, 0), timeout=TIMEOUT_S) == (
            0,
            end,
        )
    finally:
        consumer.close()
    kafka = kafka_python()
    kp = kafka.KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, group_id=None)
    tp = kafka.TopicPartition(data, 0)
    try:
        assert (kp.beginning_offsets([tp])[tp], kp.end_offsets([tp])[tp]) == (0, end)
    finally:
        kp.close()


def test_confluent_admin_lists_earliest_latest_max_timestamp_and_by_time(
    shared_broker: BrokerProcess, data: str
) -> None:
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    specs = {
        "earliest": OffsetSpec.earliest(),
        "latest": OffsetSpec.latest(),
        "max timestamp": OffsetSpec.max_timestamp(),
        "by time": OffsetSpec.for_timestamp(T0 + 1015),
    }
    found = {}
    for label, spec in specs.items():
        ((_, future),) = admin.list_offsets({TopicPartition(data, 0): spec}).items()
        result = future.result(timeout=TIMEOUT_S)
        found[label] = (result.offset, result.timestamp)
    last = len(TIMESTAMPS) - 1
    assert found["earliest"][0] == 0
    assert found["latest"][0] == len(TIMESTAMPS)
    assert found["max timestamp"] == (last, TIMESTAMPS[last])
    by_time = Query("", T0 + 1015)
    assert found["by time"] == (by_time.expected, by_time.expected_timestamp)
