"""Per-family consumer and admin calls, in-process: commit chosen offsets as a real
group member, read where a new member starts, and fetch committed offsets through
each family's admin client (OffsetFetch)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.broker.groups_integration.group_member import SESSION_TIMEOUT_MS
from tests.broker.groups_integration.kafka_python import (
    KafkaAdminClient,
    KafkaConsumer,
    OffsetAndMetadata,
)
from tests.broker.groups_integration.kafka_python import TopicPartition as KpTopicPartition
from tests.broker.groups_integration.support import quiet

__all__ = [
    "COMMITTERS",
    "FETCHERS",
    "READERS",
    "confluent_committed",
    "kafka_python_committed",
]

Offsets = dict[int, int]
_DEADLINE_S = 30.0


def _confluent_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **quiet,
        }
    )


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")


# -- committing chosen offsets as a group member ----------------------------------------


def commit_confluent(bootstrap: str, group: str, topic: str, offsets: Offsets) -> Offsets:
    consumer = _confluent_consumer(bootstrap, group)
    consumer.subscribe([topic])
    try:
        _until(lambda: (consumer.poll(0.1), bool(consumer.assignment()))[1], "an assignment")
        consumer.commit(
            # No metadata: confluent-kafka 2.16 sends a C string's NUL terminator with
            # it (the broker keeps those bytes, as Kafka does), which other clients
            # then read back as part of the metadata.
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
            asynchronous=False,
        )
    finally:
        consumer.close()
    return offsets


def commit_kafka_python(bootstrap: str, group: str, topic: str, offsets: Offsets) -> Offsets:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        enable_auto_commit=False,
    )
    consumer.subscribe([topic])
    try:
        _until(lambda: (consumer.poll(100), bool(consumer.assignment()))[1], "an assignment")
        consumer.commit(
            {
                KpTopicPartition(topic, p): OffsetAndMetadata(o, f"m{p}", -1)
                for p, o in offsets.items()
            }
        )
    finally:
        consumer.close()
    return offsets


def commit_aiokafka(bootstrap: str, group: str, topic: str, offsets: Offsets) -> Offsets:
    async def run() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            enable_auto_commit=False,
        )
        consumer.subscribe([topic])
        await consumer.start()
        try:
            deadline = time.monotonic() + _DEADLINE_S
            while not consumer.assignment():
                assert time.monotonic() < deadline, "timed out waiting for an assignment"
                await consumer.getmany(timeout_ms=100)
            await consumer.commit(
                {AioTopicPartition(topic, p): (o, f"m{p}") for p, o in offsets.items()}
            )
        finally:
            await consumer.stop()

    asyncio.run(run())
    return offsets


_KCAT_RECORD = re.compile(r"^R (\d+) (\d+)$", re.MULTILINE)


def _kcat(bootstrap: str, group: str, topic: str, count: int) -> dict[int, list[int]]:
    """Consume ``count`` records with ``kcat -G``; its close commits what it printed.
    Returns the offsets printed per partition."""
    done = subprocess.run(
        [
            "kcat",
            "-b",
            bootstrap,
            "-G",
            group,
            "-q",
            "-c",
            str(count),
            "-f",
            "R %p %o\\n",
            "-X",
            f"session.timeout.ms={SESSION_TIMEOUT_MS}",
            "-X",
            "auto.offset.reset=earliest",
            topic,
        ],
        capture_output=True,
        text=True,
        timeout=_DEADLINE_S,
        check=True,
    )
    printed: dict[int, list[int]] = {}
    for partition, offset in _KCAT_RECORD.findall(done.stdout):
        printed.setdefault(int(partition), []).append(int(offset))
    return printed


def commit_kcat(bootstrap: str, group: str, topic: str, offsets: Offsets) -> Offsets:
    """kcat cannot commit a chosen offset: it consumes as many records as the chosen
    offsets add up to and commits what it printed; returns where that left it."""
    printed = _kcat(bootstrap, group, topic, sum(offsets.values()))
    return {p: max(o) + 1 for p, o in printed.items()}


COMMITTERS: dict[str, Callable[[str, str, str, Offsets], Offsets]] = {
    "confluent": commit_confluent,
    "kafka-python": commit_kafka_python,
    "aiokafka": commit_aiokafka,
    "kcat": commit_kcat,
}


# -- where a new member of the group starts ---------------------------------------------


def read_confluent(bootstrap: str, group: str, topic: str, partitions: int) -> Offsets:
    consumer = _confluent_consumer(bootstrap, group)
    consumer.subscribe([topic])
    first: Offsets = {}
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while len(first) < partitions and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                first.setdefault(partition, offset)
    finally:
        consumer.close()
    return first


def read_kafka_python(bootstrap: str, group: str, topic: str, partitions: int) -> Offsets:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    consumer.subscribe([topic])
    first: Offsets = {}
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while len(first) < partitions and time.monotonic() < deadline:
            for records in consumer.poll(200).values():
                for r in records:
                    first.setdefault(r.partition, r.offset)
    finally:
        consumer.close()
    return first


def read_aiokafka(bootstrap: str, group: str, topic: str, partitions: int) -> Offsets:
    async def run() -> Offsets:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        consumer.subscribe([topic])
        await consumer.start()
        first: Offsets = {}
        try:
            deadline = time.monotonic() + _DEADLINE_S
            while len(first) < partitions and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        first.setdefault(r.partition, r.offset)
        finally:
            await consumer.stop()
        return first

    return asyncio.run(run())


def read_kcat(bootstrap: str, group: str, topic: str, remaining: int) -> Offsets:
    """kcat reads the ``remaining`` records, so every partition's first one shows."""
    printed = _kcat(bootstrap, group, topic, remaining)
    return {p: min(o) for p, o in printed.items()}


READERS: dict[str, Callable[..., Offsets]] = {
    "confluent": read_confluent,
    "kafka-python": read_kafka_python,
    "aiokafka": read_aiokafka,
    "kcat": read_kcat,
}


# -- OffsetFetch through admin clients --------------------------------------------------


def confluent_committed(bootstrap: str, group: str) -> dict[int, int]:
    """Offsets only: confluent-kafka 2.16 reads committed metadata as a C string that
    librdkafka's admin result does not terminate, so bytes past its end show up."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    result = future.result(15)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def kafka_python_committed(
    bootstrap: str, groups: list[str]
) -> dict[str, dict[int, tuple[int, str]]]:
    """Several groups in one OffsetFetch (v8, multi-group)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        result = admin.list_group_offsets(groups)
    finally:
        admin.close()
    return {
        group: {tp.partition: (om.offset, om.metadata or "") for tp, om in offsets.items()}
        for group, offsets in result.items()
    }


def aiokafka_committed(bootstrap: str, group: str) -> dict[int, tuple[int, str]]:
    async def run() -> dict[int, tuple[int, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {tp.partition: (om.offset, om.metadata or "") for tp, om in offsets.items()}

    return asyncio.run(run())


FETCHERS: dict[str, Callable[[str, str], dict[int, tuple[int, str]] | dict[int, int]]] = {
    "confluent": confluent_committed,
    "kafka-python": lambda bootstrap, group: kafka_python_committed(bootstrap, [group])[group],
    "aiokafka": aiokafka_committed,
}
