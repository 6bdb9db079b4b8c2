"""Free space and size of the data directory's file system, read at scrape time: what the
"disk nearly full" alerts (alerts/infrastructure.py) are built on."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from broker.metrics import catalog as c
from broker.metrics.collector import BrokerCollector, disk_space
from broker.metrics.stats import BrokerStats
from contracts.launcher import BrokerProcess


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def _exposition(space: tuple[int, int] | None) -> str:
    registry = CollectorRegistry()
    registry.register(
        BrokerCollector(
            cluster="east",
            node_id=3,
            version="0",
            flush_policy="interval",
            stats=BrokerStats(),
            partitions=list,
            recovery_truncated_bytes=lambda: 0,
            unflushed_partitions=lambda: 0,
            data_dir_space=lambda: space,
        )
    )
    return generate_latest(registry).decode()


def test_the_collector_exports_free_and_total_bytes_with_the_broker_labels() -> None:
    text = _exposition((123 * 4096, 1000 * 4096))
    labels = {"cluster": "east", "broker": "3"}
    assert _samples(text, c.DATA_DIR_FREE_BYTES.name) == [(labels, 123 * 4096)]
    assert _samples(text, c.DATA_DIR_SIZE_BYTES.name) == [(labels, 1000 * 4096)]


def test_an_unreadable_data_dir_leaves_the_gauges_empty_and_the_scrape_working() -> None:
    text = _exposition(None)
    assert _samples(text, c.DATA_DIR_FREE_BYTES.name) == []
    assert _samples(text, c.DATA_DIR_SIZE_BYTES.name) == []
    assert _samples(text, c.UNFLUSHED_PARTITIONS.name) != []


def test_disk_space_reads_statvfs_of_the_path_and_none_for_a_missing_one(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    free, size = disk_space(tmp_path) or (-1, -1)
    assert size == st.f_blocks * st.f_frsize > 0
    assert 0 <= free <= size
    assert disk_space(tmp_path / "missing") is None


def test_a_running_broker_exports_the_space_of_its_data_dir(broker: BrokerProcess) -> None:
    with urllib.request.urlopen(f"{broker.http_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    st = os.statvfs(broker.data_dir)
    ((_, size),) = _samples(text, c.DATA_DIR_SIZE_BYTES.name)
    ((_, free),) = _samples(text, c.DATA_DIR_FREE_BYTES.name)
    assert size == st.f_blocks * st.f_frsize
    # Other processes write to the same file system meanwhile: close, not equal.
    assert abs(free - st.f_bavail * st.f_frsize) < 0.05 * size
