"""Durability under SIGKILL: a confluent-kafka producer (acks=all, idempotent) streams
unique values; the broker is SIGKILLed mid-stream and restarted on the same port while
the producer keeps going. Afterwards every acknowledged record is stored exactly once,
at the offset its acknowledgement reported.

Under ``--flush-policy durable`` an acknowledgement follows an fsync, so this holds
even for a power loss (which a test cannot stage). Under the default ``interval``
policy it holds for a killed *process* as well, because acknowledged data was written
to the page cache before the acknowledgement and the kernel keeps it; only an OS crash
or power loss can lose what was written since the last fsync. The last test shows the
background round fsyncs acknowledged data on its own and prints how long it took (the
window is about ``flush.interval_ms``; a busy machine stretches it, so it is not asserted).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.launcher import BrokerProcess
from tests.broker.robustness.clients import KafkaConsumer, TopicPartition
from tests.broker.robustness.conftest import StartBroker
from tests.broker.robustness.support import metric, scrape, wait_until

TOPIC = "stream"
PARTITIONS = 3
ACKED_BEFORE_KILL = 3000
ACKED_AFTER_RESTART = 3000


@dataclass
class Acked:
    partition: int
    offset: int


@dataclass
class StreamingProducer:
    """Produces unique values from a thread until stopped; records acknowledgements."""

    bootstrap: str
    acked: dict[bytes, Acked] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def _delivered(self, err: object, msg: object) -> None:
        with self.lock:
            if err is not None:
                self.errors.append(str(err))
            else:
                value = msg.value()  # type: ignore[attr-defined]
                assert value not in self.acked, "the same value was acknowledged twice"
                self.acked[value] = Acked(msg.partition(), msg.offset())  # type: ignore[attr-defined]

    def _run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 2,
                "message.timeout.ms": 120_000,
                "reconnect.backoff.ms": 50,
                "reconnect.backoff.max.ms": 500,
                "error_cb": lambda err: None,  # transport errors while the broker is down
            }
        )
        while not self.stop.is_set() and self.sent < 200_000:
            value = f"value-{self.sent:07d}".encode()
            try:
                producer.produce(TOPIC, value=value, on_delivery=self._delivered)
                self.sent += 1
            except BufferError:
                producer.poll(0.05)
                continue
            if self.sent % 50 == 0:
                producer.poll(0.002)
        remaining = producer.flush(120)
        if remaining:
            self.errors.append(f"{remaining} messages neither delivered nor failed")


def consume_everything(broker: BrokerProcess) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every stored record, read with kafka-python."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
    )
    out: list[tuple[int, int, bytes]] = []
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        total = sum(ends.values())
        deadline = time.monotonic() + 60
        while len(out) < total and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                out.extend((tp.partition, r.offset, r.value) for r in records)
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param("durable", id="durable policy (fsync before the acknowledgement)"),
        pytest.param("interval", id="default interval policy (page cache survives the kill)"),
    ],
)
def test_every_acknowledged_record_survives_a_sigkill_mid_stream_exactly_once(
    start_broker: StartBroker, policy: str
) -> None:
    broker = start_broker("--flush-policy", policy)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(timeout=30)

    stream = StreamingProducer(broker.bootstrap)
    stream.thread.start()
    try:
        wait_until(lambda: stream.acked_count() >= ACKED_BEFORE_KILL, 60, "acknowledgements")
        sent_at_kill = stream.sent
        broker.kill()  # SIGKILL while the producer keeps sending
        acked_at_kill = stream.acked_count()
        broker.restart()
        wait_until(
            lambda: stream.acked_count() >= acked_at_kill + ACKED_AFTER_RESTART,
            120,
            "acknowledgements after the restart",
        )
    finally:
        stream.stop.set()
        stream.thread.join(180)
    assert not stream.thread.is_alive()
    assert stream.sent > sent_at_kill, "the producer was not streaming when the broker died"
    assert stream.errors == []

    stored = consume_everything(broker)
    counts = Counter(value for _, _, value in stored)
    duplicates = [v for v, n in counts.items() if n > 1]
    assert duplicates == [], f"{len(duplicates)} values stored more than once"
    where = {value: (partition, offset) for partition, offset, value in stored}
    missing = [v for v in stream.acked if v not in where]
    assert missing == [], f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    moved = [v for v, a in stream.acked.items() if where[v] != (a.partition, a.offset)]
    assert moved == [], f"{len(moved)} records are not at their acknowledged offset"
    print(
        f"{policy}: {len(stream.acked)} acknowledged ({acked_at_kill} before the SIGKILL), "
        f"{len(stored)} stored, {len(stored) - len(stream.acked)} stored but unacknowledged"
    )


def test_the_interval_policy_fsyncs_acknowledged_data_in_a_background_round(
    start_broker: StartBroker,
) -> None:
    interval_ms = 300
    broker = start_broker(config={"flush": {"policy": "interval", "interval_ms": interval_ms}})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(timeout=30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    windows = []
    for round_ in range(5):
        delivered: list[float] = []

        def on_delivery(err: object, _msg: object, out: list[float] = delivered) -> None:
            if not err:
                out.append(time.monotonic())

        producer.produce(TOPIC, value=b"r%d" % round_, on_delivery=on_delivery)
        if producer.flush(10) != 0 or not delivered:
            raise KafkaException("not delivered")
        acked_at = delivered[0]

        def flushed() -> bool:
            return metric(scrape(broker), "tidewatch_broker_unflushed_partitions") == 0

        # Nothing but the background round flushes here (no other produce, no shutdown);
        # how soon it comes is a figure to print, not to assert on a shared machine.
        wait_until(flushed, 30, "the background fsync", interval_s=0.01)
        windows.append(time.monotonic() - acked_at)
    print(f"interval policy ({interval_ms} ms): acknowledged data fsynced after {windows} s")
