"""Who limited the run: the generator or the target? (pure)

An open-loop generator that cannot keep its schedule measures itself, not the target.
The verdict compares three signals over the intervals that had a target:

- **behind schedule**: fewer messages were handed to the client than the schedule asked
  for (``achieved_ratio`` below 97 %), or the generator's own send delay (scheduled ->
  handed to the client) had a p99 above 100 ms;
- **generator CPU saturated**: the busiest producer process used at least 90 % of a core
  in the median interval (librdkafka's threads included);
- **target slow**: the client's queue filled up (it waits for acknowledgements), messages
  failed, or the service time (handed to the client -> acknowledged) had a p99 above
  100 ms.

Behind schedule with a saturated generator, or with a target that answers quickly, is a
*generator* bottleneck: add processes (``producers.processes``) or machines. Behind
schedule with a slow target is a *target* bottleneck: the figures describe the target.
A consumer group that did not keep up while its processes were saturated is reported
the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import median
from typing import Final, Literal

from loadtest.collector import IntervalPoint, LatencySummary

__all__ = ["Verdict", "judge"]

BEHIND_RATIO: Final = 0.97
SLOW_MS: Final = 100.0
SATURATED_CPU: Final = 0.9


@dataclass(frozen=True, slots=True)
class Verdict:
    bottleneck: Literal["none", "generator", "target"]
    reasons: tuple[str, ...]
    achieved_ratio: float
    producer_cpu_ratio: float
    consumer_bottleneck: tuple[str, ...] = ()  # groups whose own processes were saturated

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        out["consumer_bottleneck"] = list(self.consumer_bottleneck)
        return out


def judge(
    points: Sequence[IntervalPoint],
    scheduled: int,
    sent: int,
    latency: Mapping[str, LatencySummary],
    failed: int,
    queue_full: int,
    acked: int,
    consumed: Mapping[str, int],
) -> Verdict:
    active = [p for p in points if p.target_rate > 0]
    achieved = sent / scheduled if scheduled else 1.0
    cpu = median(p.producer_cpu_ratio for p in active) if active else 0.0
    delay_p99 = latency["send_delay"].p99_ms
    service_p99 = latency["service"].p99_ms
    reasons: list[str] = []
    behind = achieved < BEHIND_RATIO or delay_p99 > SLOW_MS
    if achieved < BEHIND_RATIO:
        reasons.append(f"sent {achieved:.1%} of the scheduled messages")
    if delay_p99 > SLOW_MS:
        reasons.append(f"generator send delay p99 {delay_p99:.0f} ms (scheduled -> handed over)")
    saturated = cpu >= SATURATED_CPU
    if saturated:
        reasons.append(f"busiest producer process at {cpu:.0%} of a core")
    slow_signals = []
    if queue_full:
        slow_signals.append(f"client queue full {queue_full} times")
    if failed:
        slow_signals.append(f"{failed} messages failed")
    if service_p99 > SLOW_MS:
        slow_signals.append(f"service time p99 {service_p99:.0f} ms")
    target_slow = bool(slow_signals)
    if behind and (saturated or not target_slow):
        bottleneck: Literal["none", "generator", "target"] = "generator"
        if not saturated:
            reasons.append(f"the target answered quickly (service p99 {service_p99:.0f} ms)")
        reasons.append("add producer processes or machines; these figures measure the generator")
    elif behind:
        bottleneck = "target"
        reasons.extend(slow_signals)
    else:
        bottleneck = "none"
        reasons = [f"kept the schedule ({achieved:.1%} sent, send delay p99 {delay_p99:.0f} ms)"]
    consumer_cpu = median(p.consumer_cpu_ratio for p in active) if active else 0.0
    lagging = tuple(g for g, n in sorted(consumed.items()) if acked and n < BEHIND_RATIO * acked)
    saturated_groups = lagging if consumer_cpu >= SATURATED_CPU else ()
    return Verdict(bottleneck, tuple(reasons), achieved, cpu, saturated_groups)
