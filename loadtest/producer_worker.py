"""A producer worker process: its share of the open-loop schedule, with librdkafka.

The worker sends arrivals ``worker, worker + workers, ...`` of the schedule (see
:mod:`loadtest.schedule`). Every message is due at a fixed time; when the client or the
generator falls behind, messages go out late but keep their scheduled time, and every
latency is measured from it (the header carries both times, see :mod:`loadtest.payload`).
It reports a :class:`~loadtest.frames.Frame` per stats interval on the shared queue,
obeys ``stop`` on its pipe, and ends with a :class:`~loadtest.frames.ProducerLedger`
(the fate of every arrival) for the data-loss accounting.

The hot loop avoids per-message work beyond packing the header and one ``produce``
call: latencies go into lists that become histograms once per interval, and delivery
results reach the ledger in one vectorized step per interval. confluent-kafka is
imported inside the process only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

import numpy as np

from loadtest import payload
from loadtest.distributions import KeyDistribution, SizeDistribution, key_bytes
from loadtest.frames import ProducerLedger, Ready, WorkerFailed
from loadtest.schedule import ArrivalSchedule, Phase
from loadtest.worker_stats import CLIENT_ERROR_PREFIX, IntervalStats, interval_of, wait_for_start

__all__ = ["ProducerTask", "producer_main"]

_CHUNK = 4096  # arrivals prepared at a time
_POLL_EVERY = 512  # serve delivery reports at least this often while catching up
_MIN_WAIT_SECONDS = 0.001
_MAX_WAIT_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class ProducerTask:
    worker: int
    workers: int
    run_id: int
    bootstrap: str
    topic: str
    phases: tuple[Phase, ...]
    sizes: SizeDistribution
    keys: KeyDistribution
    seed: int
    interval_seconds: float = 1.0
    flush_timeout_seconds: float = 30.0
    config: dict[str, str] = field(default_factory=dict)


def producer_main(task: ProducerTask, frames: Queue[Any], control: Connection) -> None:
    try:
        _Producer(task, frames, control).run()
    except Exception as exc:  # report, so the coordinator does not wait forever
        frames.put(WorkerFailed("producer", task.worker, f"{type(exc).__name__}: {exc}"))
        raise


class _Producer:
    def __init__(self, task: ProducerTask, frames: Queue[Any], control: Connection) -> None:
        self.task = task
        self.frames = frames
        self.control = control
        self.schedule = ArrivalSchedule(task.phases)
        self.total = self.schedule.worker_total(task.worker, task.workers)
        # The ledger: 0 no answer yet, 1 acknowledged, 2 failed.
        self.state = np.zeros(self.total, dtype=np.int8)
        self.partitions = np.full(self.total, -1, dtype=np.int32)
        self.offsets = np.full(self.total, -1, dtype=np.int64)
        self.rng = np.random.default_rng([task.seed, task.worker])
        size = max(task.sizes.max_drawn_bytes, payload.HEADER_BYTES)
        self.filler = memoryview(self.rng.bytes(size))
        self.stats = IntervalStats("producer", task.worker)
        self.acked_seq: list[int] = []
        self.acked_part: list[int] = []
        self.acked_off: list[int] = []
        self.failed_seq: list[int] = []
        self.pos = 0  # next own arrival (its sequence number) to send
        self.chunk_first = 0
        self.sched: list[int] = []
        self.sizes: list[int] = []
        self.keys: list[bytes | None] = []
        self.sent = self.sent_bytes = self.queue_full = 0
        self.sent_total = 0
        self.next_frame = 1
        self.start_ns = 0
        self.interval_ns = int(task.interval_seconds * 1e9)
        self.stopped = False

    def run(self) -> None:
        from confluent_kafka import Producer

        task = self.task
        self.producer = Producer(
            {"bootstrap.servers": task.bootstrap, "error_cb": self._on_client_error, **task.config}
        )
        self.producer.list_topics(task.topic, timeout=30)
        self.frames.put(Ready("producer", task.worker))
        command = wait_for_start(self.control)
        if command.name == "stop":
            return
        self.start_ns = command.start_ns
        while not self.stopped and self.pos < self.total:
            self._maybe_emit()
            if self.pos - self.chunk_first >= len(self.sched):
                self._next_chunk()
            self._send_due()
        self._drain()
        self.producer.flush(0)
        self._settle()
        self.frames.put(ProducerLedger(task.worker, self.state, self.partitions, self.offsets))

    def _on_delivery(self, err: Any, msg: Any) -> None:
        t = time.time_ns()
        _, _, _, seq, scheduled, sent = payload.unpack_from(msg.value())
        if err is None:
            self.stats.ack.append(t - scheduled)
            self.stats.service.append(t - sent)
            self.acked_seq.append(seq)
            self.acked_part.append(msg.partition())
            self.acked_off.append(msg.offset())
        else:
            self.stats.errors[err.name()] += 1
            self.failed_seq.append(seq)

    def _on_client_error(self, err: Any) -> None:
        """Errors the client reports outside deliveries (a broker connection lost...)."""
        self.stats.errors[f"{CLIENT_ERROR_PREFIX}{err.name()}"] += 1

    def _settle(self) -> None:
        """Move delivery results into the ledger (vectorized, once per interval)."""
        counts = self.stats.counts
        if self.acked_seq:
            index = np.asarray(self.acked_seq, dtype=np.int64)
            self.state[index] = 1
            self.partitions[index] = self.acked_part
            self.offsets[index] = self.acked_off
            counts["acked"] += len(self.acked_seq)
            self.acked_seq.clear()
            self.acked_part.clear()
            self.acked_off.clear()
        if self.failed_seq:
            self.state[np.asarray(self.failed_seq, dtype=np.int64)] = 2
            counts["failed"] += len(self.failed_seq)
            self.failed_seq.clear()
        counts["sent"] += self.sent
        counts["sent_bytes"] += self.sent_bytes
        counts["queue_full"] += self.queue_full
        self.sent = self.sent_bytes = self.queue_full = 0

    def _maybe_emit(self, force: bool = False) -> None:
        t = time.time_ns()
        if not force and t < self.start_ns + self.next_frame * self.interval_ns:
            return
        self.producer.poll(0)
        self._settle()
        resolved = int(np.count_nonzero(self.state))
        due = int(self.schedule.expected_by((t - self.start_ns) / 1e9)[()])
        own_due = _own_count(due, self.task.worker, self.task.workers)
        frame = self.stats.emit(
            self.next_frame - 1,
            backlog=max(0, own_due - self.pos),
            in_flight=self.sent_total - resolved,
        )
        self.frames.put(frame)
        self.next_frame = interval_of(t, self.start_ns, self.interval_ns) + 1
        if self.control.poll() and self.control.recv().name == "stop":
            self.stopped = True

    def _next_chunk(self) -> None:
        task = self.task
        self.chunk_first = self.pos
        indices = self.schedule.worker_indices(task.worker, task.workers, self.pos, _CHUNK)
        times = self.start_ns + np.rint(self.schedule.times(indices) * 1e9)
        self.sched = times.astype(np.int64).tolist()
        self.sizes = (task.sizes.draw(self.rng, len(indices)) - payload.HEADER_BYTES).tolist()
        ranks = task.keys.draw(self.rng, len(indices))
        n = len(indices)
        self.keys = [None] * n if ranks is None else [key_bytes(r) for r in ranks.tolist()]

    def _send_due(self) -> None:
        """Send every due arrival of the chunk; wait (serving callbacks) when none is due."""
        poll = self.producer.poll
        i = self.pos - self.chunk_first
        t = time.time_ns()
        if self.sched[i] > t:
            # librdkafka waits in whole milliseconds: sending in ticks of at least 1 ms
            # keeps the loop from spinning (the send delay it adds is measured).
            wait = (self.sched[i] - t) / 1e9
            poll(min(max(wait, _MIN_WAIT_SECONDS), _MAX_WAIT_SECONDS))
            return
        produce = self.producer.produce
        pack, filler, on_delivery = payload.pack, self.filler, self._on_delivery
        topic, worker, run_id = self.task.topic, self.task.worker, self.task.run_id
        sched, sizes, keys = self.sched, self.sizes, self.keys
        frame_end = self.start_ns + self.next_frame * self.interval_ns
        end = len(sched)
        sent = sent_bytes = 0
        delays = self.stats.delay
        while i < end and sched[i] <= t:
            now = time.time_ns()
            value = (
                pack(payload.MAGIC, worker, run_id, self.pos, sched[i], now) + filler[: sizes[i]]
            )
            try:
                produce(topic, value, keys[i], on_delivery=on_delivery)
            except BufferError:  # the client's queue is full: it waits for the target
                self.queue_full += 1
                poll(0.005)
                break
            delays.append(now - sched[i])
            sent_bytes += len(value)
            self.pos += 1
            i += 1
            sent += 1
            if sent % _POLL_EVERY == 0:
                poll(0)
                t = time.time_ns()
                if t >= frame_end:
                    break
        self.sent += sent
        self.sent_bytes += sent_bytes
        self.sent_total += sent
        poll(0)

    def _drain(self) -> None:
        """Everything handed over: wait for the last acknowledgements, still reporting."""
        deadline = time.monotonic() + self.task.flush_timeout_seconds
        while not self.stopped and time.monotonic() < deadline:
            remaining = self.producer.flush(min(self.task.interval_seconds / 4, 0.25))
            if remaining == 0:
                self._maybe_emit(force=True)
                return
            self._maybe_emit()


def _own_count(count: int, worker: int, workers: int) -> int:
    """How many of the first ``count`` arrivals belong to ``worker``."""
    if count <= worker:
        return 0
    return (count - 1 - worker) // workers + 1
