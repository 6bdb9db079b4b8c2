"""The ``tidewatch`` console script.

Each part owns its subcommand (a click command or group in its own ``cli`` module);
this module only lists them and loads one lazily when it is invoked, so ``tidewatch
--help`` stays fast and a broken optional part cannot break the others.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

# name -> "module:attribute" of a click command; add a line when a part grows a command.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("tidewatch.broker_command:broker", "run the Kafka-protocol broker"),
    "up": ("tidewatch.up:up", "run the embedded default: broker and its HTTP endpoints"),
    "bench": ("loadtest.bench:bench", "benchmark the broker against a Redis Streams peer"),
    "slo": ("slo.cli:slo", "validate, generate, evaluate and backtest SLOs"),
    "dashboards": ("dashboards.cli:dashboards", "generate the Grafana dashboards"),
    "alerts": ("alerts.cli:alerts", "generate alert rules, platform SLOs and Alertmanager config"),
    "probe": ("synthetics.cli:probe", "synthetic produce/consume probes of Kafka clusters"),
    "lag": ("synthetics.cli:lag", "consumer-lag monitor for any Kafka-compatible cluster"),
    "load": ("loadtest.cli:load", "run an open-loop workload and report latency and loss"),
    "gameday": ("loadtest.gameday.cli:gameday", "run game-day scenarios: load, faults, scorecard"),
    "generate": ("tidewatch.generate:generate", "regenerate every committed generated file"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _unavailable(cmd_name, target[1])
            raise
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, summary: str) -> click.Command:
    @click.command(name=name, help=f"{summary} (not available in this build)")
    def command() -> None:
        raise click.ClickException(f"'tidewatch {name}' is not available in this build yet")

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tidewatch")
def cli() -> None:
    """Tidewatch: an observability-first SRE platform for event streaming."""


def main() -> None:
    cli.main(prog_name="tidewatch")
