"""Game-day scenarios (``version: tidewatch/gameday/v1``): the YAML spec and its model.

A scenario is steady load (an embedded workload), a broker set up for the faults it
needs, a timeline of faults, and expectations. The format is documented in
``loadtest/README.md``; errors name the file, the field and what is allowed, e.g.::

    lag.yaml: timeline[0].fault: "broker-crash" is not allowed; allowed: broker-kill, ...

Times in the timeline and in expectations are real (wall-clock) seconds from the start
of the load. A fault waits for steady state: while an alert that the scenario expects the
fault to set off is already firing, the fault is held back (and every later step with it)
for at most ``steady_wait`` seconds; expectations are judged from the moment the fault
was really injected. ``time_scale`` compresses only the monitoring: SLO windows, rule ranges and
``for`` durations (see :mod:`slo.timescale`). Pure: only :func:`load_scenario` reads
files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal

from contracts.alerts import AlertThresholds
from contracts.durations import format_duration
from contracts.fields import ConfigError, Fields, read_yaml
from loadtest.gameday.bounds import Bound, CountExpectation, parse_counts
from loadtest.gameday.cluster_spec import (
    MAX_BROKERS,
    SELF_ENDING_FAULTS,
    ReplicationExpectation,
    check_cluster_fault,
    check_cluster_setup,
    parse_audit,
    parse_client_errors,
    parse_replication,
)
from loadtest.workload import Workload, parse_embedded_workload

__all__ = [
    "FAULT_KINDS",
    "VERSION",
    "AlertExpectation",
    "AlertsSpec",
    "Bound",
    "BrokerSpec",
    "CountExpectation",
    "FaultStep",
    "Recovery",
    "SLOExpectation",
    "Scenario",
    "load_scenario",
    "parse_scenario",
]

VERSION: Final = "tidewatch/gameday/v1"
START: Final = "start"  # the event id of the load's start
# Fault kind -> its parameters (name -> required). 'for' and 'at' are common to all.
FAULT_KINDS: Final[dict[str, dict[str, bool]]] = {
    "broker-kill": {"target": False, "partition": False},
    "broker-pause": {"target": False, "partition": False},
    "leader-isolate": {"target": False, "partition": False},
    "rolling-restart": {},
    "consumer-stop": {"group": True},
    "consumer-slow": {"group": True, "processing_ms": True},
    "network-latency": {"latency_ms": True, "jitter_ms": False},
    "network-drop": {"mode": False},
    "disk-full": {"leave_bytes": False},
    "retention-shrink": {"retention_ms": True, "segment_ms": False},
}
NEEDS_PROXY: Final = frozenset({"network-latency", "network-drop"})
NEEDS_TMPFS: Final = frozenset({"disk-full"})
EVALUATORS: Final = ("auto", "prometheus", "in-process")
LOSS_FIELDS: Final = (
    "lost",
    "deleted_by_retention",
    "duplicates",
    "pending",
    "failed",
    "delivered_unacknowledged",
)
PROBE_FIELDS: Final = ("lost", "duplicates", "reordered", "corrupted")

_TOP: Final = frozenset(
    {
        "version",
        "name",
        "description",
        "brokers",
        "time_scale",
        "duration",
        "broker",
        "workload",
        "slos",
        "alerts",
        "probes",
        "timeline",
        "expect",
        "settle",
        "steady_wait",
    }
)
_BROKER: Final = frozenset({"flush_policy", "proxy", "tmpfs", "config"})
_ALERTS: Final = frozenset({"evaluator", "rules", "exclude", "pack", "thresholds"})
_STEP_COMMON: Final = frozenset({"id", "at", "fault", "for"})
_EXPECT: Final = frozenset(
    {
        "alerts",
        "silent",
        "slos",
        "data_loss",
        "probes",
        "recovery",
        "audit",
        "client_errors",
        "replication",
        "no_page",
    }
)
_SILENT: Final = frozenset({"alert", "labels"})
_ALERT: Final = frozenset({"alert", "labels", "after", "fires_within", "resolves_within"})
_SLO: Final = frozenset({"slo", "burns"})
_RECOVERY: Final = frozenset({"lag_zero_within", "lag_tolerance", "alerts_resolved_within"})
_SIZE: Final = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS: Final = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    flush_policy: Literal["interval", "durable"] = "interval"
    proxy: bool = False
    tmpfs_bytes: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertsSpec:
    evaluator: str = "auto"
    rules: tuple[Path, ...] = ()  # extra Prometheus rule files
    exclude: tuple[str, ...] = ()  # alert names removed from every rule set
    pack: bool = True  # the generated alert pack (tidewatch alerts build)
    thresholds: Mapping[str, Any] = field(default_factory=dict)  # AlertThresholds overrides


@dataclass(frozen=True, slots=True)
class FaultStep:
    id: str
    kind: str
    at_seconds: float
    for_seconds: float | None  # None: until the end of the scenario
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def end_seconds(self) -> float | None:
        return None if self.for_seconds is None else self.at_seconds + self.for_seconds


@dataclass(frozen=True, slots=True)
class AlertExpectation:
    alert: str
    labels: tuple[tuple[str, str], ...] = ()
    after: str = START
    fires_within: float | None = None
    resolves_within: float | None = None


@dataclass(frozen=True, slots=True)
class SLOExpectation:
    slo: str
    burns: bool


@dataclass(frozen=True, slots=True)
class Recovery:
    """After the last fault: lag back within ``lag_tolerance_seconds`` (consumers commit
    once a second, so steady load always shows a little lag) within
    ``lag_zero_within``, and exactly 0 once the load has drained; every alert resolved
    within ``alerts_resolved_within``."""

    lag_zero_within: float | None = None
    lag_tolerance_seconds: float = 2.0
    alerts_resolved_within: float | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    time_scale: float
    duration_seconds: float
    broker: BrokerSpec
    workload: Workload
    slo_files: tuple[Path, ...]
    alerts: AlertsSpec
    probes: bool
    timeline: tuple[FaultStep, ...]
    expect_alerts: tuple[AlertExpectation, ...] = ()
    # Alerts that must never fire: (name, labels); labels narrow it (a severity).
    expect_silent: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    expect_no_page: bool = False  # no alert with severity page fires at all
    expect_slos: tuple[SLOExpectation, ...] = ()
    expect_data_loss: CountExpectation | None = None
    expect_probes: CountExpectation | None = None
    # Per acks setting, bounds on the log audit (loadtest.audit).
    expect_audit: tuple[tuple[str, CountExpectation], ...] = ()
    expect_client_errors: CountExpectation | None = None
    expect_replication: ReplicationExpectation | None = None
    recovery: Recovery = Recovery()
    # Keep watching after the load while alerts still fire, at most this long (default:
    # as long as recovery.alerts_resolved_within needs, else not at all).
    settle_seconds: float = 0.0
    # How long a fault may wait for the alerts it should set off to be quiet first.
    steady_wait_seconds: float = 15.0
    source: str = ""
    brokers: int = 1  # a cluster of this many brokers (every one a controller voter)

    @property
    def event_ids(self) -> tuple[str, ...]:
        return (START, *(s.id for s in self.timeline))

    @property
    def last_fault_end(self) -> float:
        ends = [s.end_seconds or self.duration_seconds for s in self.timeline]
        return max(ends, default=0.0)


def load_scenario(path: Path) -> Scenario:
    return parse_scenario(str(path), read_yaml(path), base=path.parent)


def parse_scenario(file: str, data: object, base: Path = Path(".")) -> Scenario:
    top = Fields(file, "", data, _TOP)
    version = top.text("version")
    if version != VERSION:
        raise top.error("version", f'"{version}" is not supported; allowed: {VERSION}')
    name = top.text("name")
    duration = top.duration("duration")
    time_scale = top.number("time_scale", 1.0)
    if not 1 <= time_scale <= 3600:
        raise top.error("time_scale", "must be between 1 (real time) and 3600")
    if not top.has("workload"):
        raise top.error("workload", "is required")
    workload = parse_embedded_workload(file, "workload", top.raw("workload"), name, duration)
    broker = _broker(top)
    brokers = top.integer("brokers", 1, minimum=1, maximum=MAX_BROKERS)
    check_cluster_setup(top, brokers, top.raw("broker") or {}, workload)
    timeline = _timeline(top, duration, workload, broker, brokers)
    ids = (START, *(s.id for s in timeline))
    endless = {START} | {
        s.id for s in timeline if s.for_seconds is None and s.kind not in SELF_ENDING_FAULTS
    }
    expect = top.mapping("expect", _EXPECT) if top.has("expect") else None
    scenario = Scenario(
        name=name,
        description=top.text("description", ""),
        time_scale=time_scale,
        duration_seconds=duration,
        broker=broker,
        workload=workload,
        slo_files=tuple(base / p for p in _paths(top, "slos")),
        alerts=_alerts(top, base),
        probes=top.flag("probes", False),
        timeline=timeline,
        settle_seconds=top.duration("settle", 0.0, allow_zero=True),
        steady_wait_seconds=top.duration("steady_wait", 15.0, allow_zero=True),
        source=file,
        brokers=brokers,
    )
    if expect is None:
        return scenario
    recovery = _recovery(expect)
    settle = scenario.settle_seconds
    if not top.has("settle") and recovery.alerts_resolved_within is not None:
        settle = recovery.alerts_resolved_within
    return replace(
        scenario,
        settle_seconds=settle,
        expect_alerts=tuple(
            _alert_expectation(expect, p, v, ids, endless) for p, v in _items(expect, "alerts")
        ),
        expect_silent=tuple(_silent(expect)),
        expect_no_page=expect.flag("no_page", False),
        expect_slos=tuple(
            _slo_expectation(Fields(file, p, v, _SLO)) for p, v in _items(expect, "slos")
        ),
        expect_data_loss=parse_counts(expect, "data_loss", LOSS_FIELDS),
        expect_probes=parse_counts(expect, "probes", PROBE_FIELDS),
        expect_audit=parse_audit(expect, workload),
        expect_client_errors=parse_client_errors(expect),
        expect_replication=parse_replication(expect, brokers),
        recovery=recovery,
    )


# --- sections --------------------------------------------------------------------------
def _broker(top: Fields) -> BrokerSpec:
    if not top.has("broker"):
        return BrokerSpec()
    b = top.mapping("broker", _BROKER)
    policy = b.raw("flush_policy") or "interval"
    if policy not in ("interval", "durable"):
        raise b.error("flush_policy", f'"{policy}" is not allowed; allowed: interval, durable')
    tmpfs = None
    if b.has("tmpfs"):
        raw = b.raw("tmpfs")
        match = _SIZE.match(str(raw)) if not isinstance(raw, bool) else None
        if match is None:
            raise b.error("tmpfs", f"{raw!r} is not a size like 64MiB (units: B, KiB, MiB, GiB)")
        tmpfs = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
        if tmpfs < 1 << 20:
            raise b.error("tmpfs", "must be at least 1MiB")
    config = b.raw("config") or {}
    if not isinstance(config, Mapping):
        raise b.error("config", "must be a mapping of broker config keys (see broker/config.py)")
    flush: Literal["interval", "durable"] = "durable" if policy == "durable" else "interval"
    return BrokerSpec(flush, b.flag("proxy", False), tmpfs, dict(config))


def _alerts(top: Fields, base: Path) -> AlertsSpec:
    if not top.has("alerts"):
        return AlertsSpec()
    a = top.mapping("alerts", _ALERTS)
    evaluator = a.raw("evaluator") or "auto"
    if evaluator not in EVALUATORS:
        allowed = ", ".join(EVALUATORS)
        raise a.error("evaluator", f'"{evaluator}" is not allowed; allowed: {allowed}')
    exclude = tuple(_strings(a, "exclude"))
    return AlertsSpec(
        evaluator,
        tuple(base / p for p in _paths(a, "rules")),
        exclude,
        a.flag("pack", True),
        _thresholds(a),
    )


def _thresholds(a: Fields) -> dict[str, Any]:
    """Overrides of the alert pack's thresholds, checked against AlertThresholds."""
    if not a.has("thresholds"):
        return {}
    t = a.mapping("thresholds", frozenset(f.name for f in fields(AlertThresholds)))
    defaults = AlertThresholds()
    out: dict[str, Any] = {}
    for name in t.data:
        if isinstance(getattr(defaults, name), str):
            out[name] = format_duration(t.whole_seconds(name))
        else:
            out[name] = t.number(name)
    return out


