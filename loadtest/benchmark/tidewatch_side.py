"""Workloads against the broker with librdkafka: confluent-kafka in this process, or
kcat in a subprocess.

Client settings follow KAFKA_NOTES.md: Nagle off, a small ``linger.ms``, large batches,
no compression, large fetch sizes. Every produce is checked: failed deliveries are
counted (librdkafka reports only errors, which keeps the callback off the hot path) and
the partition end offsets are compared with the number of messages sent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KAFKA_CLIENTS",
    "ThroughputResult",
    "consume_confluent",
    "consume_kcat",
    "create_topic",
    "delete_topic",
    "end_offsets",
    "kcat_version",
    "produce_confluent",
    "produce_kcat",
    "write_message_file",
]

KAFKA_CLIENTS = ("confluent", "kcat")
Progress = Callable[[float], None]

PRODUCER_CONFIG: dict[str, Any] = {
    "acks": 1,
    "linger.ms": 5,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "socket.nagle.disable": True,
    "compression.type": "none",
    "enable.idempotence": False,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "delivery.report.only.error": True,
}
# librdkafka logs an info line when an admin client is dropped with events unserved
ADMIN_CONFIG: dict[str, Any] = {"log_level": 4}
CONSUMER_CONFIG: dict[str, Any] = {
    "group.id": "tidewatch-bench",
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "fetch.max.bytes": 50 * 1024 * 1024,
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "receive.message.max.bytes": 64 * 1024 * 1024,
    "queued.max.messages.kbytes": 1_048_576,
    "fetch.wait.max.ms": 100,
    "socket.nagle.disable": True,
}


class WorkloadError(RuntimeError):
    """A workload could not complete (timeout, delivery failure, client error)."""


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    messages: int
    payload_bytes: int
    seconds: float


def _client_modules() -> Any:
    try:
        import confluent_kafka
    except ImportError:  # pragma: no cover - reported as a setup error by the CLI
        raise WorkloadError(
            "confluent-kafka is not installed (pip install 'tidewatch[clients]')"
        ) from None
    return confluent_kafka


def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    timeout_s: float = 60.0,
    *,
    replication_factor: int = 1,
    configs: dict[str, str] | None = None,
) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **ADMIN_CONFIG})
    new_topic = NewTopic(topic, partitions, replication_factor, config=dict(configs or {}))
    futures = admin.create_topics(
        [new_topic], operation_timeout=timeout_s, request_timeout=timeout_s
    )
    futures[topic].result(timeout=timeout_s)


def delete_topic(bootstrap: str, topic: str, timeout_s: float = 60.0) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, **ADMIN_CONFIG})
    futures = admin.delete_topics([topic], operation_timeout=timeout_s, request_timeout=timeout_s)
    futures[topic].result(timeout=timeout_s)


def end_offsets(bootstrap: str, topic: str, partitions: int, timeout_s: float = 10.0) -> int:
    """Sum of the partitions' high watermarks (the number of records in a fresh topic)."""
    confluent_kafka = _client_modules()
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, **CONSUMER_CONFIG})
    try:
        total = 0
        for p in range(partitions):
            _, high = consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(topic, p), timeout=timeout_s
            )
            total += high
        return total
    finally:
        consumer.close()


