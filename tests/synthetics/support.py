"""Helpers for the synthetics integration tests: probe configs, a probe running in the
test's event loop, polling with deadlines, metric samples, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from synthetics.config import SlaConfig, TargetConfig, TopicConfig
from synthetics.connection import ConnectionConfig
from synthetics.metrics import Instruments
from synthetics.probe import TargetProbe


def target(bootstrap: str, **overrides: Any) -> TargetConfig:
    """A fast probe target: 200 ms interval, short timeouts, 3 partitions."""
    sla = overrides.pop(
        "sla", SlaConfig(ack_seconds=1.0, end_to_end_seconds=1.0, lost_after_seconds=20.0)
    )
    topic = overrides.pop("topic", TopicConfig(partitions=3))
    request_timeout = overrides.pop("request_timeout_seconds", 5.0)
    values: dict[str, Any] = {
        "name": "t",
        "connection": ConnectionConfig((bootstrap,), "tidewatch-probe-test", request_timeout),
        "topic": topic,
        "interval_seconds": 0.2,
        "broker_check_interval_seconds": 1.0,
        "sla": sla,
    }
    values.update(overrides)
    return TargetConfig(**values)


def new_probe(config: TargetConfig) -> tuple[TargetProbe, CollectorRegistry]:
    registry = CollectorRegistry()
    return TargetProbe(config, Instruments(registry)), registry


@contextlib.asynccontextmanager
async def running(probe: TargetProbe) -> AsyncIterator[TargetProbe]:
    """Run ``probe`` (rounds and consumer) in the background; stop and close on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    try:
        yield probe
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await probe.close()


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout: float = 20.0,
    what: str | Callable[[], str] = "condition",
) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail after ``timeout`` seconds
    (``what`` may be a callable, evaluated then, to show the state at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            shown = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout} s waiting for {shown}")
        await asyncio.sleep(0.05)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total
