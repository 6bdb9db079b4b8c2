"""OpenSLO v1 (``apiVersion: openslo/v1``): SLO, SLI, AlertPolicy and AlertCondition.

Documents of one file (or of several files loaded together) reference each other by
``metadata.name``. Mapping onto the model:

- ``ratioMetric`` with ``counter: true`` and metric selectors as queries -> event ratio
  (good or bad over total); ``thresholdMetric`` -> gauge threshold with the objective's
  ``op``/``value``, budgeted by ``Timeslices``.
- ``timeWindow``: rolling durations, or calendar ``1w``/``1M`` with its ``timeZone``.
- ``budgetingMethod``: ``Occurrences`` or ``Timeslices`` (``timeSliceTarget``,
  ``timeSliceWindow``). ``RatioTimeslices`` is rejected.
- ``AlertCondition`` of kind ``burnrate``: ``threshold`` is the burn-rate factor,
  ``lookbackWindow`` the long window, ``alertAfter`` the short window (default: the long
  window / 12, the workbook's ratio). ``severity`` page/critical -> page,
  ticket/warning -> ticket.
- ``AlertPolicy.alertWhenNoData`` enables the no-data alert.
``Service``, ``DataSource`` and ``AlertNotificationTarget`` documents are accepted and not
used. One objective per SLO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from contracts.fields import ConfigError, Fields, suggest
from slo.model import (
    SLI,
    SLO,
    Alerting,
    Budgeting,
    BurnRateCondition,
    CalendarWindow,
    CompareOp,
    EventRatioSLI,
    GaugeThresholdSLI,
    Occurrences,
    RollingWindow,
    Timeslices,
    Window,
)
from slo.spec.common import alert_name_for
from slo.spec.selector import parse_selector

__all__ = ["API_VERSION", "Document", "resolve"]

API_VERSION: Final = "openslo/v1"
_KINDS: Final = frozenset(
    {
        "SLO",
        "SLI",
        "AlertPolicy",
        "AlertCondition",
        "Service",
        "DataSource",
        "AlertNotificationTarget",
    }
)
_DOC: Final = frozenset({"apiVersion", "kind", "metadata", "spec"})
_METADATA: Final = frozenset({"name", "displayName", "labels", "annotations"})
_SLO_SPEC: Final = frozenset(
    {
        "description",
        "service",
        "indicator",
        "indicatorRef",
        "timeWindow",
        "budgetingMethod",
        "objectives",
        "alertPolicies",
    }
)
_SLI_SPEC: Final = frozenset({"description", "thresholdMetric", "ratioMetric"})
_RATIO: Final = frozenset({"counter", "good", "bad", "total", "rawType", "raw"})
_OBJECTIVE: Final = frozenset(
    {
        "displayName",
        "op",
        "value",
        "target",
        "targetPercent",
        "timeSliceTarget",
        "timeSliceWindow",
        "indicator",
        "indicatorRef",
        "compositeWeight",
    }
)
_POLICY_SPEC: Final = frozenset(
    {
        "description",
        "alertWhenNoData",
        "alertWhenResolved",
        "alertWhenBreaching",
        "conditions",
        "notificationTargets",
    }
)
_CONDITION_SPEC: Final = frozenset({"description", "severity", "condition"})
_BURNRATE: Final = frozenset({"kind", "op", "threshold", "lookbackWindow", "alertAfter"})
_OPS: Final[dict[str, CompareOp]] = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_SEVERITIES: Final = {"page": "page", "critical": "page", "ticket": "ticket", "warning": "ticket"}


@dataclass(frozen=True, slots=True)
class Document:
    kind: str
    name: str
    spec: Fields
    labels: tuple[tuple[str, str], ...]


def parse_document(file: str, path: str, data: object) -> Document:
    doc = Fields(file, path, data, _DOC)
    kind = doc.text("kind")
    if kind not in _KINDS:
        raise doc.error("kind", f'unknown OpenSLO kind "{kind}"{suggest(kind, _KINDS)}')
    meta = doc.mapping("metadata", _METADATA)
    return Document(kind, meta.text("name"), doc.mapping("spec"), meta.labels("labels"))


def resolve(documents: list[Document]) -> list[SLO]:
    """Join SLO documents with the SLIs, policies and conditions they reference."""
    by_kind: dict[str, dict[str, Document]] = {}
    for d in documents:
        names = by_kind.setdefault(d.kind, {})
        if d.name in names:
            raise ConfigError(d.spec.file, d.spec.path, f'duplicate {d.kind} named "{d.name}"')
        names[d.name] = d
    return [_slo(d, by_kind) for d in by_kind.get("SLO", {}).values()]


def _ref(by_kind: dict[str, dict[str, Document]], kind: str, f: Fields, key: str) -> Document:
    name = f.text(key)
    known = by_kind.get(kind, {})
    if name not in known:
        raise f.error(key, f'no {kind} named "{name}"{suggest(name, known)}')
    return known[name]


def _inline(f: Fields, key: str, kind: str) -> Document:
    inline = f.mapping(key, frozenset({"metadata", "spec", "kind", "apiVersion"}))
    meta = inline.mapping("metadata", _METADATA)
    return Document(kind, meta.text("name"), inline.mapping("spec"), meta.labels("labels"))


def _slo(d: Document, by_kind: dict[str, dict[str, Document]]) -> SLO:
    f = d.spec
    f.reject_unknown(_SLO_SPEC)
    if f.has("indicator") == f.has("indicatorRef"):
        raise ConfigError(f.file, f.path, "needs exactly one of indicator, indicatorRef")
    sli_doc = (
        _inline(f, "indicator", "SLI")
        if f.has("indicator")
        else _ref(by_kind, "SLI", f, "indicatorRef")
    )
    objectives = list(f.items("objectives"))
    if len(objectives) != 1:
        raise f.error("objectives", "exactly one objective is supported")
    objective = Fields(f.file, objectives[0][0], objectives[0][1], _OBJECTIVE)
    target = _target(objective)
    budgeting = _budgeting(f, objective)
    sli = _sli(sli_doc.spec, objective)
    window = _window(f)
    alerting = _alerting(f, by_kind, d.name, f.text("service"))
    try:
        return SLO(
            service=f.text("service"),
            name=d.name,
            objective_ratio=target,
            sli=sli,
            window=window,
            budgeting=budgeting,
            alerting=alerting,
            description=f.text("description", ""),
            labels=d.labels,
            spec_format="openslo/v1",
            source=f.file,
        )
    except ValueError as exc:
        raise ConfigError(f.file, f.path, str(exc)) from exc


def _target(o: Fields) -> float:
    if o.has("target") == o.has("targetPercent"):
        raise ConfigError(o.file, o.path, "needs exactly one of target, targetPercent")
    target = o.number("target") if o.has("target") else o.number("targetPercent") / 100
    if not 0 < target < 1:
        raise o.error("target", "must be between 0 and 1 (targetPercent: 0-100), exclusive")
    return target


def _budgeting(f: Fields, o: Fields) -> Budgeting:
    method = f.text("budgetingMethod")
    if method == "Occurrences":
        return Occurrences()
    if method == "Timeslices":
        slice_s = o.whole_seconds("timeSliceWindow")
        target = o.number("timeSliceTarget")
        if not 0 < target <= 1:
            raise o.error("timeSliceTarget", "must be in (0, 1]")
        return Timeslices(slice_seconds=slice_s, target_ratio=target)
    if method == "RatioTimeslices":
        raise f.error("budgetingMethod", "RatioTimeslices is not supported")
    known = ("Occurrences", "Timeslices")
    raise f.error(
        "budgetingMethod",
        f'must be Occurrences or Timeslices, not "{method}"{suggest(method, known)}',
    )


def _query(parent: Fields, key: str) -> Any:
    metric = parent.mapping(key, frozenset({"metricSource"}))
    source = metric.mapping("metricSource", frozenset({"metricSourceRef", "type", "spec"}))
    kind = source.text("type", "Prometheus")
    if kind != "Prometheus":
        raise source.error("type", f'only Prometheus metric sources are supported, not "{kind}"')
    spec = source.mapping("spec")
    return spec.parse("query", parse_selector, 'a metric selector like name{label="value"}')


def _sli(f: Fields, o: Fields) -> SLI:
    f.reject_unknown(_SLI_SPEC)
    kind = f.one_of(frozenset({"thresholdMetric", "ratioMetric"}))
    if kind == "thresholdMetric":
        op = o.text("op")
        if op not in _OPS:
            raise o.error("op", f"must be one of {', '.join(_OPS)}")
        return GaugeThresholdSLI(_query(f, "thresholdMetric"), _OPS[op], o.number("value"))
    r = f.mapping("ratioMetric", _RATIO)
    if r.has("raw") or r.has("rawType"):
        raise r.error("raw", "raw ratio metrics are not supported; use good or bad with total")
    if not r.flag("counter", False):
        raise r.error("counter", "must be true: good/bad/total are counters")
    which = r.one_of(frozenset({"good", "bad"}))
    total = _query(r, "total")
    return EventRatioSLI(total=total, **{which: _query(r, which)})


def _window(f: Fields) -> Window:
    items = list(f.items("timeWindow"))
    if len(items) != 1:
        raise f.error("timeWindow", "exactly one time window is supported")
    path, raw = items[0]
    w = Fields(f.file, path, raw, frozenset({"duration", "isRolling", "calendar"}))
    duration = w.text("duration")
    if w.flag("isRolling", False):
        seconds = w.whole_seconds("duration")
        try:
            return RollingWindow(seconds)
        except ValueError as exc:
            raise w.error("duration", str(exc)) from exc
    units = {"1w": "week", "7d": "week", "1M": "month"}
    if duration not in units:
        raise w.error("duration", f'calendar windows must be 1w or 1M, not "{duration}"')
    timezone = "UTC"
    if w.has("calendar"):
        cal = w.mapping("calendar", frozenset({"startTime", "timeZone"}))
        timezone = cal.text("timeZone", "UTC")
    return CalendarWindow(unit="week" if units[duration] == "week" else "month", timezone=timezone)


def _alerting(
    f: Fields, by_kind: dict[str, dict[str, Document]], name: str, service: str
) -> Alerting:
    conditions: list[BurnRateCondition] = []
    no_data: int | None = None
    for path, item in f.items("alertPolicies", required=False):
        holder = Fields(f.file, path, {"ref": item} if isinstance(item, str) else item)
        if isinstance(item, str):
            policy = _ref(by_kind, "AlertPolicy", holder, "ref")
        elif holder.has("alertPolicyRef"):
            policy = _ref(by_kind, "AlertPolicy", holder, "alertPolicyRef")
        else:
            policy = _inline(Fields(f.file, "", {"p": item}), "p", "AlertPolicy")
        p = policy.spec
        p.reject_unknown(_POLICY_SPEC)
        if p.flag("alertWhenNoData", False):
            no_data = 600
        for cpath, citem in p.items("conditions"):
            cf = Fields(p.file, cpath, citem)
            if cf.has("conditionRef"):
                cond = _ref(by_kind, "AlertCondition", cf, "conditionRef")
            else:
                cond = _inline(Fields(p.file, "", {"c": citem}), "c", "AlertCondition")
            conditions.append(_condition(cond.spec))
    return Alerting(
        name=alert_name_for(service, name), conditions=tuple(conditions), no_data_seconds=no_data
    )


def _condition(f: Fields) -> BurnRateCondition:
    f.reject_unknown(_CONDITION_SPEC)
    severity = f.text("severity")
    if severity not in _SEVERITIES:
        raise f.error("severity", f"must be one of {', '.join(_SEVERITIES)}")
    c = f.mapping("condition", _BURNRATE)
    if c.text("kind") != "burnrate":
        raise c.error("kind", 'only "burnrate" conditions are supported')
    if c.text("op", "gte") not in ("gt", "gte"):
        raise c.error("op", "burn-rate conditions compare with gt or gte")
    long_s = c.whole_seconds("lookbackWindow")
    short_s = c.whole_seconds("alertAfter", max(60, long_s // 12))
    try:
        return BurnRateCondition(
            _SEVERITIES[severity],  # type: ignore[arg-type]
            c.number("threshold"),
            long_s,
            short_s,
        )
    except ValueError as exc:
        raise ConfigError(c.file, c.path, str(exc)) from exc
