"""``tidewatch up``: the whole platform on one machine with one command.

Starts the broker, a probe against it, the SLO engine with the built-in SLOs and the
status page, prints where everything is, and stops all of it cleanly on Ctrl-C or
SIGTERM (no process or listening port left behind). ``--with-prometheus`` adds
Prometheus and Alertmanager (when installed) with the generated rules. ``--brokers N``
runs a cluster of N broker processes instead of the one in-process broker
(``tidewatch.local_cluster``), each on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from broker.cli import prepare_process
from broker.storage.errors import StorageError
from contracts.fields import ConfigError, HostPort, parse_flag, parse_host_port
from contracts.launcher import ProcessStartError
from contracts.ready_file import remove_ready_file, write_ready_file
from tidewatch.local_cluster import MAX_BROKERS

if TYPE_CHECKING:  # imported when the command runs: keeps 'tidewatch --help' fast
    from tidewatch.platform import Platform

__all__ = ["up"]

CLUSTER_LISTEN = HostPort("127.0.0.1", 0)


def _address(value: str, flag: str) -> HostPort:
    try:
        return parse_flag(flag, value, parse_host_port)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _listen(value: str, brokers: int) -> HostPort:
    """The single broker's listener; a cluster's brokers bind 127.0.0.1 on free ports,
    so with ``--brokers`` > 1 only that (or the default, ignored) is accepted."""
    address = _address(value, "--listen")
    source = click.get_current_context().get_parameter_source("listen")
    explicit = source is not None and source is not click.core.ParameterSource.DEFAULT
    if brokers > 1 and explicit and address != CLUSTER_LISTEN:
        raise click.BadParameter(
            f"{value}: with --brokers {brokers} every broker binds {CLUSTER_LISTEN.host} on a "
            f"free port (printed at start, and in the ready file); leave --listen unset",
            param_hint="'--listen'",
        )
    return address if brokers == 1 else CLUSTER_LISTEN


async def _serve(platform: Platform, ready_file: Path | None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, platform.request_stop)
    if ready_file is not None:
        remove_ready_file(ready_file)  # a crashed run's file must not pass for this one
    await platform.start()
    try:
        _announce(platform)
        if ready_file is not None:
            write_ready_file(ready_file, platform.ready_info())
        await platform.run_until_stopped()
    finally:
        if ready_file is not None:
            remove_ready_file(ready_file)
        await platform.stop()
        click.echo("tidewatch stopped.")


def _announce(platform: Platform) -> None:
    """The start-up banner, for people: programs read the ready file instead."""
    base = platform.http_url
    click.echo(f"tidewatch is up: Kafka bootstrap {platform.bootstrap}")
    for broker in platform.brokers.broker_ready_infos():
        pid = f"pid {broker.pid}"
        click.echo(f"  broker {broker.node_id:<5} {broker.bootstrap}  {pid}  {broker.http_url}")
    click.echo(f"  status page  {base}/")
    click.echo(f"  metrics      {base}/metrics   health {base}/healthz  {base}/readyz")
    step = platform.config.slo_step_seconds
    interval = platform.config.probe_interval_seconds
    click.echo(f"  SLOs         {len(platform.slos)} built-in, evaluated every {step} s")
    click.echo(f"  probe        one record per probe partition every {interval:g} s")
    if platform.monitoring is not None:
        urls = platform.monitoring.urls()
        for name, url in urls.items():
            click.echo(f"  {name:<12} {url}")
        for name in platform.monitoring.missing:
            click.echo(f"  {name:<12} not installed (skipped)")
    click.echo(f"  data dir     {platform.config.data_dir.resolve()}")
    click.echo("Try: printf 'hello\\n' | kcat -b " + platform.bootstrap + " -t demo -P")
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()


@click.command(name="up")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tidewatch-data"),
    show_default=True,
    help="Where the broker(s) keep topics, offsets and SLO history.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default="127.0.0.1:9092",
    show_default=True,
    help="Kafka listener (of the single broker; with --brokers N>1 each broker binds "
    "127.0.0.1 on a free port, so leave it unset or give port 0).",
)
@click.option(
    "--brokers",
    type=click.IntRange(1, MAX_BROKERS),
    default=1,
    show_default=True,
    help="Run a cluster of this many broker processes (node ids 1..N, data under "
    "DATA_DIR/brokers) instead of one broker in this process.",
)
@click.option(
    "--http",
    metavar="HOST:PORT",
    default="127.0.0.1:9464",
    show_default=True,
    help="Status page, metrics and health.",
)
@click.option(
    "--probe-interval",
    type=click.FloatRange(0.1, 3600),
    default=1.0,
    show_default=True,
    help="Seconds between probe rounds.",
)
@click.option(
    "--slo-step",
    type=click.IntRange(1, 3600),
    default=10,
    show_default=True,
    help="Seconds between SLO evaluations.",
)
@click.option(
    "--with-prometheus",
    is_flag=True,
    help="Also run Prometheus and Alertmanager (if installed) with the generated rules.",
)
@click.option(
    "--prometheus",
    metavar="HOST:PORT",
    default="127.0.0.1:9090",
    show_default=True,
    help="Prometheus listener (with --with-prometheus).",
)
@click.option(
    "--alertmanager",
    metavar="HOST:PORT",
    default="127.0.0.1:9093",
    show_default=True,
    help="Alertmanager listener (with --with-prometheus).",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Once serving, write JSON here (atomically): the broker's fields as for "
    "'tidewatch broker --ready-file', plus the status page URL and the Prometheus and "
    "Alertmanager URLs when they run; removed on a clean stop.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
)
def up(
    data_dir: Path,
    listen: str,
    brokers: int,
    http: str,
    probe_interval: float,
    slo_step: int,
    with_prometheus: bool,
    prometheus: str,
    alertmanager: str,
    ready_file: Path | None,
    log_level: str,
) -> None:
    """Run the embedded default: broker, probe, SLO engine and status page.

    Open the printed status page, produce with any Kafka client to the printed
    bootstrap address, and watch lag, probes and SLOs move. With --brokers 3 the
    broker is a three-broker cluster (replicated topics, a controller quorum) and
    the status page shows its brokers, controller and replicas.
    """
    from tidewatch.platform import Platform, PlatformConfig

    config = PlatformConfig(
        data_dir=data_dir,
        listen=_listen(listen, brokers),
        brokers=brokers,
        http=_address(http, "--http"),
        probe_interval_seconds=probe_interval,
        slo_step_seconds=slo_step,
        with_prometheus=with_prometheus,
        prometheus=_address(prometheus, "--prometheus"),
        alertmanager=_address(alertmanager, "--alertmanager"),
    )
    prepare_process(log_level)
    try:
        asyncio.run(_serve(Platform(config), ready_file))
    except (OSError, StorageError, ConfigError, ProcessStartError) as exc:
        raise click.ClickException(str(exc)) from None
