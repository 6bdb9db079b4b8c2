"""The validated, frozen SLO model every other layer works on.

Spec loaders (``slo.spec``) map user YAML of three formats onto these types; nothing
downstream knows which format an SLO came from except for the ``spec_format`` label.
Invariants are checked in ``__post_init__`` so a model value is valid by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from contracts.durations import format_duration
from contracts.promql import Matcher, Selector, is_label_name, is_metric_name
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET, Severity

__all__ = [
    "SLI",
    "SLO",
    "Alerting",
    "BurnRateCondition",
    "CalendarWindow",
    "EventRatioSLI",
    "GaugeThresholdSLI",
    "LatencySLI",
    "Notification",
    "Occurrences",
    "PromQLErrorRatioSLI",
    "PromQLEventsSLI",
    "RollingWindow",
    "Timeslices",
]

CompareOp = Literal["<", "<=", ">", ">="]
Aggregation = Literal["sum", "max", "min", "avg"]

NEGATED_OP: Final[dict[CompareOp, CompareOp]] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


# --- SLIs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRatioSLI:
    """Counters of events: errors are ``bad`` or ``total - good``."""

    total: Selector
    good: Selector | None = None
    bad: Selector | None = None
    kind: Literal["events", "probe"] = "events"

    def __post_init__(self) -> None:
        if (self.good is None) == (self.bad is None):
            raise ValueError("exactly one of good and bad is required")


@dataclass(frozen=True, slots=True)
class LatencySLI:
    """Events faster than ``threshold_seconds`` are good, from a Prometheus histogram.

    ``histogram`` names the histogram without its ``_bucket``/``_count`` suffix; the
    threshold must be one of its bucket bounds (``le``): a bucket missing while ``_count``
    has data is read as no data (a gap), not as every event being slow.
    """

    histogram: Selector
    threshold_seconds: float

    def __post_init__(self) -> None:
        if not self.threshold_seconds > 0:
            raise ValueError("threshold_seconds must be positive")

    @property
    def le(self) -> str:
        return _format_le(self.threshold_seconds)

    def as_events(self) -> EventRatioSLI:
        return EventRatioSLI(
            total=self.histogram.with_suffix("_count"),
            good=self.histogram.with_suffix("_bucket", (Matcher("le", "=", self.le),)),
        )


def _format_le(value: float) -> str:
    # Prometheus client libraries write bucket bounds with repr()-style floats ("0.25", "1.0").
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class GaugeThresholdSLI:
    """A gauge that is good while ``aggregate(query) op threshold`` (e.g. lag <= 30 s).

    Always budgeted by time slices: each evaluation step is one slice.
    """

    query: Selector
    op: CompareOp
    threshold: float
    aggregate: Aggregation = "max"


@dataclass(frozen=True, slots=True)
class PromQLEventsSLI:
    """Sloth ``events``: PromQL with ``{{.window}}`` for the error and total rates.

    ``local`` is the same SLI as plain counters when the queries have the simple form
    ``sum(rate(SELECTOR[{{.window}}]))``, which lets the in-process engine evaluate it
    without Prometheus.
    """

    error_query: str
    total_query: str
    local: EventRatioSLI | None = None


@dataclass(frozen=True, slots=True)
class PromQLErrorRatioSLI:
    """Sloth ``raw``: a PromQL error ratio; evaluated only by Prometheus."""

    error_ratio_query: str
    local: None = None


SLI = EventRatioSLI | LatencySLI | GaugeThresholdSLI | PromQLEventsSLI | PromQLErrorRatioSLI


# --- Windows and budgeting ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RollingWindow:
    seconds: int

    def __post_init__(self) -> None:
        if self.seconds < 3600:
            raise ValueError("a rolling SLO window must be at least 1h")

    @property
    def nominal_seconds(self) -> int:
        return self.seconds

    def describe(self) -> str:
        return f"rolling {format_duration(self.seconds)}"


@dataclass(frozen=True, slots=True)
class CalendarWindow:
    """The current calendar week (from Monday 00:00) or month, in ``timezone``."""

    unit: Literal["week", "month"]
    timezone: str = "UTC"

    @property
    def nominal_seconds(self) -> int:
        # Budgets are sized by the nominal length; Prometheus rules use it as a rolling window.
        return 7 * 86_400 if self.unit == "week" else 30 * 86_400

    def describe(self) -> str:
        return f"calendar {self.unit} ({self.timezone})"


Window = RollingWindow | CalendarWindow


@dataclass(frozen=True, slots=True)
class Occurrences:
    """Budget counts events: the error ratio is bad events over all events."""


@dataclass(frozen=True, slots=True)
class Timeslices:
    """Budget counts slices: a slice is bad when its good ratio is below ``target_ratio``.

    A slice is judged at every evaluation step over the last ``slice_seconds`` (sliding);
    slices without any event are gaps, neither good nor bad.
    """

    slice_seconds: int = 60
    target_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.target_ratio <= 1:
            raise ValueError("target_ratio must be in (0, 1]")
        if self.slice_seconds <= 0:
            raise ValueError("slice must be positive")


Budgeting = Occurrences | Timeslices


# --- Alerting ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BurnRateCondition:
    """Fires when the burn rate over both the long and the short window exceeds ``factor``."""

    severity: Severity
    factor: float
    long_seconds: int
    short_seconds: int

    def __post_init__(self) -> None:
        if self.severity not in (SEVERITY_PAGE, SEVERITY_TICKET):
            raise ValueError(f"severity must be page or ticket, not {self.severity!r}")
        if not self.factor > 0:
            raise ValueError("burn rate factor must be positive")
        if not 0 < self.short_seconds <= self.long_seconds:
            raise ValueError("the short window must be positive and not longer than the long one")

    @property
    def windows(self) -> str:
        return f"{format_duration(self.long_seconds)}/{format_duration(self.short_seconds)}"


@dataclass(frozen=True, slots=True)
class Notification:
    enabled: bool = True
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Alerting:
    name: str
    conditions: tuple[BurnRateCondition, ...]
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    page: Notification = Notification()
    ticket: Notification = Notification()
    no_data_seconds: int | None = 600

    def __post_init__(self) -> None:
        if not is_metric_name(self.name):
            raise ValueError(f"alert name {self.name!r} is not a valid Prometheus alert name")

    def notification(self, severity: Severity) -> Notification:
        return self.page if severity == SEVERITY_PAGE else self.ticket


# --- The SLO -------------------------------------------------------------------------------

SpecFormat = Literal["tidewatch/v1", "prometheus/v1", "openslo/v1"]


@dataclass(frozen=True, slots=True)
class SLO:
    service: str
    name: str
    objective_ratio: float
    sli: SLI
    window: Window
    alerting: Alerting
    budgeting: Budgeting = Occurrences()
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    spec_format: SpecFormat = "tidewatch/v1"
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.objective_ratio < 1:
            raise ValueError("objective must be between 0 and 100 percent, exclusive")
        if isinstance(self.sli, GaugeThresholdSLI) and not isinstance(self.budgeting, Timeslices):
            raise ValueError("a gauge threshold SLI is budgeted by timeslices")
        for name, _ in self.labels:
            if not is_label_name(name):
                raise ValueError(f"label {name!r} is not a valid label name")

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def error_budget_ratio(self) -> float:
        # Computed exactly as in the generated rules (1 - objective), so thresholds compare
        # bit-for-bit equal in Prometheus and in the engine.
        return 1 - self.objective_ratio

    @property
    def objective_percent(self) -> float:
        return self.objective_ratio * 100

    @property
    def period_seconds(self) -> int:
        return self.window.nominal_seconds

    @property
    def evaluable_locally(self) -> bool:
        """True when the in-process engine can compute the SLI from scraped metrics."""
        if isinstance(self.sli, PromQLEventsSLI | PromQLErrorRatioSLI):
            return self.sli.local is not None
        return True
