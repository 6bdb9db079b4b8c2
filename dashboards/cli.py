"""``tidewatch dashboards build -o DIR``: the Grafana dashboards as JSON."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.golden_files import drifted, write_files
from contracts.promql import UnknownMetricError
from dashboards.build import build

__all__ = ["dashboards"]


@click.group(help="Generate the Grafana dashboards (grafana-foundation-sdk).")
def dashboards() -> None:
    pass


@dashboards.command("build")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write into (the committed copy is dashboards/generated).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if DIR differs (drift).")
def build_command(output: Path, check: bool) -> None:
    """Write the Executive, On-call, Debug and SLO dashboards into DIR."""
    try:
        files = build()
    except UnknownMetricError as exc:
        raise click.ClickException(str(exc)) from exc
    if check:
        stale = drifted(output, files)
        if stale:
            raise click.ClickException(
                f"{output}: out of date: {', '.join(stale)} "
                f"(run tidewatch dashboards build -o {output})"
            )
        click.echo(f"{output}: up to date ({len(files)} files)")
        return
    for path in write_files(output, files):
        click.echo(f"wrote {path}")
