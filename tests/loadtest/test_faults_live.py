"""Faults against a real broker: each is undone, and all of them are undone when the
scenario fails half-way (the broker answers, its config is restored, the disk is free,
the network forwards)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from contracts.launcher import BrokerProcess
from loadtest.faults.admin import describe_topic_configs
from loadtest.faults.faults import (
    BrokerKill,
    BrokerPause,
    ConsumerStop,
    DiskFill,
    FaultStack,
    FaultUnavailable,
    ProxyDrop,
    ProxyLatency,
    RetentionShrink,
    Tmpfs,
)
from loadtest.faults.proxy import ThreadedFaultProxy
from tests.loadtest.test_faults import FakeGroups
from tests.support import tools

pytestmark = pytest.mark.interop


def produce(bootstrap: str, topic: str, count: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "log_level": 2})
    for i in range(count):
        p.produce(topic, b"record-%d" % i)
    assert p.flush(20) == 0


def count_records(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "count", "log_level": 2})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    return int(high - low)


def answers(bootstrap: str, timeout: float = 3.0) -> bool:
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        p.list_topics(timeout=timeout)
        return True
    except Exception:
        return False


@pytest.fixture
def behind_proxy(
    tmp_path: Path,
) -> Iterator[tuple[BrokerProcess, ThreadedFaultProxy, Tmpfs | None]]:
    data = tmp_path / "data"
    disk = Tmpfs(data, 64 << 20)
    tmpfs: Tmpfs | None = None  # the test goes on without the disk fault, unless CI requires it
    try:
        disk.mount()
        tmpfs = disk
    except FaultUnavailable as exc:
        if tools.tools_required():
            tools.missing_component(str(exc), tools.TMPFS_HINT)
    proxy = ThreadedFaultProxy().start()
    broker = BrokerProcess(data, advertised=proxy.address, log_path=tmp_path / "broker.log")
    try:
        broker.start()
        proxy.set_upstream("127.0.0.1", broker.listen_address.port)
        yield broker, proxy, tmpfs
    finally:
        broker.stop()
        proxy.close()
        if tmpfs is not None:
            tmpfs.unmount()


def test_every_fault_is_undone_when_the_scenario_fails_half_way(
    behind_proxy: tuple[BrokerProcess, ThreadedFaultProxy, Tmpfs | None],
) -> None:
    broker, proxy, tmpfs = behind_proxy
    produce(broker.bootstrap, "audit", 10)
    before = describe_topic_configs(broker.bootstrap, "audit")["retention.ms"]
    groups = FakeGroups()

    def scenario() -> None:
        with FaultStack() as stack:
            stack.inject(RetentionShrink(broker.bootstrap, "audit", 1000, segment_ms=500))
            assert describe_topic_configs(broker.bootstrap, "audit")["retention.ms"] == "1000"
            stack.inject(ProxyLatency(proxy, 200))
            stack.inject(ConsumerStop(groups, "billing"))
            if tmpfs is not None:
                stack.inject(DiskFill(tmpfs.path))
                assert shutil.disk_usage(tmpfs.path).free < 1 << 20
            stack.inject(BrokerPause(broker))
            assert not answers(str(broker.listen_address), timeout=1.0)
            stack.inject(ProxyDrop(proxy, "reset"))
            raise RuntimeError("the scenario failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        scenario()
    assert not broker.paused
    assert answers(broker.bootstrap), "the broker answers again, through the proxy"
    assert proxy.latency_seconds == 0
    assert proxy.mode == "forward"
    assert describe_topic_configs(broker.bootstrap, "audit")["retention.ms"] == before
    assert [c.name for _, c in groups.commands] == ["pause", "resume"]
    if tmpfs is not None:
        assert shutil.disk_usage(tmpfs.path).free > 32 << 20


def test_a_killed_broker_restarts_on_the_same_port_with_every_acknowledged_record(
    tmp_path: Path,
) -> None:
    broker = BrokerProcess(tmp_path / "data", "--flush-policy", "durable")
    with broker:
        port = broker.port
        produce(broker.bootstrap, "payments", 200)
        fault = BrokerKill(broker)
        fault.inject()
        assert not broker.running
        assert not answers(f"127.0.0.1:{port}", timeout=1.0)
        started = time.monotonic()
        fault.undo()
        assert broker.running
        assert broker.port == port
        assert count_records(broker.bootstrap, "payments") == 200
        assert time.monotonic() - started < 30
