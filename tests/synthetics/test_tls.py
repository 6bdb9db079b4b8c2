"""The probe and the lag monitor over TLS: a TLS-terminating proxy in front of the
broker (advertised to clients), a self-signed CA in the probe's ``tls.ca_file``, every
client connection (admin, producer, consumer, broker checks) verified against it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from contracts.launcher import BrokerProcess
from loadtest.faults.proxy import FaultProxy
from synthetics.config import parse_probe_config
from synthetics.lagmon.config import parse_lag_config
from synthetics.lagmon.service import LagService
from tests.support.tls import self_signed_certificate
from tests.synthetics.support import eventually, new_probe, running


@pytest.fixture
async def tls_broker(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """(TLS bootstrap address, CA file) of a broker behind a TLS-terminating proxy."""
    cert, key = self_signed_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    proxy = await FaultProxy(ssl=server).start()
    process = BrokerProcess(tmp_path / "data", "--advertised", proxy.address)
    try:
        process.start()
        # The ready file names the port the broker bound (it advertises the proxy's).
        proxy.set_upstream(process.listen_address.host, process.listen_address.port)
        yield proxy.address, cert
    finally:
        process.stop()
        await proxy.stop()


async def test_probe_and_lag_monitor_work_over_tls_with_a_private_ca(
    tls_broker: tuple[str, Path],
) -> None:
    bootstrap, ca = tls_broker
    security = {"protocol": "SSL", "tls": {"ca_file": str(ca)}}
    config = parse_probe_config(
        {
            "targets": [
                {
                    "name": "tls",
                    "bootstrap_servers": bootstrap,
                    "interval": "200ms",
                    "security": security,
                }
            ]
        },
        "probe.yaml",
        {},
    )
    probe, _ = new_probe(config.targets[0])
    async with running(probe):
        await eventually(
            lambda: probe.tally.consumed >= 5,
            what=lambda: f"records read over TLS: {probe.last_error}",
        )
        await eventually(
            lambda: probe.status()["brokers"][0]["connection_ok"] is True,
            what="a broker check over TLS",
        )
    assert (probe.tally.lost, probe.tally.produce_errors) == (0, 0)

    lag = parse_lag_config(
        {
            "http": "off",
            "clusters": [{"name": "tls", "bootstrap_servers": bootstrap, "security": security}],
        },
        "lag.yaml",
        {},
    )
    service = LagService(lag, CollectorRegistry())
    try:
        await service.poll()
    finally:
        for m in service.monitors:
            await m.close()
    (cluster,) = service.status()["clusters"]
    assert cluster["up"], cluster["error"]
    assert "tidewatch-probe-tls" in [g["group"] for g in cluster["groups"]]


async def test_a_probe_that_does_not_trust_the_certificate_never_starts(
    tls_broker: tuple[str, Path], tmp_path: Path
) -> None:
    bootstrap, _ = tls_broker
    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed_certificate(tmp_path / "other")
    config = parse_probe_config(
        {
            "targets": [
                {
                    "name": "tls",
                    "bootstrap_servers": bootstrap,
                    "security": {"protocol": "SSL", "tls": {"ca_file": str(other_ca)}},
                }
            ]
        },
        "probe.yaml",
        {},
    )
    probe, _ = new_probe(config.targets[0])
    async with running(probe):
        await eventually(lambda: probe.last_error is not None, what="a start failure")
    assert not probe.started
    assert "CERTIFICATE_VERIFY_FAILED" in (probe.last_error or "")
    assert probe.health().state == "starting"
