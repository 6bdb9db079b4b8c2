"""SLI recording rules: the error ratio of each window, and the 5m event rates that make
the period ratio event-weighted (Sloth averages 5m ratios instead, which is biased when
traffic is uneven)."""

from __future__ import annotations

from collections.abc import Iterator

from contracts.durations import format_duration
from slo import conventions as c
from slo.alerts import slo_labels
from slo.model import (
    SLO,
    EventRatioSLI,
    GaugeThresholdSLI,
    LatencySLI,
    PromQLErrorRatioSLI,
    PromQLEventsSLI,
    Timeslices,
)
from slo.rules.types import Rule
from slo.windows import evaluated_windows

__all__ = ["event_rates", "selector_for", "sli_rules", "slice_error_expr"]

_AGG_WORST = {"<": "max", "<=": "max", ">": "min", ">=": "min"}


def selector_for(slo: SLO) -> str:
    labels = slo_labels(slo)
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _events(slo: SLO) -> EventRatioSLI | None:
    if isinstance(slo.sli, LatencySLI):
        return slo.sli.as_events()
    if isinstance(slo.sli, EventRatioSLI):
        return slo.sli
    return None


def _rate(selector: str, window: str) -> str:
    return f"sum(rate({selector}[{window}]))"


def _or_zero(side: str, total: str) -> str:
    """``side``, or 0 where ``total`` has a value and ``side`` has none.

    A counter labelled by error code has no series until the first error, so on a healthy
    system ``sum(rate(bad[w]))`` is empty, not 0, and so would be the ratio. The 0 comes
    from the total so that no total still means no data. ``or`` matches on all labels, as
    the ratio's ``/`` does: the generator's sums have none, and a Sloth query grouped
    ``by (...)`` gets a 0 for each group of the total that has no errors.
    """
    return f"{side} or (0 * {total})"


def event_rates(slo: SLO, window: str) -> tuple[str, str] | None:
    """PromQL for (error events per second, all events per second) over ``window``.

    A bad (or good) selector matching no series counts as 0 events while the total has
    data (see :func:`_or_zero`). Not for latency: a histogram's buckets exist whenever
    its ``_count`` does, so a missing bucket is a threshold that is not a bucket bound,
    and it stays "no data" rather than making every request slow.
    """
    events = _events(slo)
    if events is not None:
        total = _rate(events.total.promql(), window)
        if events.bad is not None:
            return _or_zero(_rate(events.bad.promql(), window), total), total
        assert events.good is not None
        good = _rate(events.good.promql(), window)
        if not isinstance(slo.sli, LatencySLI):
            good = f"({_or_zero(good, total)})"
        return f"({total} - {good})", total
    if isinstance(slo.sli, PromQLEventsSLI):
        total = _window(slo.sli.total_query, window)
        return _or_zero(_window(slo.sli.error_query, window), f"({total})"), total
    return None


def _window(query: str, window: str) -> str:
    return query.replace("{{.window}}", window).replace("{{ .window }}", window).strip()


def _ratio(rates: tuple[str, str]) -> str:
    return f"({rates[0]})\n/\n({rates[1]})\n"


def slice_error_expr(slo: SLO) -> str | None:
    """Per-evaluation slice judgement (1 bad, 0 good) for time-slice budgeting."""
    budgeting = slo.budgeting
    if not isinstance(budgeting, Timeslices):
        return None
    slice_window = format_duration(budgeting.slice_seconds)
    sli = slo.sli
    if isinstance(sli, GaugeThresholdSLI):
        bad_op = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}[sli.op]
        value = f"{sli.aggregate}({sli.query.promql()})"
        if budgeting.slice_seconds > 60:
            worst = _AGG_WORST[sli.op]
            value = f"{worst}_over_time({value}[{slice_window}:])"
        return f"{value} {bad_op} bool {sli.threshold!r}\n"
    rates = event_rates(slo, slice_window)
    if rates is None:
        return None
    limit = 1 - budgeting.target_ratio
    return f"(({rates[0]}) / ({rates[1]}) > bool {limit!r})\nunless\n({rates[1]} == 0)\n"


def sli_rules(slo: SLO) -> Iterator[Rule]:
    ids = {**dict(slo.labels), **slo_labels(slo)}
    selector = selector_for(slo)
    slice_expr = slice_error_expr(slo)
    if slice_expr is not None:
        yield Rule(record=c.RULE_SLI_SLICE_ERROR, expr=slice_expr, labels=ids)
    for seconds in evaluated_windows(slo):
        window = format_duration(seconds)
        labels = {**ids, c.LABEL_WINDOW: window}
        yield Rule(
            record=c.sli_error_ratio_rule(window),
            expr=_window_expr(slo, window, selector),
            labels=labels,
        )
    rates = event_rates(slo, "5m")
    if slice_expr is None and rates is not None:
        yield Rule(record=c.RULE_SLI_ERROR_EVENTS, expr=rates[0] + "\n", labels=ids)
        yield Rule(record=c.RULE_SLI_TOTAL_EVENTS, expr=rates[1] + "\n", labels=ids)
    period = format_duration(slo.period_seconds)
    yield Rule(
        record=c.sli_error_ratio_rule(period),
        expr=_period_expr(slo, period, selector, slice_expr is not None, rates is not None),
        labels={**ids, c.LABEL_WINDOW: period},
    )


def _window_expr(slo: SLO, window: str, selector: str) -> str:
    if isinstance(slo.budgeting, Timeslices):
        return f"avg_over_time({c.RULE_SLI_SLICE_ERROR}{selector}[{window}])\n"
    if isinstance(slo.sli, PromQLErrorRatioSLI):
        return _window(slo.sli.error_ratio_query, window) + "\n"
    rates = event_rates(slo, window)
    assert rates is not None
    return _ratio(rates)


def _period_expr(slo: SLO, period: str, selector: str, slices: bool, events: bool) -> str:
    if slices:
        return f"avg_over_time({c.RULE_SLI_SLICE_ERROR}{selector}[{period}])\n"
    if events:
        return (
            f"sum_over_time({c.RULE_SLI_ERROR_EVENTS}{selector}[{period}])\n/\n"
            f"sum_over_time({c.RULE_SLI_TOTAL_EVENTS}{selector}[{period}])\n"
        )
    # Sloth raw error-ratio SLIs have no events: average of 5m ratios, as Sloth does.
    five = c.sli_error_ratio_rule("5m")
    return (
        f"sum_over_time({five}{selector}[{period}])\n/ ignoring ({c.LABEL_WINDOW})\n"
        f"count_over_time({five}{selector}[{period}])\n"
    )
