"""Exact consumer lag from committed offsets and stored record timestamps.

Real partitions in a temporary directory, commits applied to the coordinator as the
offsets log would, time moved by hand: no sockets, no sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.cluster.partition import Partition
from broker.coordinator.coordinator import GroupCoordinator, OffsetCommitPlan
from broker.coordinator.group import CommittedOffset
from broker.coordinator.lag import LagTracker, PartitionLag
from broker.records.batch import Compression
from contracts.clock import ManualClock
from contracts.lag.status import LagStatus, StatusConfig
from tests.broker.cluster.replicas import ManagedReplicas, open_replicas, produce
from tests.broker.records.undecodable import undecodable_batch

NOW_MS = 1_700_000_000_000
TOPIC = "orders"
GROUP = "billing"


@dataclass
class Broker:
    """The pieces lag is computed from, joined as the broker joins them."""

    clock: ManualClock
    replicas: ManagedReplicas
    coordinator: GroupCoordinator
    tracker: LagTracker

    def partition(self, index: int = 0, topic: str = TOPIC) -> Partition:
        partition = self.replicas.get(topic, index)
        assert partition is not None
        return partition

    def produce(self, *seconds_ago: float, index: int = 0) -> tuple[int, int]:
        """One batch with a record per age (seconds before now; negative is the future)."""
        stamps = [self.clock.time_ms() - int(s * 1000) for s in seconds_ago]
        return produce(self.replicas, self.partition(index), *stamps)

    def commit(
        self, offset: int, index: int = 0, group: str = GROUP, timestamp_ms: int | None = None
    ) -> None:
        when = self.clock.time_ms() if timestamp_ms is None else timestamp_ms
        committed = CommittedOffset(offset, commit_timestamp_ms=when)
        self.coordinator.apply_offsets(OffsetCommitPlan(group, ((TOPIC, index, committed),)))

    def lag(self, index: int = 0, group: str = GROUP) -> PartitionLag:
        for group_lag in self.tracker.snapshot():
            if group_lag.group_id == group:
                for partition in group_lag.partitions:
                    if (partition.topic, partition.partition) == (TOPIC, index):
                        return partition
        raise AssertionError(f"no lag for {group} {TOPIC}-{index}")


@contextmanager
def open_broker(
    data_dir: Path, topic_configs: dict[str, str | None] | None = None
) -> Iterator[Broker]:
    clock = ManualClock(NOW_MS)
    with open_replicas(data_dir, clock) as replicas:
        replicas.create_topic(TOPIC, 2, topic_configs)
        coordinator = GroupCoordinator()
        tracker = LagTracker(
            coordinator, replicas, clock, StatusConfig(window=5, min_stop_seconds=60)
        )
        yield Broker(clock, replicas, coordinator, tracker)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Topic ``orders`` keeping data for 10 minutes."""
    with open_broker(tmp_path / "data", {"retention.ms": "600000"}) as opened:
        yield opened


# -- lag in records and seconds ------------------------------------------------------


@pytest.mark.parametrize(
    ("committed", "lag_records", "lag_seconds"),
    [
        pytest.param(0, 4, 60.0, id="from the start the oldest record has waited a minute"),
        pytest.param(1, 3, 30.0, id="inside a batch the exact record's timestamp counts"),
        pytest.param(2, 2, 10.0, id="the last record of a batch counts on its own"),
        pytest.param(3, 1, 5.0, id="a batch of one record counts its timestamp"),
        pytest.param(4, 0, 0.0, id="committed at the high watermark is caught up"),
        pytest.param(9, 0, 0.0, id="committed beyond the high watermark is never negative"),
    ],
)
def test_lag_is_counted_from_the_first_unconsumed_record(
    broker: Broker, committed: int, lag_records: int, lag_seconds: float
) -> None:
    broker.produce(60, 30, 10)  # offsets 0-2
    broker.produce(5)  # offset 3
    broker.commit(committed)
    lag = broker.lag()
    assert (lag.lag_records, lag.lag_seconds) == (lag_records, lag_seconds)
    assert (lag.committed_offset, lag.high_watermark, lag.log_start_offset) == (committed, 4, 0)


def test_lag_in_seconds_grows_with_the_clock_while_the_consumer_stands_still(
    broker: Broker,
) -> None:
    broker.produce(10, 0)
    broker.commit(0)
    assert broker.lag().lag_seconds == 10.0
    broker.clock.advance(90)
    assert broker.lag().lag_seconds == 100.0
    broker.commit(1)
    assert broker.lag().lag_seconds == 90.0
    broker.commit(2)
    assert broker.lag().lag_seconds == 0.0


def test_a_record_stamped_in_the_future_counts_as_no_wait(broker: Broker) -> None:
    broker.produce(-60, 10)
    broker.commit(0)
    lag = broker.lag()
    assert (lag.lag_records, lag.lag_seconds) == (2, 0.0)


def test_an_empty_partition_has_no_lag(broker: Broker) -> None:
    broker.commit(0)
    lag = broker.lag()
    assert (lag.lag_records, lag.lag_seconds, lag.high_watermark) == (0, 0.0, 0)
    assert lag.retention_headroom_seconds is None


