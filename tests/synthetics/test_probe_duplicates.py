"""Duplicates: produce responses dropped by a proxy make the producer retry. Without
idempotence the retried batch is written twice: the probe reports duplicates, not loss.
With idempotence the broker drops the retry and the probe sees every record once."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.launcher import BrokerProcess
from loadtest.faults.proxy import FaultProxy
from synthetics.config import SlaConfig, TopicConfig
from tests.synthetics.support import eventually, new_probe, running, target, value

PRODUCE = 0


@pytest.fixture
async def proxied_broker(tmp_path: Path) -> AsyncIterator[tuple[BrokerProcess, FaultProxy]]:
    """A broker that advertises a fault proxy in front of it, so clients stay on the proxy."""
    proxy = await FaultProxy().start()
    process = BrokerProcess(tmp_path / "data", "--advertised", proxy.address)
    try:
        process.start()
        # The ready file names the port the broker bound (it advertises the proxy's).
        proxy.set_upstream(process.listen_address.host, process.listen_address.port)
        yield process, proxy
    finally:
        process.stop()
        await proxy.stop()


@pytest.mark.parametrize(
    ("idempotent", "duplicates"),
    [(False, 2), (True, 0)],
    ids=[
        "without idempotence the retries are duplicates",
        "with idempotence the broker drops the retries",
    ],
)
async def test_dropped_produce_responses_make_retries_that_are_duplicates_not_loss(
    proxied_broker: tuple[BrokerProcess, FaultProxy], idempotent: bool, duplicates: int
) -> None:
    _, proxy = proxied_broker
    config = target(
        proxy.address,
        idempotent=idempotent,
        topic=TopicConfig(partitions=1),
        sla=SlaConfig(ack_seconds=2.0, end_to_end_seconds=2.0, lost_after_seconds=20.0),
    )
    probe, registry = new_probe(config)
    async with running(probe):
        await eventually(lambda: probe.tally.consumed >= 5, what="a healthy start")
        proxy.drop_responses(PRODUCE, count=2, close=True)
        await eventually(lambda: proxy.drops_pending == 0, what="two produce responses dropped")
        produced = probe.tally.produced
        await eventually(
            lambda: probe.tally.produced >= produced + 5, what="five more acknowledged records"
        )

        def all_read() -> bool:
            return all(s.awaiting == 0 and s.in_flight == 0 for s in probe.ledger.summary())

        await eventually(
            all_read, what=lambda: f"every acknowledged record read: {probe.ledger.summary()}"
        )
        t = copy.copy(probe.tally)  # taken before another round can start
    assert proxy.stats.dropped == {PRODUCE: 2}
    assert t.duplicated == duplicates
    assert (
        value(registry, "tidewatch_probe_records_duplicated_total", partition="0", broker="0")
        == duplicates
    )
    assert t.lost == 0
    assert t.produce_errors == 0
    assert t.consumed == t.produced + duplicates
