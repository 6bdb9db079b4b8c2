"""Runs the selected workloads against a broker and a Redis peer and collects figures.

Servers: one broker for the throughput, small-request and latency workloads, a fresh
one each for the memory and restart workloads (so their figures do not depend on what
ran before), fresh three-broker clusters for the replication and failover workloads
(``cluster_side``), and one ``redis-server``. All are children of this process, live in
``work_dir`` and are stopped by PID when the run ends, however it ends.

Throughput runs alternate between the systems (Tidewatch, Redis, Tidewatch, ...) so
slow drift on the machine (page cache, writeback, thermal) affects both alike. A failed
workload is recorded with its reason and the others still run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.launcher import BrokerProcess
from loadtest.benchmark import cluster_side, raw_clients, redis_side, tidewatch_side
from loadtest.benchmark.figures import MB, Results, latency_summary_ms, rate
from loadtest.benchmark.footprint import measure_memory, measure_restart
from loadtest.benchmark.latency import run_latency
from loadtest.benchmark.processes import (
    CpuShare,
    CpuSnapshot,
    RedisServer,
    process_usage,
)
from loadtest.benchmark.settings import (
    Advance,
    BenchSettings,
    ProgressSink,
    SilentProgress,
    payload,
)
from loadtest.benchmark.tidewatch_side import ThroughputResult, WorkloadError

__all__ = ["Bench"]

Measured = tuple[ThroughputResult, CpuShare]


@dataclass
class Bench:
    settings: BenchSettings
    work_dir: Path
    progress: ProgressSink = field(default_factory=SilentProgress)

    def __post_init__(self) -> None:
        self.results = Results(self.settings.workloads)
        self.value = payload(self.settings.message_bytes)
        self.broker: BrokerProcess | None = None
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
                (("replication",), self._replication),
                (("failover",), self._failover),
            ]
            for names, phase in phases:
                chosen = [n for n in names if n in selected]
                if chosen:
                    self._guarded(chosen, phase)
            self._record_main_broker_usage()
        return self.results

    def _record_main_broker_usage(self) -> None:
        if self.broker is None:
            return
        try:
            usage = process_usage(self.broker.pid)
        except OSError:  # it died during the run: the failed workloads already say so
            return
        self.results.details.setdefault("broker", {}).update(
            peak_rss_megabytes=usage.peak_rss_bytes / MB, cpu_seconds=usage.cpu_seconds
        )

    def _guarded(self, workloads: list[str], phase: Callable[[], None]) -> None:
        try:
            phase()
        except Exception as exc:  # recorded per workload; Ctrl-C still unwinds
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            for workload in workloads:
                self.results.fail(workload, reason)

    def _new_broker(self, name: str) -> BrokerProcess:
        broker = BrokerProcess(
            self.work_dir / name / "data",
            *("--flush-policy", self.settings.flush_policy, "--log-level", "warning"),
            log_path=self.work_dir / name / "broker.log",
        )
        self._stack.callback(broker.stop)
        return broker

    def _start_broker(self, name: str) -> BrokerProcess:
        broker = self._new_broker(name)
        with self.progress.step(f"starting the {name}"):
            broker.start()
        return broker

    def _deadline(self) -> float:
        return time.perf_counter() + self.settings.workload_timeout_s

    def _measure_cpu(self, pid: int, call: Callable[[], ThroughputResult]) -> Measured:
        """Run ``call``; its result and who kept the CPUs busy meanwhile."""
        before = CpuSnapshot.take(pid)
        result = call()
        return result, CpuShare.between(before, CpuSnapshot.take(pid))

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
        if s.producer == "kcat":
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
        if s.consumer == "kcat":
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
        self, workload: str, system: str, result: ThroughputResult, cpu: CpuShare
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
                **_cpu_json(cpu),
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
        before = CpuSnapshot.take(pid)
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
        cpu = CpuShare.between(before, CpuSnapshot.take(pid))
        self.results.add("small.requests_per_second", system, result.requests_per_second)
        self.results.details["small"].setdefault(f"{system}_runs", []).append(
            {"requests": result.requests, "seconds": result.seconds, **_cpu_json(cpu)}
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

    # -- footprint ----------------------------------------------------------------------

    def _memory(self) -> None:
        broker = self._start_broker("memory-broker")
        measure_memory(self.settings, broker, self.value, self.progress, self.results)
        broker.stop()

    def _restart(self) -> None:
        broker = self._new_broker("restart-broker")
        measure_restart(self.settings, broker, self.value, self.progress, self.results)
        broker.stop()

    # -- three brokers -------------------------------------------------------------------

    def _replication(self) -> None:
        with ExitStack() as servers:
            cluster_side.measure_replication(
                self.settings, self.work_dir, self.value, self.progress, self.results, servers
            )

    def _failover(self) -> None:
        with ExitStack() as servers:
            cluster_side.measure_failover(
                self.settings, self.work_dir, self.progress, self.results, servers
            )

    # -- helpers -------------------------------------------------------------------------

    def _running_broker(self) -> BrokerProcess:
        if self.broker is None:
            raise RuntimeError("no broker was started for this workload")
        return self.broker

    def _running_redis(self) -> RedisServer:
        if self.redis is None:
            raise RuntimeError("no redis-server was started for this workload")
        return self.redis

    def settings_json(self) -> dict[str, Any]:
        return asdict(self.settings)


def _cpu_json(cpu: CpuShare) -> dict[str, float]:
    return {
        "server_cores_busy": cpu.server_cores,
        "client_cores_busy": cpu.client_cores,
        "other_cores_busy": cpu.other_cores,
    }
