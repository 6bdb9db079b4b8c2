"""The generated rules when one side of an SLI has no series, checked by promtool.

Samples every minute for an hour; the 5m error ratio is read at minute 30. A bad (or
good) selector that matches nothing counts as 0 events while the total has series; a
missing total, or a missing latency bucket (a threshold that is not a bucket bound),
stays "no data" and raises the no-data alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slo.alerts import expand_templates, no_data_alert_name
from slo.model import SLO
from slo.rules import generate, group_names
from slo.spec import load_text
from tests.slo.support import needs_promtool, run_promtool_test

SPEC = """
version: tidewatch/v1
service: shop
slos:
  - name: bad-events
    objective: 99.9
    sli:
      events: {bad: 'requests_total{error!="none"}', total: requests_total}
  - name: good-events
    objective: 99.9
    sli:
      events: {good: 'orders_total{outcome="success"}', total: orders_total}
  - name: latency
    objective: 99
    sli:
      latency: {histogram: latency_seconds, threshold_seconds: 0.25}
  - name: idle
    objective: 99.9
    sli:
      events: {bad: 'idle_total{error!="none"}', total: idle_total}
"""

# A Sloth spec whose queries keep a label (by job): each job gets its own ratio.
SLOTH_SPEC = """
version: prometheus/v1
service: web
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}])) by (job)
        total_query: sum(rate(http_requests_total[{{.window}}])) by (job)
    alerting: {name: WebAvailability}
"""

SERIES = [
    # Healthy: only the error="none" series exists.
    ('requests_total{error="none"}', "0+100x60"),
    # Every order failed: no outcome="success" series.
    ('orders_total{outcome="failed"}', "0+10x60"),
    # The histogram has no 0.25 bucket: the SLO's threshold is not a bucket bound.
    ('latency_seconds_bucket{le="0.1"}', "0+10x60"),
    ('latency_seconds_bucket{le="+Inf"}', "0+10x60"),
    ("latency_seconds_count", "0+10x60"),
    # Job "a" never failed (no code="500" series); job "b" fails 1 in 101.
    ('http_requests_total{job="a",code="200"}', "0+100x60"),
    ('http_requests_total{job="b",code="200"}', "0+100x60"),
    ('http_requests_total{job="b",code="500"}', "0+1x60"),
]


def _ratio(slo: SLO, value: float, **extra: str) -> dict[str, Any]:
    labels = {
        **dict(slo.labels),
        "sloth_id": slo.id,
        "sloth_service": slo.service,
        "sloth_slo": slo.name,
        "sloth_window": "5m",
        **extra,
    }
    text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"labels": f"slo:sli_error:ratio_rate5m{{{text}}}", "value": value}


def _no_data_alert(slos: list[SLO], slo: SLO) -> dict[str, Any]:
    rule = next(
        r
        for g in generate(slos)["groups"]
        for r in g["rules"]
        if r.get("alert") == no_data_alert_name(slo) and r["labels"]["sloth_id"] == slo.id
    )
    labels = {"alertname": rule["alert"], **rule["labels"]}
    annotations = {k: expand_templates(v, labels) for k, v in rule["annotations"].items()}
    return {"exp_labels": rule["labels"], "exp_annotations": annotations}


@needs_promtool
def test_only_a_missing_total_or_bucket_is_no_data(tmp_path: Path) -> None:
    ours = {s.name: s for s in load_text(SPEC, "shop.yaml")}
    (sloth,) = load_text(SLOTH_SPEC, "web.yaml")
    slos = [*ours.values(), sloth]
    expected = [
        _ratio(ours["bad-events"], 0),
        _ratio(ours["good-events"], 1),
        _ratio(sloth, 0, job="a"),
        _ratio(sloth, 1 / 101, job="b"),
    ]
    no_data = {"latency", "idle"}
    alert_tests = [
        {
            "eval_time": "30m",
            "alertname": no_data_alert_name(slo),
            "exp_alerts": [_no_data_alert(slos, slo)] if name in no_data else [],
        }
        for name, slo in ours.items()
    ]
    test_file = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": [g for s in sorted(slos, key=lambda s: s.id) for g in group_names(s)],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in SERIES],
                "promql_expr_test": [
                    {
                        "expr": "slo:sli_error:ratio_rate5m",
                        "eval_time": "30m",
                        "exp_samples": expected,
                    }
                ],
                "alert_rule_test": alert_tests,
            }
        ],
    }
    run_promtool_test(tmp_path, slos, test_file)
