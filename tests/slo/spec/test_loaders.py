"""Spec loading: the three formats map onto the same model; bad input names the file,
the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.fields import ConfigError
from slo.model import (
    CalendarWindow,
    EventRatioSLI,
    GaugeThresholdSLI,
    LatencySLI,
    PromQLErrorRatioSLI,
    PromQLEventsSLI,
    RollingWindow,
    Timeslices,
)
from slo.spec import load_files, load_text

OURS = """
version: tidewatch/v1
service: shop
slos:
  - name: checkout
    objective: 99.5
    sli:
      events: {good: 'req_total{code!~"5.."}', total: req_total}
"""


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(text, "spec.yaml")
    return info.value


def test_our_format_defaults_to_a_30_day_rolling_window_and_the_workbook_alerts() -> None:
    (slo,) = load_text(OURS, "spec.yaml")
    assert slo.id == "shop-checkout"
    assert slo.window == RollingWindow(30 * 86_400)
    assert isinstance(slo.sli, EventRatioSLI)
    assert slo.sli.good is not None
    assert [c.factor for c in slo.alerting.conditions] == [14.4, 6.0, 3.0, 1.0]
    assert slo.alerting.name == "ShopCheckoutBurnRate"


def test_sloth_spec_loads_unchanged_and_simple_queries_evaluate_locally() -> None:
    slos = load_files([Path("slo/examples/sloth-myservice.yaml")])
    (slo,) = slos
    assert slo.spec_format == "prometheus/v1"
    assert isinstance(slo.sli, PromQLEventsSLI)
    assert slo.sli.local is not None
    assert slo.sli.local.total.metric == "http_request_duration_seconds_count"
    assert dict(slo.labels)["owner"] == "myteam"
    assert slo.evaluable_locally


def test_sloth_raw_error_ratio_needs_prometheus() -> None:
    text = """
version: prometheus/v1
service: s
slos:
  - name: raw
    objective: 99
    sli: {raw: {error_ratio_query: 'sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))'}}
    alerting: {name: RawAlert}
"""
    (slo,) = load_text(text, "raw.yaml")
    assert isinstance(slo.sli, PromQLErrorRatioSLI)
    assert not slo.evaluable_locally


def test_openslo_documents_resolve_their_references() -> None:
    (slo,) = load_files([Path("slo/examples/openslo-checkout.yaml")])
    assert slo.objective_ratio == 0.995
    assert [
        (c.severity, c.factor, c.long_seconds, c.short_seconds) for c in slo.alerting.conditions
    ] == [
        ("page", 14.4, 3600, 300),
        ("ticket", 1.0, 3 * 86_400, 6 * 3600),
    ]
    assert slo.alerting.no_data_seconds == 600


def test_openslo_threshold_metric_becomes_a_time_slice_gauge() -> None:
    text = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: lag}
spec:
  service: kafka
  indicator:
    metadata: {name: lag-sli}
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'lag_seconds{group="g"}'}}
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar: {startTime: '2024-01-01 00:00:00', timeZone: Europe/Paris}
  budgetingMethod: Timeslices
  objectives: [{op: lte, value: 30, target: 0.99, timeSliceTarget: 1, timeSliceWindow: 1m}]
"""
    (slo,) = load_text(text, "lag.yaml")
    assert isinstance(slo.sli, GaugeThresholdSLI)
    assert slo.sli.op == "<="
    assert slo.window == CalendarWindow("month", "Europe/Paris")
    assert slo.budgeting == Timeslices(60, 1.0)
    assert slo.alerting.conditions == ()


def test_latency_sli_reads_the_bucket_at_its_threshold() -> None:
    text = OURS.replace(
        "events: {good: 'req_total{code!~\"5..\"}', total: req_total}",
        "latency: {histogram: 'req_seconds{route=\"/pay\"}', threshold_seconds: 0.25}",
    )
    (slo,) = load_text(text, "lat.yaml")
    assert isinstance(slo.sli, LatencySLI)
    events = slo.sli.as_events()
    assert events.good is not None
    assert events.good.promql() == 'req_seconds_bucket{route="/pay",le="0.25"}'
    assert events.total.promql() == 'req_seconds_count{route="/pay"}'


