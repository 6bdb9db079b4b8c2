"""One Jepsen-style run against a three-broker cluster, from schedule to verdict.

:class:`JepsenCluster` owns the cluster and the proxies on every link of every broker
(:mod:`loadtest.jepsen.network`); several runs share one cluster, each with a topic and
a group of its own (``jepsen-<seed>``), the cluster healed and whole between runs.
:func:`run_once`:

1. creates the topic (3 partitions, replication factor 3, ``min.insync.replicas=2``)
   and waits until every partition has its three replicas in sync;
2. starts the clients (:mod:`loadtest.jepsen.clients`): idempotent acks=all
   producers writing a bounded number of records over the schedule's duration,
   consumers in one group, and the committed-offset poller;
3. plays the seeded fault schedule (:mod:`loadtest.jepsen.schedule`), healing each
   fault at its time, then heals everything anyway;
4. waits for the producers to hear about every write (bounded by the message timeout),
   then for every partition's replicas to be back in sync and in step;
5. reads the whole topic back (the final read), lets the consumers catch up with it
   (bounded), stops them and the poller, and reads each broker's own replica files;
6. checks the history (:mod:`loadtest.jepsen.checker`).

Every wait is bounded. A run whose replicas do not get back in sync ends with ``error``
set and is still checked (the final read needs only leaders, and each replica is judged
below its own high watermark); a run that cannot read the topic back ends with
``error`` set and is not checked (an incomplete final read would show writes lost that
are not).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self

from contracts.broker_cluster import BrokerCluster, ClusterWaitTimeout
from contracts.launcher import ProcessStartError
from loadtest.benchmark.tidewatch_side import create_topic
from loadtest.jepsen.checker import Anomaly, check
from loadtest.jepsen.clients import (
    ClientTimeouts,
    ConsumerWorker,
    HistoryRecorder,
    OffsetPoller,
    ProducerWorker,
    read_topic,
)
from loadtest.jepsen.history import OFFSET_FETCH, History, ReplicaLog
from loadtest.jepsen.network import ClusterNetwork
from loadtest.jepsen.replica_files import read_replica
from loadtest.jepsen.schedule import FAULT_KINDS, FaultKind, FaultStep, Schedule, plan_schedule

__all__ = ["CLUSTER_CONFIG", "FaultEvent", "JepsenCluster", "RunConfig", "RunResult", "run_once"]

BROKERS: Final = 3
# Failures detected within seconds, and a busy machine still does not flap: a session
# must survive a slow heartbeat round.
CLUSTER_CONFIG: Final[dict[str, Any]] = {
    "replication": {
        "replica_lag_time_max_ms": 2000,
        "replica_fetch_max_wait_ms": 200,
        "replica_fetch_backoff_ms": 100,
        "controlled_shutdown_timeout_ms": 3000,
    },
    "brokers": {"session_timeout_ms": 3000, "heartbeat_interval_ms": 250},
    "groups": {"initial_rebalance_delay_ms": 100, "min_session_timeout_ms": 1000},
}
_TOPIC_CONFIGS: Final = {"min.insync.replicas": "2"}
_CATCH_UP_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class RunConfig:
    """The bounds of one run: its schedule (seed, duration, at most ``max_faults``
    faults of ``kinds``) and its operations (``producers`` x ``writes_per_producer``
    writes, ``consumers`` group members), and how long healing may take."""

    seed: int
    duration_seconds: float = 20.0
    max_faults: int = 6
    kinds: tuple[FaultKind, ...] = FAULT_KINDS
    partitions: int = 3
    producers: int = 2
    writes_per_producer: int = 200
    consumers: int = 2
    settle_timeout_seconds: float = 60.0
    timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)

    @property
    def topic(self) -> str:
        return f"jepsen-{self.seed}"

    @property
    def group(self) -> str:
        return f"jepsen-{self.seed}-group"

    def schedule(self) -> Schedule:
        nodes = tuple(range(1, BROKERS + 1))
        return plan_schedule(self.seed, self.duration_seconds, self.max_faults, nodes, self.kinds)


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A scheduled fault as it happened: seconds into the run it started and healed."""

    step: FaultStep
    started_seconds: float
    healed_seconds: float


