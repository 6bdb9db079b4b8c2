"""The clients of a run and the recorder they write the history into.

Real clients only (confluent-kafka): idempotent acks=all producers, consumers in one
group committing their positions, and a poller asking the group coordinator for the
committed offsets (OffsetFetch through the admin client). Each runs in its own thread
and records what it was told into one :class:`HistoryRecorder` (thread-safe). The
final read of the whole topic is here too (:func:`read_topic`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from loadtest.jepsen.history import (
    OFFSET_FETCH,
    CommitObservation,
    Delivery,
    History,
    ReplicaLog,
    StoredRecord,
    Write,
)

__all__ = [
    "ClientTimeouts",
    "ConsumerWorker",
    "HistoryRecorder",
    "OffsetPoller",
    "ProducerWorker",
    "read_topic",
]

NO_REPORT: Final = "no delivery report"
_POLL_SECONDS: Final = 0.2


@dataclass(frozen=True, slots=True)
class ClientTimeouts:
    """Client timeouts: long enough to ride out one fault, short enough that a run
    stays bounded (``message_ms`` bounds how long a write can stay unanswered)."""

    request_ms: int = 3000
    message_ms: int = 20000
    session_ms: int = 6000


@dataclass
class HistoryRecorder:
    """Collects what the clients were told. Every method may be called from any
    thread. A write is pending from its attempt until its delivery report."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _writes: dict[str, Write] = field(default_factory=dict)
    _pending: set[str] = field(default_factory=set)
    _deliveries: list[Delivery] = field(default_factory=list)
    _commits: list[CommitObservation] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def attempt(self, write_id: str, producer: str, partition: int) -> None:
        with self._lock:
            self._writes[write_id] = Write(write_id, producer, partition, "failed", error=NO_REPORT)
            self._pending.add(write_id)

    def acknowledged(self, write_id: str, offset: int) -> None:
        with self._lock:
            write = self._writes[write_id]
            self._writes[write_id] = Write(write_id, write.producer, write.partition, "ok", offset)
            self._pending.discard(write_id)

    def failed(self, write_id: str, error: str) -> None:
        with self._lock:
            write = self._writes[write_id]
            self._writes[write_id] = Write(
                write_id, write.producer, write.partition, "failed", error=error
            )
            self._pending.discard(write_id)
            self.errors[f"produce: {error}"] += 1

    def delivered(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def committed(self, observation: CommitObservation) -> None:
        with self._lock:
            self._commits.append(observation)

    def error(self, what: str) -> None:
        with self._lock:
            self.errors[what] += 1

    def latest_committed(self, source: str) -> dict[int, int]:
        """The last committed offset ``source`` observed, by partition."""
        with self._lock:
            return {c.partition: c.offset for c in self._commits if c.source == source}

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def history(
        self,
        topic: str,
        partitions: int,
        final_read: tuple[StoredRecord, ...],
        replicas: tuple[ReplicaLog, ...],
    ) -> History:
        """The history so far; writes still pending count as failed (never answered)."""
        with self._lock:
            return History(
                topic,
                partitions,
                tuple(self._writes.values()),
                tuple(self._deliveries),
                tuple(self._commits),
                final_read,
                replicas,
            )


def _value(message: Any) -> str:
    raw = message.value()
    return "" if raw is None else bytes(raw).decode(errors="replace")


class ProducerWorker(threading.Thread):
    """Writes ``writes`` records ``p<n>-<i>`` round-robin over the partitions, one every
    ``interval_seconds``, with an idempotent acks=all producer; stops early when
    ``stop`` is set. A producer that hits a fatal error (the idempotent producer gives
    up) is replaced by a new one (a new producer id); the count is in ``errors``."""

    def __init__(
        self,
        name: str,
        bootstrap: str,
        topic: str,
        partitions: int,
        writes: int,
        interval_seconds: float,
        recorder: HistoryRecorder,
        timeouts: ClientTimeouts,
    ) -> None:
        super().__init__(name=f"jepsen-{name}", daemon=True)
        self.producer_name = name
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.writes, self.interval_seconds = writes, interval_seconds
        self.recorder, self.timeouts = recorder, timeouts
        self.stop = threading.Event()
        self._fatal = threading.Event()

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "log_level": 0,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "request.timeout.ms": self.timeouts.request_ms,
            "message.timeout.ms": self.timeouts.message_ms,
            "retry.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 1000,
            "error_cb": self._on_error,
        }

    def _on_error(self, error: Any) -> None:
        if error.fatal():
            self.recorder.error(f"producer fatal: {error.str()}")
            self._fatal.set()

    def _on_delivery(self, error: Any, message: Any) -> None:
        write_id = _value(message)
        if error is None:
            self.recorder.acknowledged(write_id, int(message.offset()))
        else:
            self.recorder.failed(write_id, str(error.name()))

    def run(self) -> None:
        from confluent_kafka import KafkaException, Producer

        producer = Producer(self._config())
        for index in range(self.writes):
            if self.stop.is_set():
                break
            if self._fatal.is_set():
                producer = self._replace(producer)
            write_id = f"{self.producer_name}-{index}"
            partition = index % self.partitions
            self.recorder.attempt(write_id, self.producer_name, partition)
            try:
                producer.produce(
                    self.topic,
                    write_id.encode(),
                    partition=partition,
                    on_delivery=self._on_delivery,
                )
            except (BufferError, KafkaException) as exc:
                self.recorder.failed(write_id, type(exc).__name__)
            producer.poll(0)
            time.sleep(self.interval_seconds)
        producer.flush(self.timeouts.message_ms / 1000 + 5)

    def _replace(self, producer: Any) -> Any:
        from confluent_kafka import Producer

        producer.purge()
        producer.flush(0)  # delivery reports of the purged writes: failed, maybe stored
        self._fatal.clear()
        self.recorder.error("producer replaced after a fatal error")
        return Producer(self._config())