def produce_confluent(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    value: bytes,
    partitions: int,
    deadline: float,
    progress: Progress | None = None,
    extra_config: dict[str, Any] | None = None,
) -> ThroughputResult:
    """Produce ``count`` copies of ``value``, round-robin over partitions; the clock runs
    from the first ``produce()`` to the last acknowledgement."""
    confluent_kafka = _client_modules()
    failures: list[str] = []

    def on_error(err: Any, _msg: Any) -> None:
        if err is not None and len(failures) < 5:
            failures.append(str(err))

    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            **PRODUCER_CONFIG,
            **(extra_config or {}),
            "on_delivery": on_error,
        }
    )
    producer.list_topics(topic, timeout=10)  # connect before the clock starts
    produce, poll = producer.produce, producer.poll
    step = max(1, count // 100)
    started = time.perf_counter()
    for i in range(count):
        while True:
            try:
                produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                poll(0.001)
        if i % step == 0:
            poll(0)
            if progress is not None:
                progress(i / count)
            if time.perf_counter() > deadline:
                raise WorkloadError(f"produce did not finish in time ({i} of {count} sent)")
    while producer.flush(0.1) > 0:
        if time.perf_counter() > deadline:
            raise WorkloadError("produce did not finish in time (waiting for acknowledgements)")
    seconds = time.perf_counter() - started
    if failures:
        raise WorkloadError(f"produce failed: {failures[0]}")
    return ThroughputResult(count, count * len(value), seconds)


def write_message_file(path: Path, value: bytes, count: int) -> None:
    """One message per line for ``kcat -l`` (the value must not contain a newline)."""
    if b"\n" in value:
        raise ValueError("kcat messages are newline-delimited; the value contains one")
    line = value + b"\n"
    full, rest = divmod(count, 4096)
    chunk = line * 4096
    with open(path, "wb") as f:
        for _ in range(full):
            f.write(chunk)
        f.write(line * rest)


def kcat_version() -> str | None:
    """E.g. '1.7.1 (librdkafka 2.0.2)' from ``kcat -V``."""
    kcat = shutil.which("kcat")
    if kcat is None:
        return None
    out = subprocess.run([kcat, "-V"], capture_output=True, text=True, timeout=10, check=False)
    version = re.search(r"^Version (\S+)", out.stdout, re.MULTILINE)
    librdkafka = re.search(r"librdkafka (\S+)", out.stdout)
    if version is None:
        return out.stdout.strip() or None
    return version.group(1) + (f" (librdkafka {librdkafka.group(1)})" if librdkafka else "")


def _kcat_properties(config: dict[str, Any]) -> list[str]:
    args = []
    for key, value in config.items():
        if key in (
            "delivery.report.only.error",
            "group.id",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "enable.partition.eof",
        ):
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-X", f"{key}={text}"]
    return args


def _run_kcat(args: list[str], deadline: float, stdout: Any) -> float:
    kcat = shutil.which("kcat")
    if kcat is None:
        raise WorkloadError("kcat is not installed (Debian: apt-get install kcat)")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [kcat, *args], stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE
    )
    try:
        _, err = proc.communicate(timeout=max(0.1, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        raise WorkloadError("kcat did not finish in time") from None
    finally:  # also on Ctrl-C: never leave kcat behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise WorkloadError(f"kcat exited with {proc.returncode}: {last[0]}")
    return seconds


def produce_kcat(
    bootstrap: str,
    topic: str,
    *,
    messages_file: Path,
    count: int,
    value_bytes: int,
    deadline: float,
) -> ThroughputResult:
    """``kcat -P -l FILE``; the time includes kcat's start-up and metadata round trip."""
    config = {**PRODUCER_CONFIG}
    config.pop("compression.type")
    args = ["-P", "-b", bootstrap, "-t", topic, "-z", "none", *_kcat_properties(config)]
    seconds = _run_kcat([*args, "-l", str(messages_file)], deadline, subprocess.DEVNULL)
    return ThroughputResult(count, count * value_bytes, seconds)


def consume_confluent(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    partitions: int,
    deadline: float,
    progress: Progress | None = None,
) -> ThroughputResult:
    """Read ``count`` records from offset 0 of every partition (assign, no group)."""
    confluent_kafka = _client_modules()
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, **CONSUMER_CONFIG})
    try:
        consumer.list_topics(topic, timeout=10)
        started = time.perf_counter()
        consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in range(partitions)])
        received = payload = 0
        while received < count:
            if time.perf_counter() > deadline:
                raise WorkloadError(f"consume did not finish in time ({received} of {count})")
            # ask for no more than remain: consume() waits out its timeout otherwise
            messages = consumer.consume(min(10_000, count - received), 0.5)
            errors = [m.error() for m in messages if m.error() is not None]
            if errors:
                raise WorkloadError(f"consume failed: {errors[0]}")
            received += len(messages)
            payload += sum(map(len, messages))
            if progress is not None:
                progress(received / count)
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    return ThroughputResult(received, payload, seconds)


def consume_kcat(
    bootstrap: str, topic: str, *, count: int, deadline: float, output: Path
) -> ThroughputResult:
    """``kcat -C -e -c COUNT -f '%S\\n'``: kcat prints each value's size, summed here."""
    config = {k: v for k, v in CONSUMER_CONFIG.items() if k != "queued.max.messages.kbytes"}
    args = ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
    args += ["-c", str(count), "-f", "%S\n", *_kcat_properties(config)]
    with open(output, "wb") as out:
        seconds = _run_kcat(args, deadline, out)
    sizes = [int(line) for line in output.read_bytes().split()]
    if len(sizes) != count:
        raise WorkloadError(f"kcat read {len(sizes)} of {count} records")
    return ThroughputResult(len(sizes), sum(sizes), seconds)
