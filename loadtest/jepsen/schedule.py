"""The fault schedule: a seed in, a bounded list of faults out. Pure and deterministic.

The same seed and bounds give the same schedule on every machine (``random.Random``
seeded with the seed alone); the timing of what happens around it does not repeat, so
a run is reproduced by its schedule, not by its interleaving. Faults never overlap: each
one is healed before the next starts, so at most one broker of three is out at a time
and ``min.insync.replicas=2`` can still be met; every fault is healed within the
schedule's duration.

Kinds (:data:`FaultKind`): ``kill`` (SIGKILL, started again when healed), ``pause``
(SIGSTOP, SIGCONT when healed), ``partition`` (every link to and from the broker
blackholed through the fault proxies, as a network partition would, restored and its
connections reset when healed) and ``restart`` (SIGTERM, a controlled shutdown, then
started again at once: it lasts as long as the restart takes).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = ["FAULT_KINDS", "FaultKind", "FaultStep", "Schedule", "plan_schedule"]

FaultKind = Literal["kill", "pause", "partition", "restart"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)

# A pause must outlive the broker session (3 s in the checker's cluster) to get the
# broker fenced sometimes and not always; kills and partitions likewise.
_FAULT_SECONDS: Final = (1.0, 4.0)
_GAP_SECONDS: Final = (0.5, 2.0)
_FIRST_AT_SECONDS: Final = (0.5, 1.5)


@dataclass(frozen=True, slots=True)
class FaultStep:
    """``kind`` on broker ``node`` at ``at_seconds`` into the run, healed
    ``duration_seconds`` later (0 for a restart: healed by the restart itself)."""

    at_seconds: float
    kind: FaultKind
    node: int
    duration_seconds: float

    @property
    def heal_at_seconds(self) -> float:
        return self.at_seconds + self.duration_seconds

    def action(self) -> str:
        """What is done, without when: ``kill broker 2 for 1.35 s``."""
        if self.kind == "restart":
            return f"restart broker {self.node}"
        return f"{self.kind} broker {self.node} for {self.duration_seconds:.2f} s"

    def describe(self) -> str:
        return f"{self.at_seconds:6.2f} s  {self.action()}"


@dataclass(frozen=True, slots=True)
class Schedule:
    seed: int
    duration_seconds: float
    steps: tuple[FaultStep, ...]

    def describe(self) -> str:
        """The schedule as printed before a run: one line per fault."""
        head = f"seed {self.seed}: {len(self.steps)} fault(s) in {self.duration_seconds:g} s"
        return "\n".join([head, *(f"  {step.describe()}" for step in self.steps)])


def plan_schedule(
    seed: int,
    duration_seconds: float,
    max_faults: int,
    nodes: Sequence[int] = (1, 2, 3),
    kinds: Sequence[FaultKind] = FAULT_KINDS,
) -> Schedule:
    """At most ``max_faults`` faults, one after the other with a gap between them,
    each on a node and of a kind drawn from ``nodes`` and ``kinds``, all healed by
    ``duration_seconds``."""
    if duration_seconds <= 0 or max_faults < 0:
        raise ValueError("a schedule needs a positive duration and a non-negative fault count")
    if not nodes or not kinds:
        raise ValueError("a schedule needs nodes and fault kinds to draw from")
    rng = random.Random(seed)
    steps: list[FaultStep] = []
    at = rng.uniform(*_FIRST_AT_SECONDS)
    while len(steps) < max_faults:
        kind = kinds[rng.randrange(len(kinds))]
        node = nodes[rng.randrange(len(nodes))]
        duration = 0.0 if kind == "restart" else round(rng.uniform(*_FAULT_SECONDS), 2)
        if at + duration > duration_seconds:
            break
        steps.append(FaultStep(round(at, 2), kind, node, duration))
        at += duration + rng.uniform(*_GAP_SECONDS)
    return Schedule(seed, duration_seconds, tuple(steps))
