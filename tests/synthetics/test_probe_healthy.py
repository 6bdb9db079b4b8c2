"""The probe against a healthy broker: every record read back once, in order, on time,
with latency histograms per partition and leader, and a clean status."""

from __future__ import annotations

from contracts.launcher import BrokerProcess
from synthetics.config import SlaConfig
from tests.synthetics.support import eventually, new_probe, running, target, value


async def test_healthy_broker_shows_no_loss_no_duplicates_and_latency_per_partition(
    broker: BrokerProcess,
) -> None:
    # generous SLAs: this test is about loss, duplicates and histograms, not about speed
    # on a loaded test machine
    sla = SlaConfig(ack_seconds=5.0, end_to_end_seconds=5.0, lost_after_seconds=20.0)
    probe, registry = new_probe(target(broker.bootstrap, sla=sla))
    async with running(probe):
        await eventually(lambda: probe.tally.consumed >= 30, what="30 records read back")
        rounds = probe.tally.rounds
        await eventually(lambda: probe.tally.rounds >= rounds + 3, what="three more rounds")
        status = probe.status()
    t = probe.tally
    assert t.produce_attempts == t.produce_successes == t.produced
    assert (t.produce_timeouts, t.produce_errors) == (0, 0)
    assert (t.lost, t.duplicated, t.corrupted, t.reordered, t.foreign) == (0, 0, 0, 0, 0)
    assert t.consumed >= t.produced - 3  # at most the last round unread when stopped
    assert t.consume_attempts == t.consume_successes
    assert status["state"] == "ok", status["reasons"]
    assert status["coverage"] == {"brokers": 1, "uncovered_brokers": [], "gap": 0}
    assert [p["leader"] for p in status["partitions"]] == [0, 0, 0]
    for partition in ("0", "1", "2"):
        labels = {"cluster": "t", "target": "t", "partition": partition, "broker": "0"}
        e2e = value(registry, "tidewatch_probe_end_to_end_latency_seconds_count", **labels)
        ack = value(registry, "tidewatch_probe_ack_latency_seconds_count", **labels)
        assert e2e >= 5
        assert ack >= 5
        assert value(registry, "tidewatch_probe_records_lost_total", **labels) == 0
        assert value(registry, "tidewatch_probe_records_duplicated_total", **labels) == 0
        within_sla = value(
            registry, "tidewatch_probe_end_to_end_latency_seconds_bucket", le="5.0", **labels
        )
        assert within_sla == e2e  # every record inside the SLA bucket
    assert value(registry, "tidewatch_probe_connection_latency_seconds_count", broker="0") >= 1
    assert value(registry, "tidewatch_probe_metadata_latency_seconds_count", broker="0") >= 1
    assert value(registry, "tidewatch_probe_coverage_gap_brokers") == 0
    assert value(registry, "tidewatch_probe_up") == 1