@dataclass
class RunResult:
    config: RunConfig
    schedule: Schedule
    history: History | None = None
    anomalies: list[Anomaly] = field(default_factory=list)
    events: list[FaultEvent] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not self.anomalies


class JepsenCluster:
    """Three brokers with fault proxies on every link, under ``base_dir``. A context
    manager: started on entry, stopped (and the proxies closed) on exit."""

    def __init__(self, base_dir: Path) -> None:
        self.network = ClusterNetwork()
        self.cluster = BrokerCluster(
            BROKERS, base_dir, CLUSTER_CONFIG, quorum_route=self.network.route
        )
        self.network.advertise(self.cluster)

    def __enter__(self) -> Self:
        try:
            self.cluster.start()
            self.network.connect(self.cluster)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.cluster.stop()
        finally:
            self.network.close()

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def inject(self, step: FaultStep) -> None:
        actions: dict[FaultKind, Callable[[int], None]] = {
            "kill": self.cluster.kill,
            "pause": self.cluster.pause,
            "partition": self.network.partition,
            "restart": self.cluster.restart,
        }
        actions[step.kind](step.node)

    def heal(self, step: FaultStep) -> None:
        actions: dict[FaultKind, Callable[[int], None]] = {
            "kill": self.cluster.restart,
            "pause": self.cluster.resume,
            "partition": self.network.heal,
            "restart": lambda node: None,
        }
        actions[step.kind](step.node)

    def heal_everything(self) -> None:
        """Every broker running, unpaused and reachable again."""
        for node, broker in self.cluster.brokers.items():
            if broker.paused:
                broker.resume()
            if not broker.running:
                self.cluster.restart(node)
            self.network.heal(node)

    def wait_whole(self, topic: str, partitions: int, timeout_seconds: float) -> None:
        """Until every partition has all three replicas in sync and in step."""
        deadline = time.monotonic() + timeout_seconds
        everyone = set(self.cluster.brokers)

        def whole() -> bool:
            return all(
                set(self.cluster.partition(topic, p).isr) == everyone for p in range(partitions)
            )

        self.cluster.wait_for(
            whole,
            f"ISR {sorted(everyone)} of every partition of {topic}",
            max(1.0, deadline - time.monotonic()),
        )
        for partition in range(partitions):
            self.cluster.wait_for_replicas_in_step(topic, partition)

    def replicas(self, topic: str, partitions: int) -> tuple[ReplicaLog, ...]:
        """Each broker's own replica of each partition: what it reports, what it holds."""
        logs = []
        for node in self.cluster.brokers:
            for partition in range(partitions):
                try:
                    local = self.cluster.partition(topic, partition, node).local
                except (OSError, KeyError):  # a broker that does not answer: no replica
                    continue
                if local is None:
                    continue
                records = read_replica(self.cluster.data_dir(node), topic, partition)
                logs.append(
                    ReplicaLog(node, partition, local.log_end_offset, local.high_watermark, records)
                )
        return tuple(logs)


