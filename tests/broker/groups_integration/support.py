"""Helpers shared by the consumer-group and lag integration tests: topics, producing,
and reading the broker's own view (/status/groups, /metrics)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "BackgroundProducer",
    "create_topic",
    "group_status",
    "metric_samples",
    "produce",
    "quiet",
]

# librdkafka logs connection noise at info level; tests read errors from exceptions.
quiet = {"log_level": 3}


def create_topic(bootstrap: str, topic: str, partitions: int, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    future = admin.create_topics([NewTopic(topic, partitions, 1, config=config)])[topic]
    future.result(15)


def produce(
    bootstrap: str,
    topic: str,
    values: list[str],
    partitions: int,
    timestamp_ms: int | None = None,
) -> None:
    """Produce values round-robin over the partitions (value i to partition i % n)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **quiet})
    for i, value in enumerate(values):
        kwargs: dict[str, Any] = {"partition": i % partitions}
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        producer.produce(topic, value=value.encode(), **kwargs)
        producer.poll(0)
    remaining = producer.flush(15)
    assert remaining == 0, f"{remaining} records not acknowledged"


class BackgroundProducer:
    """Produces ``prefix-N`` values round-robin at a steady rate from a thread, so
    members are killed mid-stream. ``produced`` lists every acknowledged value."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.prefix = prefix
        self.produced: list[str] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, **quiet})

        def report(err: Any, msg: Any) -> None:
            value = msg.value().decode()
            (self.failed if err is not None else self.produced).append(value)

        i = 0
        while not self._stop.is_set():
            if self._paused.is_set():
                producer.flush(15)
                self._idle.set()
                self._stop.wait(0.05)
                continue
            self._idle.clear()
            for _ in range(20):
                producer.produce(
                    self.topic,
                    value=f"{self.prefix}-{i}".encode(),
                    partition=i % self.partitions,
                    on_delivery=report,
                )
                i += 1
            producer.poll(0)
            self._stop.wait(0.05)
        assert producer.flush(15) == 0

    def start(self) -> BackgroundProducer:
        self._thread.start()
        return self

    def pause(self) -> list[str]:
        """Stop producing for a while; returns what was acknowledged so far."""
        self._idle.clear()
        self._paused.set()
        assert self._idle.wait(20), "the background producer did not pause"
        return list(self.produced)

    def resume(self) -> None:
        self._paused.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the background producer did not stop"
        assert not self.failed, f"{len(self.failed)} records were not acknowledged"
        return self.produced


@contextmanager
def producing(
    bootstrap: str, topic: str, partitions: int, prefix: str
) -> Iterator[BackgroundProducer]:
    background = BackgroundProducer(bootstrap, topic, partitions, prefix).start()
    try:
        yield background
    finally:
        background.close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def group_status(http_url: str, group: str) -> dict[str, Any] | None:
    """The group's entry in /status/groups (None when the broker does not list it)."""
    groups = json.loads(_get(f"{http_url}/status/groups"))["groups"]
    return next((g for g in groups if g["group"] == group), None)


def metric_samples(http_url: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Samples of ``name`` in /metrics whose labels include ``labels``."""
    out = []
    for family in text_string_to_metric_families(_get(f"{http_url}/metrics")):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                out.append((dict(sample.labels), sample.value))
    return out


def now_ms() -> int:
    return int(time.time() * 1000)
