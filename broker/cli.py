"""``tidewatch broker``: run the Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from aiohttp import web

from broker.app import BrokerApp, ClusterMembershipError
from broker.cluster.flusher import FlushPolicy
from broker.config import BrokerConfig, load_config
from broker.quorum.errors import QuorumStorageError
from broker.storage.errors import StorageError
from contracts.fields import ConfigError, parse_flag, parse_host_port
from contracts.ready_file import remove_ready_file, write_ready_file

__all__ = ["RoutesFor", "broker", "broker_command", "prepare_process", "run_broker"]


def apply_flags(config: BrokerConfig, **flags: Any) -> BrokerConfig:
    """Command-line flags override the config file; None means 'not given'."""
    changes: dict[str, Any] = {}
    if flags.get("data_dir") is not None:
        changes["data_dir"] = Path(flags["data_dir"])
    for key in ("listen", "http", "advertised"):
        if flags.get(key) is not None:
            changes[key] = parse_flag(f"--{key}", flags[key], parse_host_port)
    if flags.get("flush_policy") is not None:
        changes["flush_policy"] = parse_flag("--flush-policy", flags["flush_policy"], FlushPolicy)
    for key in ("node_id", "cluster", "auto_create_topics", "default_partitions"):
        if flags.get(key) is not None:
            changes[key] = flags[key]
    return replace(config, **changes)


async def serve(app: BrokerApp, announce: bool = True, ready_file: Path | None = None) -> None:
    """Start ``app``, print where it listens, publish ``ready_file`` (see
    ``contracts.launcher``), run until SIGINT/SIGTERM, then remove the file and stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready_file is not None:
        remove_ready_file(ready_file)  # a crashed run's file must not pass for this one
    await app.start()
    if announce:
        _announce(app)
    sys.stdout.flush()
    try:
        if ready_file is not None:
            write_ready_file(ready_file, app.ready_info())
        await stop.wait()
    finally:
        if ready_file is not None:
            remove_ready_file(ready_file)
        await app.stop()


def _announce(app: BrokerApp) -> None:
    """The start-up banner, for people: programs read the ready file instead."""
    click.echo(f"tidewatch broker ready: Kafka bootstrap {app.bootstrap}", err=False)
    if app.http_address is not None:
        base = f"http://{app.http_address}"
        click.echo(f"  metrics  {base}/metrics")
        click.echo(f"  health   {base}/healthz  {base}/readyz")
    policy = app.config.flush_policy.value
    click.echo(f"  data dir {app.config.data_dir.resolve()} (flush policy: {policy})")
    click.echo("Press Ctrl-C to stop.")


def tune_allocator() -> None:
    """Keep large request buffers on the heap (glibc): by default each 1 MiB produce
    frame gets fresh mmap'd pages and page-faults them in, which measured about 40% of
    the broker's CPU per byte produced. No-op where mallopt is unavailable."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 16 * 1024 * 1024)
    mallopt(m_trim_threshold, 64 * 1024 * 1024)


def prepare_process(log_level: str) -> None:
    """What every long-running Tidewatch process does first: log lines with time, level
    and logger; the allocator tuned for record buffers; uvloop when it is installed."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    tune_allocator()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


RoutesFor = Callable[[BrokerApp], Callable[[web.Application], None]]
"""Given the broker about to run, the extra routes for its HTTP server (for example
tidewatch's status page, wired in ``tidewatch.broker_command``)."""


def run_broker(
    config: BrokerConfig,
    log_level: str = "info",
    *,
    ready_file: Path | None = None,
    routes_for: RoutesFor | None = None,
) -> None:
    prepare_process(log_level)
    try:
        app = BrokerApp(config)
        if routes_for is not None:
            app.http_routes = routes_for(app)
        asyncio.run(serve(app, ready_file=ready_file))
    except QuorumStorageError as exc:
        raise click.ClickException(
            f"{exc}; the metadata quorum writes its state to start: make room in the data "
            "directory (or fix the disk) and start again"
        ) from None
    except (OSError, StorageError, ConfigError, ClusterMembershipError) as exc:
        raise click.ClickException(str(exc)) from None


_OPTIONS = (
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="YAML config file (see broker/config.py for every key).",
    ),
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="Where topics and logs are stored [default: ./tidewatch-data].",
    ),
    click.option("--listen", metavar="HOST:PORT", help="Kafka listener [default: 127.0.0.1:9092]."),
    click.option(
        "--http", metavar="HOST:PORT", help="Metrics and health listener [default: 127.0.0.1:9464]."
    ),
    click.option(
        "--advertised",
        metavar="HOST:PORT",
        help="Address clients are told to connect to [default: the listener].",
    ),
    click.option(
        "--flush-policy",
        type=click.Choice(["interval", "durable"]),
        help="interval: ack after write, fsync every interval; durable: fsync before ack.",
    ),
    click.option("--node-id", type=int, help="Broker node id [default: 0]."),
    click.option("--cluster", help="Value of the 'cluster' label on metrics [default: local]."),
    click.option(
        "--auto-create-topics/--no-auto-create-topics",
        default=None,
        help="Create unknown topics on first use.",
    ),
    click.option(
        "--default-partitions",
        type=click.IntRange(1, 10000),
        help="Partitions of auto-created topics.",
    ),
    click.option(
        "--ready-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Once serving, write JSON here (atomically) with the Kafka and HTTP addresses "
        "as bound (so port 0 works), the advertised address, PID, node id, cluster and "
        "data dir; removed on a clean stop. For scripts and tests: wait for this file "
        "instead of reading the output.",
    ),
    click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        default="info",
        show_default=True,
    ),
)

_HELP = """Run the Kafka-protocol broker with a durable segmented log.

Any Kafka client can connect to the bootstrap address it prints. Flags override
the config file; both are validated and a bad value stops startup with a reason.
"""


def broker_command(routes_for: RoutesFor | None = None) -> click.Command:
    """The ``broker`` command; ``routes_for`` adds routes to the HTTP server of the
    broker it runs."""

    def run(
        config_path: Path | None, log_level: str, ready_file: Path | None, **flags: Any
    ) -> None:
        try:
            config = apply_flags(load_config(config_path), **flags)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        run_broker(config, log_level, ready_file=ready_file, routes_for=routes_for)

    command: Callable[..., None] = run
    for option in reversed(_OPTIONS):
        command = option(command)
    return click.command(name="broker", help=_HELP)(command)


# The bare broker (metrics and health on HTTP); ``tidewatch broker`` adds the status page.
broker = broker_command()