class ConsumerWorker(threading.Thread):
    """A group member reading ``topic`` from the earliest offset and committing its
    positions asynchronously every ``commit_every`` records and whenever a poll comes
    back empty with records left uncommitted (and synchronously when it stops). Its
    session number goes up at each assignment (eager rebalancing: the range assignor
    revokes every partition before assigning)."""

    def __init__(
        self,
        name: str,
        bootstrap: str,
        topic: str,
        group: str,
        recorder: HistoryRecorder,
        timeouts: ClientTimeouts,
        commit_every: int = 10,
    ) -> None:
        super().__init__(name=f"jepsen-{name}", daemon=True)
        self.consumer_name = name
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.recorder, self.timeouts, self.commit_every = recorder, timeouts, commit_every
        self.stop = threading.Event()
        self.session = 0

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "log_level": 0,
            "group.id": self.group,
            "client.id": self.consumer_name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "range",
            "session.timeout.ms": self.timeouts.session_ms,
            "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": 200,
            "socket.timeout.ms": self.timeouts.request_ms * 2,
            "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 1000,
            "on_commit": self._on_commit,
        }

    def _on_assign(self, consumer: Any, partitions: Any) -> None:
        self.session += 1

    def _on_commit(self, error: Any, partitions: Any) -> None:
        if error is not None:
            self.recorder.error(f"commit: {error.name()}")
            return
        for tp in partitions:
            if tp.error is None and tp.offset >= 0:
                self.recorder.committed(
                    CommitObservation(
                        self.group, tp.partition, tp.offset, self.consumer_name, self.session
                    )
                )

    def run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(self._config())
        consumer.subscribe([self.topic], on_assign=self._on_assign)
        received = committed = 0
        try:
            while not self.stop.is_set():
                message = consumer.poll(_POLL_SECONDS)
                if message is None:
                    if committed < received:  # idle: commit what is left over
                        self._commit(consumer)
                        committed = received
                    continue
                error = message.error()
                if error is not None:
                    self.recorder.error(f"consume: {error.name()}")
                    continue
                delivery = Delivery(
                    self.consumer_name,
                    self.session,
                    int(message.partition() or 0),
                    int(message.offset() or 0),
                    _value(message),
                )
                self.recorder.delivered(delivery)
                received += 1
                if received - committed >= self.commit_every:
                    self._commit(consumer)
                    committed = received
            self._commit(consumer, asynchronous=False)
        finally:
            consumer.close()

    def _commit(self, consumer: Any, asynchronous: bool = True) -> None:
        """Commit the current positions; a commit refused at once (nothing assigned,
        no coordinator) is counted, the next one will carry the positions."""
        from confluent_kafka import KafkaException

        try:
            consumer.commit(asynchronous=asynchronous)
        except KafkaException as exc:
            self.recorder.error(f"commit: {exc.args[0].name()}")


