"""The scorecard of a game day: a rich table, a JSON document and an HTML page.

The JSON (``scorecard.json``) holds every outcome with detection and reset times, the
fault timeline as it actually happened (with the broker each targeted fault hit), the
alert firing intervals, SLO and lag readings, the data-loss accounting, the log audit
per acks setting (acknowledged records lost and duplicated), the clients' errors split
into retriable and non-retriable, and on a cluster its state poll by poll, each
failover's time and each rolling restart's turns; and the paths of the load report. The HTML page
(``scorecard.html``) is rendered from it and embeds the load report's charts with the
fault windows shaded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table

from loadtest.client_errors import classify
from loadtest.gameday.runner import GameDayResult
from loadtest.report import load_sections, page, report_json, write_report
from loadtest.svg import Band, gantt

__all__ = ["COMPRESSION_NOTE", "figures", "print_scorecard", "scorecard_json", "write_scorecard"]

COMPRESSION_NOTE: Final = (
    "Monitoring ran on compressed time: {factor:g} scenario seconds per real second. SLO "
    "windows and periods, rule ranges, 'for' durations and thresholds on ages (lag in "
    "seconds, retention headroom) were divided by {factor:g}, so a 1h burn-rate window "
    "lasted {hour:g} s. Fault times, detection and reset times are real seconds."
)


def scorecard_json(result: GameDayResult, reports: dict[str, str]) -> dict[str, Any]:
    s = result.scenario
    steps = {step.id: step for step in s.timeline}
    events = [
        {
            "id": event_id,
            "fault": steps[event_id].kind if event_id in steps else "load",
            "params": dict(steps[event_id].params) if event_id in steps else {},
            "at": round(start, 3),
            "undone_at": None if end is None else round(end, 3),
            **_delay(result, event_id),
            **({"victim": result.victims[event_id]} if event_id in result.victims else {}),
        }
        for event_id, (start, end) in sorted(result.events.items(), key=lambda kv: kv[1][0])
    ]
    accounts = result.load.accounts if result.load is not None else []
    return {
        "kind": "tidewatch-gameday-scorecard",
        "scenario": s.name,
        "description": s.description,
        "source": s.source,
        "passed": result.passed,
        "skipped": result.skipped,
        "errors": result.errors,
        "evaluator": result.evaluator,
        "time_scale": s.time_scale,
        "compression": COMPRESSION_NOTE.format(factor=s.time_scale, hour=3600 / s.time_scale),
        "started_at": datetime.fromtimestamp(result.started_at, UTC).isoformat()
        if result.started_at
        else None,
        "observed_seconds": round(result.observed_seconds, 3),
        "events": events,
        "outcomes": [o.as_dict() for o in result.outcomes],
        "summary": {
            "met": sum(o.met is True for o in result.outcomes),
            "missed": sum(o.met is False for o in result.outcomes),
            "skipped": sum(o.met is None for o in result.outcomes),
        },
        "alerts": result.alerts.as_dict(),
        "slos": result.slos.as_dict(),
        "lag": result.lag.as_dict(),
        "final_lag_records": result.final_lag,
        "data_loss": [a.as_dict() for a in accounts],
        "audit": [a.as_dict() for a in result.load.audits] if result.load is not None else [],
        "client_errors": classify(result.load.errors if result.load is not None else {}),
        "cluster": _cluster(result),
        "reports": reports,
    }


def _cluster(result: GameDayResult) -> dict[str, Any] | None:
    s = result.scenario
    if s.brokers == 1:
        return None
    topic = s.workload.topic
    return {
        "brokers": s.brokers,
        "replication_factor": topic.replication_factor,
        "min_insync_replicas": topic.min_insync_replicas,
        "failovers": [m.as_dict() for m in result.failovers],
        "rolling_restarts": result.restarts,
        "state": result.cluster.as_dict(),
    }


def figures(card: dict[str, Any]) -> list[str]:
    """The headline figures of a card, one line each: failovers, the audit per acks
    setting, the clients' errors by class."""
    lines = []
    cluster = card.get("cluster") or {}
    for f in cluster.get("failovers", []):
        lines.append(
            f"failover {f['step']}: broker {f['victim']} led partitions {f['partitions']}; "
            f"leader elected after {_seconds(f['leader_elected_seconds'])} s, first acks=all "
            f"produce acknowledged after {_seconds(f['failover_seconds'])} s"
            + (f" ({f['error']})" if f["error"] else "")
        )
    for step, turns in cluster.get("rolling_restarts", {}).items():
        back = ", ".join(
            f"{t['node']}: back in every ISR at {_seconds(t['in_every_isr_at'])} s" for t in turns
        )
        lines.append(f"rolling restart {step}: {back}")
    for a in card.get("audit", []):
        lines.append(
            f"audit acks={a['acks']}: {a['acknowledged']} acknowledged, {a['lost']} lost, "
            f"{a['duplicated']} duplicated ({a['unacknowledged_stored']} unacknowledged "
            "but stored)"
        )
    errors = card.get("client_errors", {})
    for kind in ("retriable", "non_retriable"):
        counted = errors.get(kind, {})
        shown = ", ".join(f"{k} {v}" for k, v in counted.items()) or "none"
        lines.append(f"client errors, {kind.replace('_', '-')}: {shown}")
    return lines


def _delay(result: GameDayResult, event_id: str) -> dict[str, Any]:
    """``held_back``: how late a fault was injected to wait for steady state, and why."""
    if event_id not in result.delays:
        return {}
    late, firing = result.delays[event_id]
    return {"held_back": {"seconds": round(late, 3), "firing": list(firing)}}


