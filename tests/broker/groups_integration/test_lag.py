"""Lag in records and seconds, retention headroom and the Burrow-style status, read
from the broker's /metrics and /status/groups while real clients consume, stop,
stall and resume.

The broker runs with ``lag: {min_stop_seconds: 2}`` so a stopped consumer is called
STOP two seconds after its last commit. Records are produced with explicit timestamps,
so the lag in seconds the broker reports can be checked exactly. Tests about the passing
of time run an in-process broker on a :class:`~broker.clock.ManualClock` and move it by
hand, so the lag in seconds is exact and no test sleeps; the others use a broker process
and bound the answer by the moments the test sent the request and received it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from broker.config import BrokerConfig
from contracts.clock import ManualClock
from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.group_member import SESSION_TIMEOUT_MS
from tests.broker.groups_integration.members import GroupMember, wait_until
from tests.broker.groups_integration.support import (
    create_topic,
    group_status,
    metric_samples,
    now_ms,
    produce,
    quiet,
)
from tests.support.inprocess_broker import InProcessBroker

pytestmark = pytest.mark.interop

RETENTION_MS = 3_600_000
MIN_STOP_SECONDS = 2
SECONDS_TOLERANCE = 0.01  # /status/groups rounds lag seconds to milliseconds


@pytest.fixture(scope="module")
def lag_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    directory: Path = tmp_path_factory.mktemp("lag")
    config = directory / "broker.yaml"
    config.write_text(yaml.safe_dump({"lag": {"min_stop_seconds": MIN_STOP_SECONDS}}))
    process = BrokerProcess(directory / "data", "--config", str(config)).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def clocked_broker(tmp_path: Path) -> Iterator[tuple[InProcessBroker, ManualClock]]:
    """An in-process broker whose clock moves only when the test says so. Joins complete
    without the initial rebalance delay, which would otherwise wait for the clock."""
    clock = ManualClock(now_ms())
    config = BrokerConfig(
        data_dir=tmp_path / "data",
        lag_min_stop_seconds=MIN_STOP_SECONDS,
        group_initial_rebalance_delay_ms=0,
        retention_check_interval_ms=3_600_000,
    )
    with InProcessBroker(config, clock) as broker:
        yield broker, clock


def timed_status(http_url: str, group: str) -> tuple[int, dict[str, Any], int]:
    """(ms before the request, the group's status, ms after the answer)."""
    before = now_ms()
    status = group_status(http_url, group)
    after = now_ms()
    assert status is not None, f"group {group} is not in /status/groups"
    return before, status, after


def partitions_of(status: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["partition"]: p for p in status["partitions"]}


def assert_lag_seconds_exact(
    lag_seconds: float, oldest_ms: int, before_ms: int, after_ms: int
) -> None:
    low = (before_ms - oldest_ms) / 1000 - SECONDS_TOLERANCE
    high = (after_ms - oldest_ms) / 1000 + SECONDS_TOLERANCE
    assert low <= lag_seconds <= high, (low, lag_seconds, high)


def lag_metrics_are_sane(http_url: str) -> None:
    for _, value in metric_samples(http_url, "tidewatch_group_lag_seconds"):
        assert math.isfinite(value) and value >= 0, value


def caught_up(http_url: str, group: str, partitions: int) -> dict[str, Any] | None:
    """The group's status once it has committed every one of the topic's ``partitions``
    up to a non-empty high watermark and is OK; None before."""
    status = group_status(http_url, group)
    if status is None or status["status"] != "OK":
        return None
    if len(status["partitions"]) != partitions:
        return None  # a partition not committed yet is not listed at all
    if any(p["lag_records"] or p["high_watermark"] == 0 for p in status["partitions"]):
        return None
    return status


def status_is(http_url: str, group: str, wanted: str) -> dict[str, Any] | None:
    status = group_status(http_url, group)
    return status if status is not None and status["status"] == wanted else None


def test_a_stopped_consumers_lag_grows_with_the_clock_turns_stop_and_clears_when_it_resumes(
    clocked_broker: tuple[InProcessBroker, ManualClock],
    start_member: Callable[..., GroupMember],
) -> None:
    broker, clock = clocked_broker
    topic = group = "stop-and-resume"
    bootstrap, http_url = broker.bootstrap, broker.http_url
    create_topic(bootstrap, topic, 2, **{"retention.ms": str(RETENTION_MS)})
    produce(bootstrap, topic, [f"warm-{i}" for i in range(10)], 2)
    first = start_member("confluent", bootstrap, group, topic)
    wait_until(lambda: caught_up(http_url, group, 2), 60, "both partitions committed")
    assert metric_samples(http_url, "tidewatch_group_retention_headroom_seconds", group=group) == []

    first.kill()
    # The consumer is gone. Records keep coming, the first ones stamped 30 s ago.
    oldest_ms = clock.time_ms() - 30_000
    produce(bootstrap, topic, [f"old-{i}" for i in range(4)], 2, timestamp_ms=oldest_ms)
    status = group_status(http_url, group)
    assert status is not None
    for p in partitions_of(status).values():
        assert (p["lag_records"], p["lag_seconds"]) == (2, 30.0)

    clock.advance(1.0)  # lag in seconds grows with the clock, not with new records
    produce(bootstrap, topic, [f"new-{i}" for i in range(6)], 2)
    status2 = group_status(http_url, group)
    assert status2 is not None
    for p in partitions_of(status2).values():
        assert (p["lag_records"], p["lag_seconds"]) == (5, 31.0)
    assert (status2["lag_records"], status2["max_lag_seconds"]) == (10, 31.0)
    lag_metrics_are_sane(http_url)

    # /metrics tells the same, with full precision.
    records = metric_samples(http_url, "tidewatch_group_lag_records", group=group)
    seconds = metric_samples(http_url, "tidewatch_group_lag_seconds", group=group)
    assert sorted(v for _, v in records) == [5.0, 5.0]
    assert [v for _, v in seconds] == [31.0, 31.0]

    # Retention will delete the unconsumed records one retention.ms after the newest
    # record of their segment (one segment here).
    newest = metric_samples(
        http_url, "tidewatch_partition_newest_record_timestamp_seconds", topic=topic
    )
    headroom = metric_samples(http_url, "tidewatch_group_retention_headroom_seconds", group=group)
    assert len(headroom) == 2
    newest_by_partition = {labels["partition"]: value for labels, value in newest}
    for labels, value in headroom:
        deletion_s = newest_by_partition[labels["partition"]] + RETENTION_MS / 1000
        assert value == pytest.approx(deletion_s - clock.time_ms() / 1000, abs=0.001)

    assert status_is(http_url, group, "OK"), "one second without a commit is not a STOP"
    clock.advance(MIN_STOP_SECONDS)
    stopped = status_is(http_url, group, "STOP")
    assert stopped is not None, group_status(http_url, group)
    for p in stopped["partitions"]:
        assert p["status"] == "STOP"
        assert p["reason"].startswith("no commit for "), p["reason"]
        assert "lag 5 records" in p["reason"], p["reason"]
    assert stopped["reason"] == stopped["partitions"][0]["reason"]
    assert {
        labels["partition"]: v
        for labels, v in metric_samples(
            http_url, "tidewatch_group_partition_status_code", group=group
        )
    } == {"0": 4.0, "1": 4.0}
    assert metric_samples(http_url, "tidewatch_group_status", group=group, status="STOP")[0][1] == 1

    # The killed member's session runs out on the broker's clock, so a new member joins
    # alone instead of waiting for it.
    clock.advance(SESSION_TIMEOUT_MS / 1000 + 1)
    start_member("confluent", bootstrap, group, topic)
    resumed = wait_until(lambda: caught_up(http_url, group, 2), 60, "the consumer to catch up")
    for p in resumed["partitions"]:
        assert p["lag_seconds"] == 0
        assert p["retention_headroom_seconds"] is None
        assert p["reason"] == "caught up (lag 0)"
    assert metric_samples(http_url, "tidewatch_group_retention_headroom_seconds", group=group) == []
    assert metric_samples(http_url, "tidewatch_group_status", group=group, status="OK")[0][1] == 1
    lag_metrics_are_sane(http_url)


def committing_consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    """A confluent-kafka group member that has its assignment (and commits by hand)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            **quiet,
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no assignment"
        consumer.poll(0.1)
    return consumer


def commit(consumer: Consumer, topic: str, offset: int) -> None:
    consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)


def only_partition(http_url: str, group: str) -> dict[str, Any]:
    status = group_status(http_url, group)
    assert status is not None
    partitions: list[dict[str, Any]] = status["partitions"]
    (partition,) = partitions
    return partition


def test_a_consumer_committing_the_same_offset_while_records_wait_is_stalled(
    lag_broker: BrokerProcess,
) -> None:
    topic = group = "stalled"
    bootstrap, http_url = lag_broker.bootstrap, lag_broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [f"v{i}" for i in range(10)], 1)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        for _ in range(5):
            commit(consumer, topic, 3)
            consumer.poll(0.05)
        stalled = only_partition(http_url, group)
        assert stalled["status"] == "STALL", stalled
        assert stalled["reason"].startswith("committed offset stuck at 3 over the last 5 commits")
        assert stalled["reason"].endswith("with lag 7 records")
        assert stalled["lag_records"] == 7
        commit(consumer, topic, 10)
        recovered = only_partition(http_url, group)
        assert recovered["status"] == "OK" and recovered["lag_records"] == 0, recovered
    finally:
        consumer.close()


def test_a_committed_offset_moving_backwards_is_a_rewind(lag_broker: BrokerProcess) -> None:
    topic = group = "rewound"
    bootstrap, http_url = lag_broker.bootstrap, lag_broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [f"v{i}" for i in range(10)], 1)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        commit(consumer, topic, 8)
        commit(consumer, topic, 3)
        rewound = only_partition(http_url, group)
    finally:
        consumer.close()
    assert rewound["status"] == "REWIND"
    assert rewound["reason"] == "committed offset moved back from 8 to 3"


def test_a_consumer_whose_lag_grows_at_every_commit_is_a_warning(lag_broker: BrokerProcess) -> None:
    topic = group = "falling-behind"
    bootstrap, http_url = lag_broker.bootstrap, lag_broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, ["first"], 1)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        for offset in range(1, 5):
            produce(bootstrap, topic, [f"burst-{offset}-{i}" for i in range(3)], 1)
            commit(consumer, topic, offset)
        warned = only_partition(http_url, group)
    finally:
        consumer.close()
    assert warned["status"] == "WARN", warned
    assert warned["reason"].startswith("falling behind: lag grew from 3 to 9 records")


def test_records_stamped_in_the_future_count_zero_seconds_of_lag_never_negative(
    lag_broker: BrokerProcess,
) -> None:
    topic = group = "from-the-future"
    bootstrap, http_url = lag_broker.bootstrap, lag_broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, ["now"], 1)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        commit(consumer, topic, 1)
    finally:
        consumer.close()
    produce(bootstrap, topic, ["later"] * 3, 1, timestamp_ms=now_ms() + 3_600_000)
    partition = only_partition(http_url, group)
    assert partition["lag_records"] == 3
    assert partition["lag_seconds"] == 0
    ((_, value),) = metric_samples(http_url, "tidewatch_group_lag_seconds", group=group)
    assert value == 0.0


def test_a_recreated_topics_lag_in_seconds_comes_from_its_own_records(
    lag_broker: BrokerProcess,
) -> None:
    # Offsets restart at 0 in a topic deleted and created again under the same name:
    # the timestamp at an offset must be read from the new records.
    topic = group = "recreated"
    bootstrap, http_url = lag_broker.bootstrap, lag_broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, ["old"] * 4, 1, timestamp_ms=now_ms() - 3_600_000)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        commit(consumer, topic, 2)
    finally:
        consumer.close()
    assert only_partition(http_url, group)["lag_seconds"] >= 3_600

    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    admin.delete_topics([topic])[topic].result(15)
    create_topic(bootstrap, topic, 1)
    fresh_ms = now_ms() - 10_000
    produce(bootstrap, topic, ["new"] * 4, 1, timestamp_ms=fresh_ms)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        commit(consumer, topic, 2)
    finally:
        consumer.close()
    before, status, after = timed_status(http_url, group)
    (partition,) = status["partitions"]
    assert partition["lag_records"] == 2
    assert_lag_seconds_exact(partition["lag_seconds"], fresh_ms, before, after)


def test_a_record_arriving_on_a_quiet_topic_is_not_a_stop_until_it_has_waited(
    clocked_broker: tuple[InProcessBroker, ManualClock],
) -> None:
    # Burrow's false STOP: the consumer's last commit is old only because nothing
    # arrived. The broker calls STOP only once the waiting record is old too.
    broker, clock = clocked_broker
    topic = group = "quiet-topic"
    bootstrap, http_url = broker.bootstrap, broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, ["first"], 1)
    consumer = committing_consumer(bootstrap, group, topic)
    try:
        commit(consumer, topic, 1)
    finally:
        consumer.close()
    clock.advance(MIN_STOP_SECONDS + 0.5)  # a quiet spell longer than min_stop_seconds
    produce(bootstrap, topic, ["late arrival"], 1, timestamp_ms=clock.time_ms())
    arrived = only_partition(http_url, group)
    assert arrived["lag_records"] == 1
    assert arrived["status"] == "OK", arrived["reason"]
    clock.advance(MIN_STOP_SECONDS)
    assert only_partition(http_url, group)["status"] == "OK", "waited exactly, not longer"
    clock.advance(0.001)
    stopped = only_partition(http_url, group)
    assert stopped["status"] == "STOP", stopped
    assert "the oldest unconsumed record has waited" in stopped["reason"]
