"""The four client families of KAFKA_NOTES.md behind one small interface.

Each family produces a list of ``Message`` to one partition (in order, waiting for every
acknowledgement and failing on any delivery error) and consumes a number of records from
an explicit offset with partitions assigned by hand: no consumer groups are involved.
Every call is bounded in time. kafka-python is imported lazily through ``kafka_python``,
which silences the deprecation warnings its import raises on Python 3.11.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, cast

from tests.interop.kcat import kcat_consume, kcat_produce
from tests.interop.messages import Consumed, Message, sample_messages

__all__ = [
    "FAMILIES",
    "AioKafka",
    "ClientFamily",
    "ConfluentKafka",
    "KafkaPython",
    "Kcat",
    "confluent_consumer",
    "kafka_python",
    "samples_for",
]

DEADLINE_S = 30.0
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def kafka_python() -> ModuleType:
    """``import kafka`` without its importlib.resources deprecation warnings (3.11),
    its refused connections closed (``_close_refused_sockets``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
        import kafka
        import kafka.admin
        import kafka.errors
        import kafka.net.inet
        import kafka.structs
    _close_refused_sockets(kafka.net.inet.KafkaNetSocket)
    return cast(ModuleType, kafka)  # kafka-python ships no type information


def _close_refused_sockets(socket_class: Any) -> None:
    """kafka-python 3.0 leaves the socket of a failed connect (a killed broker) open
    until the garbage collector finds it, whose ResourceWarning then fails whichever
    test is running (warnings are errors): close it where the connect fails."""
    if getattr(socket_class, "_tidewatch_closes_refused", False):
        return
    connect = socket_class.sock_connect

    async def sock_connect(self: Any, net: Any, sock: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await connect(self, net, sock, *args, **kwargs)
        except BaseException:
            sock.close()
            raise

    socket_class.sock_connect = sock_connect
    socket_class._tidewatch_closes_refused = True


class ClientFamily(Protocol):
    """What one client family can do, and produce/consume through it.

    Capabilities (what the client lets a user express): ``null_header_values`` a header
    whose value is null; ``timestamps`` explicit record timestamps; ``nul_in_headers``
    NUL bytes in header values; ``null_key_and_value`` a record with both null;
    ``per_message_headers`` different headers on each record of one run.
    """

    # Read-only, so that the frozen dataclasses below satisfy the protocol.
    @property
    def name(self) -> str: ...
    @property
    def null_header_values(self) -> bool: ...
    @property
    def timestamps(self) -> bool: ...
    @property
    def nul_in_headers(self) -> bool: ...
    @property
    def null_key_and_value(self) -> bool: ...
    @property
    def per_message_headers(self) -> bool: ...

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        partition: int = 0,
        compression: str = "none",
        options: dict[str, Any] | None = None,
    ) -> None: ...

    def consume(
        self,
        bootstrap: str,
        topic: str,
        count: int,
        *,
        partition: int = 0,
        start_offset: int = 0,
        options: dict[str, Any] | None = None,
    ) -> list[Consumed]: ...


def _headers(raw: Any) -> tuple[tuple[str, bytes | None], ...]:
    return tuple((str(k), None if v is None else bytes(v)) for k, v in (raw or ()))


@dataclass(frozen=True)
class Kcat:
    name: str = "kcat"
    null_header_values: bool = True
    timestamps: bool = False
    nul_in_headers: bool = False
    null_key_and_value: bool = False
    per_message_headers: bool = False

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        partition: int = 0,
        compression: str = "none",
        options: dict[str, Any] | None = None,
    ) -> None:
        props = [f"{k}={v}" for k, v in (options or {}).items()]
        kcat_produce(
            bootstrap, topic, partition, messages, compression=compression, properties=props
        )

    def consume(
        self,
        bootstrap: str,
        topic: str,
        count: int,
        *,
        partition: int = 0,
        start_offset: int = 0,
        options: dict[str, Any] | None = None,
    ) -> list[Consumed]:
        props = [f"{k}={v}" for k, v in (options or {}).items()]
        return kcat_consume(
            bootstrap, topic, partition, count, start_offset=start_offset, properties=props
        )


@dataclass(frozen=True)
class ConfluentKafka:
    name: str = "confluent-kafka"
    null_header_values: bool = True
    timestamps: bool = True
    nul_in_headers: bool = True
    null_key_and_value: bool = True
    per_message_headers: bool = True

    def producer(self, bootstrap: str, **config: Any) -> Any:
        from confluent_kafka import Producer

        return Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 5,
                "message.max.bytes": MAX_REQUEST_BYTES,
                **config,
            }
        )

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        partition: int = 0,
        compression: str = "none",
        options: dict[str, Any] | None = None,
    ) -> None:
        producer = self.producer(bootstrap, **{"compression.type": compression, **(options or {})})
        errors: list[str] = []
        delivered: list[int] = []

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                delivered.append(msg.offset())

        for m in messages:
            producer.produce(
                topic,
                value=m.value,
                key=m.key,
                partition=partition,
                timestamp=m.timestamp_ms or 0,
                headers=list(m.headers) or None,
                on_delivery=on_delivery,
            )
            producer.poll(0)
        remaining = producer.flush(DEADLINE_S)
        assert remaining == 0, f"{remaining} messages still undelivered after {DEADLINE_S}s"
        assert not errors, errors
        assert len(delivered) == len(messages)

    def consumer(self, bootstrap: str, **config: Any) -> Any:
        return confluent_consumer(bootstrap, {"fetch.wait.max.ms": 100, **config})

    def consume(
        self,
        bootstrap: str,
        topic: str,
        count: int,
        *,
        partition: int = 0,
        start_offset: int = 0,
        options: dict[str, Any] | None = None,
    ) -> list[Consumed]:
        from confluent_kafka import TopicPartition

        consumer = self.consumer(bootstrap, **(options or {}))
        got: list[Consumed] = []
        try:
            consumer.assign([TopicPartition(topic, partition, start_offset)])
            deadline = time.monotonic() + DEADLINE_S
            while len(got) < count and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                assert msg.error() is None, msg.error()
                got.append(
                    Consumed(
                        offset=msg.offset(),
                        key=msg.key(),
                        value=msg.value(),
                        headers=_headers(msg.headers()),
                        timestamp_ms=msg.timestamp()[1],
                    )
                )
        finally:
            consumer.close()
        return got


