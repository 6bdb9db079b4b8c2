"""The broker starts as a subprocess, serves health, metrics and (as ``tidewatch broker``)
the status page, and stops cleanly."""

from __future__ import annotations

import urllib.request

from contracts.launcher import BrokerProcess


def test_broker_reports_ready_and_exposes_metrics(broker: BrokerProcess) -> None:
    with urllib.request.urlopen(f"{broker.http_url}/readyz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{broker.http_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "tidewatch_broker_info{" in text
    assert 'flush_policy="interval"' in text


def test_sigterm_stops_the_broker_with_exit_code_zero(broker: BrokerProcess) -> None:
    assert broker.stop() == 0
    assert (broker.data_dir / ".clean_shutdown").exists()


def test_tidewatch_broker_serves_the_status_page(broker: BrokerProcess) -> None:
    with urllib.request.urlopen(f"{broker.http_url}/", timeout=5) as response:
        assert response.status == 200
        assert "text/html" in response.headers["Content-Type"]
