"""Faults on a cluster of brokers, aimed at a role resolved when they are injected.

- :class:`TargetedFault`: any single-broker fault (kill, pause) aimed at the node that
  ``resolve()`` names at injection time (the broker leading most partitions, a
  follower of partition N...); ``victim`` says who it was.
- :class:`LeaderIsolation`: the victim cut off from the other brokers through fault
  proxies, as a network partition would: every quorum link from or to it blackholed
  (controller and Raft traffic both ways), and the replica fetches between it and the
  others lost (its followers' fetches from it, its own fetches from them), told apart
  from client connections by their client id (:data:`REPLICA_FETCHER_CLIENT_ID`), so
  its clients still reach it. Undo forwards again and resets exactly the connections
  that lost frames, as broken TCP connections would be.
- :class:`RollingRestart`: every broker in turn stopped with SIGTERM (a controlled
  shutdown: it hands its leaderships over first) and started again, the next one only
  once the previous is back in every ISR. It runs in a thread and ends by itself
  (``done``); undo waits for it (bounded).

Targets are small interfaces (:class:`QuorumLinks`, a callable per action), so the
faults run against any cluster implementation; the game day wires them to
:class:`~contracts.broker_cluster.BrokerCluster` and the proxies it starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from loadtest.faults.faults import Fault
from loadtest.faults.proxy import Direction, ProxyMode

__all__ = [
    "REPLICA_FETCHER_CLIENT_ID",
    "BrokerRestart",
    "LeaderIsolation",
    "Link",
    "RollingRestart",
    "TargetedFault",
    "fetcher_client_id",
]

log = logging.getLogger(__name__)

# The client id a broker's replica fetcher sends (broker/network/replica_fetcher.py; a
# test keeps the two equal).
REPLICA_FETCHER_CLIENT_ID: Final = "tidewatch-replica-fetcher-{node_id}"
_POLL_SECONDS: Final = 0.1


def fetcher_client_id(node_id: int) -> str:
    return REPLICA_FETCHER_CLIENT_ID.format(node_id=node_id)


class Link(Protocol):
    """A fault proxy on one link (``ThreadedFaultProxy``)."""

    def set_mode(self, mode: ProxyMode, direction: Direction = "both") -> None: ...
    def isolate_clients(self, client_ids: frozenset[str]) -> None: ...
    def restore(self) -> None: ...
    def reset_connections(self, client_ids: frozenset[str] | None = None) -> int: ...


class TargetedFault(Fault):
    """``make(victim)`` injected on the node ``resolve()`` names at injection time."""

    def __init__(self, name: str, resolve: Callable[[], int], make: Callable[[int], Fault]):
        super().__init__()
        self.name = name
        self.resolve = resolve
        self.make = make
        self.victim: int | None = None
        self._inner: Fault | None = None

    def describe(self) -> str:
        return self.name if self.victim is None else f"{self.name} of broker {self.victim}"

    def _inject(self) -> None:
        self.victim = self.resolve()
        self._inner = self.make(self.victim)
        self._inner.inject()

    def _undo(self) -> None:
        if self._inner is not None:
            self._inner.undo()


class LeaderIsolation(Fault):
    """See the module docstring. ``quorum``: the proxy of each directed quorum link
    (from node, to node); ``kafka``: the proxy in front of each broker's Kafka listener
    (the address it advertises, where followers fetch)."""

    name = "leader-isolate"

    def __init__(
        self,
        resolve: Callable[[], int],
        quorum: Mapping[tuple[int, int], Link],
        kafka: Mapping[int, Link],
    ) -> None:
        super().__init__()
        self.resolve = resolve
        self.quorum = quorum
        self.kafka = kafka
        self.victim: int | None = None
        self._cut: list[tuple[Link, frozenset[str] | None]] = []

    def describe(self) -> str:
        return self.name if self.victim is None else f"{self.name} of broker {self.victim}"

    def _inject(self) -> None:
        victim = self.victim = self.resolve()
        for (source, target), link in self.quorum.items():
            if victim in (source, target):
                self._cut.append((link, None))
                link.set_mode("blackhole")
        for node, link in self.kafka.items():
            others = {fetcher_client_id(n) for n in self.kafka if n != victim}
            fetchers = frozenset(others if node == victim else {fetcher_client_id(victim)})
            self._cut.append((link, fetchers))
            link.isolate_clients(fetchers)

    def _undo(self) -> None:
        cut, self._cut = self._cut, []
        for link, clients in cut:
            link.restore()
            link.reset_connections(clients)


@dataclass
class BrokerRestart:
    """One broker's turn in a rolling restart, in seconds from the fault's start."""

    node: int
    stopping_at: float
    started_at: float | None = None
    in_every_isr_at: float | None = None
    exit_code: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "stopping_at": round(self.stopping_at, 3),
            "started_at": None if self.started_at is None else round(self.started_at, 3),
            "in_every_isr_at": None
            if self.in_every_isr_at is None
            else round(self.in_every_isr_at, 3),
            "exit_code": self.exit_code,
        }


@dataclass
class _Progress:
    turns: list[BrokerRestart] = field(default_factory=list)
    error: str | None = None


class RollingRestart(Fault):
    """See the module docstring. ``stop(node)`` stops a broker with SIGTERM and returns
    its exit code, ``start(node)`` starts it and returns once it serves, and
    ``in_every_isr(node)`` says whether it is back in the ISR of every partition it
    replicates. ``wait_seconds`` bounds each wait (a hang, not a pace)."""

    name = "rolling-restart"

    def __init__(
        self,
        nodes: list[int],
        stop: Callable[[int], int | None],
        start: Callable[[int], None],
        in_every_isr: Callable[[int], bool],
        wait_seconds: float = 120.0,
    ) -> None:
        super().__init__()
        self.nodes = nodes
        self.stop = stop
        self.start = start
        self.in_every_isr = in_every_isr
        self.wait_seconds = wait_seconds
        self.progress = _Progress()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def _inject(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rolling-restart", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        began = time.monotonic()
        try:
            for node in self.nodes:
                if self._cancel.is_set():
                    return
                turn = BrokerRestart(node, time.monotonic() - began)
                self.progress.turns.append(turn)
                turn.exit_code = self.stop(node)
                self.start(node)
                turn.started_at = time.monotonic() - began
                self._wait(node, f"broker {node} in every ISR")
                turn.in_every_isr_at = time.monotonic() - began
        except Exception as exc:
            self.progress.error = f"{type(exc).__name__}: {exc}"
            log.exception("rolling restart failed")

    def _wait(self, node: int, what: str) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while not self._cancel.is_set():
            try:
                if self.in_every_isr(node):
                    return
            except OSError:
                pass  # a broker between states
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.wait_seconds:g} s for {what}")
            time.sleep(_POLL_SECONDS)

    def _undo(self) -> None:
        """Wait for the restarts to finish (cancelled after ``wait_seconds``)."""
        if self._thread is None:
            return
        self._thread.join(self.wait_seconds)
        if self._thread.is_alive():
            self._cancel.set()
            self._thread.join(self.wait_seconds)
