"""The broker stopped for a while, then restarted on the same port: produce availability
drops during the outage and recovers, and nothing acknowledged is counted lost."""

from __future__ import annotations

import asyncio

from contracts.launcher import BrokerProcess
from synthetics.config import SlaConfig
from synthetics.probe import TargetProbe
from tests.synthetics.support import eventually, new_probe, running, target, value


def _awaiting(probe: TargetProbe) -> int:
    return sum(s.awaiting + s.in_flight for s in probe.ledger.summary())


async def test_outage_drops_produce_availability_then_recovers_without_loss(
    broker: BrokerProcess,
) -> None:
    sla = SlaConfig(ack_seconds=0.5, end_to_end_seconds=1.0, lost_after_seconds=60.0)
    probe, registry = new_probe(target(broker.bootstrap, sla=sla))

    def availability() -> tuple[float, float]:
        return (
            value(registry, "tidewatch_probe_produce_successes_total"),
            value(registry, "tidewatch_probe_produce_attempts_total"),
        )

    async with running(probe):
        await eventually(lambda: probe.tally.consumed >= 15, what="a healthy start")
        ok_before, attempts_before = availability()
        assert ok_before == attempts_before

        await asyncio.to_thread(broker.stop)
        failures_at_stop = probe.tally.produce_timeouts + probe.tally.produce_errors
        await eventually(
            lambda: (
                probe.tally.produce_timeouts + probe.tally.produce_errors >= failures_at_stop + 9
            ),
            what="three rounds of failed produces",
        )
        await eventually(lambda: probe.health().state == "down", what="the status to say down")
        ok_down, attempts_down = availability()

        await asyncio.to_thread(broker.start)
        await eventually(
            lambda: availability()[0] >= ok_down + 15, timeout=30, what="produce to recover"
        )
        ok_after, attempts_after = availability()
        # up again; records sent during the outage arrived late, which keeps the target
        # "degraded" for the anomaly window, but no longer for produce or metadata
        await eventually(
            lambda: (
                probe.health().state in ("ok", "degraded")
                and not any("produce" in r or "metadata" in r for r in probe.health().reasons)
            ),
            timeout=30,
            what="the status to clear produce and metadata problems",
        )
        rounds = probe.tally.rounds
        await eventually(lambda: probe.tally.rounds >= rounds + 2, what="two more rounds")

    outage_ratio = (ok_down - ok_before) / (attempts_down - attempts_before)
    assert outage_ratio < 0.5, f"availability during the outage: {outage_ratio:.2f}"
    assert ok_after - ok_down >= 15
    t = probe.tally
    assert t.lost == 0
    assert value(registry, "tidewatch_probe_records_lost_total") == 0
    # everything acknowledged before, during (late acks) and after the outage was read back
    assert t.consumed - t.duplicated >= t.produced - 3
    assert value(registry, "tidewatch_probe_connection_errors_total", broker="0") >= 1
