"""Tidewatch's own spec format, ``version: tidewatch/v1`` (documented in slo/README.md)."""

from __future__ import annotations

from typing import Any, Final, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.durations import parse_whole_seconds
from contracts.fields import ConfigError, Fields
from slo import windows
from slo.burnrate import burn_rate_factor
from slo.model import (
    SLI,
    SLO,
    Aggregation,
    Alerting,
    Budgeting,
    BurnRateCondition,
    CalendarWindow,
    CompareOp,
    EventRatioSLI,
    GaugeThresholdSLI,
    LatencySLI,
    Occurrences,
    PromQLErrorRatioSLI,
    PromQLEventsSLI,
    RollingWindow,
    Timeslices,
    Window,
)
from slo.spec.common import alert_name_for, notification
from slo.spec.selector import parse_selector, selector_from_sloth_query

__all__ = ["VERSION", "load_document"]

VERSION: Final = "tidewatch/v1"
_TOP: Final = frozenset({"version", "service", "labels", "slos"})
_SLO: Final = frozenset(
    {"name", "description", "objective", "window", "budgeting", "labels", "sli", "alerting"}
)
_SLI_KINDS: Final = frozenset({"events", "latency", "gauge", "probe", "promql"})
_ALERTING: Final = frozenset(
    {"name", "labels", "annotations", "page", "ticket", "windows", "no_data", "disable"}
)
_CONDITION: Final = frozenset({"severity", "long", "short", "burn_rate", "budget_percent"})
_OPS: Final = ("<", "<=", ">", ">=")
_AGGREGATIONS: Final = ("sum", "max", "min", "avg")


def load_document(file: str, data: object) -> list[SLO]:
    top = Fields(file, "", data, _TOP)
    service = top.text("service")
    labels = top.labels("labels")
    names: set[str] = set()
    slos = []
    for path, item in top.items("slos"):
        slo = _slo(Fields(file, path, item, _SLO), service, labels)
        if slo.name in names:
            raise ConfigError(file, f"{path}.name", f'duplicate SLO name "{slo.name}"')
        names.add(slo.name)
        slos.append(slo)
    return slos


def _slo(f: Fields, service: str, service_labels: tuple[tuple[str, str], ...]) -> SLO:
    name = f.text("name")
    objective = f.number("objective")
    if not 0 < objective < 100:
        raise f.error("objective", "must be a percentage between 0 and 100, exclusive")
    window = _window(f)
    budgeting = _budgeting(f)
    sli = _sli(f.mapping("sli"))
    if isinstance(sli, GaugeThresholdSLI) and not isinstance(budgeting, Timeslices):
        if f.has("budgeting"):
            raise f.error("budgeting", "a gauge SLI is budgeted by timeslices")
        budgeting = Timeslices()
    alerting = _alerting(f, service, name, window.nominal_seconds)
    labels = tuple(sorted(dict((*service_labels, *f.labels("labels"))).items()))
    try:
        return SLO(
            service=service,
            name=name,
            objective_ratio=objective / 100,
            sli=sli,
            window=window,
            budgeting=budgeting,
            alerting=alerting,
            description=f.text("description", ""),
            labels=labels,
            spec_format="tidewatch/v1",
            source=f.file,
        )
    except ValueError as exc:
        raise ConfigError(f.file, f.path, str(exc)) from exc


def _window(f: Fields) -> Window:
    raw = f.raw("window")
    if raw is None or isinstance(raw, str):
        seconds = f.whole_seconds("window") if raw else 30 * 86_400
        return _rolling(f, "window", seconds)
    w = f.mapping("window", frozenset({"rolling", "calendar", "timezone"}))
    kind = w.one_of(frozenset({"rolling", "calendar"}))
    if kind == "rolling":
        return _rolling(w, "rolling", w.whole_seconds("rolling"))
    unit = w.text("calendar")
    if unit not in ("week", "month"):
        raise w.error("calendar", f'must be "week" or "month", not "{unit}"')
    timezone = w.text("timezone", "UTC")
    _check_timezone(w, timezone)
    return CalendarWindow(unit=cast(Any, unit), timezone=timezone)


def _rolling(f: Fields, key: str, seconds: int) -> RollingWindow:
    try:
        return RollingWindow(seconds)
    except ValueError as exc:
        raise f.error(key, str(exc)) from exc


