"""``tidewatch alerts build -o DIR``: the rule files, platform SLO spec and Alertmanager
configuration, generated from the catalogs."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.build import DEFAULT_PAGE_URL, DEFAULT_TICKET_URL, build
from contracts.golden_files import drifted, write_files
from contracts.promql import UnknownMetricError

__all__ = ["alerts"]


@click.group(help="Generate Prometheus alert rules, the platform SLOs and Alertmanager config.")
def alerts() -> None:
    pass


@alerts.command("build")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write into (the committed copy is alerts/generated).",
)
@click.option(
    "--runbook-base-url",
    default="",
    help="Prefix of runbook_url annotations (default: repository-relative runbooks/X.md).",
)
@click.option("--page-webhook", default=DEFAULT_PAGE_URL, show_default=True)
@click.option("--ticket-webhook", default=DEFAULT_TICKET_URL, show_default=True)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if DIR differs (drift).")
def build_command(
    output: Path, runbook_base_url: str, page_webhook: str, ticket_webhook: str, check: bool
) -> None:
    """Write the alerting files into DIR."""
    try:
        result = build(
            runbook_base_url=runbook_base_url,
            page_url=page_webhook,
            ticket_url=ticket_webhook,
        )
    except UnknownMetricError as exc:
        raise click.ClickException(str(exc)) from exc
    if check:
        stale = drifted(output, result.files)
        if stale:
            raise click.ClickException(
                f"{output}: out of date: {', '.join(stale)} "
                f"(run tidewatch alerts build -o {output})"
            )
        click.echo(f"{output}: up to date ({len(result.files)} files)")
        return
    for path in write_files(output, result.files):
        click.echo(f"wrote {path}")
