"""The simulated network and timers: one event queue ordered by time, links that can
be cut, loss, and paused receivers whose messages wait (a full socket buffer)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

CONTROLLER = 0  # the controller's address (nodes are 1..n)

Handler = Callable[[], None]


@dataclass(slots=True)
class Network:
    rng: random.Random
    loss_ratio: float
    max_delay_ms: int
    tick_ms: int
    now_ms: int = 0
    cut: set[frozenset[int]] = field(default_factory=set)
    _queue: list[tuple[int, int, Handler]] = field(default_factory=list)
    _sequence: int = 0

    def connected(self, a: int, b: int) -> bool:
        return frozenset((a, b)) not in self.cut

    def at(self, time_ms: int, handler: Handler) -> None:
        """Run ``handler`` at ``time_ms`` (a timer)."""
        self._sequence += 1
        heapq.heappush(self._queue, (time_ms, self._sequence, handler))

    def send(self, src: int, dst: int, deliver: Handler) -> bool:
        """Queue a message; False when it is lost at once. ``deliver`` runs later if the
        link still holds then (the receiver decides about its own state)."""
        if not self.connected(src, dst) or self.rng.random() < self.loss_ratio:
            return False
        delay = self.rng.randint(1, max(1, self.max_delay_ms // self.tick_ms)) * self.tick_ms

        def arrive() -> None:
            if self.connected(src, dst):
                deliver()

        self.at(self.now_ms + delay, arrive)
        return True

    def run_due(self) -> None:
        while self._queue and self._queue[0][0] <= self.now_ms:
            _, _, handler = heapq.heappop(self._queue)
            handler()
