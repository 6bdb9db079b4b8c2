"""A game day's cluster: several brokers, the proxies its faults need, its state, its faults.

:class:`GameDayCluster` starts a :class:`~contracts.broker_cluster.BrokerCluster` of
``scenario.brokers`` brokers (every one a controller voter) with the game day's broker
configuration. When the scenario isolates a leader, a fault proxy sits on every
directed quorum link and in front of every broker's Kafka listener (the address each
broker advertises, so followers fetch and clients connect through it): a
:class:`~loadtest.faults.cluster.LeaderIsolation` cuts the first and the replica
fetches on the second. Otherwise brokers talk directly.

``state()`` is the freshest ``/status/cluster`` view among the live brokers (see
:mod:`loadtest.gameday.cluster_state`), which faults resolve their targets from and the
runner records at every poll. Not thread-safe beyond what the faults need: ``state()``
may be called from the failover watch's and the rolling restart's threads (it only
reads over HTTP).
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from contracts.broker_cluster import BrokerCluster
from contracts.launcher import free_port
from loadtest.faults.cluster import LeaderIsolation, RollingRestart, TargetedFault
from loadtest.faults.faults import BrokerKill, BrokerPause, Fault
from loadtest.faults.proxy import ThreadedFaultProxy
from loadtest.gameday.cluster_state import ClusterState, freshest, resolve_target
from loadtest.gameday.failover import FailoverMeasurement, FailoverWatch
from loadtest.gameday.scenario import FaultStep, Scenario

__all__ = ["CLUSTER_ID", "GameDayCluster"]

CLUSTER_ID: Final = "tidewatch-gameday"
_STATUS_TIMEOUT_SECONDS: Final = 1.0


class GameDayCluster:
    def __init__(self, scenario: Scenario, base_dir: Path, config: dict[str, Any]) -> None:
        self.scenario = scenario
        self.topic = scenario.workload.topic.name
        self.isolating = any(s.kind == "leader-isolate" for s in scenario.timeline)
        self.quorum_proxies: dict[tuple[int, int], ThreadedFaultProxy] = {}
        self.kafka_proxies: dict[int, ThreadedFaultProxy] = {}
        self.cluster = BrokerCluster(
            scenario.brokers,
            base_dir,
            config,
            cluster_id=CLUSTER_ID,
            quorum_route=self._route if self.isolating else None,
        )

    def _route(self, source: int, target: int, address: str) -> str:
        host, _, port = address.rpartition(":")
        proxy = ThreadedFaultProxy((host, int(port))).start()
        self.quorum_proxies[(source, target)] = proxy
        return proxy.address

    # --- lifecycle ----------------------------------------------------------------------
    def start(self, stack: contextlib.ExitStack) -> GameDayCluster:
        """Start the proxies and the brokers; both are stopped through ``stack``."""
        stack.callback(self._close_proxies)  # the proxies outlive the brokers
        if self.isolating:
            for node, broker in self.cluster.brokers.items():
                broker.listen_port = free_port()
                proxy = ThreadedFaultProxy(("127.0.0.1", broker.listen_port)).start()
                self.kafka_proxies[node] = proxy
                broker.advertised = proxy.address
        stack.callback(self.cluster.stop)
        self.cluster.start()
        return self

    def _close_proxies(self) -> None:
        for proxy in [*self.quorum_proxies.values(), *self.kafka_proxies.values()]:
            proxy.close()

    # --- where things are ---------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def http_addresses(self) -> list[str]:
        return [b.http_url.removeprefix("http://") for b in self.cluster.brokers.values()]

    def live_http_urls(self) -> list[str]:
        return [b.http_url for b in self.cluster.live()]

    def state(self) -> ClusterState | None:
        """The freshest view among the live brokers (None when none answers)."""
        views = []
        for url in self.live_http_urls():
            try:
                with urllib.request.urlopen(
                    f"{url}/status/cluster", timeout=_STATUS_TIMEOUT_SECONDS
                ) as response:
                    views.append(ClusterState.from_json(json.loads(response.read())))
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                continue
        return freshest(views)

    def _state_now(self) -> ClusterState:
        state = self.state()
        if state is None:
            raise RuntimeError("no broker of the cluster answers /status/cluster")
        return state

    # --- faults -------------------------------------------------------------------------
    def fault(self, step: FaultStep) -> Fault:
        """The fault of ``step``, its target resolved when it is injected."""
        target = str(step.params.get("target", ""))
        partition = step.params.get("partition")

        def resolve() -> int:
            return resolve_target(target, partition, self._state_now(), self.topic)

        brokers = self.cluster.brokers
        if step.kind == "broker-kill":
            return TargetedFault(step.kind, resolve, lambda n: BrokerKill(brokers[n]))
        if step.kind == "broker-pause":
            return TargetedFault(step.kind, resolve, lambda n: BrokerPause(brokers[n]))
        if step.kind == "leader-isolate":
            return LeaderIsolation(resolve, self.quorum_proxies, self.kafka_proxies)
        if step.kind == "rolling-restart":

            def start(node: int) -> None:
                brokers[node].start()

            return RollingRestart(
                sorted(brokers),
                stop=lambda n: brokers[n].stop(),
                start=start,
                in_every_isr=lambda n: self._state_now().in_every_isr(n),
            )
        raise ValueError(f"{step.kind} is not a cluster fault")

    def watch_failover(
        self, step_id: str, fault: Fault, before: ClusterState | None, started: float
    ) -> FailoverWatch | None:
        """After a leader was killed or cut off at ``started`` (``time.perf_counter()``):
        measure its failover (None when the victim led no partition of the topic, or the
        fault has no victim)."""
        victim = getattr(fault, "victim", None)
        if not isinstance(victim, int) or before is None:
            return None
        partitions = tuple(before.led_by(victim, self.topic))
        if not partitions:
            return None
        ports = {n: b.listen_address.port for n, b in self.cluster.brokers.items() if n != victim}
        measurement = FailoverMeasurement(step_id, victim, partitions)
        return FailoverWatch(measurement, self.topic, started, self.state, ports).start()
