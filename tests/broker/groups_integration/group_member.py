"""One consumer-group member of a given client family, run as its own process.

    python -m tests.broker.groups_integration.group_member --client confluent \\
        --bootstrap HOST:PORT --group G --topic T --out FILE [--instance-id ID] \\
        [--session-timeout-ms MS]

It subscribes, and for every batch it receives it first writes the records to FILE
(flushed), then commits synchronously: at-least-once, so a member killed between the
write and the commit leaves duplicates, never gaps. Lines written to FILE:

    A 0,3,5          the member's assignment after each rebalance callback (may be empty)
    R P O VALUE      one consumed record: partition, offset, value
    X                the member closed politely (SIGTERM: close() sends LeaveGroup)

SIGKILL leaves no X and no LeaveGroup: the broker must notice the expired session.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import IO, Any

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
POLL_TIMEOUT_S = 0.2


class Journal:
    """The member's output file: assignment changes and consumed records."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.assignment: set[int] = set()

    def assigned(self, partitions: set[int]) -> None:
        self.assignment = set(partitions)
        self._write(f"A {','.join(str(p) for p in sorted(self.assignment))}\n")

    def revoked(self, partitions: set[int]) -> None:
        self.assigned(self.assignment - partitions)

    def records(self, rows: list[tuple[int, int, bytes]]) -> None:
        if rows:
            self._write("".join(f"R {p} {o} {v.decode()}\n" for p, o, v in rows))

    def closed(self) -> None:
        self._write("X\n")

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _confluent_row(
    partition: int | None, offset: int | None, value: bytes | None
) -> tuple[int, int, bytes]:
    """A consumed confluent-kafka record as a journal row (a record always has a place)."""
    assert partition is not None and offset is not None
    return partition, offset, value or b""


def run_confluent(args: argparse.Namespace, journal: Journal, stop: list[bool]) -> None:
    from confluent_kafka import Consumer, KafkaException

    config: dict[str, Any] = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.client_id,
        "session.timeout.ms": args.session_timeout_ms,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "log_level": 3,
    }
    if args.instance_id:
        config["group.instance.id"] = args.instance_id
    consumer = Consumer(config)
    consumer.subscribe(
        [args.topic],
        on_assign=lambda _c, parts: journal.assigned({p.partition for p in parts}),
        on_revoke=lambda _c, parts: journal.revoked({p.partition for p in parts}),
    )
    while not stop[0]:
        messages = consumer.consume(num_messages=500, timeout=POLL_TIMEOUT_S)
        rows = [
            _confluent_row(m.partition(), m.offset(), m.value())
            for m in messages
            if m.error() is None
        ]
        journal.records(rows)
        if rows:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException:
                pass  # a rebalance took the partitions: the next owner re-reads them
    consumer.close()


def run_kafka_python(args: argparse.Namespace, journal: Journal, stop: list[bool]) -> None:
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.errors import KafkaError

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            journal.revoked({tp.partition for tp in revoked})

        def on_partitions_assigned(self, assigned: Any) -> None:
            journal.assigned(journal.assignment | {tp.partition for tp in assigned})

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=args.client_id,
        group_instance_id=args.instance_id or None,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumer.subscribe([args.topic], listener=Listener())
    while not stop[0]:
        batches = consumer.poll(timeout_ms=int(POLL_TIMEOUT_S * 1000), max_records=500)
        rows = [(r.partition, r.offset, r.value or b"") for rs in batches.values() for r in rs]
        journal.records(rows)
        if rows:
            try:
                consumer.commit()
            except KafkaError:
                pass
    consumer.close()


async def run_aiokafka(args: argparse.Namespace, journal: Journal, stop: list[bool]) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
    from aiokafka.errors import KafkaError

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            journal.revoked({tp.partition for tp in revoked})

        def on_partitions_assigned(self, assigned: Any) -> None:
            journal.assigned({tp.partition for tp in assigned})

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.__setitem__(0, True))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        client_id=args.client_id,
        group_instance_id=args.instance_id or None,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumer.subscribe([args.topic], listener=Listener())
    await consumer.start()
    try:
        while not stop[0]:
            batches = await consumer.getmany(timeout_ms=int(POLL_TIMEOUT_S * 1000))
            rows = [(r.partition, r.offset, r.value or b"") for rs in batches.values() for r in rs]
            journal.records(rows)
            if rows:
                try:
                    await consumer.commit()
                except KafkaError:
                    pass
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=("confluent", "kafka-python", "aiokafka"))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--client-id", default="member")
    parser.add_argument("--instance-id", default="")
    parser.add_argument("--session-timeout-ms", type=int, default=SESSION_TIMEOUT_MS)
    args = parser.parse_args(argv)
    stop = [False]
    with open(args.out, "a", encoding="utf-8") as out:
        journal = Journal(out)
        if args.client == "aiokafka":
            asyncio.run(run_aiokafka(args, journal, stop))
        else:
            signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
            runner = run_confluent if args.client == "confluent" else run_kafka_python
            runner(args, journal, stop)
        journal.closed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
