"""Idempotent acks=all producers of every client family that keep producing across a
fault: each sends the first half of its values and waits for every acknowledgement,
then sends the second half, calls ``fault`` while those are in flight (kcat, a
process per run, between two runs), and waits for every acknowledgement again. Any
delivery error fails; retrying is the client's business (NOT_LEADER_OR_FOLLOWER, a
dropped connection, NOT_ENOUGH_REPLICAS are all retriable)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from tests.interop.clients import kafka_python
from tests.interop.kcat import kcat

__all__ = ["PRODUCERS", "Fault"]

Fault = Callable[[], None]
DELIVERY_TIMEOUT_S = 60.0
_QUIET = {"log_level": 3}


def _halves(values: Sequence[str]) -> tuple[Sequence[str], Sequence[str]]:
    middle = len(values) // 2
    return values[:middle], values[middle:]


def produce_confluent(bootstrap: str, topic: str, values: Sequence[str], fault: Fault) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": int(DELIVERY_TIMEOUT_S * 1000),
            **_QUIET,
        }
    )
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    first, second = _halves(values)
    for value in first:
        producer.produce(topic, value.encode(), partition=0, on_delivery=on_delivery)
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0 and not errors, errors
    for value in second:
        producer.produce(topic, value.encode(), partition=0, on_delivery=on_delivery)
    producer.poll(0)
    fault()
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0, "undelivered records left"
    assert not errors, errors


def produce_kafka_python(bootstrap: str, topic: str, values: Sequence[str], fault: Fault) -> None:
    kafka = kafka_python()
    producer = kafka.KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        delivery_timeout_ms=int(DELIVERY_TIMEOUT_S * 1000),
    )
    try:
        first, second = _halves(values)
        for future in [producer.send(topic, v.encode(), partition=0) for v in first]:
            future.get(DELIVERY_TIMEOUT_S)
        futures = [producer.send(topic, v.encode(), partition=0) for v in second]
        fault()
        for future in futures:
            future.get(DELIVERY_TIMEOUT_S)
    finally:
        producer.close(DELIVERY_TIMEOUT_S)


def produce_aiokafka(bootstrap: str, topic: str, values: Sequence[str], fault: Fault) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=int(DELIVERY_TIMEOUT_S * 1000),
        )
        await producer.start()
        try:
            first, second = _halves(values)
            acks = [await producer.send(topic, v.encode(), partition=0) for v in first]
            await asyncio.wait_for(asyncio.gather(*acks), DELIVERY_TIMEOUT_S)
            acks = [await producer.send(topic, v.encode(), partition=0) for v in second]
            fault()
            await asyncio.wait_for(asyncio.gather(*acks), DELIVERY_TIMEOUT_S)
        finally:
            await producer.stop()

    # aiokafka leaves the socket of a refused connect attempt (to the killed leader) to the
    # garbage collector; its ResourceWarning says nothing about the broker, so it is
    # silenced here, where the sockets are released, and nowhere else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        asyncio.run(run())
        gc.collect()


def produce_kcat(bootstrap: str, topic: str, values: Sequence[str], fault: Fault) -> None:
    def run(part: Sequence[str]) -> None:
        kcat(
            "-P",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-p",
            "0",
            "-X",
            "acks=all",
            "-X",
            "enable.idempotence=true",
            "-X",
            f"message.timeout.ms={int(DELIVERY_TIMEOUT_S * 1000)}",
            stdin="".join(f"{v}\n" for v in part).encode(),
            timeout_s=DELIVERY_TIMEOUT_S * 2,
        )

    first, second = _halves(values)
    run(first)
    fault()
    run(second)


PRODUCERS: dict[str, Callable[[str, str, Sequence[str], Fault], None]] = {
    "confluent": produce_confluent,
    "kafka-python": produce_kafka_python,
    "aiokafka": produce_aiokafka,
    "kcat": produce_kcat,
}