def _check_timezone(f: Fields, name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise f.error("timezone", f'unknown time zone "{name}"') from exc


def _budgeting(f: Fields) -> Budgeting:
    raw = f.raw("budgeting")
    if raw is None or raw == "occurrences":
        return Occurrences()
    if raw == "timeslices":
        return Timeslices()
    if isinstance(raw, str):
        raise f.error("budgeting", f'must be "occurrences" or "timeslices", not "{raw}"')
    b = f.mapping("budgeting", frozenset({"timeslices"}))
    t = b.mapping("timeslices", frozenset({"slice", "target"}))
    slice_seconds = t.whole_seconds("slice", 60)
    target = t.number("target", 100.0)
    if not 0 < target <= 100:
        raise t.error("target", "must be a percentage in (0, 100]")
    return Timeslices(slice_seconds=slice_seconds, target_ratio=target / 100)


def _sli(f: Fields) -> SLI:
    kind = f.one_of(_SLI_KINDS)
    if kind == "events":
        e = f.mapping("events", frozenset({"good", "bad", "total"}))
        good_or_bad = e.one_of(frozenset({"good", "bad"}))
        total = _selector(e, "total")
        picked = _selector(e, good_or_bad)
        return EventRatioSLI(total=total, **{good_or_bad: picked})
    if kind == "probe":
        p = f.mapping("probe", frozenset({"success", "total"}))
        return EventRatioSLI(
            total=_selector(p, "total"), good=_selector(p, "success"), kind="probe"
        )
    if kind == "latency":
        lat = f.mapping("latency", frozenset({"histogram", "threshold_seconds"}))
        histogram = _selector(lat, "histogram")
        threshold = lat.number("threshold_seconds")
        if threshold <= 0:
            raise lat.error("threshold_seconds", "must be positive")
        for suffix in ("_bucket", "_count", "_sum"):
            if histogram.metric.endswith(suffix):
                raise lat.error("histogram", f'name the histogram without "{suffix}"')
        return LatencySLI(histogram=histogram, threshold_seconds=threshold)
    if kind == "gauge":
        g = f.mapping("gauge", frozenset({"query", "op", "threshold", "aggregate"}))
        op = g.text("op")
        if op not in _OPS:
            raise g.error("op", f"must be one of {', '.join(_OPS)} (good when value OP threshold)")
        aggregate = g.text("aggregate", "max")
        if aggregate not in _AGGREGATIONS:
            raise g.error("aggregate", f"must be one of {', '.join(_AGGREGATIONS)}")
        return GaugeThresholdSLI(
            query=_selector(g, "query"),
            op=cast(CompareOp, op),
            threshold=g.number("threshold"),
            aggregate=cast(Aggregation, aggregate),
        )
    q = f.mapping("promql", frozenset({"error_query", "total_query", "error_ratio_query"}))
    if q.has("error_ratio_query"):
        return PromQLErrorRatioSLI(q.text("error_ratio_query"))
    return promql_events(q, "error_query", "total_query")


def promql_events(f: Fields, error_key: str, total_key: str) -> PromQLEventsSLI:
    error_query, total_query = f.text(error_key), f.text(total_key)
    for key, query in ((error_key, error_query), (total_key, total_query)):
        if "{{.window}}" not in query.replace(" ", ""):
            raise f.error(key, "must use {{.window}} as the range of its rate()")
    bad = selector_from_sloth_query(error_query)
    total = selector_from_sloth_query(total_query)
    local = EventRatioSLI(total=total, bad=bad) if bad and total else None
    return PromQLEventsSLI(error_query, total_query, local)


def _selector(f: Fields, key: str) -> Any:
    return f.parse(key, parse_selector, 'a metric selector like name{label="value"}')


def _alerting(f: Fields, service: str, name: str, period_seconds: int) -> Alerting:
    default_name = alert_name_for(service, name)
    if not f.has("alerting"):
        return Alerting(name=default_name, conditions=windows.conditions_for_period(period_seconds))
    a = f.mapping("alerting", _ALERTING)
    no_data = a.raw("no_data")
    if no_data is False:
        no_data_seconds = None
    elif no_data is None:
        no_data_seconds = 600
    else:
        no_data_seconds = a.parse("no_data", parse_whole_seconds, "a duration like 10m, or false")
    conditions = () if a.flag("disable", False) else _conditions(a, "windows", period_seconds)
    try:
        return Alerting(
            name=a.text("name", default_name),
            conditions=conditions,
            labels=a.labels("labels"),
            annotations=a.labels("annotations"),
            page=notification(a, "page"),
            ticket=notification(a, "ticket"),
            no_data_seconds=no_data_seconds,
        )
    except ValueError as exc:
        raise a.error("name", str(exc)) from exc


def _conditions(a: Fields, key: str, period_seconds: int) -> tuple[BurnRateCondition, ...]:
    raw = a.raw(key)
    if raw is None or isinstance(raw, str):
        catalog_name = raw or windows.DEFAULT_CATALOG
        try:
            return windows.conditions_for_period(period_seconds, windows.load(catalog_name))
        except KeyError as exc:
            raise a.error(key, f'no alert-window catalogue "{catalog_name}"') from exc
    out = []
    for path, item in a.items(key):
        c = Fields(a.file, path, item, _CONDITION)
        long_s = c.whole_seconds("long")
        short_s = c.whole_seconds("short")
        how = c.one_of(frozenset({"burn_rate", "budget_percent"}))
        if how == "burn_rate":
            factor = c.number("burn_rate")
        else:
            factor = burn_rate_factor(c.number("budget_percent") / 100, period_seconds, long_s)
        try:
            out.append(BurnRateCondition(cast(Any, c.text("severity")), factor, long_s, short_s))
        except ValueError as exc:
            raise ConfigError(a.file, path, str(exc)) from exc
    return tuple(out)
