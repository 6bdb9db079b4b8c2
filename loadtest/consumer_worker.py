"""A consumer worker process: one member of a consumer group, with librdkafka.

It measures end-to-end latency from each record's *scheduled* send time (carried in
the header, see :mod:`loadtest.payload`) to when it is consumed, counts how often it
saw each (producer worker, sequence) of this run for the data-loss accounting, commits
automatically (every second), and obeys commands on its pipe:

- ``pause`` stops fetching (the partitions are paused, heartbeats continue, nothing is
  committed, so the group's lag grows and its status goes to STOP); ``resume`` undoes it;
- ``slow`` sets a processing time per record (a slow consumer); 0 restores the
  workload's own;
- ``stop`` ends the worker: it commits, leaves the group and sends its ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

import numpy as np

from loadtest import payload
from loadtest.frames import Command, ConsumerLedger, Ready, WorkerFailed
from loadtest.schedule import ArrivalSchedule, Phase
from loadtest.worker_stats import CLIENT_ERROR_PREFIX, IntervalStats, interval_of

__all__ = ["ConsumerTask", "consumer_main"]

_BATCH = 1000
_POLL_SECONDS = 0.05
_MAX_SLEEP_SECONDS = 0.1  # a slow consumer still answers commands this often


@dataclass(frozen=True, slots=True)
class ConsumerTask:
    worker: int
    group: str
    run_id: int
    bootstrap: str
    topic: str
    phases: tuple[Phase, ...]
    producer_workers: int
    processing_ms: float = 0.0
    offset_reset: str = "earliest"
    interval_seconds: float = 1.0
    config: dict[str, str] = field(default_factory=dict)


def consumer_main(task: ConsumerTask, frames: Queue[Any], control: Connection) -> None:
    try:
        _Consumer(task, frames, control).run()
    except Exception as exc:
        frames.put(
            WorkerFailed("consumer", task.worker, f"{type(exc).__name__}: {exc}", task.group)
        )
        raise


class _Consumer:
    def __init__(self, task: ConsumerTask, frames: Queue[Any], control: Connection) -> None:
        self.task = task
        self.frames = frames
        self.control = control
        self.paused = False
        self.processing_ms = task.processing_ms
        self.stats = IntervalStats("consumer", task.worker, task.group)
        schedule = ArrivalSchedule(task.phases)
        n = task.producer_workers
        self.counts = {w: np.zeros(schedule.worker_total(w, n), dtype=np.uint16) for w in range(n)}
        self.seen_worker: list[int] = []
        self.seen_seq: list[int] = []
        self.assigned = False
        self.holding = False  # partitions held paused until the start command

    def run(self) -> None:
        from confluent_kafka import Consumer

        task = self.task
        conf: dict[str, Any] = {
            "bootstrap.servers": task.bootstrap,
            "group.id": task.group,
            "auto.offset.reset": task.offset_reset,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "fetch.wait.max.ms": 100,
            "error_cb": self._on_client_error,
            **task.config,
        }
        consumer = Consumer(conf)
        self.consumer = consumer
        consumer.subscribe([task.topic], on_assign=self._on_assign)
        deadline = time.monotonic() + 60
        while not self.assigned and time.monotonic() < deadline:
            self._consume_batch(consumer, 0, 0)  # joins the group; nothing is counted yet
        self.frames.put(Ready("consumer", task.worker, task.group))
        command = self._serve_group_until_start(consumer)
        if command.name == "stop":
            consumer.close()
            return
        self._loop(consumer, command.start_ns)
        consumer.close()
        self._settle()
        self.frames.put(ConsumerLedger(task.worker, task.group, self.counts))

    def _serve_group_until_start(self, consumer: Any) -> Command:
        """Wait for the start (or stop) command while polling the consumer: a member that
        stops polling holds up every rebalance of its group, so a member of the same
        group whose process started later would never be assigned (librdkafka serves
        rebalances only in poll). Partitions stay paused meanwhile: nothing is read
        before the start."""
        self.holding = True
        consumer.pause(consumer.assignment())
        try:
            while True:
                while not self.control.poll():
                    self._consume_batch(consumer, 0, 0)
                command: Command = self.control.recv()
                if command.name in ("start", "stop"):
                    return command
        finally:
            self.holding = False
            if not self.paused:
                consumer.resume(consumer.assignment())

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned = True
        if (self.paused or self.holding) and partitions:
            consumer.pause(partitions)

    def _loop(self, consumer: Any, start_ns: int) -> None:
        interval_ns = int(self.task.interval_seconds * 1e9)
        next_frame = 1
        while True:
            now = time.time_ns()
            if now >= start_ns + next_frame * interval_ns:
                self._settle()
                self.frames.put(self.stats.emit(next_frame - 1, paused=self.paused))
                next_frame = interval_of(now, start_ns, interval_ns) + 1
            if self.control.poll() and self._obey(consumer, self.control.recv()):
                return
            self._consume_batch(consumer, start_ns, now)

    def _obey(self, consumer: Any, command: Command) -> bool:
        """Apply a command; True means stop."""
        if command.name == "stop":
            return True
        if command.name == "pause":
            self.paused = True
            consumer.pause(consumer.assignment())
        elif command.name == "resume":
            self.paused = False
            consumer.resume(consumer.assignment())
        elif command.name == "slow":
            self.processing_ms = command.processing_ms or self.task.processing_ms
        return False

    def _consume_batch(self, consumer: Any, start_ns: int, now_ns: int) -> None:
        # consume() with a timeout waits for a full batch; take what is there, else
        # block on poll(), which returns as soon as one record arrives.
        messages = consumer.consume(_BATCH, 0)
        if not messages:
            one = consumer.poll(_POLL_SECONDS)
            messages = [] if one is None else [one]
        if not messages or not start_ns:
            return
        t = time.time_ns()
        run_id = self.task.run_id
        e2e = self.stats.e2e
        consumed = foreign = 0
        for m in messages:
            err = m.error()
            if err is not None:
                self.stats.errors[err.name()] += 1
                continue
            value = m.value()
            if value is None or len(value) < payload.HEADER_BYTES:
                foreign += 1
                continue
            magic, worker, run, seq, scheduled, _ = payload.unpack_from(value)
            if magic != payload.MAGIC or run != run_id:
                foreign += 1
                continue
            e2e.append(t - scheduled)
            self.seen_worker.append(worker)
            self.seen_seq.append(seq)
            consumed += 1
        self.stats.counts["consumed"] += consumed
        self.stats.counts["foreign"] += foreign
        if self.processing_ms > 0 and consumed:
            self._process(consumed)

    def _process(self, records: int) -> None:
        """Simulated work; long waits are cut into slices that still answer commands."""
        remaining = records * self.processing_ms / 1000
        while remaining > 0 and not self.control.poll():
            step = min(remaining, _MAX_SLEEP_SECONDS)
            time.sleep(step)
            remaining -= step

    def _on_client_error(self, err: Any) -> None:
        """Errors the client reports outside messages (a broker connection lost...)."""
        self.stats.errors[f"{CLIENT_ERROR_PREFIX}{err.name()}"] += 1

    def _settle(self) -> None:
        if not self.seen_seq:
            return
        workers = np.asarray(self.seen_worker, dtype=np.int64)
        seqs = np.asarray(self.seen_seq, dtype=np.int64)
        for w, counts in self.counts.items():
            mine = seqs[(workers == w) & (seqs < counts.size)]
            if mine.size:
                np.add.at(counts, mine, 1)
        self.seen_worker.clear()
        self.seen_seq.clear()
