"""``tidewatch bench``: the broker's figures next to a Redis Streams peer, in one run.

Starts its own broker(s) and ``redis-server`` in a temporary directory on 127.0.0.1,
runs the selected workloads (see ``loadtest.benchmark.runner``), prints the figures
with the machine they ran on, optionally writes them as JSON, and stops every process
it started, by PID, whatever happens. Heavy imports wait until the command runs, so
``tidewatch --help`` stays fast and a missing client library gives a one-line reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

__all__ = ["bench"]

DEFAULT_WORKLOAD_NAMES = ("produce", "consume", "small", "latency", "memory", "restart")
CLUSTER_WORKLOAD_NAMES = ("replication", "failover")  # three brokers: only when asked for
WORKLOAD_NAMES = DEFAULT_WORKLOAD_NAMES + CLUSTER_WORKLOAD_NAMES
WORKLOAD_HELP = (
    "produce: 1 KiB messages with acks=1 (librdkafka) vs Redis XADD pipelined; "
    "consume: read them back vs XRANGE; small: one message per Produce request vs one "
    "XADD per round trip; latency: end to end at a fixed rate with acks=all; memory: "
    "broker RSS with many partitions and connections; restart: serving again after kill -9. "
    "Three brokers, run only when named in --only: replication: acks=all produce with "
    "replication factor 3 as a ratio to a single broker, per round; failover: kill -9 of a "
    "partition's leader to the first acknowledged produce on the new one."
)


def _parse_only(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_WORKLOAD_NAMES
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in WORKLOAD_NAMES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown workload {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(WORKLOAD_NAMES)}"
        )
    return tuple(n for n in WORKLOAD_NAMES if n in names)


def _require(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise click.ClickException(
            f"{why} needs the Python package {module!r}: pip install 'tidewatch[clients]'"
        )


def _check_prerequisites(settings: Any) -> None:
    if settings.redis_client == "redis-py" and settings.needs_redis:
        _require("redis", "--redis-client redis-py")
    if settings.needs_kcat and shutil.which("kcat") is None:
        raise click.ClickException(
            "kcat is not installed (Debian: apt-get install kcat); "
            "install it or pass --producer confluent --consumer confluent"
        )
    if settings.needs_redis and shutil.which("redis-server") is None:
        raise click.ClickException(
            "redis-server is not installed (Debian: apt-get install redis-server); "
            "install it or pass --no-redis"
        )


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C does, so the servers are stopped on the way out."""

    def handler(_signum: int, _frame: Any) -> NoReturn:
        raise SystemExit(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command(name="bench", epilog=WORKLOAD_HELP)
@click.option(
    "--only",
    callback=_parse_only,
    metavar="W1,W2",
    help=f"Workloads to run, of {','.join(WORKLOAD_NAMES)} "
    f"[default: {','.join(DEFAULT_WORKLOAD_NAMES)}].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every figure and the machine description to this JSON file.",
)
@click.option(
    "--messages",
    type=click.IntRange(1),
    default=500_000,
    show_default=True,
    help="Messages per produce/consume run.",
)
@click.option(
    "--message-bytes",
    type=click.IntRange(16, 1_000_000),
    default=1024,
    show_default=True,
    help="Message value size.",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Partitions of the produce/consume topic.",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 20),
    default=5,
    show_default=True,
    help="Runs of each cheap measurement (rounds of the replication run); the median is reported.",
)
@click.option(
    "--producer",
    type=click.Choice(["confluent", "kcat"]),
    default="confluent",
    show_default=True,
    help="librdkafka front end for produce: confluent-kafka in-process, or kcat -P -l FILE.",
)
@click.option(
    "--consumer",
    type=click.Choice(["kcat", "confluent"]),
    default="kcat",
    show_default=True,
    help="librdkafka front end for consume: kcat -C, or confluent-kafka in-process "
    "(its per-message Python cost made it 2-4x slower than kcat on 2 cores).",
)
@click.option(
    "--redis/--no-redis", default=True, show_default=True, help="Measure the Redis Streams peer."
)
@click.option(
    "--redis-client",
    type=click.Choice(["raw", "redis-py"]),
    default="raw",
    show_default=True,
    help="raw: pre-encoded pipelined RESP parsed by hiredis (the client costs almost "
    "nothing); redis-py: its pipeline and xrange.",
)
@click.option(
    "--redis-pipeline",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="XADD commands per pipelined batch.",
)
@click.option(
    "--small-seconds",
    type=click.FloatRange(0.1, 600),
    default=5.0,
    show_default=True,
    help="Measured duration of each small-request run.",
)
@click.option(
    "--small-connections",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Connections in the small-request run, one request in flight on each.",
)
@click.option(
    "--latency-rate",
    type=click.FloatRange(1, 1_000_000),
    default=5000,
    show_default=True,
    help="Open-loop send rate of the latency run (msg/s).",
)
@click.option(
    "--latency-seconds",
    type=click.FloatRange(0.1, 3600),
    default=10.0,
    show_default=True,
    help="Measured duration of the latency run.",
)
@click.option(
    "--memory-partitions",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Partitions of the memory run's topic; each gets written and read.",
)
@click.option(
    "--memory-connections",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Client connections of the memory run, each producing and fetching.",
)
@click.option(
    "--memory-seconds",
    type=click.FloatRange(0.1, 3600),
    default=10.0,
    show_default=True,
    help="Duration of the steady load of the memory run.",
)
@click.option(
    "--restart-log-gb",
    type=click.FloatRange(0.000001, 1000),
    default=1.0,
    show_default=True,
    help="Log size written before kill -9 (the brief's 2 s target is for 5 GB).",
)
@click.option(
    "--replication-messages",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Messages per system and round of the replication run (acks=all).",
)
@click.option(
    "--failover-kills",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Leader kills of the failover run (each one restarted and back in sync before the next).",
)
@click.option(
    "--flush-policy",
    type=click.Choice(["interval", "durable"]),
    default="interval",
    show_default=True,
    help="The brokers' flush policy.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(1, 86_400),
    default=300.0,
    show_default=True,
    help="Time limit of each measurement, in seconds.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the temporary data directories go [default: the system temp dir].",
)
def bench(
    only: tuple[str, ...], json_path: Path | None, work_dir: Path | None, **options: Any
) -> None:
    """Benchmark the broker against Redis Streams on this machine, in one run.

    Starts its own broker (interval flush policy, metrics on) and redis-server (AOF,
    appendfsync everysec, no RDB) on 127.0.0.1, runs each workload, prints messages/s,
    MB/s and the Tidewatch/Redis ratio against the targets of the project brief, and
    stops both servers at the end. Clients and servers share this machine's cores.
    The three-broker workloads (--only replication,failover) compare the cluster with
    a single broker of the same run and time leader failovers.
    """
    _require("confluent_kafka", "the benchmark's Kafka client")
    _require("hiredis", "the benchmark's raw clients")
    from loadtest.benchmark.settings import BenchSettings

    settings = BenchSettings(
        workloads=only,
        messages=options["messages"],
        message_bytes=options["message_bytes"],
        partitions=options["partitions"],
        repeats=options["repeats"],
        producer=options["producer"],
        consumer=options["consumer"],
        redis=options["redis"],
        redis_client=options["redis_client"],
        redis_pipeline=options["redis_pipeline"],
        small_seconds=options["small_seconds"],
        small_connections=options["small_connections"],
        latency_rate=options["latency_rate"],
        latency_seconds=options["latency_seconds"],
        memory_partitions=options["memory_partitions"],
        memory_connections=options["memory_connections"],
        memory_seconds=options["memory_seconds"],
        restart_log_bytes=int(options["restart_log_gb"] * 1e9),
        replication_messages=options["replication_messages"],
        failover_kills=options["failover_kills"],
        workload_timeout_s=options["timeout_s"],
        flush_policy=options["flush_policy"],
    )
    _check_prerequisites(settings)
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with _sigterm_as_exit():
        report = _run(settings, work_dir)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
        click.echo(f"figures written to {json_path}")
    failed = sorted({k.partition(".")[0] for k, f in report["figures"].items() if f["error"]})
    if failed:
        raise click.ClickException(f"workload(s) failed: {', '.join(failed)} (reasons above)")


def _run(settings: Any, work_dir: Path | None) -> dict[str, Any]:
    from rich.console import Console

    from contracts.launcher import ProcessStartError
    from loadtest.benchmark.machine import describe_machine
    from loadtest.benchmark.processes import BenchSetupError, RedisServer
    from loadtest.benchmark.render import RichProgress, render_report
    from loadtest.benchmark.runner import Bench
    from loadtest.benchmark.tidewatch_side import kcat_version

    # piped or captured output gets a width that fits the figures table on one line each
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    cores = os.cpu_count() or 0
    sharing = (
        f"Clients and servers share this machine's {cores} cores: every figure includes the "
        "cost of the client running beside the server."
    )
    console.print(f"[bold]tidewatch bench[/bold]: {', '.join(settings.workloads)}. {sharing}")
    with tempfile.TemporaryDirectory(prefix="tidewatch-bench-", dir=work_dir) as tmp:
        bench_run = Bench(settings, Path(tmp), RichProgress(console))
        try:
            results = bench_run.run()
        except (BenchSetupError, ProcessStartError) as exc:
            raise click.ClickException(str(exc)) from None
        redis_version = RedisServer(Path(tmp)).version() if settings.needs_redis else None
        machine = describe_machine(Path(tmp), kcat=kcat_version(), redis=redis_version)
    report = {
        "schema": "tidewatch-bench/1",
        "argv": sys.argv,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(time.monotonic() - started, 1),
        "sharing_note": sharing,
        "settings": bench_run.settings_json(),
        "machine": machine,
        **results.to_json(),
    }
    render_report(console, report)
    return report
