"""Runs a game day: set up, steady load, faults on the timeline, observe, judge.

Set-up, in order (each step is undone at the end, in reverse, whatever happened):

1. a tmpfs for the data directory when the scenario asks for one (skipped with the
   reason when mounting is not permitted);
2. the loopback TCP proxy when network faults need it;
3. the broker (:class:`~contracts.launcher.BrokerProcess`) with game-day defaults
   (retention checks every 500 ms, lag status over 5 commits with its STOP delay
   compressed), advertising the proxy's address when there is one;
4. the load generator's workers and an HTTP endpoint exposing its metrics
   (:mod:`loadtest.metrics`), while the alert source starts (a real Prometheus with the
   compressed rules, or the in-process evaluator);
5. the load starts; the main loop injects and undoes faults on time through a
   :class:`~loadtest.faults.faults.FaultStack`, and every ``poll_seconds`` records which
   alerts fire, the SLO readings and every group's lag (``/status/groups``).

When the schedule ends, faults still active are undone, the consumers drain, the data
is accounted for and the expectations are judged (:mod:`loadtest.gameday.expectations`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from contracts.launcher import BrokerProcess
from contracts.scrape import BROKER_JOB, PROBE_JOB
from loadtest.collector import Collector, IntervalPoint
from loadtest.faults.cluster import RollingRestart
from loadtest.faults.faults import (
    BrokerKill,
    BrokerPause,
    ConsumerSlow,
    ConsumerStop,
    DiskFill,
    Fault,
    FaultStack,
    FaultUnavailable,
    ProxyDrop,
    ProxyLatency,
    RetentionShrink,
    Tmpfs,
)
from loadtest.faults.proxy import ThreadedFaultProxy
from loadtest.gameday.alerting import AlertSource, Targets
from loadtest.gameday.cluster import GameDayCluster
from loadtest.gameday.cluster_judge import ClusterHistory, judge_cluster, still_recovering
from loadtest.gameday.expectations import Outcome, judge
from loadtest.gameday.failover import FailoverMeasurement, FailoverWatch
from loadtest.gameday.observations import AlertHistory, GroupLag, LagHistory, SLOHistory
from loadtest.gameday.probe import ProbeProcess, probe_counts
from loadtest.gameday.probe import unavailable as probe_unavailable
from loadtest.gameday.rules import LOAD_JOB, build_rules, thresholds_with
from loadtest.gameday.scenario import START, FaultStep, Scenario
from loadtest.gameday.setup import (
    broker_config,
    cluster_config,
    in_parallel,
    make_source,
    read_rules,
)
from loadtest.generator import LoadGenerator, LoadResult
from loadtest.metrics import LoadMetricsCollector
from slo.conventions import LABEL_SEVERITY, SEVERITY_TICKET
from slo.model import SLO
from slo.spec import load_files

_FAILOVER_FAULTS = frozenset({"broker-kill", "leader-isolate"})
_CLUSTER_FAULTS = frozenset({"broker-kill", "broker-pause", "leader-isolate", "rolling-restart"})
_WATCH_JOIN_SECONDS = 60.0

__all__ = ["GameDay", "GameDayResult", "broker_config"]

log = logging.getLogger(__name__)


@dataclass
class GameDayResult:
    scenario: Scenario
    evaluator: str
    workdir: Path
    started_at: float = 0.0
    events: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    alerts: AlertHistory = field(default_factory=AlertHistory)
    slos: SLOHistory = field(default_factory=SLOHistory)
    lag: LagHistory = field(default_factory=LagHistory)
    final_lag: dict[str, int | None] = field(default_factory=dict)
    load: LoadResult | None = None
    skipped: str | None = None
    errors: list[str] = field(default_factory=list)
    probe_counts: dict[str, int] | None = None
    probe_unavailable: str | None = None
    known_alerts: set[str] | None = None
    observed_seconds: float = 0.0
    # Steps held back for steady state: step id -> (seconds late, alerts that fired).
    delays: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    # On a cluster: its state poll by poll, failovers measured, rolling restarts' turns.
    cluster: ClusterHistory = field(default_factory=ClusterHistory)
    failovers: list[FailoverMeasurement] = field(default_factory=list)
    restarts: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    victims: dict[str, int] = field(default_factory=dict)  # step id -> node it hit

    @property
    def passed(self) -> bool:
        return (
            self.skipped is None
            and not self.errors
            and all(o.met is not False for o in self.outcomes)
        )


class GameDay:
    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        poll_seconds: float = 0.5,
        on_poll: Callable[[float, GameDayResult], None] | None = None,
        source_factory: Callable[[Scenario, Path, dict[str, Any], Targets, list[SLO]], AlertSource]
        | None = None,
        on_point: Callable[[IntervalPoint, Collector], None] | None = None,
    ) -> None:
        self.on_point = on_point
        self.scenario = scenario
        self.workdir = workdir
        self.poll_seconds = poll_seconds
        self.on_poll = on_poll
        self.source_factory = source_factory or make_source
        self.result = GameDayResult(scenario, scenario.alerts.evaluator, workdir)
        self._broker: BrokerProcess | None = None
        self._cluster: GameDayCluster | None = None
        self._bootstrap = ""
        self._watches: list[FailoverWatch] = []
        self._undoing: list[threading.Thread] = []
        self._proxy: ThreadedFaultProxy | None = None
        self._generator: LoadGenerator | None = None
        self._active: dict[str, Fault] = {}
        self._timeline_delay = 0.0  # seconds the timeline waited for steady state
        # The step now waiting for steady state, and the alerts it waits on.
        self._held: tuple[str, tuple[str, ...]] | None = None

    # --- the run -----------------------------------------------------------------------
    def run(self) -> GameDayResult:
        s = self.scenario
        self.workdir.mkdir(parents=True, exist_ok=True)
        data_dir = self.workdir / "broker-data"
        slos = load_files([str(p) for p in s.slo_files]) if s.slo_files else []
        faults = FaultStack()
        try:
            with contextlib.ExitStack() as stack:
                if s.broker.tmpfs_bytes is not None:
                    tmpfs = Tmpfs(data_dir, s.broker.tmpfs_bytes)
                    try:
                        tmpfs.mount()
                    except FaultUnavailable as exc:
                        self.result.skipped = str(exc)
                        return self.result
                    stack.callback(tmpfs.unmount)
                addresses = self._start_brokers(stack, data_dir)
                generator = LoadGenerator(
                    s.workload,
                    self._bootstrap,
                    on_point=self.on_point,
                    audit_log=s.brokers > 1 or bool(s.expect_audit),
                )
                self._generator = generator
                stack.callback(generator.close)
                exporter = self._start_exporter(stack, generator)
                jobs = {BROKER_JOB: addresses, LOAD_JOB: [exporter]}
                probe = self._start_probe(stack) if s.probes else None
                if probe is not None:
                    jobs[PROBE_JOB] = [probe.address]
                targets = Targets(jobs)
                rules = build_rules(
                    slos,
                    s.time_scale,
                    thresholds_with(s.alerts.thresholds),
                    pack=s.alerts.pack,
                    extra=[read_rules(p) for p in s.alerts.rules],
                    exclude=s.alerts.exclude,
                    probes=probe is not None,
                )
                source = self.source_factory(s, self.workdir, rules, targets, slos)
                self.result.evaluator = source.name
                self.result.known_alerts = source.known_alerts()
                stack.callback(source.close)
                in_parallel(generator.prepare, source.start)
                stack.callback(self._undo_everything, faults)  # before anything above stops
                self._observe(generator, source, faults)
                if probe is not None:
                    self._read_probe(probe)
        except Exception as exc:
            self.result.errors.append(f"{type(exc).__name__}: {exc}")
            log.exception("game day %s failed", s.name)
        finally:
            self._undo_everything(faults)
            self.result.errors.extend(faults.errors)
        if self.result.skipped is None:
            self._judge()
        return self.result

    def _start_brokers(self, stack: contextlib.ExitStack, data_dir: Path) -> list[str]:
        """The broker, or the cluster; returns the brokers' HTTP addresses."""
        s = self.scenario
        if s.brokers == 1:
            broker = self._start_broker(stack, data_dir)
            self._bootstrap = broker.bootstrap
            return [broker.http_url.removeprefix("http://")]
        cluster = GameDayCluster(s, self.workdir / "cluster", cluster_config(s))
        self._cluster = cluster.start(stack)
        self._bootstrap = cluster.bootstrap
        return cluster.http_addresses

    def _start_broker(self, stack: contextlib.ExitStack, data_dir: Path) -> BrokerProcess:
        s = self.scenario
        advertised = None
        if s.broker.proxy:
            proxy = ThreadedFaultProxy().start()
            self._proxy = proxy
            stack.callback(proxy.close)
            advertised = proxy.address
        broker = BrokerProcess(
            data_dir,
            "--flush-policy",
            s.broker.flush_policy,
            config=broker_config(s),
            advertised=advertised,
            log_path=self.workdir / "broker.log",
        )
        self._broker = broker
        broker.start()
        stack.callback(broker.stop)
        if self._proxy is not None:
            self._proxy.set_upstream(broker.listen_address.host, broker.listen_address.port)
        return broker

    def _start_probe(self, stack: contextlib.ExitStack) -> ProbeProcess | None:
        reason = probe_unavailable()
        if reason is not None:
            self.result.probe_unavailable = reason
            return None
        probe = ProbeProcess(self.workdir / "probe", self._bootstrap)
        stack.callback(probe.stop)
        probe.start()
        return probe

    def _read_probe(self, probe: ProbeProcess) -> None:
        self.result.probe_counts = probe_counts(probe.metrics())

    def _start_exporter(self, stack: contextlib.ExitStack, generator: LoadGenerator) -> str:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LoadMetricsCollector(lambda: generator.collector, generator.lock))
        server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        stack.callback(stop)
        return f"127.0.0.1:{server.server_port}"

    def _observe(
        self,
        generator: LoadGenerator,
        source: AlertSource,
        faults: FaultStack,
    ) -> None:
        s = self.scenario
        outcome: dict[str, Any] = {}

        def load() -> None:
            try:
                outcome["result"] = generator.run()
            except Exception as exc:
                outcome["error"] = exc

        start = generator.start() / 1e9
        self.result.started_at = start
        self.result.events[START] = (0.0, None)
        thread = threading.Thread(target=load, name="tidewatch-gameday-load", daemon=True)
        thread.start()
        pending = list(s.timeline)
        next_poll = 0.0
        ended = False
        while thread.is_alive():
            now = time.time() - start
            pending = self._apply_timeline(now, pending, faults)
            if not ended and now >= s.duration_seconds:
                ended = True
                self._end_all(now, faults)
            if now >= next_poll:
                self._poll(now, source)
                next_poll = now + self.poll_seconds
            thread.join(0.05)
        now = time.time() - start
        if not ended:
            self._end_all(now, faults)
        self._poll(now, source)
        # Settle: keep watching while alerts other than slow tickets still fire, and
        # while an expected resolution or cluster recovery may still come in time.
        settle_until = now + s.settle_seconds
        while self._keep_watching(now, settle_until):
            time.sleep(self.poll_seconds)
            now = time.time() - start
            self._poll(now, source)
        self.result.observed_seconds = now
        self.result.final_lag = {
            g: (lag.records if lag is not None else None) for g, lag in self._group_lag().items()
        }
        self._finish_cluster_watches()
        if "error" in outcome:
            raise outcome["error"]
        self.result.load = outcome.get("result")

    def _apply_timeline(
        self, now: float, pending: list[FaultStep], faults: FaultStack
    ) -> list[FaultStep]:
        for step in sorted(pending, key=lambda p: p.at_seconds):
            due = step.at_seconds + self._timeline_delay
            if due > now:
                break
            noisy = self._already_firing(step, now)
            if noisy and now - step.at_seconds < self.scenario.steady_wait_seconds:
                # Hold this step and every later one: the timeline clock waits.
                self._held = (step.id, noisy)
                break
            if self._held is not None and self._held[0] == step.id:
                self._timeline_delay = now - step.at_seconds
                noisy = tuple(sorted({*noisy, *self._held[1]}))
                self._held = None
            self._inject(step, now, noisy, faults)
            pending.remove(step)
        for step_id, fault in list(self._active.items()):
            step = next(x for x in self.scenario.timeline if x.id == step_id)
            began, _ = self.result.events[step_id]
            timed_out = step.for_seconds is not None and now >= began + step.for_seconds
            if timed_out or (isinstance(fault, RollingRestart) and fault.done):
                self._undo(step_id, fault, faults, now)
        return pending

    def _inject(
        self, step: FaultStep, now: float, noisy: tuple[str, ...], faults: FaultStack
    ) -> None:
        late = now - step.at_seconds
        if self._timeline_delay > 0 and late > 0:
            self.result.delays[step.id] = (late, noisy)
        fault = self._fault(step)
        self.result.events[step.id] = (now, None)
        watch_failover = self._cluster is not None and step.kind in _FAILOVER_FAULTS
        before = self._cluster.state() if self._cluster is not None and watch_failover else None
        started = time.perf_counter()
        try:
            faults.inject(fault)
        except (FaultUnavailable, RuntimeError) as exc:  # RuntimeError: no target now
            self.result.errors.append(f"{step.id}: {exc}")
        self._active[step.id] = fault
        victim = getattr(fault, "victim", None)
        if isinstance(victim, int):
            self.result.victims[step.id] = victim
        if self._cluster is not None and watch_failover and fault.active:
            watch = self._cluster.watch_failover(step.id, fault, before, started)
            if watch is not None:
                self._watches.append(watch)

    def _already_firing(self, step: FaultStep, now: float) -> tuple[str, ...]:
        """Alerts this step is expected to set off that fire already (at the last poll)."""
        history = self.result.alerts
        return tuple(
            sorted(
                {
                    e.alert
                    for e in self.scenario.expect_alerts
                    if e.after == step.id
                    and e.fires_within is not None
                    and history.firing_at(e.alert, e.labels, now)
                }
            )
        )

    def _undo(self, step_id: str, fault: Fault, faults: FaultStack, now: float) -> None:
        """Undo, and date the end when the undo is complete (a killed broker is serving
        again): recovery expectations count from there. On a cluster the undo runs in a
        thread, so polling goes on while a broker restarts (the end stays open until
        it is done; :meth:`_end_all` waits for every undo)."""
        del self._active[step_id]
        began, _ = self.result.events[step_id]
        undo_started = time.monotonic()

        def finish() -> None:
            faults.undo(fault)
            self.result.events[step_id] = (began, now + time.monotonic() - undo_started)
            if isinstance(fault, RollingRestart):
                self.result.restarts[step_id] = [t.as_dict() for t in fault.progress.turns]
                if fault.progress.error is not None:
                    self.result.errors.append(f"{step_id}: {fault.progress.error}")

        if self._cluster is None:
            finish()
            return
        thread = threading.Thread(target=finish, name=f"undo-{step_id}", daemon=True)
        thread.start()
        self._undoing.append(thread)

    def _undo_everything(self, faults: FaultStack) -> None:
        for thread in self._undoing:  # an undo in flight finishes before the rest
            thread.join()
        faults.undo_all()

    def _end_all(self, now: float, faults: FaultStack) -> None:
        for step_id, fault in list(self._active.items()):
            self._undo(step_id, fault, faults, now)
        for thread in self._undoing:
            thread.join()

    def _fault(self, step: FaultStep) -> Fault:
        p = step.params
        if self._cluster is not None and step.kind in _CLUSTER_FAULTS:
            return self._cluster.fault(step)
        broker, proxy, generator = self._broker, self._proxy, self._generator
        assert generator is not None
        makers: dict[str, Callable[[], Fault]] = {
            "broker-kill": lambda: BrokerKill(_need_broker(broker)),
            "broker-pause": lambda: BrokerPause(_need_broker(broker)),
            "consumer-stop": lambda: ConsumerStop(generator, str(p["group"])),
            "consumer-slow": lambda: ConsumerSlow(
                generator, str(p["group"]), float(p["processing_ms"])
            ),
            "network-latency": lambda: ProxyLatency(
                _need(proxy), float(p["latency_ms"]), float(p.get("jitter_ms", 0.0))
            ),
            "network-drop": lambda: ProxyDrop(_need(proxy), p.get("mode", "reset")),
            "disk-full": lambda: DiskFill(
                _need_broker(broker).data_dir, int(p.get("leave_bytes", 0))
            ),
            "retention-shrink": lambda: RetentionShrink(
                self._bootstrap,
                self.scenario.workload.topic.name,
                int(p["retention_ms"]),
                int(p["segment_ms"]) if "segment_ms" in p else None,
            ),
        }
        return makers[step.kind]()

    def _poll(self, now: float, source: AlertSource) -> None:
        r = self.result
        try:
            r.alerts.observe(now, source.firing())
            r.slos.observe(now, source.slo_readings())
        except Exception as exc:  # a missed poll is a gap, not a failure
            log.debug("poll at %.1f s: %s", now, exc)
        r.lag.observe(now, self._group_lag())
        if self._cluster is not None:
            topic = self.scenario.workload.topic
            r.cluster.observe(now, self._cluster.state(), topic.name, topic.min_insync_replicas)
        if self.on_poll is not None:
            self.on_poll(now, r)

    def _keep_watching(self, now: float, settle_until: float) -> bool:
        if now < settle_until and self._still_firing():
            return True
        return self._awaiting_resolution(now) or self._cluster_recovering(now)

    def _awaiting_resolution(self, now: float) -> bool:
        """An alert expected to resolve within T of a fault's end still fires, and T has
        not passed yet (a ticket too: its expectation is explicit)."""
        history, events = self.result.alerts, self.result.events
        for e in self.scenario.expect_alerts:
            end = events.get(e.after, (0.0, None))[1]
            if e.resolves_within is None or end is None or now >= end + e.resolves_within:
                continue
            if history.firing_at(e.alert, e.labels, now):
                return True
        return False

    def _cluster_recovering(self, now: float) -> bool:
        if self._cluster is None:
            return False
        return still_recovering(self.scenario, self.result.events, self.result.cluster, now)

    def _still_firing(self) -> bool:
        history = self.result.alerts
        return any(
            spans[-1][1] is None and dict(i.labels).get(LABEL_SEVERITY) != SEVERITY_TICKET
            for i, spans in history.intervals.items()
        )

    def active_faults(self) -> list[str]:
        return sorted(self._active)

    def _status_urls(self) -> list[str]:
        if self._cluster is not None:
            return self._cluster.live_http_urls()
        return [self._broker.http_url] if self._broker is not None else []

    def _group_lag(self) -> dict[str, GroupLag | None]:
        """Each group's lag from the broker that reports it (on a cluster, the group's
        coordinator)."""
        groups = [g.group for g in self.scenario.workload.groups]
        seen: dict[str, GroupLag] = {}
        for url in self._status_urls():
            try:
                with urllib.request.urlopen(f"{url}/status/groups", timeout=1) as resp:
                    body = json.loads(resp.read())
            except (urllib.error.URLError, OSError, ValueError):
                continue
            for g in body.get("groups", []):
                lag = GroupLag(int(g["lag_records"]), float(g["max_lag_seconds"]))
                seen.setdefault(g["group"], lag)
        return {g: seen.get(g) for g in groups}

    def _finish_cluster_watches(self) -> None:
        for watch in self._watches:
            watch.join(_WATCH_JOIN_SECONDS)
            self.result.failovers.append(watch.measurement)

    def _judge(self) -> None:
        r = self.result
        accounts = r.load.accounts if r.load is not None else []
        r.outcomes = judge(
            self.scenario,
            r.events,
            r.alerts,
            r.slos,
            r.lag,
            accounts,
            probe_counts=r.probe_counts,
            end_seconds=r.observed_seconds,
            final_lag=r.final_lag,
            probe_unavailable=r.probe_unavailable,
            known_alerts=r.known_alerts,
        )
        r.outcomes += judge_cluster(
            self.scenario,
            r.events,
            r.observed_seconds,
            r.cluster,
            r.failovers,
            r.load.audits if r.load is not None else [],
            r.load.errors if r.load is not None else {},
        )


def _need(proxy: ThreadedFaultProxy | None) -> ThreadedFaultProxy:
    if proxy is None:
        raise FaultUnavailable("network faults need broker.proxy: true")
    return proxy


def _need_broker(broker: BrokerProcess | None) -> BrokerProcess:
    if broker is None:
        raise FaultUnavailable("this fault needs the single broker (brokers: 1)")
    return broker
