"""A thin layer over grafana-foundation-sdk: panels from (title, queries, unit), stable
panel ids and query refIds, the shared datasource and template variables, and the
deterministic JSON rendering every generated dashboard goes through.

Template variables: ``datasource`` (any Prometheus), ``cluster``, ``topic`` and
``group`` (multi-value, "All" = ``.*``). Queries filter with ``=~"$cluster"`` and so on;
rates use ``$__rate_interval``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from grafana_foundation_sdk.builders import bargauge, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from broker.metrics import catalog as m
from contracts.promql import MetricLike, Re, selector

__all__ = [
    "ALL",
    "DATASOURCE",
    "RATE",
    "Board",
    "Query",
    "Style",
    "Threshold",
    "by_labels",
    "render_dashboard",
    "scope_variables",
    "scoped",
    "status_mappings",
]

DATASOURCE: Final = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE: Final = "$__rate_interval"
ALL: Final = ".*"
# Template variable name -> the label it filters.
SCOPE_LABELS: Final = ("cluster", "topic", "group")


@dataclass(frozen=True, slots=True)
class Threshold:
    """A line drawn on a panel (the value an alert fires at)."""

    value: float
    color: str = "red"


@dataclass(frozen=True, slots=True)
class Style:
    """How the values of one query of a multi-query panel look, instead of the panel's
    defaults (a Grafana override matched by the query's refId): its own threshold colors
    (above ``base_color``) and value -> (text, color) mappings."""

    thresholds: tuple[Threshold, ...] = ()
    base_color: str = "green"
    mappings: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False
    table: bool = False
    style: Style | None = None


def scoped(spec: MetricLike, suffix: str = "", /, **matchers: Any) -> str:
    """A selector of ``spec`` filtered by the dashboard variables its labels allow."""
    scope: dict[str, Any] = {
        label: Re(f"${label}") for label in SCOPE_LABELS if label in spec.all_labels
    }
    scope.update(matchers)
    return selector(spec, suffix, **scope)


def by_labels(*labels: str) -> str:
    return ", ".join(labels)


def _steps(thresholds: Sequence[Threshold], base: str = "green") -> db.ThresholdsConfig:
    steps = [dm.Threshold(value=None, color=base)]
    steps += [dm.Threshold(value=t.value, color=t.color) for t in thresholds]
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps)


def _variable(name: str, label: str, query: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .include_all(True)
        .multi(True)
        .all_value(ALL)
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


class Board:
    """One dashboard under construction: panels get ids 1, 2, ... in insertion order and
    their queries refIds A, B, ...; the uid is fixed, so output is byte-identical."""

    def __init__(self, uid: str, title: str, description: str, tags: Iterable[str]) -> None:
        self._next_id = 1
        self.builder = (
            db.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["tidewatch", *tags])
            .editable()
            .refresh("30s")
            .time("now-6h", "now")
            .timezone("browser")
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .link(
                db.DashboardLink("Tidewatch dashboards")
                .type(dm.DashboardLinkType.DASHBOARDS)
                .tags(["tidewatch"])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            )
            .with_variable(
                db.DatasourceVariable("datasource").label("Data source").type("prometheus")
            )
        )

    def variable(self, name: str, label: str, query: str) -> None:
        """A Grafana ``label_values(...)`` variable (multi-value, All = ``.*``)."""
        self.builder.with_variable(_variable(name, label, query))

    def row(self, title: str, repeat: str | None = None) -> None:
        """A row; panels added after it belong to it (repeated per value of ``repeat``)."""
        row = db.Row(title).id(self._take_id())
        if repeat is not None:
            row.repeat(repeat)
        self.builder.with_row(row)

    def _take_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def _add(self, panel: Any, title: str, description: str, queries: Sequence[Query]) -> None:
        panel.id(self._take_id()).title(title).description(description).datasource(DATASOURCE)
        for index, q in enumerate(queries):
            ref_id = chr(ord("A") + index)
            target = prometheus.Dataquery().expr(q.expr).ref_id(ref_id)
            if q.legend:
                target.legend_format(q.legend)
            if q.instant:
                target.instant()
            if q.heatmap:
                target.format(pm.PromQueryFormat.HEATMAP)
            if q.table:
                target.format(pm.PromQueryFormat.TABLE).instant()
            panel.with_target(target)
            if q.style is not None:
                panel.override_by_query(ref_id, _override(q.style))
        self.builder.with_panel(panel)

    def timeseries(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        unit: str,
        thresholds: Sequence[Threshold] = (),
        width: int = 12,
        min_value: float | None = 0,
        base_color: str = "green",
    ) -> None:
        panel = timeseries.Panel().unit(unit).span(width).height(8).line_width(1).fill_opacity(10)
        panel.legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        if min_value is not None:
            panel.min(min_value)
        if thresholds:
            panel.thresholds(_steps(thresholds, base_color)).thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(
                    common.GraphThresholdsStyleMode.DASHED
                )
            )
        self._add(panel, title, description, queries)

    def stat(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        unit: str,
        thresholds: Sequence[Threshold] = (),
        base_color: str = "green",
        mappings: Sequence[dm.ValueMap] = (),
        width: int = 6,
    ) -> None:
        panel = (
            stat.Panel()
            .unit(unit)
            .span(width)
            .height(5)
            .graph_mode(common.BigValueGraphMode.AREA)
            .color_mode(common.BigValueColorMode.BACKGROUND)
            .thresholds(_steps(thresholds, base_color))
        )
        if mappings:
            panel.mappings(list(mappings))
        self._add(panel, title, description, queries)

    def table(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        unit: str,
        mappings: Sequence[dm.ValueMap] = (),
        width: int = 12,
        columns: Sequence[str] = (),
        sort_desc: str | None = None,
    ) -> None:
        """``columns``: merge the queries' frames into one table (rows joined on their
        shared labels), the value column of query i named ``columns[i]``, time hidden;
        ``sort_desc``: the column rows are sorted by, largest first."""
        panel = table.Panel().unit(unit).span(width).height(8)
        if mappings:
            panel.mappings(list(mappings))
        if sort_desc is not None:
            panel.sort_by(
                [common_builders.TableSortByFieldState().display_name(sort_desc).desc(True)]
            )
        if columns:
            if len(columns) != len(queries):
                raise ValueError(f"{title}: {len(columns)} column names, {len(queries)} queries")
            renames = {_value_column(i, len(queries)): name for i, name in enumerate(columns)}
            panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
            panel.with_transformation(
                dm.DataTransformerConfig(
                    id_val="organize",
                    options={"excludeByName": {"Time": True}, "renameByName": renames},
                )
            )
        self._add(panel, title, description, queries)

    def bars(
        self, title: str, description: str, queries: Sequence[Query], unit: str, width: int = 12
    ) -> None:
        panel = (
            bargauge.Panel()
            .unit(unit)
            .span(width)
            .height(8)
            .orientation(common.VizOrientation.HORIZONTAL)
            .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        )
        self._add(panel, title, description, queries)

    def heatmap(self, title: str, description: str, query: Query, width: int = 12) -> None:
        panel = heatmap.Panel().span(width).height(8).calculate(False).unit("s")
        self._add(panel, title, description, [query])

    def build(self) -> dm.Dashboard:
        return self.builder.build()


def _value_column(index: int, queries: int) -> str:
    """Grafana's name for the value column of query ``index`` of a table-format panel."""
    return f"Value #{chr(ord('A') + index)}" if queries > 1 else "Value"


