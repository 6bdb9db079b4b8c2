"""``BrokerCluster``: several ``tidewatch broker`` processes forming one cluster on one
host, for tests, game days and checkers.

Node ids are 1..n and every node is a controller voter unless ``voters`` names fewer
(the others follow the metadata log as observers); the quorum ports are picked
before the start (``free_port``: voters must know each other's addresses), the Kafka
and HTTP ports are 0 and kept across restarts by ``BrokerProcess``. Each broker has its
own data dir ``<base>/b<id>`` with its log, ready and config files beside it. Faults
are per node and by PID only: ``kill`` (SIGKILL), ``pause``/``resume``
(SIGSTOP/SIGCONT), ``restart``, ``kill_all``/``restart_all``. Network faults between
brokers go through proxies the caller puts on the quorum links (``quorum_route``) and
in front of Kafka listeners (a broker's ``advertised`` address: followers fetch there).

What the cluster looks like comes from the brokers' ``/status/partitions`` HTTP view
(their metadata image, and each one's own replica: role, log end, high watermark), so
callers wait on states (``wait_for``) rather than on time. This module imports no
feature package; it is not thread-safe (one owner drives it).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from contracts.launcher import (
    DEFAULT_START_TIMEOUT_SECONDS,
    DEFAULT_STOP_GRACE_SECONDS,
    BrokerProcess,
    ProcessStartError,
    free_port,
    start_all,
)

__all__ = ["BrokerCluster", "ClusterWaitTimeout", "LocalReplica", "PartitionView"]

T = TypeVar("T")
QuorumRoute = Callable[[int, int, str], str]
"""(from node, to node, the voter's quorum address) -> the address ``from`` dials."""
DEFAULT_WAIT_SECONDS = 60.0  # bounds a hang only
_POLL_SECONDS = 0.05


class ClusterWaitTimeout(AssertionError):
    """A condition the caller waited for did not come true; the message says which."""


@dataclass(frozen=True, slots=True)
class LocalReplica:
    """One broker's own replica of a partition."""

    role: str  # leader | follower | none
    log_start_offset: int
    log_end_offset: int
    high_watermark: int


@dataclass(frozen=True, slots=True)
class PartitionView:
    """A partition as one broker's metadata shows it, with that broker's replica."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    local: LocalReplica | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartitionView:
        local = data.get("local")
        return cls(
            topic=str(data["topic"]),
            partition=int(data["partition"]),
            leader=int(data["leader"]),
            leader_epoch=int(data["leader_epoch"]),
            replicas=tuple(int(r) for r in data["replicas"]),
            isr=tuple(int(r) for r in data["isr"]),
            local=None if local is None else LocalReplica(**local),
        )


class BrokerCluster:
    """See the module docstring. ``config`` is merged into every broker's config (its
    ``replication``, ``brokers`` and ``controller`` mappings key by key).

    ``quorum_route`` lets a test put something (a fault proxy) on the quorum link from
    one node to another: each node's ``controller.voters`` lists the other voters at the
    address it returns, and itself at its own listener. Called once per (from, to) pair
    of distinct nodes, here in the constructor."""

    def __init__(
        self,
        size: int,
        base_dir: Path,
        config: Mapping[str, Any] | None = None,
        *,
        cluster_id: str = "tidewatch-test-cluster",
        voters: Iterable[int] | None = None,
        quorum_route: QuorumRoute | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one broker, not {size}")
        nodes = range(1, size + 1)
        voter_ids = sorted(nodes if voters is None else set(voters))
        if not voter_ids or not set(voter_ids) <= set(nodes):
            raise ValueError(f"voters {voter_ids} must be some of the nodes 1..{size}")
        self.base_dir = base_dir
        self.cluster_id = cluster_id
        self.voters = tuple(voter_ids)
        addresses = {node: f"127.0.0.1:{free_port()}" for node in voter_ids}

        def dialled(node: int, voter: int) -> str:
            if quorum_route is None or voter == node:
                return addresses[voter]
            return quorum_route(node, voter, addresses[voter])

        def voters_seen_from(node: int) -> list[str]:
            return [f"{voter}@{dialled(node, voter)}" for voter in addresses]

        self.brokers: dict[int, BrokerProcess] = {
            node: BrokerProcess(
                base_dir / f"b{node}",
                config=self._config(node, voters_seen_from(node), config or {}),
            )
            for node in nodes
        }

    def _config(self, node: int, voters: list[str], overrides: Mapping[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {
            "node_id": node,
            "cluster_id": self.cluster_id,
            "controller": {"voters": voters},
        }
        for key, value in overrides.items():
            if isinstance(value, Mapping) and isinstance(config.get(key), Mapping):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        return config

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Start every broker side by side and wait until each serves (registered and
        unfenced)."""
        start_all(list(self.brokers.values()), timeout_seconds)
        return self

    def stop(self, grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS) -> None:
        """SIGTERM (SIGCONT first when paused) to every running broker at once, then
        wait; SIGKILL what is left after ``grace_seconds``."""
        running = [b for b in self.brokers.values() if b.running]
        for broker in running:
            broker.resume()
            if broker.proc is not None:
                broker.proc.send_signal(broker.stop_signal)
        deadline = time.monotonic() + grace_seconds
        for broker in running:
            while broker.running and time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
            broker.stop(grace_seconds=0.0)  # reaps it, or kills it at the deadline

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self, node_id: int) -> None:
        self.brokers[node_id].kill()

    def pause(self, node_id: int) -> None:
        self.brokers[node_id].pause()

    def resume(self, node_id: int) -> None:
        self.brokers[node_id].resume()

    def restart(self, node_id: int, timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS) -> None:
        """Start a stopped or killed broker again (stopping it first when running)."""
        broker = self.brokers[node_id]
        broker.stop()
        broker.start(timeout_seconds)

    def kill_all(self) -> None:
        """SIGKILL every running broker, one right after the other: every process of
        the cluster crashes (what they wrote to the OS survives, unlike a power cut)."""
        for broker in self.brokers.values():
            if broker.running:
                broker.kill()

    def restart_all(self, timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS) -> None:
        """Start every broker that is not running, side by side (none can register
        before a quorum of voters is up), and wait until each serves."""
        stopped = [b for b in self.brokers.values() if not b.running]
        start_all(stopped, timeout_seconds)

    # -- where things are ------------------------------------------------------------

    def live(self) -> list[BrokerProcess]:
        """Running brokers that are not paused."""
        return [b for b in self.brokers.values() if b.running and not b.paused]

    @property
    def bootstrap(self) -> str:
        """Every broker's Kafka address (clients skip the unreachable ones)."""
        return ",".join(b.bootstrap for b in self.brokers.values())

    def data_dir(self, node_id: int) -> Path:
        return self.brokers[node_id].data_dir

    def partitions(self, node_id: int | None = None) -> list[PartitionView]:
        """What broker ``node_id`` (default: the first live one) shows at
        /status/partitions. Raises OSError when it does not answer."""
        return [PartitionView.from_json(p) for p in self._status(node_id)["partitions"]]

    def _status(self, node_id: int | None) -> dict[str, Any]:
        broker = self.brokers[node_id] if node_id is not None else self._any_live()
        with urllib.request.urlopen(f"{broker.http_url}/status/partitions", timeout=10) as r:
            document: dict[str, Any] = json.load(r)
        return document

    def partition(self, topic: str, index: int, node_id: int | None = None) -> PartitionView:
        for view in self.partitions(node_id):
            if view.topic == topic and view.partition == index:
                return view
        raise KeyError(f"{topic}-{index} is not in the metadata of broker {node_id}")

    def controller_id(self, node_id: int | None = None) -> int:
        """The active controller as broker ``node_id`` (default: the first live one)
        knows it; -1 while it knows none."""
        controller = self._status(node_id).get("controller_id")
        return -1 if controller is None else int(controller)

    def leader_of(self, topic: str, index: int) -> int:
        """The partition's leader as a live broker's metadata shows it (-1: none)."""
        return self.partition(topic, index).leader

    def _any_live(self) -> BrokerProcess:
        live = self.live()
        if not live:
            raise ProcessStartError("no broker of the cluster is running")
        return live[0]

    # -- waiting on states -----------------------------------------------------------

    def wait_for(
        self,
        condition: Callable[[], T | None],
        what: str,
        timeout_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> T:
        """Poll ``condition`` until it returns something truthy, which is returned.
        A condition that raises OSError, KeyError or ValueError (a broker between
        states) is polled again. The deadline only bounds a hang: past it,
        ``ClusterWaitTimeout`` names ``what`` and the last error."""
        deadline = time.monotonic() + timeout_seconds
        last_error: Exception | None = None
        while True:
            try:
                result = condition()
                if result:
                    return result
            except (OSError, KeyError, ValueError, urllib.error.URLError) as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise ClusterWaitTimeout(
                    f"waited {timeout_seconds:g} s for {what}"
                    + (f" (last error: {last_error})" if last_error else "")
                )
            time.sleep(_POLL_SECONDS)

    def wait_for_leader(self, topic: str, index: int, among: Iterable[int] | None = None) -> int:
        """The partition's leader once it has one (in ``among`` when given)."""
        allowed = None if among is None else set(among)

        def leader() -> int | None:
            found = self.leader_of(topic, index)
            if found < 0 or (allowed is not None and found not in allowed):
                return None
            return found

        return self.wait_for(leader, f"a leader of {topic}-{index}")

    def wait_for_isr(self, topic: str, index: int, isr: Iterable[int]) -> PartitionView:
        """Until the partition's ISR (as a live broker sees it) is exactly ``isr``."""
        wanted = set(isr)

        def matches() -> PartitionView | None:
            view = self.partition(topic, index)
            return view if set(view.isr) == wanted else None

        return self.wait_for(matches, f"ISR {sorted(wanted)} of {topic}-{index}")

    def wait_for_replicas_in_step(self, topic: str, index: int) -> dict[int, LocalReplica]:
        """Until every replica of the partition on a live broker has the same log end
        and high watermark (all caught up, nothing in flight); returns them by node."""

        def in_step() -> dict[int, LocalReplica] | None:
            view = self.partition(topic, index)
            replicas: dict[int, LocalReplica] = {}
            for node in view.replicas:
                broker = self.brokers[node]
                if not broker.running or broker.paused:
                    continue
                local = self.partition(topic, index, node).local
                if local is None:
                    return None
                replicas[node] = local
            ends = {(r.log_end_offset, r.high_watermark) for r in replicas.values()}
            return (
                replicas if len(ends) == 1 and next(iter(ends))[0] == next(iter(ends))[1] else None
            )

        return self.wait_for(in_step, f"the replicas of {topic}-{index} to be in step")