def print_scorecard(card: dict[str, Any], console: Console) -> None:
    title = f"game day {card['scenario']}: " + (
        "SKIPPED" if card["skipped"] else ("PASSED" if card["passed"] else "FAILED")
    )
    table = Table(title=title)
    for column in ("expectation", "subject", "expected", "observed", "result"):
        table.add_column(column, overflow="fold")
    colors = {"met": "green", "MISSED": "red", "skipped": "yellow"}
    for o in card["outcomes"]:
        status = o["status"]
        table.add_row(
            rich_escape(o["kind"]),
            rich_escape(o["subject"]),
            rich_escape(o["expected"]),
            rich_escape(o["observed"]),
            f"[{colors[status]}]{status}[/]",
        )
    console.print(table)
    if card["skipped"]:
        console.print(f"[yellow]skipped:[/] {rich_escape(card['skipped'])}")
    for error in card["errors"]:
        console.print(f"[red]error:[/] {rich_escape(error)}")
    for e in card["events"]:
        if "held_back" in e:
            held = e["held_back"]
            why = ", ".join(held["firing"]) or "an earlier step waited"
            console.print(
                f"[yellow]held back:[/] {rich_escape(e['id'])} injected "
                f"{held['seconds']:.1f} s late, waiting for steady state ({rich_escape(why)})"
            )
    for line in figures(card):
        console.print(rich_escape(line))
    summary = card["summary"]
    console.print(
        f"{summary['met']} met, {summary['missed']} missed, {summary['skipped']} skipped; "
        f"evaluator {card['evaluator']}, time scale {card['time_scale']:g}x"
    )
    for name, path in card["reports"].items():
        console.print(f"{name}: {path}")


def _bands(card: dict[str, Any]) -> list[Band]:
    end = card["observed_seconds"]
    return [
        Band(e["at"], e["undone_at"] if e["undone_at"] is not None else end, e["id"])
        for e in card["events"]
        if e["fault"] != "load"
    ]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _alert_label(alert: dict[str, Any]) -> str:
    shown = ("group", "topic", "sloth_severity")
    labels = ",".join(str(alert["labels"][k]) for k in shown if k in alert["labels"])
    return f"{alert['alert']}{{{labels}}}" if labels else str(alert["alert"])


def render_scorecard_html(card: dict[str, Any], load_report: dict[str, Any] | None) -> str:
    verdict = "SKIPPED" if card["skipped"] else ("PASSED" if card["passed"] else "FAILED")
    cls = "ok" if card["passed"] else "bad"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(o[k]))}</td>" for k in ("kind", "subject", "expected", "observed")
        )
        + f'<td class="{"ok" if o["met"] else "bad"}">{escape(o["status"])}</td></tr>'
        for o in card["outcomes"]
    )
    events = "".join(
        f"<tr><td>{escape(e['id'])}</td><td>{escape(e['fault'])}</td><td>{e['at']:.1f}</td>"
        f"<td>{_seconds(e['undone_at'])}</td><td>{escape(json.dumps(e['params']))}</td></tr>"
        for e in card["events"]
    )
    alert_rows = [(_alert_label(a), [(x, y) for x, y in a["firing"]]) for a in card["alerts"]]
    bands = _bands(card)
    sections = [
        f'<p class="{cls}">{verdict}</p>',
        f"<p>{escape(card['description'])}</p>",
        f'<p class="note">Evaluator: {escape(card["evaluator"])}. '
        f"{escape(card['compression'])}</p>",
        "<h2>Expectations</h2>",
        "<table><thead><tr><th>expectation</th><th>subject</th><th>expected</th>"
        f"<th>observed</th><th>result</th></tr></thead><tbody>{rows}</tbody></table>",
        "<h2>Timeline (real seconds from the start of the load)</h2>",
        "<table><thead><tr><th>event</th><th>fault</th><th>at</th><th>undone at</th>"
        f"<th>parameters</th></tr></thead><tbody>{events}</tbody></table>",
        gantt("Alerts firing", alert_rows, card["observed_seconds"], bands)
        if alert_rows
        else "<p>No alert fired.</p>",
    ]
    sections.append(
        "<h2>Figures</h2><ul>" + "".join(f"<li>{escape(x)}</li>" for x in figures(card)) + "</ul>"
    )
    if card["errors"]:
        items = "".join(f"<li>{escape(e)}</li>" for e in card["errors"])
        sections.append(f"<h2>Errors</h2><ul>{items}</ul>")
    if load_report is not None:
        sections.append("<h2>Load</h2>")
        sections.extend(load_sections(load_report, bands))
    links = "".join(
        f'<li><a href="{escape(Path(p).name)}">{escape(name)}</a></li>'
        for name, p in card["reports"].items()
    )
    sections.append(f"<h2>Files</h2><ul>{links}</ul>")
    return page(f"Tidewatch game day: {card['scenario']}", sections)


def write_scorecard(result: GameDayResult, out: Path) -> dict[str, Any]:
    """Write scorecard.json/.html and the load report into ``out``; returns the card."""
    out.mkdir(parents=True, exist_ok=True)
    reports = {
        "scorecard_json": str(out / "scorecard.json"),
        "scorecard_html": str(out / "scorecard.html"),
    }
    load_report = None
    if result.load is not None:
        load_report = report_json(result.load)
        write_report(load_report, out / "load-report.json", out / "load-report.html")
        reports["load_json"] = str(out / "load-report.json")
        reports["load_html"] = str(out / "load-report.html")
    card = scorecard_json(result, reports)
    (out / "scorecard.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out / "scorecard.html").write_text(render_scorecard_html(card, load_report))
    return card