@dataclass
class _Clients:
    producers: list[ProducerWorker]
    consumers: list[ConsumerWorker]
    poller: OffsetPoller

    def start(self) -> None:
        for thread in [self.poller, *self.consumers, *self.producers]:
            thread.start()

    def wait_producers(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        for producer in self.producers:
            producer.join(max(0.0, deadline - time.monotonic()))
        for producer in self.producers:
            producer.stop.set()
            producer.join()

    def stop_readers(self) -> None:
        for consumer in self.consumers:
            consumer.stop.set()
        self.poller.stop.set()
        for thread in [*self.consumers, self.poller]:
            thread.join()


def _clients(jepsen: JepsenCluster, config: RunConfig, recorder: HistoryRecorder) -> _Clients:
    bootstrap, topic = jepsen.bootstrap, config.topic
    interval = config.duration_seconds * 0.9 / max(1, config.writes_per_producer)
    producers = [
        ProducerWorker(
            f"p{n}",
            bootstrap,
            topic,
            config.partitions,
            config.writes_per_producer,
            interval,
            recorder,
            config.timeouts,
        )
        for n in range(config.producers)
    ]
    consumers = [
        ConsumerWorker(f"c{n}", bootstrap, topic, config.group, recorder, config.timeouts)
        for n in range(config.consumers)
    ]
    poller = OffsetPoller(bootstrap, topic, config.partitions, config.group, recorder)
    return _Clients(producers, consumers, poller)


def _play(
    jepsen: JepsenCluster, schedule: Schedule, started: float, on_event: Callable[[str], None]
) -> list[FaultEvent]:
    """Inject and heal each step. A step that ran over (a restart waits until the
    broker serves again) delays the ones after it, so every fault lasts as long as
    planned and every gap between two faults is kept."""
    late = 0.0

    def now() -> float:
        return time.monotonic() - started

    def wait_until(seconds: float) -> None:
        time.sleep(max(0.0, seconds - now()))

    events = []
    for step in schedule.steps:
        wait_until(step.at_seconds + late)
        began = now()
        on_event(f"{began:6.2f} s  inject: {step.action()}")
        jepsen.inject(step)
        wait_until(began + step.duration_seconds)
        jepsen.heal(step)
        healed = now()
        late = max(late, healed - step.heal_at_seconds)
        on_event(f"{healed:6.2f} s  healed: {step.kind} broker {step.node}")
        events.append(FaultEvent(step, round(began, 3), round(healed, 3)))
    wait_until(schedule.duration_seconds + late)
    return events


def _wait_consumers_caught_up(recorder: HistoryRecorder, ends: dict[int, int]) -> None:
    """Until the poller saw the group's committed offsets at the ends of the final
    read, or ``_CATCH_UP_SECONDS`` passed (checks 3 and 4 need no complete reading)."""
    deadline = time.monotonic() + _CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        latest = recorder.latest_committed(OFFSET_FETCH)
        if all(latest.get(p, 0) >= end for p, end in ends.items()):
            return
        time.sleep(0.2)


@contextmanager
def _timed(result: RunResult) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        result.wall_seconds = round(time.monotonic() - started, 3)


def run_once(
    jepsen: JepsenCluster,
    config: RunConfig,
    on_event: Callable[[str], None] = lambda line: None,
) -> RunResult:
    """One run (see the module docstring); ``on_event`` hears each fault as it
    happens. The cluster is left healed and whole when the run completes."""
    from confluent_kafka import KafkaException

    result = RunResult(config, config.schedule())
    recorder = HistoryRecorder()
    with _timed(result):
        try:
            _run(jepsen, config, result, recorder, on_event)
        except (
            ClusterWaitTimeout,
            ProcessStartError,
            TimeoutError,
            OSError,
            KafkaException,
        ) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            result.errors = Counter(recorder.errors)
    return result


def _run(
    jepsen: JepsenCluster,
    config: RunConfig,
    result: RunResult,
    recorder: HistoryRecorder,
    on_event: Callable[[str], None],
) -> None:
    topic = config.topic
    started = time.monotonic()

    def phase(what: str) -> None:
        on_event(f"{time.monotonic() - started:6.2f} s  {what}")

    create_topic(
        jepsen.bootstrap,
        topic,
        config.partitions,
        replication_factor=BROKERS,
        configs=dict(_TOPIC_CONFIGS),
    )
    jepsen.wait_whole(topic, config.partitions, config.settle_timeout_seconds)
    phase(f"topic {topic} ready; clients start")
    clients = _clients(jepsen, config, recorder)
    clients.start()
    try:
        try:
            result.events = _play(jepsen, result.schedule, time.monotonic(), on_event)
        finally:
            jepsen.heal_everything()
            clients.wait_producers(config.timeouts.message_ms / 1000 + 10)
        phase(f"every fault healed, every write answered ({recorder.pending} unanswered)")
        try:
            jepsen.wait_whole(topic, config.partitions, config.settle_timeout_seconds)
        except ClusterWaitTimeout as exc:  # still checked: each replica by its own HW
            result.error = f"not whole again after healing: {exc}"
        final = read_topic(
            jepsen.bootstrap, topic, config.partitions, config.settle_timeout_seconds
        )
        phase(f"replicas in sync; final read: {len(final)} records")
        ends = dict.fromkeys(range(config.partitions), 0)
        for record in final:
            ends[record.partition] = max(ends[record.partition], record.offset + 1)
        _wait_consumers_caught_up(recorder, ends)
    finally:
        clients.stop_readers()
    replicas = jepsen.replicas(topic, config.partitions)
    phase("consumers stopped; replica files read")
    result.history = recorder.history(topic, config.partitions, final, replicas)
    result.anomalies = check(result.history)
