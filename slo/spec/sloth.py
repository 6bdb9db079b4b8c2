"""Sloth's ``prometheus/v1`` spec: a Sloth user's files load unchanged.

Supported: ``events`` and ``raw`` SLIs, alerting with page/ticket labels and annotations,
``disable``. Not supported: SLI ``plugin`` (Sloth runs Go plugins; rejected with a
reason). Sloth's spec has no period field; the period comes from the caller
(Sloth's ``--default-slo-period``, 30d by default). Its alert windows are the SRE
workbook's, as in Sloth.
"""

from __future__ import annotations

from typing import Final

from contracts.fields import ConfigError, Fields
from slo import windows
from slo.model import SLI, SLO, Alerting, PromQLErrorRatioSLI, RollingWindow
from slo.spec.common import notification
from slo.spec.tidewatch import promql_events

__all__ = ["VERSION", "load_document"]

VERSION: Final = "prometheus/v1"
_TOP: Final = frozenset({"version", "service", "labels", "slos"})
_SLO: Final = frozenset({"name", "description", "objective", "labels", "sli", "alerting"})
_SLI: Final = frozenset({"raw", "events", "plugin"})
_ALERTING: Final = frozenset({"name", "labels", "annotations", "page_alert", "ticket_alert"})


def load_document(file: str, data: object, period_seconds: int) -> list[SLO]:
    top = Fields(file, "", data, _TOP)
    service = top.text("service")
    labels = top.labels("labels")
    out = []
    seen: set[str] = set()
    for path, item in top.items("slos"):
        f = Fields(file, path, item, _SLO)
        name = f.text("name")
        if name in seen:
            raise f.error("name", f'duplicate SLO name "{name}"')
        seen.add(name)
        objective = f.number("objective")
        if not 0 < objective < 100:
            raise f.error("objective", "must be a percentage between 0 and 100, exclusive")
        try:
            out.append(
                SLO(
                    service=service,
                    name=name,
                    objective_ratio=objective / 100,
                    sli=_sli(f.mapping("sli", _SLI)),
                    window=RollingWindow(period_seconds),
                    alerting=_alerting(f, period_seconds),
                    description=f.text("description", ""),
                    labels=tuple(sorted(dict((*labels, *f.labels("labels"))).items())),
                    spec_format="prometheus/v1",
                    source=file,
                )
            )
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(file, path, str(exc)) from exc
    return out


def _sli(f: Fields) -> SLI:
    kind = f.one_of(_SLI)
    if kind == "plugin":
        raise f.error("plugin", "Sloth SLI plugins are not supported; use events or raw")
    if kind == "raw":
        raw = f.mapping("raw", frozenset({"error_ratio_query"}))
        return PromQLErrorRatioSLI(raw.text("error_ratio_query"))
    events = f.mapping("events", frozenset({"error_query", "total_query"}))
    return promql_events(events, "error_query", "total_query")


def _alerting(f: Fields, period_seconds: int) -> Alerting:
    a = f.mapping("alerting", _ALERTING)
    return Alerting(
        name=a.text("name"),
        conditions=windows.conditions_for_period(period_seconds),
        labels=a.labels("labels"),
        annotations=a.labels("annotations"),
        page=notification(a, "page_alert"),
        ticket=notification(a, "ticket_alert"),
        # Sloth has no no-data alert; keep the output a drop-in replacement.
        no_data_seconds=None,
    )
