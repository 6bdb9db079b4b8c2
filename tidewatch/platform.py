"""The embedded default: broker, probe, SLO engine and status page in one process.

``Platform`` starts, in order: the broker (Kafka listener and HTTP server), a probe
against the broker's own bootstrap address, and the SLO engine evaluating the built-in
SLOs from the process's own metrics. Everything shares one Prometheus registry, so the
broker's ``/metrics`` carries broker, probe and SLO series, and the status page (``/``)
shows all of them. ``stop`` undoes everything, in reverse order, whatever failed.

With ``brokers`` > 1 the broker is a cluster of that many broker processes instead
(``tidewatch.local_cluster``): the probe and Kafka clients bootstrap from all of them,
the SLO engine reads every broker's ``/metrics`` besides the platform's own, and the
status page gains a cluster section (brokers, controller, replica sets).

Optionally (``with_prometheus``) it also runs Prometheus and Alertmanager, when they
are installed, on loopback with the generated rules (see ``tidewatch.monitoring``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from alerts.platform_slos import PLATFORM_SLO_PATH
from broker.config import BrokerConfig
from contracts.fields import HostPort
from contracts.ready_file import UpReady
from slo.exposition import EngineCollector
from slo.model import SLO
from slo.report import status_rows
from slo.service import SLOService
from slo.sources.local import LocalSource
from slo.spec import load_files
from synthetics.config import ProbeConfig, TargetConfig
from synthetics.connection import ConnectionConfig
from synthetics.service import ProbeService
from tidewatch.brokers import Brokers, EmbeddedBroker
from tidewatch.local_cluster import MAX_BROKERS, LocalCluster
from tidewatch.monitoring import MonitoringStack
from tidewatch.status_page import add_status_routes

__all__ = ["BUILTIN_SLOS", "Platform", "PlatformConfig"]

log = logging.getLogger(__name__)

# The built-in SLOs: the broker's and the probe's (alerts.platform_slos keeps one set).
BUILTIN_SLOS = PLATFORM_SLO_PATH
HISTORY_POINTS = 2160  # six hours at the default 10 s step
DEFAULT_LISTEN = HostPort("127.0.0.1", 9092)
DEFAULT_HTTP = HostPort("127.0.0.1", 9464)
DEFAULT_PROMETHEUS = HostPort("127.0.0.1", 9090)
DEFAULT_ALERTMANAGER = HostPort("127.0.0.1", 9093)


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    data_dir: Path = Path("tidewatch-data")
    listen: HostPort = DEFAULT_LISTEN
    http: HostPort = DEFAULT_HTTP
    probe_interval_seconds: float = 1.0
    slo_step_seconds: int = 10
    slo_specs: tuple[Path, ...] = (BUILTIN_SLOS,)
    with_prometheus: bool = False
    prometheus: HostPort = DEFAULT_PROMETHEUS
    alertmanager: HostPort = DEFAULT_ALERTMANAGER
    cluster: str = "local"
    brokers: int = 1  # > 1: a cluster of broker processes (their own ports, not ``listen``)


class Platform:
    def __init__(self, config: PlatformConfig) -> None:
        if not 1 <= config.brokers <= MAX_BROKERS:
            raise ValueError(f"brokers must be 1 to {MAX_BROKERS}, not {config.brokers}")
        self.config = config
        self.registry = CollectorRegistry(auto_describe=False)
        self.brokers = self._brokers(config)
        self.slos: list[SLO] = load_files([str(p) for p in config.slo_specs])
        self.slo: SLOService | None = None
        self.probe: ProbeService | None = None
        self.monitoring: MonitoringStack | None = None
        self.history: dict[str, deque[tuple[float, float, float | None]]] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _brokers(self, config: PlatformConfig) -> Brokers:
        def routes(app: web.Application) -> None:
            add_status_routes(app, self.snapshot)

        if config.brokers == 1:
            broker = BrokerConfig(
                data_dir=config.data_dir,
                listen=config.listen,
                http=config.http,
                cluster=config.cluster,
            )
            return EmbeddedBroker(broker, self.registry, routes)
        return LocalCluster(
            config.brokers,
            config.data_dir,
            http=config.http,
            cluster=config.cluster,
            registry=self.registry,
            routes=routes,
        )

    @property
    def http_url(self) -> str:
        return f"http://{self.brokers.http_address}"

    @property
    def bootstrap(self) -> str:
        return self.brokers.bootstrap

    def ready_info(self) -> UpReady:
        """What ``tidewatch up --ready-file`` publishes; only after ``start``."""
        urls = self.monitoring.urls() if self.monitoring is not None else {}
        return UpReady(
            self.brokers.ready_info(),
            status_page_url=f"{self.http_url}/",
            prometheus_url=urls.get("prometheus"),
            alertmanager_url=urls.get("alertmanager"),
            brokers=self.brokers.broker_ready_infos(),
        )

    async def start(self) -> None:
        await self.brokers.start()
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise

    async def _start_parts(self) -> None:
        bootstrap = tuple(self.bootstrap.split(","))
        self.probe = ProbeService(
            ProbeConfig(
                targets=(
                    TargetConfig(
                        "local",
                        ConnectionConfig(bootstrap, client_id="tidewatch-up-probe"),
                        cluster=self.config.cluster,
                        interval_seconds=self.config.probe_interval_seconds,
                    ),
                ),
                http=None,
            ),
            registry=self.registry,
        )
        self._tasks.append(asyncio.create_task(self.probe.run(self._stop), name="probe"))
        self.slo = SLOService(
            self.slos,
            LocalSource([f"{self.http_url}/metrics", *self.brokers.broker_metrics_urls]),
            step_seconds=self.config.slo_step_seconds,
            state_path=self.config.data_dir / ".slo-state.npz",
        )
        self.registry.register(EngineCollector(self.slo.snapshot))
        self._tasks.append(asyncio.create_task(self._evaluate(), name="slo"))
        if self.config.with_prometheus:
            broker_targets, platform_targets = self._scrape_targets()
            self.monitoring = MonitoringStack(
                self.config.data_dir / "monitoring",
                broker_targets=broker_targets,
                platform_targets=platform_targets,
                prometheus=self.config.prometheus,
                alertmanager=self.config.alertmanager,
                cluster=self.config.cluster,
            )
            await self.monitoring.start()

    def _scrape_targets(self) -> tuple[tuple[HostPort, ...], tuple[HostPort, ...]]:
        """What Prometheus scrapes, as (broker targets, platform targets): the
        platform's endpoint as the broker's when the broker runs in-process; otherwise
        every broker, and the platform apart."""
        if isinstance(self.brokers, LocalCluster):
            return self.brokers.broker_http_addresses, (self.brokers.http_address,)
        return (self.brokers.http_address,), ()

    async def _evaluate(self) -> None:
        """The SLO engine's loop, recording a short history for the status page."""
        assert self.slo is not None
        step = self.config.slo_step_seconds
        while not self._stop.is_set():
            t = int(time.time() // step * step)
            try:
                evaluation = await self.slo.tick(t)
            except Exception:
                log.exception("SLO evaluation failed; retrying next step")
                evaluation = None
            if evaluation is not None:
                self._record_history(t)
            delay = t + step - time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=max(delay, 0.05))

    def _record_history(self, t: int) -> None:
        assert self.slo is not None
        if self.slo.last is None:
            return
        for row in status_rows(self.slos, self.slo.last):
            burn = row["burn_rate"].get("1h")
            series = self.history.setdefault(row["id"], deque(maxlen=HISTORY_POINTS))
            series.append((t, row["error_budget_remaining_ratio"], burn))

    # -- the status page feed ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        data = self.brokers.status()
        rows: list[dict[str, Any]] = []
        if self.slo is not None and self.slo.last is not None:
            rows = status_rows(self.slos, self.slo.last)
        data["slos"] = rows
        data["slo_history"] = {key: list(points) for key, points in self.history.items()}
        data["probes"] = {"targets": self._probe_rows()}
        data["alerts"] = _alerts(rows, data["probes"]["targets"], data["groups"])
        if "cluster" in data:
            data["alerts"] += _cluster_alerts(data["cluster"])
        if self.monitoring is not None:
            data["monitoring"] = self.monitoring.urls()
        return data

    def _probe_rows(self) -> list[dict[str, Any]]:
        if self.probe is None:
            return []
        families = {
            m.name: m for m in self.registry.collect() if m.name.startswith("tidewatch_probe_")
        }
        rows = []
        for status in self.probe.status()["targets"]:
            totals = status["totals"]
            attempts = totals.get("produce_attempts", 0)
            target = status["target"]
            rows.append(
                {
                    "name": target,
                    "healthy": status["state"] == "ok",
                    "state": status["state"],
                    "produce_availability_ratio": (
                        totals.get("produce_successes", 0) / attempts if attempts else None
                    ),
                    "ack_p99_seconds": _quantile(
                        families.get("tidewatch_probe_ack_latency_seconds"), target, 0.99
                    ),
                    "end_to_end_p99_seconds": _quantile(
                        families.get("tidewatch_probe_end_to_end_latency_seconds"), target, 0.99
                    ),
                    "produced": totals.get("produced"),
                    "consumed": totals.get("consumed"),
                    "lost": totals.get("lost"),
                    "duplicated": totals.get("duplicated"),
                    "reordered": totals.get("reordered"),
                    "corrupted": totals.get("corrupted"),
                    "reason": "; ".join(status.get("reasons") or []),
                }
            )
        return rows

    # -- lifecycle -----------------------------------------------------------------------

    async def run_until_stopped(self) -> None:
        await self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=15)
        self._tasks.clear()
        if self.slo is not None:
            with contextlib.suppress(Exception):
                self.slo.save()
        if self.monitoring is not None:
            await self.monitoring.stop()
        await self.brokers.stop()