def _override(style: Style) -> list[dm.DynamicConfigValue]:
    """The field properties of a :class:`Style`, as plain JSON values (they round-trip
    through the SDK's model unchanged)."""
    steps: list[dict[str, str | float | None]] = [{"color": style.base_color, "value": None}]
    steps += [{"color": t.color, "value": t.value} for t in style.thresholds]
    properties = [
        dm.DynamicConfigValue(id_val="thresholds", value={"mode": "absolute", "steps": steps})
    ]
    if style.mappings:
        options = {
            str(value): {"color": color, "index": i, "text": text}
            for i, (value, text, color) in enumerate(style.mappings)
        }
        properties.append(
            dm.DynamicConfigValue(id_val="mappings", value=[{"options": options, "type": "value"}])
        )
    return properties


def render_dashboard(dashboard: dm.Dashboard) -> str:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(dashboard, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def status_mappings(names: dict[int, tuple[str, str]]) -> list[dm.ValueMap]:
    """Value -> (text, color) mappings for enum-valued gauges."""
    options = {
        str(value): dm.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(sorted(names.items()))
    }
    return [dm.ValueMap(options=options)]


def scope_variables(board: Board) -> None:
    """The cluster, topic and group variables, each narrowed by the ones before it."""
    board.variable("cluster", "Cluster", f"label_values({selector(m.BROKER_INFO)}, cluster)")
    topics = selector(m.PARTITION_LOG_END_OFFSET, cluster=Re("$cluster"))
    board.variable("topic", "Topic", f"label_values({topics}, topic)")
    groups = selector(m.GROUP_LAG_RECORDS, cluster=Re("$cluster"), topic=Re("$topic"))
    board.variable("group", "Consumer group", f"label_values({groups}, group)")