def _timeline(
    top: Fields, duration: float, workload: Workload, broker: BrokerSpec, brokers: int
) -> tuple[FaultStep, ...]:
    steps: list[FaultStep] = []
    groups = {g.group for g in workload.groups}
    for index, (path, item) in enumerate(_items(top, "timeline")):
        raw = item if isinstance(item, Mapping) else {}
        kind = raw.get("fault")
        if kind not in FAULT_KINDS:
            allowed = ", ".join(sorted(FAULT_KINDS))
            raise ConfigError(
                top.file, f"{path}.fault", f'"{kind}" is not allowed; allowed: {allowed}'
            )
        params = FAULT_KINDS[str(kind)]
        f = Fields(top.file, path, item, _STEP_COMMON | frozenset(params))
        at = f.duration("at", allow_zero=True)
        length = f.duration("for") if f.has("for") else None
        if at + (length or 0) > duration:
            raise f.error("for" if length else "at", f"ends after the scenario ({duration:g} s)")
        values: dict[str, Any] = {}
        for name, required in params.items():
            if not f.has(name):
                if required:
                    raise f.error(name, f"is required for {kind}")
                continue
            values[name] = _param(f, name)
        if "group" in values and values["group"] not in groups:
            known = ", ".join(sorted(groups)) or "none"
            raise f.error(
                "group", f'no consumer group "{values["group"]}" in the workload ({known})'
            )
        if kind == "network-drop" and values.get("mode", "reset") not in ("reset", "blackhole"):
            raise f.error("mode", f'"{values["mode"]}" is not allowed; allowed: reset, blackhole')
        if kind in NEEDS_PROXY and not broker.proxy:
            raise f.error("fault", f"{kind} needs broker.proxy: true")
        if kind in NEEDS_TMPFS and broker.tmpfs_bytes is None:
            raise f.error("fault", f"{kind} needs broker.tmpfs (a small data directory)")
        check_cluster_fault(f, str(kind), values, brokers, workload)
        step_id = f.text("id") if f.has("id") else f"{kind}-{index}"
        if step_id in (START, *(s.id for s in steps)):
            raise f.error("id", f'"{step_id}" is used twice')
        steps.append(FaultStep(step_id, str(kind), at, length, values))
    return tuple(steps)