def _quantile(family: Metric | None, target: str, q: float) -> float | None:
    """Quantile of a histogram family summed over a target's series (since start)."""
    if family is None:
        return None
    buckets: dict[float, float] = {}
    for sample in family.samples:
        if not sample.name.endswith("_bucket") or sample.labels.get("target") != target:
            continue
        le = float(sample.labels["le"])
        buckets[le] = buckets.get(le, 0.0) + sample.value
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            span = count - previous_count
            fraction = (rank - previous_count) / span if span > 0 else 1.0
            return previous_bound + (bound - previous_bound) * fraction
        previous_bound, previous_count = bound, count
    return previous_bound


def _alerts(
    slos: Sequence[dict[str, Any]],
    probes: Sequence[dict[str, Any]],
    groups: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """What needs attention now, evaluated in-process (the same conditions the
    generated Prometheus rules alert on, for the page; Prometheus stays the source of
    truth for paging when it runs)."""
    alerts = []
    for row in slos:
        for severity in ("page", "ticket"):
            if row[severity]["firing"]:
                alerts.append(
                    {
                        "name": f"{row['service']}/{row['slo']} error budget burn",
                        "severity": severity,
                        "summary": f"burn rate over {row[severity]['windows']}; "
                        f"{row['error_budget_remaining_ratio'] * 100:.1f}% of the budget left",
                    }
                )
    for probe in probes:
        if probe["state"] not in ("ok", "starting"):
            alerts.append(
                {
                    "name": f"probe {probe['name']} {probe['state']}",
                    "severity": "page",
                    "summary": probe["reason"],
                }
            )
    for group in groups:
        if group["status"] in ("STOP", "STALL"):
            alerts.append(
                {
                    "name": f"consumer group {group['group']} {group['status']}",
                    "severity": "ticket",
                    "summary": group["reason"],
                }
            )
    return alerts


def _cluster_alerts(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """Brokers not alive and partitions without a leader page; under-replicated
    partitions make a ticket (``tidewatch.status_page.cluster`` builds ``cluster``)."""
    alerts = [
        {
            "name": f"broker {b['node_id']} {b['state']}",
            "severity": "page",
            "summary": "its partitions fail over to the other replicas in their ISR",
        }
        for b in cluster["brokers"]
        if b["state"] != "alive"
    ]
    for status, severity in (("offline", "page"), ("under-replicated", "ticket")):
        names = [
            f"{p['topic']}[{p['partition']}]"
            for p in cluster["partitions"]
            if p["status"] == status
        ]
        if names:
            alerts.append(
                {
                    "name": f"{len(names)} {status} partition{'s' if len(names) > 1 else ''}",
                    "severity": severity,
                    "summary": ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""),
                }
            )
    return alerts
