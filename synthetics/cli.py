"""``tidewatch probe`` and ``tidewatch lag``: synthetic probes and the consumer-lag
monitor for any Kafka-compatible cluster."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from contracts.fields import ConfigError, parse_host_port

__all__ = ["lag", "probe"]

_CONFIG = click.Path(path_type=Path, dir_okay=False)
T = TypeVar("T")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiokafka logs every failed connection attempt at ERROR/WARNING; the probe reports
    # those itself (metrics, status), so keep aiokafka quieter unless debugging.
    if level.lower() != "debug":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _http_override(value: str | None) -> tuple[str, int] | bool | None:
    """--http HOST:PORT or 'off'; False when not given."""
    if value is None:
        return False
    if value == "off":
        return None
    try:
        return parse_host_port(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--http") from None


async def _until_signalled(run: object) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)  # type: ignore[operator]


def _load(loader: Callable[[Path], T], path: Path, http: str | None) -> T:
    """Load a config with the --http override applied; a bad config exits with its reason."""
    try:
        config = loader(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    override = _http_override(http)
    if override is not False:
        config = replace(config, http=override)  # type: ignore[type-var]
    return config


def _serve(service: Any, label: str) -> None:
    """Run a service until SIGINT/SIGTERM, printing where its endpoints are once ready."""

    def ready(server: object) -> None:
        click.echo(f"tidewatch {label}")
        url = getattr(server, "url", None)
        if url:
            click.echo(f"  metrics  {url}/metrics")
            click.echo(f"  status   {url}/status")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()

    try:
        asyncio.run(_until_signalled(lambda stop: service.run(stop, ready)))
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("probe")
@click.option("--config", "config_path", type=_CONFIG, required=True, help="probe YAML config")
@click.option("--http", "http", default=None, help="HOST:PORT for /metrics and /status, or off")
@click.option("--validate", is_flag=True, help="check the config, print the targets and exit")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning"]))
def probe(config_path: Path, http: str | None, validate: bool, log_level: str) -> None:
    """Probe Kafka clusters: produce and read back one record per partition every
    interval; report latency, availability, loss, duplicates, reordering, corruption."""
    from synthetics.config import load_probe_config

    config = _load(load_probe_config, config_path, http)
    if validate:
        for t in config.targets:
            click.echo(
                f"{t.name}: cluster {t.cluster}, {','.join(t.connection.bootstrap_servers)} "
                f"({t.connection.security.protocol}), topic {t.topic.name}, every "
                f"{t.interval_seconds:g} s, SLA ack {t.sla.ack_seconds:g} s / end to end "
                f"{t.sla.end_to_end_seconds:g} s / lost after {t.sla.lost_after_seconds:g} s"
            )
        return
    _setup_logging(log_level)
    from synthetics.service import ProbeService

    names = ", ".join(t.name for t in config.targets)
    _serve(ProbeService(config), f"probe ready: targets {names}")


@click.command("lag")
@click.option("--config", "config_path", type=_CONFIG, required=True, help="lag YAML config")
@click.option("--http", "http", default=None, help="HOST:PORT for /metrics and /status, or off")
@click.option("--validate", is_flag=True, help="check the config, print the clusters and exit")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning"]))
def lag(config_path: Path, http: str | None, validate: bool, log_level: str) -> None:
    """Monitor consumer-group lag of Kafka clusters: lag in records and in seconds (exact,
    from the timestamp of the record at the committed offset) and Burrow-style status."""
    from synthetics.lagmon.config import load_lag_config

    config = _load(load_lag_config, config_path, http)
    if validate:
        for cl in config.clusters:
            click.echo(
                f"{cl.name}: {','.join(cl.connection.bootstrap_servers)} "
                f"({cl.connection.security.protocol}), every {config.interval_seconds:g} s"
            )
        return
    _setup_logging(log_level)
    from synthetics.lagmon.service import LagService

    names = ", ".join(c.name for c in config.clusters)
    _serve(LagService(config), f"lag ready: clusters {names}")
