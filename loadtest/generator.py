"""The load generator: starts worker processes, keeps the clock, collects the results.

A run goes through these steps:

1. create the topic (AdminClient) unless it exists;
2. start the consumer processes and wait until each has joined its group, then the
   producer processes and wait until each is connected (``Ready``);
3. send every worker ``start`` with one shared start time a moment ahead: the schedule
   is anchored there, so all processes keep one timeline;
4. collect frames into the :class:`~loadtest.collector.Collector` (complete intervals
   are passed to ``on_point``, e.g. the progress bar) until every producer has sent its
   ledger;
5. drain: let the consumers run until each group has consumed as many records as were
   acknowledged (or ``drain_seconds`` pass), then stop them and collect their ledgers;
6. read each partition's log start and each group's committed offset, and account for
   every record (:mod:`loadtest.accounting`); judge the bottleneck
   (:mod:`loadtest.bottleneck`).

Processes are started with the ``spawn`` method (safe next to threads) and are always
stopped by their own handles: ``stop`` over the pipe, then terminate, then kill.
:meth:`LoadGenerator.control_group` pauses, resumes or slows a consumer group during a
run (the fault library uses it); it may be called from another thread.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from loadtest.accounting import GroupAccount, account
from loadtest.audit import AcksAudit, audit, read_stored
from loadtest.bottleneck import Verdict, judge
from loadtest.collector import Collector, IntervalPoint, LatencySummary
from loadtest.consumer_worker import ConsumerTask, consumer_main
from loadtest.frames import Command, ConsumerLedger, Frame, ProducerLedger, Ready, WorkerFailed
from loadtest.producer_worker import ProducerTask, producer_main
from loadtest.workload import Workload

__all__ = ["LoadError", "LoadGenerator", "LoadResult", "producer_config"]

log = logging.getLogger(__name__)

_START_MARGIN_SECONDS = 0.3
_READY_TIMEOUT_SECONDS = 60.0
_LEDGER_TIMEOUT_SECONDS = 30.0
_DRAIN_IDLE_SECONDS = 3.0


class LoadError(RuntimeError):
    """The run could not start or a worker failed; the message says which and why."""


@dataclass
class LoadResult:
    workload: Workload
    bootstrap: str
    started_at: float  # Unix time of the schedule's start
    wall_seconds: float
    producers: int
    consumers: dict[str, int]
    points: list[IntervalPoint]
    latency: dict[str, LatencySummary]
    totals: dict[str, int]
    consumed: dict[str, int]
    errors: dict[str, int]
    verdict: Verdict
    accounts: list[GroupAccount]
    warnings: list[str] = field(default_factory=list)
    audits: list[AcksAudit] = field(default_factory=list)  # when the log was audited

    @property
    def scheduled(self) -> int:
        return self.workload.producer.schedule.total

    def throughput(self) -> dict[str, float]:
        seconds = max(self.workload.duration_seconds, 1e-9)
        return {
            "target_per_second": self.scheduled / seconds,
            "sent_per_second": self.totals.get("sent", 0) / seconds,
            "acked_per_second": self.totals.get("acked", 0) / seconds,
            "sent_megabytes_per_second": self.totals.get("sent_bytes", 0) / seconds / 1e6,
        }


def producer_config(workload: Workload, worker: int = 0) -> dict[str, str]:
    """librdkafka settings of producer process ``worker`` (its client_config wins)."""
    p = workload.producer
    conf = {
        "acks": p.acks_of(worker),
        "compression.type": p.compression,
        "linger.ms": str(p.linger_ms),
        "batch.size": str(p.batch_bytes),
        "enable.idempotence": "true" if p.idempotence else "false",
        "socket.nagle.disable": "true",
        "queue.buffering.max.messages": "1000000",
        "queue.buffering.max.kbytes": "1048576",
        "log_level": "2",
    }
    conf.update(dict(p.client_config))
    return conf


class LoadGenerator:
    def __init__(
        self,
        workload: Workload,
        bootstrap: str,
        interval_seconds: float = 1.0,
        on_point: Callable[[IntervalPoint, Collector], None] | None = None,
        connect_timeout: float = 10.0,
        audit_log: bool = False,
    ) -> None:
        """``audit_log``: at the end, read the whole topic back and count how often each
        record is stored, per acks setting (:mod:`loadtest.audit`)."""
        self.connect_timeout = connect_timeout
        self.audit_log = audit_log
        self.workload = workload
        self.bootstrap = bootstrap
        self.interval_seconds = interval_seconds
        self.on_point = on_point
        self.run_id = secrets.randbits(32)
        self.n_producers = workload.producer.resolved_processes()
        self.members = {g.group: g.members for g in workload.groups}
        self.collector = Collector(
            workload.producer.schedule, interval_seconds, self.n_producers, self.members
        )
        self.lock = threading.Lock()  # guards the collector against readers in other threads
        self._ctx = mp.get_context("spawn")
        self._frames: Any = self._ctx.Queue()
        self._procs: list[tuple[str, str, int, BaseProcess, Connection]] = []
        self.start_ns = 0
        self.warnings: list[str] = []
        self._producer_ledgers: list[ProducerLedger] = []
        self._consumer_ledgers: list[ConsumerLedger] = []
        self._stop = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the topic and start every worker; returns once all are ready."""
        ensure_topic(self.workload, self.bootstrap, connect_timeout=self.connect_timeout)
        w = self.workload
        for g in w.groups:
            for m in range(g.members):
                task = ConsumerTask(
                    worker=m,
                    group=g.group,
                    run_id=self.run_id,
                    bootstrap=self.bootstrap,
                    topic=w.topic.name,
                    phases=w.producer.phases,
                    producer_workers=self.n_producers,
                    processing_ms=g.processing_ms,
                    offset_reset=g.offset_reset,
                    interval_seconds=self.interval_seconds,
                    config={"log_level": "2", **dict(g.client_config)},
                )
                self._spawn("consumer", g.group, m, consumer_main, task)
        self._await_ready(sum(self.members.values()))
        for k in range(self.n_producers):
            ptask = ProducerTask(
                worker=k,
                workers=self.n_producers,
                run_id=self.run_id,
                bootstrap=self.bootstrap,
                topic=w.topic.name,
                phases=w.producer.phases,
                sizes=w.producer.sizes,
                keys=w.producer.keys,
                seed=w.seed,
                interval_seconds=self.interval_seconds,
                config=producer_config(w, k),
            )
            self._spawn("producer", "", k, producer_main, ptask)
        self._await_ready(self.n_producers)

    def _spawn(self, kind: str, group: str, worker: int, target: Any, task: Any) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=target,
            args=(task, self._frames, child),
            name=f"tidewatch-load-{kind}-{group or 'p'}-{worker}",
            daemon=True,
        )
        proc.start()
        self._procs.append((kind, group, worker, proc, parent))

    def _await_ready(self, count: int) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        ready = 0
        while ready < count:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise LoadError(f"only {ready} of {count} workers connected to {self.bootstrap}")
            try:
                message = self._frames.get(timeout=min(timeout, 1.0))
            except queue.Empty:
                self._check_alive()
                continue
            if isinstance(message, WorkerFailed):
                raise LoadError(f"{message.kind} worker {message.worker} failed: {message.reason}")
            if isinstance(message, Ready):
                ready += 1

    def _check_alive(self) -> None:
        for kind, group, worker, proc, _ in self._procs:
            if proc.exitcode not in (None, 0):
                name = f"{kind} {group}:{worker}" if group else f"{kind} {worker}"
                raise LoadError(f"{name} worker exited with code {proc.exitcode}")

    def start(self) -> int:
        """Start the schedule a moment from now; returns its start (Unix ns)."""
        self.start_ns = time.time_ns() + int(_START_MARGIN_SECONDS * 1e9)
        self._broadcast(Command("start", start_ns=self.start_ns))
        return self.start_ns

    def _broadcast(
        self, command: Command, kind: str | None = None, group: str | None = None
    ) -> None:
        for k, g, _, proc, pipe in self._procs:
            if (kind is None or k == kind) and (group is None or g == group) and proc.is_alive():
                try:
                    pipe.send(command)
                except (BrokenPipeError, OSError):
                    pass

    def control_group(self, group: str, command: Command) -> None:
        """Pause, resume or slow every member of ``group`` (thread-safe)."""
        if group not in self.members:
            raise KeyError(f"no consumer group {group!r} in this workload")
        self._broadcast(command, kind="consumer", group=group)

    def request_stop(self) -> None:
        """Ask a running :meth:`run` to end early (from any thread)."""
        self._stop.set()

    def run(self) -> LoadResult:
        """Collect until the producers finish, drain the consumers, account (blocking)."""
        began = time.monotonic()
        producers_left = set(range(self.n_producers))
        while producers_left and not self._stop.is_set():
            self._receive(producers_left, set())
        if self._stop.is_set():
            self._broadcast(Command("stop"), kind="producer")
            self._collect_ledgers(producers_left, set())
        else:
            self._drain()
        consumers_left = {(g, m) for g, n in self.members.items() for m in range(n)}
        self._broadcast(Command("stop"), kind="consumer")
        self._collect_ledgers(set(), consumers_left)
        with self.lock:
            for point in self.collector.complete(flush=True):
                self._emit(point)
        return self._result(time.monotonic() - began)

    def _receive(self, producers: set[int], consumers: set[tuple[str, int]]) -> None:
        try:
            message = self._frames.get(timeout=0.5)
        except queue.Empty:
            self._check_alive()
            return
        with self.lock:
            if isinstance(message, Frame):
                self.collector.add(message)
            elif isinstance(message, ProducerLedger):
                self._producer_ledgers.append(message)
                producers.discard(message.worker)
                self.collector.finished("producer", message.worker)
            elif isinstance(message, ConsumerLedger):
                self._consumer_ledgers.append(message)
                consumers.discard((message.group, message.worker))
                self.collector.finished("consumer", message.worker, message.group)
            elif isinstance(message, WorkerFailed):
                raise LoadError(f"{message.kind} worker {message.worker} failed: {message.reason}")
            points = self.collector.complete()
        for point in points:
            self._emit(point)

    def _emit(self, point: IntervalPoint) -> None:
        if self.on_point is not None:
            try:
                self.on_point(point, self.collector)
            except Exception:  # a display must never break the run
                log.exception("progress callback failed")

    def _collect_ledgers(self, producers: set[int], consumers: set[tuple[str, int]]) -> None:
        deadline = time.monotonic() + _LEDGER_TIMEOUT_SECONDS
        while (producers or consumers) and time.monotonic() < deadline:
            self._receive(producers, consumers)
        if producers or consumers:
            self.warnings.append(
                f"no ledger from producers {sorted(producers)} / consumers {sorted(consumers)}"
            )

    def _drain(self) -> None:
        """Let consumer groups catch up with what was acknowledged: until each has
        consumed that many records, or none consumed anything for ``_DRAIN_IDLE_SECONDS``
        (retention may have deleted the rest), or ``drain_seconds`` pass."""
        if not self.members:
            return
        deadline = time.monotonic() + self.workload.drain_seconds
        consumers: set[tuple[str, int]] = set()
        progress = time.monotonic()
        seen = -1
        while time.monotonic() < deadline and not self._stop.is_set():
            with self.lock:
                acked = self.collector.totals["acked"]
                behind = [g for g in self.members if self.collector.consumed[g] < acked]
                consumed = sum(self.collector.consumed.values())
            if not behind:
                return
            if consumed != seen:
                seen, progress = consumed, time.monotonic()
            elif time.monotonic() - progress > _DRAIN_IDLE_SECONDS:
                break
            self._receive(set(), consumers)
        with self.lock:
            acked = self.collector.totals["acked"]
            for g in self.members:
                if self.collector.consumed[g] < acked:
                    self.warnings.append(
                        f"group {g} consumed {self.collector.consumed[g]} of {acked} "
                        "acknowledged records by the end of the drain"
                    )

    def _result(self, wall_seconds: float) -> LoadResult:
        log_start, committed = read_offsets(self.workload, self.bootstrap, list(self.members))
        groups = sorted(self.members)
        accounts = account(
            self._producer_ledgers, self._consumer_ledgers, log_start, committed, groups
        )
        audits = self._audit() if self.audit_log else []
        c = self.collector
        latency = c.summaries()
        totals = dict(c.totals)
        totals["scheduled"] = self.workload.producer.schedule.total
        verdict = judge(
            c.points,
            scheduled=totals["scheduled"],
            sent=totals.get("sent", 0),
            latency=latency,
            failed=totals.get("failed", 0),
            queue_full=totals.get("queue_full", 0),
            acked=totals.get("acked", 0),
            consumed=dict(c.consumed),
        )
        return LoadResult(
            workload=self.workload,
            bootstrap=self.bootstrap,
            started_at=self.start_ns / 1e9,
            wall_seconds=wall_seconds,
            producers=self.n_producers,
            consumers=dict(self.members),
            points=list(c.points),
            latency=latency,
            totals=totals,
            consumed={g: c.consumed[g] for g in groups},
            errors=dict(c.errors),
            verdict=verdict,
            accounts=accounts,
            warnings=list(self.warnings),
            audits=audits,
        )

    def _audit(self) -> list[AcksAudit]:
        try:
            stored, starts = read_stored(self.bootstrap, self.workload.topic.name, self.run_id)
        except Exception as exc:  # reported, not fatal: the accounting above still holds
            self.warnings.append(f"the log audit failed: {type(exc).__name__}: {exc}")
            return []
        return audit(self._producer_ledgers, stored, starts, self.workload.producer.acks_of)

    def close(self) -> None:
        """Stop every worker this generator started (by its own handle)."""
        for _, _, _, proc, pipe in self._procs:
            if proc.is_alive():
                try:
                    pipe.send(Command("stop"))
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + 10
        for _, _, _, proc, _ in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for *_, pipe in self._procs:
            pipe.close()
        self._procs.clear()
        self._frames.close()
        self._frames.join_thread()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- admin helpers (confluent-kafka) -------------------------------------------------------
