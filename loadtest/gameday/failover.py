"""Failover time: how long the partitions a lost leader led stay unwritable.

Started right after a leader is killed or cut off, a :class:`FailoverWatch` measures two
moments from that instant, in a thread:

- ``leader_elected_seconds``: the cluster's freshest metadata shows a leader other than
  the victim for every partition the victim led (what the controller did);
- ``first_acked_produce_seconds``: an acks=all produce to each of those partitions has
  been acknowledged by a surviving broker (what a client sees: the partition is
  writable again; each survivor is asked in turn every 5 ms, as a client refreshing
  its metadata would; the last partition's time is the figure). It is the *failover
  time* of the scorecard.

Its probe records (a value without the load's header) land in the workload's topic,
where consumers count them as foreign and the audit ignores them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from loadtest.benchmark.raw_clients import wait_for_produce_on_any
from loadtest.gameday.cluster_state import ClusterState

__all__ = ["FailoverMeasurement", "FailoverWatch"]

_POLL_SECONDS: Final = 0.02


@dataclass
class FailoverMeasurement:
    step: str
    victim: int
    partitions: tuple[int, ...]
    leader_elected_seconds: float | None = None
    first_acked_produce_seconds: float | None = None
    new_leaders: dict[int, int] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "step": self.step,
            "victim": self.victim,
            "partitions": list(self.partitions),
            "leader_elected_seconds": rounded(self.leader_elected_seconds),
            "first_acked_produce_seconds": rounded(self.first_acked_produce_seconds),
            "failover_seconds": rounded(self.first_acked_produce_seconds),
            "failover_measured_as": "kill or cut to the first acks=all produce acknowledged "
            "on every partition the victim led",
            "new_leaders": {str(p): n for p, n in sorted(self.new_leaders.items())},
            "error": self.error,
        }


class FailoverWatch:
    """See the module docstring. ``state()`` is the cluster's freshest view (None when
    no broker answers); ``survivor_ports`` the Kafka listeners of the other brokers."""

    def __init__(
        self,
        measurement: FailoverMeasurement,
        topic: str,
        started: float,  # time.perf_counter() at the kill
        state: Callable[[], ClusterState | None],
        survivor_ports: Mapping[int, int],
        timeout_seconds: float = 60.0,
    ) -> None:
        self.measurement = measurement
        self.topic = topic
        self.started = started
        self.state = state
        self.survivor_ports = dict(survivor_ports)
        self.timeout_seconds = timeout_seconds
        self._thread = threading.Thread(target=self._run, name="failover-watch", daemon=True)

    def start(self) -> FailoverWatch:
        self._thread.start()
        return self

    def join(self, timeout_seconds: float) -> None:
        self._thread.join(timeout_seconds)

    def _run(self) -> None:
        m = self.measurement
        deadline = self.started + self.timeout_seconds
        try:
            self._wait_for_election(deadline)
            worst = 0.0
            ports = list(self.survivor_ports.values())
            for partition in m.partitions:
                seconds, _ = wait_for_produce_on_any(
                    ports, self.topic, self.started, deadline, acks=-1, partition=partition
                )
                worst = max(worst, seconds)
            m.first_acked_produce_seconds = worst
        except Exception as exc:
            m.error = f"{type(exc).__name__}: {exc}"

    def _wait_for_election(self, deadline: float) -> None:
        m = self.measurement
        while time.perf_counter() < deadline:
            state = self.state()
            if state is not None:
                leaders = {p: state.partition(self.topic, p).leader for p in m.partitions}
                if all(leader not in (-1, m.victim) for leader in leaders.values()):
                    m.leader_elected_seconds = time.perf_counter() - self.started
                    m.new_leaders = leaders
                    return
            time.sleep(_POLL_SECONDS)
        raise TimeoutError(f"no new leader for {self.topic} {list(m.partitions)}")
