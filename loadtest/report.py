"""The load report: a JSON document and a self-contained HTML page rendered from it.

The JSON is the source of truth (figures, timeline, accounting, verdict); the HTML is
rendered only from the JSON, so a saved report can be re-rendered and a game day can
embed the same charts. Plots are inline SVG (:mod:`loadtest.svg`): the page has no
scripts and no external assets.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, Final

from loadtest.generator import LoadResult
from loadtest.svg import Band, Series, line_chart

__all__ = [
    "COORDINATED_OMISSION",
    "load_charts",
    "page",
    "render_html",
    "report_json",
    "write_report",
]

COORDINATED_OMISSION: Final = (
    "Open-loop load: every message has a scheduled send time fixed before the run. "
    "Latencies are measured from that scheduled time, not from when the client got the "
    "message, so time the generator or the target spent stalled is counted as latency of "
    "every message that should have been sent meanwhile (no coordinated omission). "
    "'service' is measured from the hand-over to the client; 'send delay' is the "
    "generator's own lateness."
)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def report_json(result: LoadResult) -> dict[str, Any]:
    w = result.workload
    return {
        "kind": "tidewatch-load-report",
        "workload": _jsonable(w),
        "bootstrap": result.bootstrap,
        "started_at": datetime.fromtimestamp(result.started_at, UTC).isoformat(),
        "duration_seconds": w.duration_seconds,
        "wall_seconds": round(result.wall_seconds, 3),
        "processes": {"producers": result.producers, "consumers": result.consumers},
        "coordinated_omission": COORDINATED_OMISSION,
        "totals": result.totals,
        "consumed": result.consumed,
        "throughput": result.throughput(),
        "latency_ms": {k: v.as_dict() for k, v in result.latency.items()},
        "errors": result.errors,
        "bottleneck": result.verdict.as_dict(),
        "data_loss": [a.as_dict() for a in result.accounts],
        "warnings": result.warnings,
        "timeline": [p.as_dict() for p in result.points],
    }


def load_charts(report: Mapping[str, Any], bands: Sequence[Band] = ()) -> list[str]:
    """Rate and latency over time, from a report's timeline."""
    timeline = report.get("timeline", [])
    xs = [p["start_seconds"] for p in timeline]
    groups = sorted({g for p in timeline for g in p["consumed_rate"]})
    rates = [
        Series("target", xs, [p["target_rate"] for p in timeline], "#888888", dashed=True),
        Series("sent", xs, [p["sent_rate"] for p in timeline]),
        Series("acknowledged", xs, [p["acked_rate"] for p in timeline]),
    ]
    rates += [
        Series(f"consumed {g}", xs, [p["consumed_rate"].get(g, 0.0) for p in timeline])
        for g in groups
    ]

    # An interval without acknowledgements has no latency (NaN breaks the line), not 0.
    def ms(key: str, count: str) -> list[float]:
        return [p[key] if p[count] > 0 else math.nan for p in timeline]

    latency = [
        Series("ack p50", xs, ms("ack_p50_ms", "acked_rate")),
        Series("ack p99", xs, ms("ack_p99_ms", "acked_rate")),
        Series("end-to-end p99", xs, [p["e2e_p99_ms"] or math.nan for p in timeline]),
        Series("ack max", xs, ms("ack_max_ms", "acked_rate"), dashed=True),
    ]
    errors = [
        Series("failed", xs, [float(p["failed"]) for p in timeline], "#d62728"),
        Series("backlog (due, unsent)", xs, [float(p["backlog"]) for p in timeline]),
        Series("in flight", xs, [float(p["in_flight"]) for p in timeline]),
    ]
    return [
        line_chart("Rate (messages per second)", rates, "msg/s", bands),
        line_chart("Latency from the scheduled send time", latency, "ms (log)", bands, True),
        line_chart("Failures and generator backlog per interval", errors, "messages", bands),
    ]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


_STYLE: Final = """
body{font-family:sans-serif;margin:24px;max-width:980px;color:#222}
table{border-collapse:collapse;margin:8px 0 18px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left}
.ok{color:#1a7f37;font-weight:bold} .bad{color:#cf222e;font-weight:bold}
.note{color:#555;font-size:90%} svg{display:block;margin:10px 0}
"""


def page(title: str, sections: Sequence[str]) -> str:
    """A whole HTML document (inline CSS only)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def load_sections(report: Mapping[str, Any], bands: Sequence[Band] = ()) -> list[str]:
    """The body of a load report (also embedded in game-day reports)."""
    lat = report["latency_ms"]
    rows = [
        [name, s["count"], s["p50_ms"], s["p90_ms"], s["p99_ms"], s["p999_ms"], s["max_ms"]]
        for name, s in lat.items()
    ]
    t = report["throughput"]
    totals = report["totals"]
    verdict = report["bottleneck"]
    cls = "ok" if verdict["bottleneck"] == "none" else "bad"
    loss_rows = [
        [
            a["group"],
            a["acknowledged"],
            a["consumed"],
            a["lost"],
            a["deleted_by_retention"],
            a["pending"],
            a["duplicates"],
            a["failed"],
        ]
        for a in report["data_loss"]
    ]
    sections = [
        f"<p>Bootstrap <code>{escape(report['bootstrap'])}</code>, started "
        f"{escape(report['started_at'])}, {report['duration_seconds']:g} s of schedule, "
        f"{report['processes']['producers']} producer process(es).</p>",
        "<h2>Throughput</h2>",
        _table(
            ["", "target", "sent", "acknowledged", "failed", "MB/s sent"],
            [
                [
                    "messages per second",
                    t["target_per_second"],
                    t["sent_per_second"],
                    t["acked_per_second"],
                    totals.get("failed", 0),
                    t["sent_megabytes_per_second"],
                ]
            ],
        ),
        f'<p>Bottleneck: <span class="{cls}">{escape(verdict["bottleneck"])}</span> - '
        + escape("; ".join(verdict["reasons"]))
        + "</p>",
        "<h2>Latency (ms)</h2>",
        _table(["latency", "count", "p50", "p90", "p99", "p99.9", "max"], rows),
        f'<p class="note">{escape(report["coordinated_omission"])}</p>',
        *load_charts(report, bands),
        "<h2>Data-loss accounting</h2>",
        _table(
            [
                "group",
                "acknowledged",
                "consumed",
                "lost",
                "deleted by retention",
                "pending",
                "duplicates",
                "failed",
            ],
            loss_rows,
        )
        if loss_rows
        else "<p>No consumer groups.</p>",
    ]
    if report.get("errors"):
        sections.append("<h2>Errors</h2>")
        sections.append(_table(["error", "count"], sorted(report["errors"].items())))
    if report.get("warnings"):
        items = "".join(f"<li>{escape(w)}</li>" for w in report["warnings"])
        sections.append(f"<h2>Warnings</h2><ul>{items}</ul>")
    return sections


def render_html(report: Mapping[str, Any]) -> str:
    name = report["workload"]["name"]
    return page(f"Tidewatch load report: {name}", load_sections(report))


def write_report(report: Mapping[str, Any], json_path: Path | None, html_path: Path | None) -> None:
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(report), encoding="utf-8")