BAD_SPECS = [
    (
        "unknown_top_level_field_is_named_with_a_suggestion",
        OURS.replace("service: shop", "service: shop\nservise: x"),
        'spec.yaml: servise: unknown field "servise" (did you mean "service"?)',
    ),
    (
        "unknown_slo_field_gets_its_path",
        OURS.replace("objective: 99.5", "objective: 99.5\n    objectiv: 1"),
        'spec.yaml: slos[0].objectiv: unknown field "objectiv" (did you mean "objective"?)',
    ),
    (
        "objective_out_of_range",
        OURS.replace("99.5", "100"),
        "spec.yaml: slos[0].objective: must be a percentage between 0 and 100, exclusive",
    ),
    (
        "missing_total_selector",
        OURS.replace(", total: req_total", ""),
        "spec.yaml: slos[0].sli.events.total: is required",
    ),
    (
        "bad_selector",
        OURS.replace("total: req_total", "total: 'req_total{code=5}'"),
        "spec.yaml: slos[0].sli.events.total: cannot parse label matchers",
    ),
    (
        "bad_window_duration",
        OURS.replace("objective: 99.5", "objective: 99.5\n    window: 30 days"),
        "spec.yaml: slos[0].window: '30 days' is not a duration",
    ),
    (
        "two_sli_kinds",
        OURS.replace("    sli:\n", "    sli:\n      probe: {success: a, total: b}\n"),
        "spec.yaml: slos[0].sli: needs exactly one of events, gauge, latency, probe, promql",
    ),
    (
        "unknown_version",
        OURS.replace("tidewatch/v1", "tidewatch/v2"),
        "spec.yaml: version: unknown spec version 'tidewatch/v2'",
    ),
    ("yaml_syntax_error", "version: [unclosed", "spec.yaml: line 1: not valid YAML"),
    (
        "sloth_plugin_is_rejected_with_a_reason",
        "version: prometheus/v1\nservice: s\nslos:\n  - name: p\n    objective: 99\n"
        "    sli: {plugin: {id: x}}\n    alerting: {name: A}\n",
        "spec.yaml: slos[0].sli.plugin: Sloth SLI plugins are not supported",
    ),
    (
        "openslo_reference_to_a_missing_sli",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: s\n"
        "  indicatorRef: nope\n  timeWindow: [{duration: 7d, isRolling: true}]\n"
        "  budgetingMethod: Occurrences\n  objectives: [{target: 0.9}]\n",
        'spec.yaml: spec.indicatorRef: no SLI named "nope"',
    ),
    (
        "openslo_unknown_budgeting_method_gets_a_suggestion",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: s\n"
        "  indicator: {metadata: {name: i}, spec: {ratioMetric: {counter: true, good: "
        "{metricSource: {spec: {query: g}}}, total: {metricSource: {spec: {query: t}}}}}}\n"
        "  timeWindow: [{duration: 7d, isRolling: true}]\n"
        "  budgetingMethod: Ocurrences\n  objectives: [{target: 0.9}]\n",
        'spec.yaml: spec.budgetingMethod: must be Occurrences or Timeslices, not "Ocurrences" '
        '(did you mean "Occurrences"?)',
    ),
    (
        "gauge_with_occurrences_budgeting",
        OURS.replace(
            "events: {good: 'req_total{code!~\"5..\"}', total: req_total}",
            "gauge: {query: lag, op: '<=', threshold: 3}",
        ).replace("objective: 99.5", "objective: 99.5\n    budgeting: occurrences"),
        "spec.yaml: slos[0].budgeting: a gauge SLI is budgeted by timeslices",
    ),
]


@pytest.mark.parametrize(("text", "message"), [pytest.param(t, m, id=i) for i, t, m in BAD_SPECS])
def test_bad_spec_is_rejected_naming_file_field_and_reason(text: str, message: str) -> None:
    error = _error(text)
    assert str(error).startswith(message), str(error)
    assert "\n" not in str(error)


def test_duplicate_ids_across_files_name_both_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(OURS)
    b.write_text(OURS)
    with pytest.raises(ConfigError, match=r"b\.yaml.*also defined in .*a\.yaml"):
        load_files([a, b])


def test_unreadable_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_files([tmp_path / "missing.yaml"])