def test_lag_is_kept_apart_per_partition_and_group(broker: Broker) -> None:
    broker.produce(30, 20, index=0)
    broker.produce(40, index=1)
    broker.commit(1, index=0)
    broker.commit(0, index=1)
    broker.commit(2, index=0, group="audit")
    assert (broker.lag(0).lag_records, broker.lag(0).lag_seconds) == (1, 20.0)
    assert (broker.lag(1).lag_records, broker.lag(1).lag_seconds) == (1, 40.0)
    assert broker.lag(0, group="audit").lag_records == 0
    by_group = {g.group_id: g for g in broker.tracker.snapshot()}
    assert list(by_group) == ["audit", GROUP]
    assert (by_group[GROUP].lag_records, by_group[GROUP].max_lag_seconds) == (2, 40.0)


def test_when_retention_deleted_the_committed_offset_the_log_start_record_counts(
    tmp_path: Path,
) -> None:
    # One batch per segment, so retention can delete the first two batches alone.
    configs: dict[str, str | None] = {"retention.ms": "60000", "segment.bytes": "100"}
    with open_broker(tmp_path / "data", configs) as broker:
        broker.produce(120)  # offset 0, past retention
        broker.produce(90)  # offset 1, past retention
        broker.produce(10)  # offset 2
        broker.commit(0)
        assert broker.replicas.enforce_retention()
        lag = broker.lag()
        assert lag.log_start_offset == 2
        assert (lag.lag_records, lag.lag_seconds) == (3, 10.0)


def test_a_partition_of_a_deleted_topic_drops_out_of_the_group(broker: Broker) -> None:
    broker.produce(10)
    broker.commit(0)
    broker.replicas.delete_topic(TOPIC)
    (group,) = broker.tracker.snapshot()
    assert group.partitions == ()
    assert group.status.status is LagStatus.OK


def test_a_topic_created_again_is_measured_from_its_new_records(broker: Broker) -> None:
    broker.produce(300)
    broker.commit(0)
    assert broker.lag().lag_seconds == 300.0
    broker.replicas.delete_topic(TOPIC)
    broker.replicas.create_topic(TOPIC, 2)
    broker.produce(5)  # offset 0 again, in a topic with a new id
    assert broker.lag().lag_seconds == 5.0


# -- retention headroom --------------------------------------------------------------


def test_headroom_is_the_time_until_retention_deletes_the_first_unconsumed_record(
    broker: Broker,
) -> None:
    broker.produce(60, 30)  # one segment whose newest record is 30 s old
    broker.commit(0)
    assert broker.lag().retention_headroom_seconds == 600.0 - 30.0
    broker.clock.advance(100)
    assert broker.lag().retention_headroom_seconds == 600.0 - 130.0


def test_headroom_is_never_negative_when_retention_is_overdue(broker: Broker) -> None:
    broker.produce(30)
    broker.commit(0)
    broker.clock.advance(3_600)  # retention has not run yet
    assert broker.lag().retention_headroom_seconds == 0.0


def test_headroom_comes_from_the_segment_holding_the_first_unconsumed_record(
    tmp_path: Path,
) -> None:
    configs: dict[str, str | None] = {"retention.ms": "600000", "segment.bytes": "100"}
    with open_broker(tmp_path / "data", configs) as broker:
        broker.produce(500)  # offset 0, its own segment
        broker.produce(10)  # offset 1, the next segment
        assert broker.partition().segment_count == 2
        broker.commit(0)
        assert broker.lag().retention_headroom_seconds == 100.0
        broker.commit(1)
        assert broker.lag().retention_headroom_seconds == 590.0


@pytest.mark.parametrize(
    ("configs", "committed"),
    [
        pytest.param({"retention.ms": "-1"}, 0, id="a topic that keeps data forever"),
        pytest.param({"retention.ms": "600000"}, 1, id="a caught-up consumer"),
    ],
)
def test_there_is_no_headroom_when_nothing_unconsumed_can_be_deleted(
    tmp_path: Path, configs: dict[str, str | None], committed: int
) -> None:
    with open_broker(tmp_path / "data", configs) as broker:
        broker.produce(30)
        broker.commit(committed)
        assert broker.lag().retention_headroom_seconds is None


# -- the commits the status is judged on ---------------------------------------------


def test_a_commit_without_a_timestamp_is_dated_by_the_clock(broker: Broker) -> None:
    broker.produce(0, 0, 0)
    broker.commit(0, timestamp_ms=-1)
    assert broker.lag().status.status is not LagStatus.STOP
    broker.clock.advance(120)
    assert broker.lag().status.status is LagStatus.STOP


def test_a_deleted_group_leaves_no_history_for_a_new_group_of_the_same_name(
    broker: Broker,
) -> None:
    broker.produce(5, 4, 3, 2, 1)
    broker.commit(4)
    broker.coordinator.apply_delete(GROUP)
    broker.commit(1)  # a new group: starting lower is no rewind
    assert broker.lag().status.status is not LagStatus.REWIND
    broker.commit(0)
    assert broker.lag().status.status is LagStatus.REWIND


def test_a_stored_batch_that_cannot_be_decoded_is_measured_from_its_header(
    broker: Broker,
) -> None:
    # Compressed batches are stored as received; garbage under a correct CRC is only
    # found when lag reads a record inside it.
    stamps = [broker.clock.time_ms() - 30_000, broker.clock.time_ms() - 20_000]
    raw = undecodable_batch(Compression.GZIP, records=2, timestamps_ms=stamps)
    broker.replicas.append(broker.partition(), raw)
    broker.commit(1)
    lag = broker.lag()  # used to raise, failing every /metrics scrape and status page
    # The batch's first timestamp stands in for the record's (30 s rather than 20 s).
    assert (lag.lag_records, lag.lag_seconds) == (1, 30.0)
