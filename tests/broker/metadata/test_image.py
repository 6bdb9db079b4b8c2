"""MetadataImage: validated apply (refusals change nothing), queries and snapshots."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from broker.metadata.errors import MetadataRecordError
from broker.metadata.image import MetadataImage, invariant_violations
from broker.metadata.records import (
    BrokerControlledShutdown,
    Config,
    FenceBroker,
    MetadataRecord,
    Partition,
    PartitionChange,
    ProducerIds,
    RegisterBroker,
    RemoveTopic,
    Topic,
    UnfenceBroker,
)
from tests.broker.metadata.harness import CLUSTER_ID, incarnation, listeners_for

T = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")


def register(node_id: int, epoch: int) -> RegisterBroker:
    return RegisterBroker(node_id, incarnation(node_id), epoch, listeners_for(node_id), None)


def base_image() -> MetadataImage:
    """Brokers 1-3 unfenced; topic "t" with partition 0 = replicas (1,2,3), ISR (1,2),
    leader 1, leader epoch 2, partition epoch 5."""
    records: list[MetadataRecord] = [register(n, n) for n in (1, 2, 3)]
    records += [UnfenceBroker(n, n) for n in (1, 2, 3)]
    records += [
        Topic("t", T, {"retention.ms": "1000"}),
        Partition(T, 0, (1, 2, 3), (1, 2), 1, 2, 5),
        ProducerIds(1, 1, 1000),
    ]
    return MetadataImage.empty(CLUSTER_ID).replay((r, i) for i, r in enumerate(records))


def change(**fields: object) -> PartitionChange:
    values: dict[str, object] = {
        "topic_id": T,
        "partition_index": 0,
        "leader": None,
        "isr": (1, 2, 3),
        "leader_epoch": 2,
        "partition_epoch": 6,
    }
    values.update(fields)
    return PartitionChange(**values)  # type: ignore[arg-type]


REFUSED: list[tuple[str, Callable[[], MetadataRecord], str]] = [
    ("a stale partition epoch", lambda: change(partition_epoch=5), "stale partition epoch 5"),
    ("a partition epoch that skips", lambda: change(partition_epoch=8), "skips from 5"),
    (
        "a leader epoch going backwards",
        lambda: change(leader=2, leader_epoch=1),
        "goes back from 2",
    ),
    (
        "a leader change without a leader epoch bump",
        lambda: change(leader=2, leader_epoch=2),
        "should be 3",
    ),
    (
        "a leader epoch bump without a leader change",
        lambda: change(leader_epoch=3),
        "should be 2",
    ),
    (
        "a leader not in the replicas",
        lambda: change(leader=7, isr=None, leader_epoch=3),
        "not in the ISR",
    ),
    (
        "an isr that is not a subset of the replicas",
        lambda: change(isr=(1, 2, 9)),
        "not a subset of replicas",
    ),
    (
        "an isr that drops the current leader",
        lambda: change(isr=(2, 3)),
        "leader 1 is not in the ISR",
    ),
    ("a change to an unknown topic id", lambda: change(topic_id=OTHER), "unknown topic id"),
    ("a change to an unknown partition", lambda: change(partition_index=3), "unknown partition"),
    (
        "a partition of an unknown topic",
        lambda: Partition(OTHER, 0, (1,), (1,), 1, 0, 0),
        "unknown topic id",
    ),
    (
        "a partition that is not the next index",
        lambda: Partition(T, 2, (1,), (1,), 1, 0, 0),
        "next partition index is 1",
    ),
    (
        "a replica that is not a registered broker",
        lambda: Partition(T, 1, (1, 9), (1,), 1, 0, 0),
        "replica 9 is not a registered broker",
    ),
    ("a duplicate topic name", lambda: Topic("t", OTHER, {}), "a topic of that name exists"),
    ("a duplicate topic id", lambda: Topic("u", T, {}), "is taken by 't'"),
    ("removing an unknown topic", lambda: RemoveTopic(OTHER), "unknown topic id"),
    ("a config of an unknown topic", lambda: Config("topic", "nope", "k", "v"), "unknown topic"),
    ("fencing an unknown broker", lambda: FenceBroker(9, 1), "not a registered broker"),
    ("fencing with a stale broker epoch", lambda: FenceBroker(2, 1), "stale broker epoch 1"),
    (
        "a controlled shutdown with a stale broker epoch",
        lambda: BrokerControlledShutdown(3, 2),
        "stale broker epoch",
    ),
    ("a registration with an older broker epoch", lambda: register(2, 2), "stale broker epoch 2"),
    ("a producer id block going backwards", lambda: ProducerIds(1, 1, 999), "does not pass"),
]


@pytest.mark.parametrize(
    ("record", "reason"),
    [(r, w) for _, r, w in REFUSED],
    ids=[f"{n} is refused and changes nothing" for n, _, _ in REFUSED],
)
def test_bad_records_are_refused_with_a_reason_and_change_nothing(
    record: Callable[[], MetadataRecord], reason: str
) -> None:
    image = base_image()
    before = image.to_snapshot()
    builder = image.builder()
    with pytest.raises(MetadataRecordError, match=reason):
        builder.apply(record(), 100)
    assert builder.build() == image
    assert image.to_snapshot() == before


def test_a_refusal_names_the_record_type_and_the_partition() -> None:
    with pytest.raises(MetadataRecordError) as raised:
        base_image().apply(change(partition_epoch=5), 100)
    assert str(raised.value) == ("partition_change for t-0: stale partition epoch 5, current 5")


def test_an_offset_going_backwards_is_refused() -> None:
    image = base_image()
    with pytest.raises(MetadataRecordError, match="before the last offset"):
        image.apply(change(), image.last_offset - 1)


def test_a_builder_goes_on_after_a_refused_record() -> None:
    builder = base_image().builder()
    with pytest.raises(MetadataRecordError):
        builder.apply(change(partition_epoch=5), 100)
    builder.apply(change(), 101)
    assert builder.build().partition("t", 0) is not None
    assert builder.build().partition("t", 0).isr == (1, 2, 3)  # type: ignore[union-attr]


def test_accepted_changes_update_leader_isr_and_epochs() -> None:
    image = base_image().apply(change(leader=2, isr=(2,), leader_epoch=3), 100)
    partition = image.partition("t", 0)
    assert partition is not None
    assert (partition.leader, partition.isr, partition.leader_epoch, partition.partition_epoch) == (
        2,
        (2,),
        3,
        6,
    )
    assert image.last_offset == 100


def test_an_offline_partition_has_leader_minus_one_and_keeps_its_isr() -> None:
    image = base_image().apply(change(leader=-1, isr=(1,), leader_epoch=3), 100)
    assert image.leader_of("t", 0) == -1
    assert [(p.topic, p.partition_index) for p in image.offline_partitions()] == [("t", 0)]


def test_registration_starts_fenced_and_records_its_offset() -> None:
    image = base_image().apply(register(4, 9), 50)
    broker = image.broker(4)
    assert broker is not None
    assert broker.fenced and broker.registration_offset == 50
    assert 4 not in image.live_brokers()


def test_fence_unfence_and_configs_are_targets_so_repeating_them_is_harmless() -> None:
    image = base_image()
    again = image.replay(
        [(UnfenceBroker(1, 1), 50), (Config("topic", "t", "retention.ms", "1000"), 51)]
    )
    assert again.brokers == image.brokers and again.topics == image.topics


def test_controlled_shutdown_makes_a_broker_ineligible_but_live() -> None:
    image = base_image().apply(BrokerControlledShutdown(3, 3), 50)
    assert 3 in image.live_brokers()
    assert 3 not in image.eligible_brokers()


def test_removing_a_topic_frees_its_name_and_id() -> None:
    image = base_image().replay([(RemoveTopic(T), 50), (Topic("t", T, {}), 51)])
    assert image.topic("t") is not None and image.partitions_of("t") == ()


def test_config_records_set_and_remove_overrides() -> None:
    image = base_image().replay(
        [
            (Config("topic", "t", "retention.ms", None), 50),
            (Config("topic", "t", "segment.ms", "60000"), 51),
        ]
    )
    topic = image.topic("t")
    assert topic is not None and dict(topic.configs) == {"segment.ms": "60000"}


def test_queries_answer_what_brokers_need() -> None:
    image = base_image()
    assert image.live_brokers() == (1, 2, 3)
    assert image.leader_of("t", 0) == 1
    assert image.leader_of("t", 1) is None
    assert image.leader_of("nope", 0) is None
    assert [r.partition_index for r in image.partitions_led_by(1)] == [0]
    assert [r.topic for r in image.partitions_replicated_on(3)] == ["t"]
    assert image.partitions_led_by(3) == ()
    assert image.topic_by_id(T) is image.topic("t")
    assert image.next_producer_id == 1000


def test_an_untouched_topic_keeps_its_identity_across_builds() -> None:
    image = base_image().apply(Topic("u", OTHER, {}), 50)
    after = image.apply(Partition(OTHER, 0, (1,), (1,), 1, 0, 0), 51)
    assert after.topic("t") is image.topic("t")
    assert after.topic("u") is not image.topic("u")


# -- snapshots ---------------------------------------------------------------------------


def test_a_snapshot_round_trip_gives_an_equal_image_and_equal_bytes() -> None:
    image = base_image().apply(BrokerControlledShutdown(3, 3), 50)
    data = image.to_snapshot()
    restored = MetadataImage.from_snapshot(data)
    assert restored == image
    assert restored.to_snapshot() == data
    assert invariant_violations(restored) == []


def test_the_empty_image_has_a_snapshot_too() -> None:
    image = MetadataImage.empty(CLUSTER_ID)
    assert MetadataImage.from_snapshot(image.to_snapshot()) == image


def _tampered(old: bytes, new: bytes) -> bytes:
    data = base_image().to_snapshot()
    assert old in data, data
    return data.replace(old, new, 1)


BAD_SNAPSHOTS = [
    pytest.param(
        lambda: _tampered(b'"version":1', b'"version":2'),
        "version: 2 is outside",
        id="a snapshot of another version is refused",
    ),
    pytest.param(
        lambda: _tampered(b'"format":"tidewatch-metadata-snapshot"', b'"format":"other"'),
        "not one of",
        id="a snapshot of another format is refused",
    ),
    pytest.param(
        lambda: _tampered(b'"replicas":[1,2,3]', b'"replicas":[1,2,7]'),
        "replica 7 is not a registered broker",
        id="a snapshot naming an unregistered replica is refused",
    ),
    pytest.param(
        lambda: _tampered(b'"leader":1', b'"leader":3'),
        "leader 3 is not in the ISR",
        id="a snapshot with a leader outside the isr is refused",
    ),
    pytest.param(
        lambda: _tampered(b'"node_id":1', b'"node_id":4'),
        "sorted by node id",
        id="a snapshot with unsorted brokers is refused",
    ),
    pytest.param(
        lambda: _tampered(b'"last_offset":8', b'"last_offset":1'),
        "after the last offset",
        id="a snapshot with registrations after its last offset is refused",
    ),
    pytest.param(lambda: b"{}", "missing field", id="an empty object is refused"),
]


@pytest.mark.parametrize(("data", "reason"), BAD_SNAPSHOTS)
def test_invalid_snapshots_are_refused_with_a_reason(
    data: Callable[[], bytes], reason: str
) -> None:
    with pytest.raises(MetadataRecordError, match=reason):
        MetadataImage.from_snapshot(data())


def test_a_follower_skips_a_refused_entry_and_still_counts_it_as_read() -> None:
    image = base_image()
    builder = image.builder()
    with pytest.raises(MetadataRecordError):
        builder.apply(change(partition_epoch=5), 100)
    builder.skip(100)
    built = builder.build()
    assert built.last_offset == 100
    assert built.topics == image.topics and built.brokers == image.brokers