def ensure_topic(
    workload: Workload, bootstrap: str, timeout: float = 30.0, connect_timeout: float = 10.0
) -> None:
    """Create the workload's topic when asked to and missing; wait until it is visible."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    topic = workload.topic
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": "0"})
    try:
        admin.list_topics(timeout=connect_timeout)
    except KafkaException as exc:
        raise LoadError(f"cannot reach {bootstrap}: {exc.args[0].str()}") from None
    if topic.create:
        new = NewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=topic.replication_factor,
            config=dict(topic.configs),
        )
        future = admin.create_topics([new], operation_timeout=timeout)[topic.name]
        try:
            future.result(timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise LoadError(f"cannot create topic {topic.name}: {error.str()}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(topic.name, timeout=timeout)
        info = metadata.topics.get(topic.name)
        if info is not None and info.error is None and info.partitions:
            return
        time.sleep(0.1)
    raise LoadError(f"topic {topic.name} is not available on {bootstrap}")


def read_offsets(
    workload: Workload, bootstrap: str, groups: list[str], timeout: float = 10.0
) -> tuple[dict[int, int], dict[str, dict[int, int]]]:
    """(log start offset per partition, committed offset per group and partition)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    topic = workload.topic.name
    log_start: dict[int, int] = {}
    committed: dict[str, dict[int, int]] = {}
    probe = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "tidewatch-load-offsets", "log_level": "2"}
    )
    try:
        metadata = probe.list_topics(topic, timeout=timeout)
        partitions = sorted(metadata.topics[topic].partitions)
        for p in partitions:
            low, _ = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            log_start[p] = low
    except (KafkaException, KeyError) as exc:
        log.warning("cannot read log start offsets: %s", exc)
        return log_start, committed
    finally:
        probe.close()
    for group in groups:
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": "2"})
        try:
            answer = reader.committed([TopicPartition(topic, p) for p in partitions], timeout)
            committed[group] = {tp.partition: tp.offset for tp in answer if tp.offset >= 0}
        except KafkaException as exc:
            log.warning("cannot read committed offsets of %s: %s", group, exc)
        finally:
            reader.close()
    return log_start, committed