@dataclass(frozen=True)
class KafkaPython:
    name: str = "kafka-python"
    null_header_values: bool = False  # send() insists on (str, bytes) header tuples
    timestamps: bool = True
    nul_in_headers: bool = True
    null_key_and_value: bool = False
    per_message_headers: bool = True

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        partition: int = 0,
        compression: str = "none",
        options: dict[str, Any] | None = None,
    ) -> None:
        kafka = kafka_python()
        producer = kafka.KafkaProducer(
            bootstrap_servers=bootstrap,
            compression_type=None if compression == "none" else compression,
            linger_ms=5,
            max_request_size=MAX_REQUEST_BYTES,
            **(options or {}),
        )
        try:
            futures = [
                producer.send(
                    topic,
                    value=m.value,
                    key=m.key,
                    headers=list(m.headers),
                    partition=partition,
                    timestamp_ms=m.timestamp_ms,
                )
                for m in messages
            ]
            producer.flush(DEADLINE_S)
            for future in futures:
                future.get(DEADLINE_S)
        finally:
            producer.close(DEADLINE_S)

    def consume(
        self,
        bootstrap: str,
        topic: str,
        count: int,
        *,
        partition: int = 0,
        start_offset: int = 0,
        options: dict[str, Any] | None = None,
    ) -> list[Consumed]:
        kafka = kafka_python()
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            **(options or {}),
        )
        tp = kafka.TopicPartition(topic, partition)
        got: list[Consumed] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, start_offset)
            deadline = time.monotonic() + DEADLINE_S
            while len(got) < count and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    got.extend(
                        Consumed(r.offset, r.key, r.value, _headers(r.headers), r.timestamp)
                        for r in records
                    )
        finally:
            consumer.close()
        return got[:count] if len(got) > count else got


@dataclass(frozen=True)
class AioKafka:
    name: str = "aiokafka"
    null_header_values: bool = True
    timestamps: bool = True
    nul_in_headers: bool = True
    null_key_and_value: bool = False
    per_message_headers: bool = True

    def produce(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        *,
        partition: int = 0,
        compression: str = "none",
        options: dict[str, Any] | None = None,
    ) -> None:
        asyncio.run(self.produce_async(bootstrap, topic, messages, partition, compression, options))

    async def produce_async(
        self,
        bootstrap: str,
        topic: str,
        messages: Sequence[Message],
        partition: int = 0,
        compression: str = "none",
        options: dict[str, Any] | None = None,
    ) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            compression_type=None if compression == "none" else compression,
            linger_ms=5,
            max_request_size=MAX_REQUEST_BYTES,
            **(options or {}),
        )
        await producer.start()
        try:
            futures = [
                await producer.send(
                    topic,
                    value=m.value,
                    key=m.key,
                    partition=partition,
                    timestamp_ms=m.timestamp_ms,
                    headers=list(m.headers),
                )
                for m in messages
            ]
            await asyncio.wait_for(asyncio.gather(*futures), DEADLINE_S)
        finally:
            await producer.stop()

    def consume(
        self,
        bootstrap: str,
        topic: str,
        count: int,
        *,
        partition: int = 0,
        start_offset: int = 0,
        options: dict[str, Any] | None = None,
    ) -> list[Consumed]:
        return asyncio.run(
            self.consume_async(bootstrap, topic, count, partition, start_offset, options)
        )

    async def consume_async(
        self,
        bootstrap: str,
        topic: str,
        count: int,
        partition: int = 0,
        start_offset: int = 0,
        options: dict[str, Any] | None = None,
    ) -> list[Consumed]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            **(options or {}),
        )
        await consumer.start()
        tp = TopicPartition(topic, partition)
        got: list[Consumed] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, start_offset)
            deadline = time.monotonic() + DEADLINE_S
            while len(got) < count and time.monotonic() < deadline:
                batches = await consumer.getmany(tp, timeout_ms=500)
                for records in batches.values():
                    got.extend(
                        Consumed(r.offset, r.key, r.value, _headers(r.headers), r.timestamp)
                        for r in records
                    )
        finally:
            await consumer.stop()
        return got[:count] if len(got) > count else got


FAMILIES: dict[str, ClientFamily] = {
    f.name: f for f in (Kcat(), ConfluentKafka(), KafkaPython(), AioKafka())
}


def confluent_consumer(bootstrap: str, config: dict[str, Any] | None = None) -> Any:
    """A confluent-kafka Consumer for assign() without a consumer group.

    librdkafka insists on a group id; auto-commit stays off so that reading without a
    group leaves no committed offsets behind.
    """
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "tidewatch-interop",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            **(config or {}),
        }
    )


def samples_for(client: ClientFamily, tag: str | None = None) -> list[Message]:
    """The sample data set, restricted to what ``client`` can express."""
    return sample_messages(
        tag or client.name,
        timestamps=client.timestamps,
        null_header_values=client.null_header_values,
        nul_in_headers=client.nul_in_headers,
        null_key_and_value=client.null_key_and_value,
    )
