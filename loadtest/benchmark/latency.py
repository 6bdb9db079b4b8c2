"""End-to-end latency at a fixed open-loop rate (confluent-kafka on both ends).

The producer (this process) sends on a fixed schedule, ``rate`` messages per second,
and writes the *scheduled* send time into each payload, so a stall delays the
following messages' measured latency instead of hiding it (no coordinated omission).
The consumer runs in its own process (``python -m loadtest.benchmark.latency``) so the
two never share a GIL; both read ``CLOCK_MONOTONIC``, which is system-wide on Linux.

Payload layout: ``sequence int64`` (-1 for warm-up messages), ``scheduled send time
int64`` (monotonic nanoseconds), then padding up to the message size.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LatencyRun", "decode_payload", "encode_payload", "run_latency"]

_HEAD = struct.Struct(">qq")
WARMUP_SEQUENCE = -1

LATENCY_PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "linger.ms": 0,
    "socket.nagle.disable": True,
    "compression.type": "none",
    "enable.idempotence": False,
    "delivery.report.only.error": True,
}
LATENCY_CONSUMER_CONFIG: dict[str, Any] = {
    "group.id": "tidewatch-bench-latency",
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "fetch.wait.max.ms": 100,
    "fetch.min.bytes": 1,
    "fetch.error.backoff.ms": 10,
    "socket.nagle.disable": True,
}


def encode_payload(sequence: int, scheduled_ns: int, size: int) -> bytes:
    head = _HEAD.pack(sequence, scheduled_ns)
    return head + b"\0" * max(0, size - len(head))


def decode_payload(payload: bytes) -> tuple[int, int]:
    sequence, scheduled_ns = _HEAD.unpack_from(payload)
    return int(sequence), int(scheduled_ns)


@dataclass(frozen=True, slots=True)
class LatencyRun:
    latencies_ns: np.ndarray
    sent: int
    received: int
    duplicates: int
    achieved_rate: float  # messages per second actually sent in the measured window


def _paced_produce(
    producer: Any,
    topic: str,
    *,
    sequences: range,
    start_ns: int,
    rate: float,
    size: int,
    deadline: float,
    progress: Callable[[float], None] | None,
) -> None:
    period_ns = 1e9 / rate
    for n, sequence in enumerate(sequences):
        scheduled = start_ns + int(n * period_ns)
        delay_ns = scheduled - time.monotonic_ns()
        if delay_ns > 0:
            time.sleep(delay_ns / 1e9)
        producer.produce(topic, encode_payload(sequence, scheduled, size), partition=0)
        producer.poll(0)
        if n % 500 == 0:
            if time.perf_counter() > deadline:
                raise TimeoutError("the latency workload did not finish in time")
            if progress is not None:
                progress(n / len(sequences))


def run_latency(
    bootstrap: str,
    topic: str,
    *,
    rate: float,
    duration_s: float,
    warmup_s: float,
    size: int,
    work_dir: Path,
    deadline: float,
    progress: Callable[[float], None] | None = None,
) -> LatencyRun:
    import confluent_kafka

    count = max(1, int(rate * duration_s))
    out = work_dir / "latencies.npy"
    timeout_s = max(1.0, deadline - time.perf_counter())
    consumer = subprocess.Popen(
        [sys.executable, "-m", __name__, bootstrap, topic, str(count), str(timeout_s), str(out)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert consumer.stdout is not None
        if consumer.stdout.readline().strip() != b"ready":
            raise RuntimeError("the latency consumer did not start")
        failures: list[str] = []
        producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": bootstrap,
                **LATENCY_PRODUCER_CONFIG,
                "on_delivery": lambda err, _m: failures.append(str(err)) if err else None,
            }
        )
        producer.list_topics(topic, timeout=10)
        warmup = int(rate * warmup_s)
        common: dict[str, Any] = {"rate": rate, "size": size, "deadline": deadline}
        _paced_produce(  # warm-up: negative sequences, ignored by the consumer
            producer,
            topic,
            sequences=range(-warmup, 0),
            start_ns=time.monotonic_ns(),
            progress=None,
            **common,
        )
        measured_from = time.monotonic_ns()
        _paced_produce(
            producer,
            topic,
            sequences=range(count),
            start_ns=measured_from,
            progress=progress,
            **common,
        )
        measured_s = (time.monotonic_ns() - measured_from) / 1e9
        producer.flush(max(0.1, deadline - time.perf_counter()))
        if failures:
            raise RuntimeError(f"produce failed: {failures[0]}")
        summary_line, _ = consumer.communicate(timeout=max(1.0, deadline - time.perf_counter()))
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(10)
    if consumer.returncode != 0:
        raise RuntimeError(f"the latency consumer exited with {consumer.returncode}")
    summary = json.loads(summary_line)
    return LatencyRun(
        latencies_ns=np.load(out),
        sent=count,
        received=int(summary["received"]),
        duplicates=int(summary["duplicates"]),
        achieved_rate=count / measured_s if measured_s > 0 else 0.0,
    )


def consume_latencies(bootstrap: str, topic: str, count: int, timeout_s: float, out: Path) -> None:
    """The consumer process: receive time minus scheduled send time, per sequence."""
    import confluent_kafka

    deadline = time.monotonic() + timeout_s
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, **LATENCY_CONSUMER_CONFIG})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    consumer.poll(0.5)
    print("ready", flush=True)
    latencies = np.zeros(count, dtype=np.int64)
    seen = np.zeros(count, dtype=bool)
    received = duplicates = 0
    poll = consumer.poll
    try:
        while received < count and time.monotonic() < deadline:
            message = poll(0.1)
            if message is None:
                continue
            now = time.monotonic_ns()
            value = message.value()
            if message.error() is not None or value is None:
                continue
            sequence, scheduled = decode_payload(value)
            if sequence < 0 or sequence >= count:
                continue
            if seen[sequence]:
                duplicates += 1
                continue
            seen[sequence] = True
            latencies[sequence] = now - scheduled
            received += 1
    finally:
        consumer.close()
    np.save(out, latencies[seen])
    print(json.dumps({"received": received, "duplicates": duplicates}), flush=True)


if __name__ == "__main__":
    consume_latencies(
        sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5])
    )
