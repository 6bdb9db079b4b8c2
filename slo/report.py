"""Per-SLO status as JSON-ready dicts and as a terminal table (rich)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from contracts.durations import format_duration
from slo.engine import Evaluation
from slo.model import SLO

__all__ = ["status_rows", "status_table"]


def _num(value: float) -> float | None:
    return None if math.isnan(value) else (None if math.isinf(value) else float(value))


def status_rows(slos: Sequence[SLO], ev: Evaluation) -> list[dict[str, Any]]:
    rows = []
    for i, slo in enumerate(slos):
        windows = [format_duration(int(w)) for w in ev.window_seconds[i]]
        fired = [c for j, c in enumerate(slo.alerting.conditions) if ev.condition_firing[i, j]]
        rows.append(
            {
                "id": slo.id,
                "service": slo.service,
                "slo": slo.name,
                "objective_percent": slo.objective_percent,
                "window": slo.window.describe(),
                "evaluated_at": datetime.fromtimestamp(ev.time, UTC).isoformat(),
                "sli_ratio": _num(1 - ev.error_ratio[i, -1]),
                "error_ratio": {w: _num(ev.error_ratio[i, k]) for k, w in enumerate(windows)},
                "burn_rate": {w: _num(ev.burn_rate[i, k]) for k, w in enumerate(windows)},
                "coverage_ratio": {w: _num(ev.coverage[i, k]) for k, w in enumerate(windows)},
                "period_window": windows[-1],
                "events_in_period": float(ev.total[i, -1]),
                "error_budget_remaining_ratio": float(ev.budget_remaining[i]),
                "time_to_exhaustion_seconds": _num(ev.time_to_exhaustion_seconds[i]),
                "page": {
                    "firing": bool(ev.page[i]),
                    "windows": [c.windows for c in fired if c.severity == "page"],
                },
                "ticket": {
                    "firing": bool(ev.ticket[i]),
                    "windows": [c.windows for c in fired if c.severity == "ticket"],
                },
                "no_data": bool(ev.no_data[i]),
            }
        )
    return rows


def _pct(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "∞"
    return format_duration(max(int(seconds), 1)) if seconds >= 1 else "now"


def status_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="SLO status", header_style="bold")
    for column in (
        "SLO",
        "objective",
        "SLI (period)",
        "budget left",
        "burn 1h",
        "burn 6h",
        "exhausted in",
        "alerts",
        "data",
    ):
        table.add_column(column, justify="left" if column == "SLO" else "right")
    for row in rows:
        alerts = [
            f"[red]PAGE[/] {','.join(row['page']['windows'])}" if row["page"]["firing"] else "",
            f"[yellow]TICKET[/] {','.join(row['ticket']['windows'])}"
            if row["ticket"]["firing"]
            else "",
        ]
        budget = row["error_budget_remaining_ratio"]
        style = "red" if budget <= 0 else ("yellow" if budget < 0.25 else "green")
        burn = row["burn_rate"]
        table.add_row(
            row["id"],
            f"{row['objective_percent']:g}% / {row['window']}",
            _pct(row["sli_ratio"]),
            f"[{style}]{_pct(budget, 1)}[/]",
            "—" if burn.get("1h") is None else f"{burn['1h']:.2f}x",
            "—" if burn.get("6h") is None else f"{burn['6h']:.2f}x",
            _eta(row["time_to_exhaustion_seconds"]),
            " ".join(a for a in alerts if a) or "ok",
            "[red]NO DATA[/]" if row["no_data"] else _pct(row["coverage_ratio"].get("1h"), 0),
        )
    return table
