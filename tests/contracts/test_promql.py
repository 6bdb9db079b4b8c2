"""The PromQL builder: selectors written from catalog specs (labels checked against the
spec), selectors as data (the SLO engine's matching semantics), and the names an
expression uses."""

from __future__ import annotations

import pytest

from contracts.metrics import MetricSpec, MetricType
from contracts.promql import (
    Matcher,
    Ne,
    NotRe,
    Re,
    Selector,
    Series,
    UnknownMetricError,
    check_expression,
    metric_names,
    recorded_names,
    regex_union,
    selector,
)

LATENCY = MetricSpec(
    "x_latency_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "A latency.",
    ("api",),
    (0.1, 1.0),
    ("cluster", "broker"),
)


def test_a_selector_spells_every_kind_of_matcher_readably() -> None:
    text = selector(LATENCY, api="produce", cluster=Re("a|b"), broker=Ne("1"), job=NotRe("x.*"))
    assert text == ('x_latency_seconds{api="produce", cluster=~"a|b", broker!="1", job!~"x.*"}')


def test_a_selector_without_matchers_is_the_bare_name_and_none_matchers_are_left_out() -> None:
    assert selector(LATENCY, api=None) == "x_latency_seconds"


def test_a_label_the_spec_does_not_declare_is_refused_with_the_labels_it_has() -> None:
    with pytest.raises(ValueError, match=r"x_latency_seconds has no label 'topic'.*'api'"):
        selector(LATENCY, topic="orders")


def test_common_labels_and_prometheus_target_labels_may_be_matched() -> None:
    assert selector(LATENCY, cluster="c", instance="h:1", job="j").count("=") == 3


def test_le_is_allowed_on_the_bucket_series_only() -> None:
    assert selector(LATENCY, "_bucket", le="0.1") == 'x_latency_seconds_bucket{le="0.1"}'
    with pytest.raises(ValueError, match="no label 'le'"):
        selector(LATENCY, "_count", le="0.1")
    with pytest.raises(ValueError, match="unknown series suffix"):
        selector(LATENCY, "_total")


def test_a_series_named_elsewhere_declares_its_own_labels() -> None:
    up = Series("up", ("cluster",))
    assert selector(up, cluster="local", job="j") == 'up{cluster="local", job="j"}'


def test_values_are_quoted_and_escaped() -> None:
    assert selector(LATENCY, api='a"b\\c') == 'x_latency_seconds{api="a\\"b\\\\c"}'


def test_regex_union_escapes_literals_and_sorts_them() -> None:
    assert regex_union(["b.c", "a", "a"]) == "a|b\\.c"


def test_the_compact_form_of_a_selector_is_what_generated_rules_use() -> None:
    sel = Selector("x_total", (Matcher("code", "=~", "5.."), Matcher("api", "=", "p")))
    assert sel.promql() == 'x_total{code=~"5..",api="p"}'
    assert sel.promql("_bucket", (Matcher("le", "=", "0.1"),)) == (
        'x_total_bucket{code=~"5..",api="p",le="0.1"}'
    )
    assert sel.with_suffix("_count").metric == "x_total_count"
    assert Selector("x_total").promql() == "x_total"


@pytest.mark.parametrize(
    ("matcher", "labels", "matches"),
    [
        pytest.param(Matcher("a", "=", "x"), {"a": "x"}, True, id="equal_matches_the_value"),
        pytest.param(Matcher("a", "=", ""), {}, True, id="a_missing_label_is_the_empty_string"),
        pytest.param(Matcher("a", "!=", "x"), {}, True, id="not_equal_matches_a_missing_label"),
        pytest.param(Matcher("a", "=~", "x|y"), {"a": "y"}, True, id="a_regex_alternative"),
        pytest.param(Matcher("a", "=~", "x"), {"a": "xx"}, False, id="regexes_are_anchored"),
        pytest.param(Matcher("a", "!~", "x.*"), {"a": "yx"}, True, id="negated_regex"),
    ],
)
def test_matchers_match_as_prometheus_does(
    matcher: Matcher, labels: dict[str, str], matches: bool
) -> None:
    assert matcher.matches(labels) is matches


def test_a_selector_matches_its_metric_name_and_every_matcher() -> None:
    sel = Selector("x_total", (Matcher("a", "=", "1"), Matcher("b", "!=", "2")))
    assert sel.matches("x_total", {"a": "1", "b": "3"})
    assert not sel.matches("x_total", {"a": "1", "b": "2"})
    assert not sel.matches("y_total", {"a": "1"})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: Matcher("1a", "=", "x"), "not a label name", id="bad_label"),
        pytest.param(lambda: Matcher("a", "=~", "("), "bad regular expression", id="bad_regex"),
        pytest.param(lambda: Selector("a-b"), "not a metric name", id="bad_metric_name"),
    ],
)
def test_invalid_selectors_are_refused_on_construction(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_metric_name_tokenizer_finds_selectors_and_skips_functions_labels_and_strings() -> None:
    expr = (
        'sum by (topic) (rate(a_total{error=~"x|y", job="up"}[5m] offset 1h)) / on (topic) '
        "group_left b and histogram_quantile(0.99, c_bucket) > bool 2 unless "
        'label_replace(d, "dst", "$1", "src", "(.*)") or {__name__="e"} or vector(1) or '
        "f offset 30m"
    )
    assert metric_names(expr) == {"a_total", "b", "c_bucket", "d", "e", "f"}


def test_an_expression_using_an_unknown_name_fails_naming_where_and_what() -> None:
    check_expression("rate(a_total[5m])", frozenset({"a_total"}), "here")
    with pytest.raises(UnknownMetricError, match=r"^panel X: .*: b, c$"):
        check_expression("b + c", frozenset({"a_total"}), "panel X")


def test_recorded_names_are_the_record_names_of_a_rule_file() -> None:
    rule_file = {"groups": [{"rules": [{"record": "r:x", "expr": "x"}, {"alert": "A"}]}]}
    assert recorded_names(rule_file) == {"r:x"}
