"""The live progress display (rich): a bar over the schedule and the last interval's
figures (achieved versus target rate, errors, p99), refreshed once per interval.

Off a terminal (CI logs, pipes) rich prints nothing live; :class:`LiveProgress` then
writes one plain line every ``plain_every`` intervals instead.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loadtest.collector import Collector, IntervalPoint

__all__ = ["LiveProgress"]


class LiveProgress:
    def __init__(
        self,
        total_seconds: float,
        console: Console | None = None,
        extra: Callable[[], str] | None = None,
        plain_every: int = 5,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.total_seconds = total_seconds
        self.extra = extra
        self.plain_every = plain_every
        self.progress = Progress(
            TextColumn("[bold]load"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task("load", total=total_seconds)
        self.table = Table.grid()
        self.live: Live | None = None
        self.errors = 0

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            self.live = Live(self._render(None), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def update(self, point: IntervalPoint, collector: Collector) -> None:
        """Called by the generator for every complete interval."""
        self.errors = collector.totals["failed"] + sum(collector.errors.values())
        seconds = min(point.start_seconds + collector.interval_seconds, self.total_seconds)
        self.progress.update(self.task, completed=seconds)
        if self.live is not None:
            self.live.update(self._render(point))
        elif point.index % self.plain_every == 0:
            self.console.print(self._line(point), highlight=False)

    def _line(self, p: IntervalPoint) -> str:
        consumed = sum(p.consumed_rate.values())
        line = (
            f"t={p.start_seconds:5.0f}s target {p.target_rate:8.0f}/s sent {p.sent_rate:8.0f}/s "
            f"acked {p.acked_rate:8.0f}/s consumed {consumed:8.0f}/s "
            f"ack p99 {p.ack_p99_ms:7.1f} ms e2e p99 {p.e2e_p99_ms:7.1f} ms errors {self.errors}"
        )
        if self.extra is not None:
            line += "  " + self.extra()
        return line

    def _render(self, p: IntervalPoint | None) -> Group:
        table = Table(box=None, padding=(0, 2))
        for column in (
            "target/s",
            "sent/s",
            "acked/s",
            "consumed/s",
            "errors",
            "ack p99",
            "e2e p99",
        ):
            table.add_column(column, justify="right")
        if p is not None:
            ratio = p.sent_rate / p.target_rate if p.target_rate else 1.0
            color = "green" if ratio >= 0.97 else "red"
            table.add_row(
                f"{p.target_rate:,.0f}",
                f"[{color}]{p.sent_rate:,.0f}[/]",
                f"{p.acked_rate:,.0f}",
                f"{sum(p.consumed_rate.values()):,.0f}",
                f"{self.errors:,}",
                f"{p.ack_p99_ms:,.1f} ms",
                f"{p.e2e_p99_ms:,.1f} ms",
            )
        parts: list[object] = [self.progress, table]
        if self.extra is not None:
            parts.append(self.extra())
        return Group(*parts)  # type: ignore[arg-type]