def _param(f: Fields, name: str) -> Any:
    if name in ("group", "mode"):
        return f.text(name)
    if name == "partition":
        return f.integer(name, minimum=0)
    if name == "target":
        raw = f.raw(name)
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else f.text(name)
    return f.number(name)


def _alert_expectation(
    expect: Fields, path: str, item: object, ids: tuple[str, ...], endless: set[str]
) -> AlertExpectation:
    f = Fields(expect.file, path, item, _ALERT)
    after = f.text("after", START)
    if after not in ids:
        raise f.error("after", f'"{after}" is not an event id; allowed: {", ".join(ids)}')
    fires = f.duration("fires_within") if f.has("fires_within") else None
    resolves = f.duration("resolves_within") if f.has("resolves_within") else None
    if fires is None and resolves is None:
        raise f.error("fires_within", "give fires_within, resolves_within or both")
    if resolves is not None and after in endless:
        raise f.error(
            "resolves_within", f"{after} lasts until the end: give it a 'for' to resolve after"
        )
    return AlertExpectation(f.text("alert"), f.labels("labels"), after, fires, resolves)


def _silent(expect: Fields) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Each item an alert name, or ``{alert: NAME, labels: {...}}`` (e.g. only its page)."""
    out = []
    for path, item in _items(expect, "silent"):
        if isinstance(item, Mapping):
            f = Fields(expect.file, path, item, _SILENT)
            out.append((f.text("alert"), f.labels("labels")))
        elif isinstance(item, str) and item:
            out.append((item, ()))
        else:
            raise ConfigError(expect.file, path, "must be an alert name or {alert, labels}")
    return out


def _slo_expectation(f: Fields) -> SLOExpectation:
    if not f.has("burns"):
        raise f.error("burns", "is required (true or false)")
    return SLOExpectation(f.text("slo"), f.flag("burns", True))


def _recovery(expect: Fields) -> Recovery:
    if not expect.has("recovery"):
        return Recovery()
    r = expect.mapping("recovery", _RECOVERY)
    lag = r.duration("lag_zero_within") if r.has("lag_zero_within") else None
    tolerance = r.duration("lag_tolerance", 2.0)
    alerts = r.duration("alerts_resolved_within") if r.has("alerts_resolved_within") else None
    return Recovery(lag, tolerance, alerts)


# --- helpers ---------------------------------------------------------------------------
def _items(f: Fields, key: str) -> list[tuple[str, Any]]:
    return list(f.items(key, required=False)) if f.has(key) else []


def _strings(f: Fields, key: str) -> list[str]:
    out = []
    for path, item in _items(f, key):
        if not isinstance(item, str) or not item:
            raise ConfigError(f.file, path, "must be a non-empty string")
        out.append(item)
    return out


def _paths(f: Fields, key: str) -> list[str]:
    return _strings(f, key)