class OffsetPoller(threading.Thread):
    """Asks the group coordinator for ``group``'s committed offsets on ``topic``
    (OffsetFetch) every ``interval_seconds`` until stopped, one request at a time.

    It asks through a consumer that carries the group id but never joins the group
    (``Consumer.committed``): the admin client's OffsetFetch aborted the whole process
    on a librdkafka assertion (``rd_kafka_enq_once_del_source_return``) while a
    broker was down."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        group: str,
        recorder: HistoryRecorder,
        interval_seconds: float = 0.2,
    ) -> None:
        super().__init__(name="jepsen-offset-poller", daemon=True)
        self.bootstrap, self.topic, self.partitions, self.group = (
            bootstrap,
            topic,
            partitions,
            group,
        )
        self.recorder, self.interval_seconds = recorder, interval_seconds
        self.stop = threading.Event()

    def run(self) -> None:
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        wanted = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        try:
            while not self.stop.wait(self.interval_seconds):
                try:
                    answer = consumer.committed(wanted, timeout=2)
                except KafkaException as exc:
                    self.recorder.error(f"offset-fetch: {exc.args[0].name()}")
                    continue
                for tp in answer:
                    if tp.error is None and tp.offset >= 0:
                        self.recorder.committed(
                            CommitObservation(self.group, tp.partition, tp.offset, OFFSET_FETCH)
                        )
        finally:
            consumer.close()


def read_topic(
    bootstrap: str, topic: str, partitions: int, timeout_seconds: float
) -> tuple[StoredRecord, ...]:
    """Every record of ``topic`` from offset 0 up to each partition's high watermark
    (taken when the read starts), by partition then offset. Raises TimeoutError when
    the read is not complete within ``timeout_seconds``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-final-read",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    deadline = time.monotonic() + timeout_seconds
    try:
        ends = {
            p: _high_watermark(consumer, TopicPartition(topic, p), deadline)
            for p in range(partitions)
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        records = _read_until(consumer, ends, deadline)
    finally:
        consumer.close()
    return tuple(sorted(records, key=lambda r: (r.partition, r.offset)))


def _high_watermark(consumer: Any, partition: Any, deadline: float) -> int:
    """The partition's high watermark, asking again while the client does not know
    the partition yet or its leader does not answer (until ``deadline``)."""
    from confluent_kafka import KafkaException

    while True:
        try:
            return int(consumer.get_watermark_offsets(partition, timeout=5)[1])
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no high watermark for {partition}: {exc}") from None
            time.sleep(_POLL_SECONDS)


def _read_until(consumer: Any, ends: Mapping[int, int], deadline: float) -> list[StoredRecord]:
    from confluent_kafka import KafkaError

    records: list[StoredRecord] = []
    next_offset = dict.fromkeys(ends, 0)
    while any(next_offset[p] < end for p, end in ends.items()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"final read stopped at {next_offset}, high watermarks {ends}")
        message = consumer.poll(_POLL_SECONDS)
        if message is None:
            continue
        partition, offset = int(message.partition()), int(message.offset())
        if message.error() is not None:  # the end of a partition (enable.partition.eof)
            if message.error().code() == KafkaError._PARTITION_EOF:
                next_offset[partition] = max(next_offset[partition], offset)
            continue
        if offset < ends[partition]:
            records.append(StoredRecord(partition, offset, _value(message)))
        next_offset[partition] = max(next_offset[partition], offset + 1)
    return records
