"""Measure the probe's own cost: CPU seconds per probe cycle at a given interval.

    python -m synthetics.overhead                      # starts a throwaway local broker
    python -m synthetics.overhead --bootstrap HOST:PORT --cycles 60 --json overhead.json

Runs one probe target in this process (default settings unless flags say otherwise),
lets it warm up, then reads this process's CPU time (``resource.getrusage``: user +
system, all threads) before and after ``--cycles`` cycles. Everything the probe does in
that time counts: producing and judging records, the consumer's background fetches,
broker checks, metadata refreshes, offset commits. The broker's CPU is not included (it
runs in another process). Prints CPU per cycle, per record and as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from contracts.launcher import BrokerProcess
from synthetics.config import TargetConfig
from synthetics.connection import ConnectionConfig
from synthetics.metrics import Instruments
from synthetics.probe import TargetProbe

__all__ = ["main", "measure"]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(config: TargetConfig, cycles: int, warmup: int = 3) -> dict[str, Any]:
    registry = CollectorRegistry()
    probe = TargetProbe(config, Instruments(registry))
    stop = asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    try:
        while probe.tally.rounds < warmup:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        rounds, records = probe.tally.rounds, probe.tally.produce_attempts
        cpu, wall = _cpu_seconds(), time.monotonic()
        while probe.tally.rounds < rounds + cycles:  # coarse polling: keep our own cost low
            await asyncio.sleep(config.interval_seconds / 4)
        cpu, wall = _cpu_seconds() - cpu, time.monotonic() - wall
        measured_rounds = probe.tally.rounds - rounds
        measured_records = probe.tally.produce_attempts - records
        tally = probe.tally
        e2e_mean = _mean(registry, "tidewatch_probe_end_to_end_latency_seconds")
    finally:
        stop.set()
        await task
        await probe.close()
    return {
        "interval_seconds": config.interval_seconds,
        "partitions": len(probe.view.partitions) if probe.view else 0,
        "cycles": measured_rounds,
        "records": measured_records,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 4),
        "cpu_seconds_per_cycle": round(cpu / measured_rounds, 6),
        "cpu_seconds_per_record": round(cpu / max(1, measured_records), 6),
        "cpu_share_of_one_core": round(cpu / wall, 5),
        "end_to_end_mean_seconds": round(e2e_mean, 6),
        "lost": tally.lost,
        "produce_errors": tally.produce_errors + tally.produce_timeouts,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
    }


def _mean(registry: CollectorRegistry, histogram: str) -> float:
    totals = {"_sum": 0.0, "_count": 0.0}
    for metric in registry.collect():
        for sample in metric.samples:
            for suffix in totals:
                if sample.name == histogram + suffix:
                    totals[suffix] += sample.value
    return totals["_sum"] / totals["_count"] if totals["_count"] else 0.0


@contextmanager
def _throwaway_broker() -> Iterator[str]:
    """A broker on 127.0.0.1 port 0 in a temporary directory; yields its bootstrap."""
    with (
        tempfile.TemporaryDirectory(prefix="tidewatch-overhead-") as tmp,
        BrokerProcess(Path(tmp) / "data") as broker,
    ):
        yield broker.bootstrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthetics.overhead", description=__doc__)
    parser.add_argument("--bootstrap", help="HOST:PORT of a cluster (default: a local broker)")
    parser.add_argument("--cycles", type=int, default=30, help="measured cycles (default 30)")
    parser.add_argument("--interval", type=float, default=None, help="seconds (default 1)")
    parser.add_argument("--partitions", type=int, default=None, help="probe partitions")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    def run(bootstrap: str) -> dict[str, Any]:
        config = TargetConfig("overhead", ConnectionConfig((bootstrap,), "tidewatch-overhead"))
        if args.interval is not None:
            config = replace(config, interval_seconds=args.interval)
        if args.partitions is not None:
            config = replace(config, topic=replace(config.topic, partitions=args.partitions))
        return asyncio.run(measure(config, args.cycles))

    if args.bootstrap:
        figures = run(args.bootstrap)
    else:
        with _throwaway_broker() as bootstrap:
            figures = run(bootstrap)
    print(f"machine: {figures['machine']}")
    print(
        f"{figures['cycles']} cycles every {figures['interval_seconds']:g} s on "
        f"{figures['partitions']} partition(s), {figures['records']} records: "
        f"{figures['cpu_seconds']:.3f} CPU s in {figures['wall_seconds']:.1f} s"
    )
    print(
        f"CPU per cycle {figures['cpu_seconds_per_cycle'] * 1000:.2f} ms, per record "
        f"{figures['cpu_seconds_per_record'] * 1000:.2f} ms, "
        f"{figures['cpu_share_of_one_core'] * 100:.2f}% of one core; mean end-to-end latency "
        f"{figures['end_to_end_mean_seconds'] * 1000:.1f} ms"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
