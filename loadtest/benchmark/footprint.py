"""The broker's footprint: memory under many partitions and connections, and the
time to serve again after ``kill -9``. Each runs on a broker of its own, so the
figures do not depend on what ran before."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from contracts.launcher import BrokerProcess, free_port
from loadtest.benchmark import raw_clients, tidewatch_side
from loadtest.benchmark.figures import MB, Results
from loadtest.benchmark.processes import process_usage
from loadtest.benchmark.settings import Advance, BenchSettings, ProgressSink

__all__ = ["measure_memory", "measure_restart"]


def measure_memory(
    settings: BenchSettings,
    broker: BrokerProcess,
    value: bytes,
    progress: ProgressSink,
    results: Results,
) -> None:
    """Peak VmRSS while ``memory_connections`` clients produce to and fetch from every
    partition of a ``memory_partitions``-partition topic; ``broker`` has just started."""
    s = settings
    time.sleep(0.5)  # let start-up allocations settle before the idle reading
    results.add("memory.idle_rss_megabytes", "tidewatch", process_usage(broker.pid).rss_bytes / MB)
    topic = "bench-memory"
    with progress.step(f"creating a topic with {s.memory_partitions:,} partitions"):
        tidewatch_side.create_topic(broker.bootstrap, topic, s.memory_partitions)
    samples: list[int] = []
    description = (
        f"{s.memory_connections} connections, {s.memory_requests_per_second:,.0f} req/s "
        f"over {s.memory_partitions:,} partitions for {s.memory_seconds:g} s"
    )
    with progress.step(description) as advance:
        load = raw_clients.run_async(_sampled_load(s, broker, topic, value, samples, advance))
    results.add("memory.rss_megabytes", "tidewatch", max(samples) / MB)
    results.details["memory"].update(
        produced=load.produced,
        fetched=load.fetched,
        seconds=load.seconds,
        rss_samples=len(samples),
        peak_rss_hwm_megabytes=process_usage(broker.pid).peak_rss_bytes / MB,
    )


async def _sampled_load(
    s: BenchSettings,
    broker: BrokerProcess,
    topic: str,
    value: bytes,
    samples: list[int],
    advance: Advance,
) -> raw_clients.MixedLoadResult:
    load = asyncio.ensure_future(
        raw_clients.mixed_load(
            broker.port,
            topic,
            partitions=s.memory_partitions,
            connections=s.memory_connections,
            requests_per_second=s.memory_requests_per_second,
            duration_s=s.memory_seconds,
            value=value,
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


def measure_restart(
    settings: BenchSettings,
    broker: BrokerProcess,
    value: bytes,
    progress: ProgressSink,
    results: Results,
) -> None:
    """Cold start on an empty data dir, then write ``restart_log_bytes`` and, per
    repeat, SIGKILL the broker and time its restart on the same port: to the first
    Metadata answer naming the topic, and to the first acknowledged produce.
    ``broker`` has not been started."""
    s = settings
    broker.listen_port = free_port()  # known before the start, so the clock can watch it
    with progress.step("cold start of a broker with an empty data dir"):
        cold = _timed_start(broker, [], time.perf_counter(), s.workload_timeout_s)
    results.add("restart.cold_start_seconds", "tidewatch", cold)
    topic = "bench-restart"
    tidewatch_side.create_topic(broker.bootstrap, topic, 1)
    count = max(1, s.restart_log_bytes // len(value))
    with progress.step(f"writing a {count * len(value) / 1e9:.2f} GB log") as advance:
        tidewatch_side.produce_confluent(
            broker.bootstrap,
            topic,
            count=count,
            value=value,
            partitions=1,
            deadline=time.perf_counter() + s.workload_timeout_s,
            progress=advance,
        )
    runs: list[dict[str, Any]] = []
    for run in range(s.repeats):
        with progress.step(f"kill -9 and restart (run {run + 1}/{s.repeats})"):
            broker.kill()
            started = time.perf_counter()
            metadata_s = _timed_start(broker, [topic], started, s.workload_timeout_s)
            produce_s = raw_clients.wait_for_produce(
                broker.port, topic, started, started + s.workload_timeout_s
            )
        results.add("restart.seconds_to_metadata", "tidewatch", metadata_s)
        results.add("restart.seconds_to_produce", "tidewatch", produce_s)
        warnings = [line for line in broker.output().splitlines() if " WARNING " in line]
        runs.append(
            {
                "seconds_to_metadata": metadata_s,
                "seconds_to_produce": produce_s,
                "broker_warnings": warnings[-5:],
            }
        )
    log_bytes = sum(f.stat().st_size for f in broker.data_dir.rglob("*.log"))
    results.details["restart"].update(log_bytes=log_bytes, runs=runs)


def _timed_start(
    broker: BrokerProcess, topics: list[str], started: float, timeout_s: float
) -> float:
    """Seconds from ``started`` to the broker's first good Metadata answer on its fixed
    Kafka port (then its ready file is read, outside the measured time)."""
    broker.spawn()
    seconds = raw_clients.wait_for_metadata(
        broker.listen_port, topics, started, started + timeout_s
    )
    broker.wait_ready(timeout_s)
    return seconds
