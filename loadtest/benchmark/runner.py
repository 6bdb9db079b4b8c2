"""Runs the selected workloads against a broker and a Redis peer and collects figures.

Servers: one broker for the throughput, small-request and latency workloads, a fresh
one each for the memory and restart workloads (so their figures do not depend on what
ran before), and one ``redis-server``. All are children of this process, live in
``work_dir`` and are stopped by PID when the run ends, however it ends.

Throughput runs alternate between the systems (Tidewatch, Redis, Tidewatch, ...) so
slow drift on the machine (page cache, writeback, thermal) affects both alike. A failed
workload is recorded with its reason and the others still run.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loadtest.benchmark import raw_clients, redis_side, tidewatch_side
from loadtest.benchmark.figures import MB, WORKLOADS, Results, latency_summary_ms, rate
from loadtest.benchmark.latency import run_latency
from loadtest.benchmark.processes import BrokerServer, RedisServer, free_port, process_usage
from loadtest.benchmark.tidewatch_side import ThroughputResult, WorkloadError

__all__ = ["Bench", "BenchSettings", "ProgressSink", "SilentProgress"]

Advance = Callable[[float], None]
PEER_WORKLOADS = ("produce", "consume", "small")


@dataclass(frozen=True, slots=True)
class BenchSettings:
    workloads: tuple[str, ...] = WORKLOADS
    messages: int = 500_000
    message_bytes: int = 1024
    partitions: int = 1
    repeats: int = 3
    client: str = "confluent"  # or "kcat" (produce and consume)
    redis: bool = True
    redis_client: str = "raw"  # or "redis-py"
    redis_pipeline: int = 1000
    redis_page: int = 10_000
    small_seconds: float = 5.0
    small_connections: int = 8
    latency_rate: float = 5000.0
    latency_seconds: float = 10.0
    memory_partitions: int = 1000
    memory_connections: int = 100
    memory_seconds: float = 10.0
    memory_requests_per_second: float = 2000.0
    restart_log_bytes: int = 1_000_000_000
    workload_timeout_s: float = 300.0
    flush_policy: str = "interval"

    @property
    def needs_redis(self) -> bool:
        return self.redis and any(w in PEER_WORKLOADS for w in self.workloads)


class ProgressSink(Protocol):
    def step(self, description: str) -> AbstractContextManager[Advance]:
        """A long step; the yielded callback takes the fraction done (0-1)."""
        ...


class SilentProgress:
    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[Advance]:
        yield lambda _fraction: None


def payload(size: int, seed: int = 7) -> bytes:
    """Printable, incompressible-looking bytes without a newline (kcat splits on it)."""
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    rng = random.Random(seed)
    return bytes(rng.choice(alphabet) for _ in range(size))


@dataclass
class Bench:
    settings: BenchSettings
    work_dir: Path
    progress: ProgressSink = field(default_factory=SilentProgress)

    def __post_init__(self) -> None:
        self.results = Results(self.settings.workloads)
        self.value = payload(self.settings.message_bytes)
        self.broker: BrokerServer | None = None
        self.redis: RedisServer | None = None
        self._stack = ExitStack()
        self._message_file: Path | None = None

    # -- orchestration -------------------------------------------------------------------

    def run(self) -> Results:
        """Run every selected workload; servers are stopped before this returns or raises."""
        with self._stack:
            selected = self.settings.workloads
            if any(w in selected for w in ("produce", "consume", "small", "latency")):
                self.broker = self._start_broker("broker")
            if self.settings.needs_redis:
                with self.progress.step("starting redis-server"):
                    self.redis = RedisServer(self.work_dir / "redis").start()
                self._stack.callback(self.redis.stop)
            phases: list[tuple[tuple[str, ...], Callable[[], None]]] = [
                (("produce", "consume"), self._throughput),
                (("small",), self._small_requests),
                (("latency",), self._latency),
                (("memory",), self._memory),
                (("restart",), self._restart),
            ]
            for names, phase in phases:
                chosen = [n for n in names if n in selected]
                if chosen:
                    self._guarded(chosen, phase)
            if self.broker is not None:
                usage = process_usage(self.broker.pid)
                self.results.details.setdefault("broker", {}).update(
                    peak_rss_megabytes=usage.peak_rss_bytes / MB, cpu_seconds=usage.cpu_seconds
                )
        return self.results

    def _guarded(self, workloads: list[str], phase: Callable[[], None]) -> None:
        try:
            phase()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            for workload in workloads:
                self.results.fail(workload, reason)

    def _start_broker(self, name: str) -> BrokerServer:
        broker = BrokerServer(
            self.work_dir / name / "data",
            self.work_dir / name / "broker.log",
            flush_policy=self.settings.flush_policy,
        )
        self._stack.callback(broker.stop)
        with self.progress.step(f"starting the {name}"):
            broker.start()
        return broker

    def _deadline(self) -> float:
        return time.perf_counter() + self.settings.workload_timeout_s

    def _measure_cpu(
        self, pid: int, call: Callable[[], ThroughputResult]
    ) -> tuple[ThroughputResult, float]:
        """Run ``call`` and return its result with the server's CPU use (cores busy)."""
        before = process_usage(pid).cpu_seconds
        result = call()
        return result, (process_usage(pid).cpu_seconds - before) / result.seconds

    # -- produce and consume -------------------------------------------------------------

    def _throughput(self) -> None:
        s = self.settings
        for run in range(s.repeats):
            label = f"(run {run + 1}/{s.repeats})"
            self._throughput_tidewatch(f"bench-throughput-{run}", label)
            if self.redis is not None:
                self._throughput_redis(f"bench-throughput-{run}", label)

    def _throughput_tidewatch(self, topic: str, label: str) -> None:
        s, broker = self.settings, self._running_broker()
        tidewatch_side.create_topic(broker.bootstrap, topic, s.partitions)
        measure = "produce" in s.workloads
        with self.progress.step(
            f"produce {s.messages:,} × {s.message_bytes} B → Tidewatch {label}"
        ) as advance:
            produced, cpu = self._measure_cpu(
                broker.pid, lambda: self._produce_kafka(topic, advance)
            )
        stored = tidewatch_side.end_offsets(broker.bootstrap, topic, s.partitions)
        if stored != s.messages:
            raise WorkloadError(
                f"the broker stored {stored} records, {s.messages} were acknowledged"
            )
        if measure:
            self._record_throughput("produce", "tidewatch", produced, cpu)
        if "consume" in s.workloads:
            with self.progress.step(
                f"consume {s.messages:,} records ← Tidewatch {label}"
            ) as advance:
                consumed, cpu = self._measure_cpu(
                    broker.pid, lambda: self._consume_kafka(topic, advance)
                )
            self._record_throughput("consume", "tidewatch", consumed, cpu)
        tidewatch_side.delete_topic(broker.bootstrap, topic)

    def _produce_kafka(self, topic: str, advance: Advance) -> ThroughputResult:
        s, broker = self.settings, self._running_broker()
        if s.client == "kcat":
            return tidewatch_side.produce_kcat(
                broker.bootstrap,
                topic,
                messages_file=self._messages_file(),
                count=s.messages,
                value_bytes=len(self.value),
                deadline=self._deadline(),
            )
        return tidewatch_side.produce_confluent(
            broker.bootstrap,
            topic,
            count=s.messages,
            value=self.value,
            partitions=s.partitions,
            deadline=self._deadline(),
            progress=advance,
        )

    def _consume_kafka(self, topic: str, advance: Advance) -> ThroughputResult:
        s, broker = self.settings, self._running_broker()
        if s.client == "kcat":
            return tidewatch_side.consume_kcat(
                broker.bootstrap,
                topic,
                count=s.messages,
                deadline=self._deadline(),
                output=self.work_dir / "kcat-sizes.txt",
            )
        return tidewatch_side.consume_confluent(
            broker.bootstrap,
            topic,
            count=s.messages,
            partitions=s.partitions,
            deadline=self._deadline(),
            progress=advance,
        )

    def _messages_file(self) -> Path:
        if self._message_file is None:
            self._message_file = self.work_dir / "messages.txt"
            tidewatch_side.write_message_file(
                self._message_file, self.value, self.settings.messages
            )
        return self._message_file

    def _throughput_redis(self, stream: str, label: str) -> None:
        s, redis = self.settings, self._running_redis()
        raw = s.redis_client == "raw"
        produce = redis_side.produce_raw if raw else redis_side.produce_redis_py
        consume = redis_side.consume_raw if raw else redis_side.consume_redis_py
        with self.progress.step(
            f"XADD {s.messages:,} × {s.message_bytes} B → Redis {label}"
        ) as advance:
            produced, cpu = self._measure_cpu(
                redis.pid,
                lambda: produce(
                    redis.port,
                    stream,
                    count=s.messages,
                    value=self.value,
                    pipeline=s.redis_pipeline,
                    deadline=self._deadline(),
                    progress=advance,
                ),
            )
        if "produce" in s.workloads:
            self._record_throughput("produce", "redis", produced, cpu)
        if "consume" in s.workloads:
            with self.progress.step(f"XRANGE {s.messages:,} entries ← Redis {label}") as advance:
                consumed, cpu = self._measure_cpu(
                    redis.pid,
                    lambda: consume(
                        redis.port,
                        stream,
                        count=s.messages,
                        page=s.redis_page,
                        deadline=self._deadline(),
                        progress=advance,
                    ),
                )
            self._record_throughput("consume", "redis", consumed, cpu)
        redis_side.delete_stream(redis.port, stream)

    def _record_throughput(
        self, workload: str, system: str, result: ThroughputResult, server_cores: float
    ) -> None:
        messages_per_s = rate(result.messages, result.seconds)
        bytes_per_s = rate(result.payload_bytes, result.seconds)
        self.results.add(f"{workload}.messages_per_second", system, messages_per_s)
        if workload == "produce":
            self.results.add("produce.megabytes_per_second", system, bytes_per_s / 1e6)
        else:
            self.results.add("consume.gigabytes_per_second", system, bytes_per_s / 1e9)
        runs = self.results.details[workload].setdefault(f"{system}_runs", [])
        runs.append(
            {
                "messages": result.messages,
                "payload_bytes": result.payload_bytes,
                "seconds": result.seconds,
                "server_cpu_cores_busy": server_cores,
            }
        )

    # -- small requests ------------------------------------------------------------------

    def _small_requests(self) -> None:
        s = self.settings
        warmup = min(1.0, s.small_seconds / 5)
        for run in range(s.repeats):
            label = f"(run {run + 1}/{s.repeats})"
            broker = self._running_broker()
            topic = f"bench-small-{run}"
            tidewatch_side.create_topic(broker.bootstrap, topic, 1)
            self._closed_loop(
                "tidewatch",
                broker.pid,
                broker.port,
                f"one message per Produce → Tidewatch {label}",
                functools.partial(raw_clients.KafkaProduceCodec, topic, 0, self.value),
                warmup,
            )
            tidewatch_side.delete_topic(broker.bootstrap, topic)
            if self.redis is not None:
                redis, stream = self.redis, f"bench-small-{run}"
                self._closed_loop(
                    "redis",
                    redis.pid,
                    redis.port,
                    f"one XADD per round trip → Redis {label}",
                    functools.partial(raw_clients.RedisXaddCodec, stream, self.value),
                    warmup,
                )
                redis_side.delete_stream(redis.port, stream)

    def _closed_loop(
        self,
        system: str,
        pid: int,
        port: int,
        description: str,
        codec: Callable[[], raw_clients.RequestCodec],
        warmup_s: float,
    ) -> None:
        s = self.settings
        before = process_usage(pid).cpu_seconds
        with self.progress.step(description) as advance:
            result = raw_clients.run_async(
                raw_clients.closed_loop(
                    port,
                    codec,
                    connections=s.small_connections,
                    warmup_s=warmup_s,
                    duration_s=s.small_seconds,
                    progress=advance,
                )
            )
        if result.error is not None:
            raise WorkloadError(f"{system}: {result.error}")
        cores = (process_usage(pid).cpu_seconds - before) / (result.seconds + warmup_s)
        self.results.add("small.requests_per_second", system, result.requests_per_second)
        self.results.details["small"].setdefault(f"{system}_runs", []).append(
            {"requests": result.requests, "seconds": result.seconds, "server_cpu_cores_busy": cores}
        )

    # -- latency -------------------------------------------------------------------------

    def _latency(self) -> None:
        s, broker = self.settings, self._running_broker()
        topic = "bench-latency"
        tidewatch_side.create_topic(broker.bootstrap, topic, 1)
        description = (
            f"{s.latency_rate:,.0f} msg/s for {s.latency_seconds:g} s, acks=all → Tidewatch"
        )
        with self.progress.step(description) as advance:
            measured = run_latency(
                broker.bootstrap,
                topic,
                rate=s.latency_rate,
                duration_s=s.latency_seconds,
                warmup_s=min(1.0, s.latency_seconds / 5),
                size=s.message_bytes,
                work_dir=self.work_dir,
                deadline=self._deadline(),
                progress=advance,
            )
        summary = latency_summary_ms(measured.latencies_ns)
        for name, value in summary.items():
            self.results.add(f"latency.{name}", "tidewatch", value)
        self.results.details["latency"].update(
            sent=measured.sent,
            received=measured.received,
            duplicates=measured.duplicates,
            achieved_rate=measured.achieved_rate,
        )
        if measured.received < measured.sent:
            raise WorkloadError(
                f"{measured.sent - measured.received} of {measured.sent} messages never arrived"
            )

    # -- memory --------------------------------------------------------------------------

    def _memory(self) -> None:
        s = self.settings
        broker = self._start_broker("memory-broker")
        time.sleep(0.5)  # let start-up allocations settle before the idle reading
        self.results.add(
            "memory.idle_rss_megabytes", "tidewatch", process_usage(broker.pid).rss_bytes / MB
        )
        topic = "bench-memory"
        with self.progress.step(f"creating a topic with {s.memory_partitions:,} partitions"):
            tidewatch_side.create_topic(broker.bootstrap, topic, s.memory_partitions)
        samples: list[int] = []
        description = (
            f"{s.memory_connections} connections, {s.memory_requests_per_second:,.0f} req/s "
            f"over {s.memory_partitions:,} partitions for {s.memory_seconds:g} s"
        )
        with self.progress.step(description) as advance:
            load = raw_clients.run_async(self._memory_load(broker, topic, samples, advance))
        peak = max(samples)
        self.results.add("memory.rss_megabytes", "tidewatch", peak / MB)
        self.results.details["memory"].update(
            produced=load.produced,
            fetched=load.fetched,
            seconds=load.seconds,
            rss_samples=len(samples),
            peak_rss_hwm_megabytes=process_usage(broker.pid).peak_rss_bytes / MB,
        )
        broker.stop()

    async def _memory_load(
        self, broker: BrokerServer, topic: str, samples: list[int], advance: Advance
    ) -> raw_clients.MixedLoadResult:
        import asyncio

        s = self.settings
        load = asyncio.ensure_future(
            raw_clients.mixed_load(
                broker.port,
                topic,
                partitions=s.memory_partitions,
                connections=s.memory_connections,
                requests_per_second=s.memory_requests_per_second,
                duration_s=s.memory_seconds,
                value=self.value,
                deadline=time.monotonic() + s.workload_timeout_s,
            )
        )
        started = time.monotonic()
        while not load.done():
            samples.append(process_usage(broker.pid).rss_bytes)
            advance(min(1.0, (time.monotonic() - started) / s.memory_seconds))
            await asyncio.wait([load], timeout=0.1)
        samples.append(process_usage(broker.pid).rss_bytes)
        return load.result()

    # -- restart -------------------------------------------------------------------------

    def _restart(self) -> None:
        s = self.settings
        broker = BrokerServer(
            self.work_dir / "restart-broker" / "data",
            self.work_dir / "restart-broker" / "broker.log",
            flush_policy=s.flush_policy,
        )
        self._stack.callback(broker.stop)
        port = free_port()
        with self.progress.step("cold start of a broker with an empty data dir"):
            self.results.add(
                "restart.cold_start_seconds", "tidewatch", self._timed_start(broker, port, [])
            )
        broker.port = port
        topic = "bench-restart"
        tidewatch_side.create_topic(broker.bootstrap, topic, 1)
        count = max(1, s.restart_log_bytes // s.message_bytes)
        with self.progress.step(f"writing a {count * s.message_bytes / 1e9:.2f} GB log") as advance:
            tidewatch_side.produce_confluent(
                broker.bootstrap,
                topic,
                count=count,
                value=self.value,
                partitions=1,
                deadline=self._deadline(),
                progress=advance,
            )
        log_bytes = sum(f.stat().st_size for f in broker.data_dir.rglob("*.log"))
        runs = []
        for run in range(s.repeats):
            with self.progress.step(f"kill -9 and restart (run {run + 1}/{s.repeats})"):
                broker.kill()
                started = time.perf_counter()
                metadata_s = self._timed_start(broker, port, [topic], started)
                produce_s = raw_clients.wait_for_produce(port, topic, started, self._deadline())
            self.results.add("restart.seconds_to_metadata", "tidewatch", metadata_s)
            self.results.add("restart.seconds_to_produce", "tidewatch", produce_s)
            warnings = [line for line in broker.output().splitlines() if " WARNING " in line]
            runs.append(
                {
                    "seconds_to_metadata": metadata_s,
                    "seconds_to_produce": produce_s,
                    "broker_warnings": warnings[-5:],
                }
            )
        self.results.details["restart"].update(log_bytes=log_bytes, runs=runs)
        broker.stop()

    def _timed_start(
        self, broker: BrokerServer, port: int, topics: list[str], started: float | None = None
    ) -> float:
        """Seconds from spawning the broker process to its first good Metadata answer."""
        started = time.perf_counter() if started is None else started
        broker.spawn(listen_port=port)
        return raw_clients.wait_for_metadata(port, topics, started, self._deadline())

    # -- helpers -------------------------------------------------------------------------

    def _running_broker(self) -> BrokerServer:
        if self.broker is None:
            raise RuntimeError("no broker was started for this workload")
        return self.broker

    def _running_redis(self) -> RedisServer:
        if self.redis is None:
            raise RuntimeError("no redis-server was started for this workload")
        return self.redis

    def settings_json(self) -> dict[str, Any]:
        return asdict(self.settings)
