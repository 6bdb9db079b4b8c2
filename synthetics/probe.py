"""The probe of one target cluster: produce, consume, judge, measure.

Each interval the probe sends one record per partition of its topic (acks=all, see
``synthetics.record`` for the format) and a consumer reads them back; every send, ack,
failure and read goes to a :class:`~synthetics.classify.ProbeLedger`, whose verdicts
become metrics. Every ``broker_check_interval`` it opens a fresh connection to each
broker and asks for the topic's metadata (connection and metadata latency per broker,
leaders, coverage) and keeps the topic sized to the cluster.

Clients (aiokafka): an admin client (topic creation), a producer (``acks=all``,
idempotent unless configured otherwise) and a consumer in its own group
(``consumer_group``). The consumer is assigned every partition by hand rather than
subscribing, so a rebalance can never skip records and fake a loss; the group only
stores its committed offsets, which makes the probe's own lag visible to lag monitors.
It starts at the end of each partition as it was before the first send, and reads the
records of every probe instance but judges only its own (records carry the probe id).

Produce outcome per record: acknowledged within the ack SLA -> success; otherwise a
produce error with reason ``timeout`` (the probe keeps waiting, up to the client's
request timeout, to learn whether it was written after all), ``error`` (the client
gave up) or ``leader_change`` (either, while the partition's leader moved; see
``synthetics.leaders``), counted against the broker the record was sent to. Only
acknowledged records can be counted lost, so records sent around a leader change are
lost only if they were acknowledged and are not in the log.

Brokers: see ``synthetics.broker_checks`` (a broker that left the metadata but still
holds a probe replica is still checked, so a dead broker's errors keep counting).

Concurrency: all methods run on one event loop; sends run as tasks so a slow or dead
cluster never delays the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from contracts.clock import Clock, SystemClock
from contracts.metrics import MetricSpec
from synthetics import catalog as c
from synthetics.broker_checks import BrokerChecks
from synthetics.classify import LedgerConfig, Outcome, ProbeLedger, Verdict
from synthetics.config import TargetConfig
from synthetics.connection import client_options
from synthetics.coverage import (
    BrokerCheck,
    ClusterView,
    Coverage,
    coverage,
    layout_problems,
)
from synthetics.health import Health, HealthInputs, RecentEvents, assess
from synthetics.kafka_client import describe_error, is_not_leader
from synthetics.leaders import LeaderWatch, ProduceFailure, failure_reason
from synthetics.metrics import BoundMetrics, Instruments
from synthetics.record import ProbeRecord, encode_value, format_traceparent, parse_traceparent
from synthetics.status import (
    Anomaly,
    Tally,
    brokers_json,
    coverage_json,
    leader_changes_json,
    partitions_json,
    recent_json,
)
from synthetics.topic import ProbeSetupError, TopicKeeper

__all__ = ["ProbeSetupError", "Tally", "TargetProbe"]

log = logging.getLogger(__name__)

_COUNTED: dict[Outcome, MetricSpec] = {
    Outcome.LATE: c.RECORDS_LATE,
    Outcome.REORDERED: c.RECORDS_REORDERED,
    Outcome.DUPLICATE: c.RECORDS_DUPLICATED,
    Outcome.CORRUPTED: c.RECORDS_CORRUPTED,
}
_ANOMALY_OF: dict[Outcome, str] = {
    Outcome.LATE: "late",
    Outcome.REORDERED: "reordered",
    Outcome.DUPLICATE: "duplicated",
    Outcome.CORRUPTED: "corrupted",
}


@dataclass(slots=True)
class _Recent:
    produce: RecentEvents
    anomalies: RecentEvents
    examples: list[Anomaly] = field(default_factory=list)


class TargetProbe:
    def __init__(
        self,
        config: TargetConfig,
        instruments: Instruments,
        clock: Clock | None = None,
        *,
        rng: random.Random | None = None,
        probe_id: str | None = None,
        anomaly_window_seconds: float = 300.0,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.probe_id = probe_id or f"{self._rng.getrandbits(64):016x}"
        self.metrics = BoundMetrics(instruments, config.cluster, config.name)
        self.ledger = ProbeLedger(
            self.probe_id,
            LedgerConfig(config.sla.end_to_end_seconds, config.sla.lost_after_seconds),
        )
        self.tally = Tally()
        self.topic = config.topic.name
        self.view: ClusterView | None = None
        self.coverage: Coverage | None = None
        self.layout_problems: tuple[str, ...] = ()
        self.leaders = LeaderWatch()
        self.started = False
        self.up = False
        self.last_error: str | None = None
        self._options: dict[str, Any] | None = None
        self._topic: TopicKeeper | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._next_sequence: dict[int, int] = {}
        self._checks = BrokerChecks(config.name, self.topic, self.metrics, self.clock)
        self._overdue: tuple[int, ...] = ()
        self._tasks: set[asyncio.Task[None]] = set()
        recent_produce_window = max(3 * config.interval_seconds, config.sla.ack_seconds * 2)
        self._recent = _Recent(
            RecentEvents(recent_produce_window), RecentEvents(anomaly_window_seconds)
        )
        self._last_broker_check = float("-inf")
        self._touched: set[tuple[int, str]] = set()

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def options(self) -> dict[str, Any]:
        if self._options is None:
            self._options = client_options(self.config.connection)
        return self._options

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The probe's consumer once started (tests pause it to play a slow reader)."""
        return self._consumer

    async def start(self) -> None:
        """Reach the cluster, make sure the topic exists, start the clients. Raises
        KafkaError/OSError/ProbeSetupError when it cannot; call again to retry."""
        try:
            await self._start()
        except BaseException:
            await self._close_clients()
            raise

    async def _start(self) -> None:
        self._topic = TopicKeeper(self.config, self.options, self.clock)
        view = await self._topic.bootstrap_view()  # first: its errors say exactly what failed
        await self._topic.start()
        view = await self._topic.ensure(view)
        self._apply_view(view)
        self._producer = AIOKafkaProducer(
            **self.options,
            acks="all",
            enable_idempotence=self.config.idempotent,
            linger_ms=0,
            metadata_max_age_ms=30_000,
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **self.options,
            group_id=self.config.consumer_group,
            enable_auto_commit=True,
            auto_commit_interval_ms=5_000,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=500,
            metadata_max_age_ms=30_000,
        )
        await self._consumer.start()
        partitions = [TopicPartition(self.topic, p.partition) for p in view.partitions]
        self._consumer.assign(partitions)
        ends = await self._consumer.end_offsets(partitions)
        for tp, offset in ends.items():
            self._consumer.seek(tp, offset)
        self.started = True
        self.up = True
        self.last_error = None
        log.info(
            "probe %s: %s, topic %s with %d partitions on %d brokers, probe id %s",
            self.config.name,
            ",".join(self.config.connection.bootstrap_servers),
            self.topic,
            len(view.partitions),
            len(view.brokers),
            self.probe_id,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_clients()
        self.started = False

    async def _close_clients(self) -> None:
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        if self._topic is not None:
            await self._topic.close()
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()
        if producer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until ``stop`` is set: start (retrying), then rounds every interval."""
        interval = self.config.interval_seconds
        while not stop.is_set() and not self.started:
            try:
                await self.start()
            except (KafkaError, OSError, TimeoutError, ProbeSetupError) as exc:
                self.last_error = describe_error(exc)
                log.warning("probe %s: cannot start: %s", self.config.name, self.last_error)
                await _wait(stop, max(interval, 1.0))
        if stop.is_set():
            return
        consumer = asyncio.create_task(self.consume_until(stop))
        try:
            next_round = self.clock.monotonic()
            while not stop.is_set():
                await self.round()
                next_round += interval
                now = self.clock.monotonic()
                if next_round < now:  # fell behind (a stalled loop): skip, do not burst
                    next_round = now + interval
                await _wait(stop, next_round - now)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    async def round(self) -> None:
        """One interval: broker check when due, one send per partition, judge the overdue."""
        if self.clock.monotonic() - self._last_broker_check >= (
            self.config.broker_check_interval_seconds
        ):
            self._last_broker_check = self.clock.monotonic()
            await self.check_brokers()
        self.produce_round()
        self.sweep()
        self.tally.rounds += 1

    # -- metadata, topic and brokers -----------------------------------------------------
    async def check_brokers(self) -> list[BrokerCheck]:
        """Fresh connection + Metadata to every broker (``synthetics.broker_checks``);
        the first good answer becomes the view, after topic upkeep."""
        if self.view is None:
            return []
        brokers, checks = await self._checks.run(self.view, self.options)
        fresh = next((ch.view for ch in checks if ch.ok and ch.view is not None), None)
        self.up = fresh is not None
        self.metrics.set(c.UP, 1 if self.up else 0)
        if fresh is None:
            self.last_error = "; ".join(
                f"broker {b.node_id}: {ch.error}" for b, ch in zip(brokers, checks, strict=True)
            )
            return checks
        if self.config.topic.create and self._topic is not None:
            try:
                fresh = await self._topic.ensure(fresh)
            except (KafkaError, OSError, TimeoutError, ProbeSetupError) as exc:
                log.warning("probe %s: topic upkeep: %s", self.config.name, describe_error(exc))
        self._apply_view(fresh)
        return checks

    def _apply_view(self, view: ClusterView) -> None:
        grown = self.view is not None and len(view.partitions) > len(self.view.partitions)
        self.view = view
        self.coverage = coverage(view)
        self._checks.remember(view)
        problems = layout_problems(view, self.config.topic.replication_factor)
        if problems and problems != self.layout_problems:
            log.warning(
                "probe %s: topic %s is not laid out as the probe wants (probing anyway): %s",
                self.config.name,
                self.topic,
                "; ".join(problems),
            )
        self.layout_problems = problems
        m = self.metrics
        m.set(c.BROKERS, len(view.brokers))
        m.set(c.PARTITIONS, len(view.partitions))
        m.set(c.COVERAGE_GAP, self.coverage.gap)
        m.set(c.UP, 1)
        for p in view.partitions:
            self._next_sequence.setdefault(p.partition, 0)
        if grown and self._consumer is not None:
            known = {tp.partition for tp in self._consumer.assignment()}
            self._consumer.assign(
                [TopicPartition(self.topic, p.partition) for p in view.partitions]
            )
            for p in view.partitions:
                if p.partition not in known:
                    self._consumer.seek(TopicPartition(self.topic, p.partition), 0)

    def _producer_leader(self, partition: int) -> int | None:
        """The leader in the producer's metadata (where sends go); None when none."""
        if self._producer is None:
            return None
        node = self._producer.client.cluster.leader_for_partition(
            TopicPartition(self.topic, partition)
        )
        return node if node is not None and node >= 0 else None

    def leader_id(self, partition: int) -> int | None:
        """The partition's leader (the producer's metadata, else the last broker check),
        counting a leader change when the producer's metadata shows one."""
        node = self._producer_leader(partition)
        change = self.leaders.observe(partition, node, self.clock.time_ns())
        if change is not None:
            self.metrics.inc(c.LEADER_CHANGES, partition, str(change.leader))
            self.tally.leader_changes += 1
            log.info(
                "probe %s: partition %d: leader moved from broker %d to broker %d",
                self.config.name,
                partition,
                change.previous,
                change.leader,
            )
        if node is None and self.view is not None:
            node = self.view.leader(partition)
        return node

    def leader(self, partition: int) -> str:
        """The leader as a ``broker`` label (``unknown`` while there is none)."""
        node = self.leader_id(partition)
        return "unknown" if node is None else str(node)

    def _touch_series(self, partition: int, broker: str) -> None:
        """Zero-valued series per partition and leader, so 'no loss' is a visible 0."""
        if (partition, broker) in self._touched:
            return
        self._touched.add((partition, broker))
        for spec in (
            c.PRODUCE_ATTEMPTS,
            c.PRODUCE_SUCCESSES,
            c.RECORDS_PRODUCED,
            c.RECORDS_CONSUMED,
            c.RECORDS_LOST,
            c.RECORDS_LATE,
            c.RECORDS_REORDERED,
            c.RECORDS_DUPLICATED,
            c.RECORDS_CORRUPTED,
            c.CONSUME_ATTEMPTS,
            c.CONSUME_SUCCESSES,
            c.LEADER_CHANGES,
        ):
            self.metrics.touch(spec, partition, broker)
        for reason in ("timeout", "error", "leader_change"):
            self.metrics.touch(c.PRODUCE_ERRORS, partition, broker, reason)

    # -- produce -------------------------------------------------------------------------
    def produce_round(self) -> None:
        if self._producer is None or self.view is None:
            return
        for p in self.view.partitions:
            sequence = self._next_sequence.get(p.partition, 0)
            self._next_sequence[p.partition] = sequence + 1
            task = asyncio.create_task(self._produce_one(p.partition, sequence))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _produce_one(self, partition: int, sequence: int) -> None:
        assert self._producer is not None
        producer = self._producer
        sent_to = self.leader_id(partition)
        broker = "unknown" if sent_to is None else str(sent_to)
        self._touch_series(partition, broker)
        sent_ns = self.clock.time_ns()
        record = ProbeRecord(self.probe_id, partition, sequence, sent_ns, self.config.payload_bytes)
        trace_id = f"{self._rng.getrandbits(128) or 1:032x}"
        traceparent = format_traceparent(int(trace_id, 16), self._rng.getrandbits(64) or 1)
        m = self.metrics
        m.inc(c.PRODUCE_ATTEMPTS, partition, broker)
        self.tally.produce_attempts += 1
        self.ledger.sent(partition, sequence, sent_ns)
        started = self.clock.monotonic()

        async def send() -> None:
            future = await producer.send(
                self.topic,
                encode_value(record),
                partition=partition,
                timestamp_ms=sent_ns // 1_000_000,
                headers=[("traceparent", traceparent.encode("ascii"))],
            )
            await future

        attempt = asyncio.ensure_future(send())
        done, _ = await asyncio.wait({attempt}, timeout=self.config.sla.ack_seconds)
        now = self.clock.monotonic()
        if attempt in done and attempt.exception() is None:
            m.inc(c.PRODUCE_SUCCESSES, partition, broker)
            self.tally.produce_successes += 1
            self._recent.produce.add("ok", now)
            self._acknowledged(partition, sequence, broker, now - started, trace_id)
            return
        if attempt not in done:
            self._count_failure(partition, broker, sent_to, None)
            self._recent.produce.add("failed", now)
            try:
                # keep waiting: a late acknowledgement means the record exists
                await asyncio.wait_for(
                    attempt, self.config.connection.request_timeout_seconds * 2 + 5
                )
            except (KafkaError, OSError, TimeoutError) as exc:
                self._failed(partition, sequence, exc)
            else:
                self._acknowledged(
                    partition, sequence, broker, self.clock.monotonic() - started, trace_id
                )
            return
        error = attempt.exception()
        assert error is not None
        self._count_failure(partition, broker, sent_to, error)
        self._recent.produce.add("failed", now)
        self._failed(partition, sequence, error)

    def _count_failure(
        self, partition: int, broker: str, sent_to: int | None, error: BaseException | None
    ) -> None:
        """A produce error of ``broker`` (the ack SLA missed when ``error`` is None), with
        its reason as the producer's metadata shows the partition now."""
        failure = ProduceFailure(
            sent_to, self._producer_leader(partition), error is None, is_not_leader(error)
        )
        reason = failure_reason(failure)
        self.metrics.inc(c.PRODUCE_ERRORS, partition, broker, reason)
        if reason == "leader_change":
            self.tally.produce_leader_change_errors += 1
        elif reason == "timeout":
            self.tally.produce_timeouts += 1
        else:
            self.tally.produce_errors += 1

    def _acknowledged(
        self, partition: int, sequence: int, broker: str, latency: float, trace_id: str
    ) -> None:
        self.metrics.inc(c.RECORDS_PRODUCED, partition, broker)
        self.metrics.observe(c.ACK_LATENCY, latency, partition, broker, trace_id=trace_id)
        self.tally.produced += 1
        self.ledger.acked(partition, sequence, self.clock.time_ns())

    def _failed(self, partition: int, sequence: int, exc: BaseException) -> None:
        self.last_error = f"produce to partition {partition}: {describe_error(exc)}"
        self.ledger.failed(partition, sequence, self.clock.time_ns())

    # -- consume -------------------------------------------------------------------------
    async def consume_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.consume_once(0.5)
            except KafkaError as exc:
                log.warning("probe %s: consume: %s", self.config.name, describe_error(exc))
                await _wait(stop, 0.5)

    async def consume_once(self, timeout_seconds: float) -> int:
        """Read what is there (waiting up to ``timeout_seconds``) and judge it."""
        assert self._consumer is not None
        batches = await self._consumer.getmany(
            timeout_ms=int(timeout_seconds * 1000), max_records=1000
        )
        now_ns = self.clock.time_ns()
        count = 0
        for tp, records in batches.items():
            broker = self.leader(tp.partition)
            self._touch_series(tp.partition, broker)
            for r in records:
                verdict = self.ledger.consumed(tp.partition, r.value, now_ns)
                self._judged(verdict, broker, _trace_id(r.headers), now_ns)
                count += 1
        return count

    def _judged(self, v: Verdict, broker: str, trace_id: str | None, now_ns: int) -> None:
        t, m = self.tally, self.metrics
        if v.outcome is Outcome.FOREIGN:
            t.foreign += 1
            return
        if v.outcome is not Outcome.CORRUPTED:
            m.inc(c.RECORDS_CONSUMED, v.partition, broker)
            t.consumed += 1
        if v.latency_seconds is not None:
            m.observe(
                c.END_TO_END_LATENCY, v.latency_seconds, v.partition, broker, trace_id=trace_id
            )
        spec = _COUNTED.get(v.outcome)
        if spec is None:
            t.on_time += 1
            return
        m.inc(spec, v.partition, broker)
        kind = _ANOMALY_OF[v.outcome]
        setattr(t, kind, getattr(t, kind) + 1)
        self._recent.anomalies.add(kind, self.clock.monotonic())
        self._remember(Anomaly(kind, v.partition, v.sequence, v.reason, now_ns))
        log.info(
            "probe %s: partition %d: %s (%s)", self.config.name, v.partition, v.outcome, v.reason
        )

    def _remember(self, anomaly: Anomaly) -> None:
        examples = self._recent.examples
        examples.append(anomaly)
        del examples[:-20]

    # -- time passing --------------------------------------------------------------------
    def sweep(self) -> None:
        """Count lost records and run the consume-availability check per partition."""
        now_ns = self.clock.time_ns()
        result = self.ledger.sweep(now_ns)
        for lost in result.lost:
            broker = self.leader(lost.partition)
            self.metrics.inc(c.RECORDS_LOST, lost.partition, broker)
            self.tally.lost += 1
            self._recent.anomalies.add("lost", self.clock.monotonic())
            self._remember(
                Anomaly(
                    "lost",
                    lost.partition,
                    lost.sequence,
                    f"acknowledged and not read within {self.config.sla.lost_after_seconds:g} s",
                    now_ns,
                )
            )
            log.warning(
                "probe %s: partition %d: sequence %d acknowledged and never read (lost)",
                self.config.name,
                lost.partition,
                lost.sequence,
            )
        if self.view is None:
            return
        overdue = []
        for p in self.view.partitions:
            broker = self.leader(p.partition)
            self.metrics.inc(c.CONSUME_ATTEMPTS, p.partition, broker)
            self.tally.consume_attempts += 1
            if result.overdue.get(p.partition, 0) == 0:
                self.metrics.inc(c.CONSUME_SUCCESSES, p.partition, broker)
                self.tally.consume_successes += 1
            else:
                overdue.append(p.partition)
        self._overdue = tuple(overdue)

    # -- status --------------------------------------------------------------------------
    def health(self) -> Health:
        now = self.clock.monotonic()
        produce = self._recent.produce.counts(now)
        failing = self._checks.failing()
        return assess(
            HealthInputs(
                started=self.started,
                up=self.up,
                last_error=self.last_error,
                produce_ok=produce.get("ok", 0),
                produce_failed=produce.get("failed", 0),
                overdue_partitions=self._overdue,
                uncovered_brokers=self.coverage.uncovered if self.coverage else (),
                failing_brokers=failing,
                anomalies=self._recent.anomalies.counts(now),
                anomaly_window_seconds=self._recent.anomalies.window_seconds,
            )
        )

    def status(self) -> dict[str, Any]:
        health = self.health()
        recent = self._recent.anomalies
        return {
            "target": self.config.name,
            "cluster": self.config.cluster,
            "state": health.state,
            "reasons": list(health.reasons),
            "probe_id": self.probe_id,
            "topic": self.topic,
            "consumer_group": self.config.consumer_group,
            "bootstrap_servers": list(self.config.connection.bootstrap_servers),
            "sla_seconds": {
                "ack": self.config.sla.ack_seconds,
                "end_to_end": self.config.sla.end_to_end_seconds,
                "lost_after": self.config.sla.lost_after_seconds,
            },
            "coverage": coverage_json(self.coverage),
            "layout_problems": list(self.layout_problems),
            "brokers": brokers_json(self._checks.states, self.coverage),
            "leader_changes": leader_changes_json(self.leaders.recent),
            "partitions": partitions_json(self.view, self.ledger.summary(), self._next_sequence),
            "totals": asdict(self.tally),
            "recent": recent_json(
                recent.window_seconds,
                recent.counts(self.clock.monotonic()),
                self._recent.examples,
            ),
            "last_error": self.last_error,
        }


def _trace_id(headers: Any) -> str | None:
    for name, value in headers or ():
        if name == "traceparent":
            parsed = parse_traceparent(value)
            return parsed[0] if parsed else None
    return None


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
