"""``tidewatch up``: the embedded default, everything on one machine with one command.

Today it runs the broker with its defaults (data under ./tidewatch-data, Kafka on
127.0.0.1:9092, metrics on 127.0.0.1:9464); probes, SLO evaluation and the status page
join it as they land.
"""

from __future__ import annotations

from pathlib import Path

import click

from broker.cli import run_broker
from broker.config import BrokerConfig, ConfigError, parse_host_port

__all__ = ["up"]


@click.command(name="up")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tidewatch-data"),
    show_default=True,
)
@click.option("--listen", metavar="HOST:PORT", default="127.0.0.1:9092", show_default=True)
@click.option("--http", metavar="HOST:PORT", default="127.0.0.1:9464", show_default=True)
def up(data_dir: Path, listen: str, http: str) -> None:
    """Start the embedded default: the broker with sensible defaults."""
    try:
        config = BrokerConfig(
            data_dir=data_dir,
            listen=parse_host_port(listen, "--listen"),
            http=parse_host_port(http, "--http"),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    run_broker(config)
