"""Topic administration through the controller: placement, validation, configs."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from broker.error_codes import KafkaError
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.metadata.records import Partition, Topic
from broker.metadata.replies import CreateTopicReply, NewPartitions, NewTopic
from broker.metadata.topic_configs import ConfigOp, ConfigOpType
from tests.broker.metadata.harness import ControllerHarness


def cluster(*nodes: int, **config: object) -> ControllerHarness:
    h = ControllerHarness(ControllerConfig(**config))  # type: ignore[arg-type]
    h.start_brokers(*(nodes or (1, 2, 3)))
    return h


def create(h: ControllerHarness, *topics: NewTopic) -> tuple[CreateTopicReply, ...]:
    return h.run(h.controller.create_topics(topics))


def leader_counts(h: ControllerHarness) -> Counter[int]:
    return Counter(p.leader for _, p in h.image.iter_partitions())


# -- placement -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("brokers", "partitions", "replication_factor"),
    [
        pytest.param(3, 3, 3, id="three partitions on three brokers get three leaders"),
        pytest.param(3, 12, 2, id="twelve partitions on three brokers get four leaders each"),
        pytest.param(4, 8, 3, id="eight partitions on four brokers get two leaders each"),
        pytest.param(5, 5, 1, id="unreplicated partitions spread too"),
    ],
)
def test_assignment_spreads_leaders_and_replicas_evenly(
    brokers: int, partitions: int, replication_factor: int
) -> None:
    h = cluster(*range(1, brokers + 1))
    create(h, NewTopic("t", partitions, replication_factor))
    states = h.image.partitions_of("t")
    assert set(leader_counts(h).values()) == {partitions // brokers}
    replicas = Counter(r for p in states for r in p.replicas)
    assert set(replicas.values()) == {partitions * replication_factor // brokers}
    assert all(p.leader == p.preferred_leader and p.isr == p.replicas for p in states)


def test_one_partition_topics_rotate_their_leaders_across_brokers() -> None:
    h = cluster(1, 2, 3)
    for name in "abcdef":
        create(h, NewTopic(name, 1, 2))
    assert leader_counts(h) == {1: 2, 2: 2, 3: 2}


def test_followers_of_a_broker_are_spread_over_the_others() -> None:
    h = cluster(1, 2, 3, 4)
    create(h, NewTopic("t", 8, 2))
    followers_of_1 = {p.replicas[1] for p in h.image.partitions_of("t") if p.leader == 1}
    assert len(followers_of_1) == 2


def test_defaults_apply_when_counts_are_minus_one() -> None:
    h = cluster(1, 2, 3, default_partitions=4, default_replication_factor=2)
    reply = create(h, NewTopic("t"))[0]
    assert (reply.num_partitions, reply.replication_factor) == (4, 2)


def test_topic_ids_are_drawn_again_when_taken_or_zero() -> None:
    taken = uuid.UUID(int=5)
    draws = iter([taken, uuid.UUID(int=0), taken, uuid.UUID(int=6)])
    h = ControllerHarness()
    h.controller = type(h.controller)(h.config, new_topic_id=lambda: next(draws))
    h.controller.activate(h.image, 0)
    h.start_brokers(1)
    assert create(h, NewTopic("a", 1, 1))[0].topic_id == taken
    assert create(h, NewTopic("b", 1, 1))[0].topic_id == uuid.UUID(int=6)


# -- refusals --------------------------------------------------------------------------

REFUSED = [
    pytest.param(
        NewTopic("bad name", 1, 1),
        KafkaError.INVALID_TOPIC_EXCEPTION,
        "not legal",
        id="an illegal name",
    ),
    pytest.param(
        NewTopic("taken", 1, 1),
        KafkaError.TOPIC_ALREADY_EXISTS,
        "already exists",
        id="a taken name",
    ),
    pytest.param(
        NewTopic("a_b", 1, 1),
        KafkaError.INVALID_TOPIC_EXCEPTION,
        "collides with existing topic 'a.b'",
        id="a name colliding by dot and underscore",
    ),
    pytest.param(
        NewTopic("t", 0, 1), KafkaError.INVALID_PARTITIONS, "0 partitions", id="zero partitions"
    ),
    pytest.param(
        NewTopic("t", 10_001, 1),
        KafkaError.INVALID_PARTITIONS,
        "10001 partitions",
        id="too many partitions",
    ),
    pytest.param(
        NewTopic("t", 1, 0),
        KafkaError.INVALID_REPLICATION_FACTOR,
        "use 1 or more",
        id="a zero replication factor",
    ),
    pytest.param(
        NewTopic("t", 1, 4),
        KafkaError.INVALID_REPLICATION_FACTOR,
        "larger than the 3 available",
        id="more replicas than unfenced brokers",
    ),
    pytest.param(
        NewTopic("t", 1, 1, assignments={0: (1,)}),
        KafkaError.INVALID_REQUEST,
        "not both",
        id="counts and assignments together",
    ),
    pytest.param(
        NewTopic("t", assignments={1: (1,)}),
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        "0..n-1",
        id="assignments not numbered from zero",
    ),
    pytest.param(
        NewTopic("t", assignments={0: ()}),
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        "no replicas",
        id="an empty assignment",
    ),
    pytest.param(
        NewTopic("t", assignments={0: (1, 1)}),
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        "twice",
        id="a broker twice in an assignment",
    ),
    pytest.param(
        NewTopic("t", assignments={0: (1, 9)}),
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        "broker 9, which is not registered",
        id="an unregistered broker in an assignment",
    ),
    pytest.param(
        NewTopic("t", assignments={0: (1, 2), 1: (3,)}),
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        "has 1 replicas where the others have 2",
        id="assignments of different sizes",
    ),
    pytest.param(
        NewTopic("t", assignments={0: (4,)}),
        KafkaError.INVALID_REPLICA_ASSIGNMENT,
        "fenced or shutting down",
        id="an assignment of fenced brokers only",
    ),
    pytest.param(
        NewTopic("t", 1, 1, configs={"nope": "1"}),
        KafkaError.INVALID_CONFIG,
        "unknown topic config 'nope'",
        id="an unknown config",
    ),
    pytest.param(
        NewTopic("t", 1, 1, configs={"retention.ms": "soon"}),
        KafkaError.INVALID_CONFIG,
        "not an integer",
        id="a config value of the wrong type",
    ),
    pytest.param(
        NewTopic("t", 1, 1, configs={"retention.ms": None}),
        KafkaError.INVALID_CONFIG,
        "null value",
        id="a null config value",
    ),
    pytest.param(
        NewTopic("t", 1, 1, configs={"unclean.leader.election.enable": "maybe"}),
        KafkaError.INVALID_CONFIG,
        "not a boolean",
        id="a non boolean unclean election flag",
    ),
    pytest.param(
        NewTopic(OFFSETS_TOPIC, 1, 1),
        KafkaError.INVALID_REQUEST,
        "internal topic",
        id="the internal offsets topic",
    ),
]


@pytest.mark.parametrize(("topic", "error", "reason"), REFUSED)
def test_invalid_topics_are_refused_with_a_reason_and_no_records(
    topic: NewTopic, error: KafkaError, reason: str
) -> None:
    h = cluster(1, 2, 3)
    h.register(4)  # registered, still fenced
    create(h, NewTopic("taken", 1, 1), NewTopic("a.b", 1, 1))
    result = h.controller.create_topics([topic])
    assert result.records == ()
    assert result.reply[0].error is error
    assert reason in (result.reply[0].message or "")


def test_one_bad_topic_does_not_stop_the_others() -> None:
    h = cluster()
    replies = create(h, NewTopic("ok", 1, 1), NewTopic("bad", 1, 9), NewTopic("ok2", 1, 1))
    assert [r.error for r in replies] == [
        KafkaError.NONE,
        KafkaError.INVALID_REPLICATION_FACTOR,
        KafkaError.NONE,
    ]
    assert h.image.topic_names() == ("ok", "ok2")


def test_a_name_twice_in_one_request_is_refused_for_both() -> None:
    h = cluster()
    replies = create(h, NewTopic("t", 1, 1), NewTopic("t", 1, 1))
    assert [r.error for r in replies] == [KafkaError.INVALID_REQUEST] * 2


def test_validate_only_checks_but_writes_nothing() -> None:
    h = cluster()
    result = h.controller.create_topics([NewTopic("t", 3, 3)], validate_only=True)
    assert result.records == () and result.reply[0].error is KafkaError.NONE
    assert h.controller.view.topic("t") is None


def test_explicit_assignments_put_unfenced_replicas_in_the_isr_and_lead_with_the_first() -> None:
    h = cluster(1, 2, 3)
    h.register(4)
    reply = create(h, NewTopic("t", assignments={0: (4, 2, 3)}))[0]
    assert reply.error is KafkaError.NONE
    state = h.image.partition("t", 0)
    assert state is not None and (state.isr, state.leader) == ((2, 3), 2)


def test_min_insync_above_the_replication_factor_is_accepted_with_a_warning() -> None:
    h = cluster()
    reply = create(h, NewTopic("t", 1, 2, configs={"min.insync.replicas": "3"}))[0]
    assert reply.error is KafkaError.NONE
    assert "NOT_ENOUGH_REPLICAS" in reply.warnings[0]


def test_created_topic_records_carry_the_normalised_configs() -> None:
    h = cluster()
    create(h, NewTopic("t", 2, 1, configs={"unclean.leader.election.enable": "True"}))
    topic = h.image.topic("t")
    assert topic is not None
    assert dict(topic.configs) == {"unclean.leader.election.enable": "true"}
    assert [type(r) for r in h.log[-3:]] == [Topic, Partition, Partition]


# -- delete ------------------------------------------------------------------------------


def test_topics_are_deleted_by_name_or_by_id() -> None:
    h = cluster()
    first = create(h, NewTopic("a", 1, 1), NewTopic("b", 1, 1))
    b_id = first[1].topic_id
    assert b_id is not None
    replies = h.run(h.controller.delete_topics(["a", b_id, "nope", uuid.UUID(int=3)]))
    assert [r.error for r in replies] == [
        KafkaError.NONE,
        KafkaError.NONE,
        KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
        KafkaError.UNKNOWN_TOPIC_ID,
    ]
    assert [r.name for r in replies[:2]] == ["a", "b"]
    assert h.image.topic_names() == ()


def test_deleting_a_topic_twice_in_one_request_is_refused() -> None:
    h = cluster()
    create(h, NewTopic("a", 1, 1))
    replies = h.run(h.controller.delete_topics(["a", "a"]))
    assert [r.error for r in replies] == [KafkaError.INVALID_REQUEST] * 2
    assert h.image.topic("a") is not None


# -- partitions ----------------------------------------------------------------------------


def test_create_partitions_adds_partitions_with_the_topic_replication_factor() -> None:
    h = cluster()
    create(h, NewTopic("t", 2, 2))
    reply = h.run(h.controller.create_partitions([NewPartitions("t", 5)]))[0]
    assert reply.error is KafkaError.NONE
    states = h.image.partitions_of("t")
    assert [p.partition_index for p in states] == [0, 1, 2, 3, 4]
    assert {len(p.replicas) for p in states} == {2}


@pytest.mark.parametrize(
    ("request_", "error", "reason"),
    [
        pytest.param(
            NewPartitions("t", 2),
            KafkaError.INVALID_PARTITIONS,
            "must be larger",
            id="the same count",
        ),
        pytest.param(
            NewPartitions("t", 1),
            KafkaError.INVALID_PARTITIONS,
            "must be larger",
            id="a smaller count",
        ),
        pytest.param(
            NewPartitions("t", 10_001),
            KafkaError.INVALID_PARTITIONS,
            "exceeds",
            id="too many partitions",
        ),
        pytest.param(
            NewPartitions("nope", 3),
            KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
            "does not exist",
            id="an unknown topic",
        ),
        pytest.param(
            NewPartitions("t", 4, ((1, 2),)),
            KafkaError.INVALID_REPLICA_ASSIGNMENT,
            "1 assignments for 2",
            id="too few assignments",
        ),
        pytest.param(
            NewPartitions("t", 3, ((1,),)),
            KafkaError.INVALID_REPLICA_ASSIGNMENT,
            "where the others have 2",
            id="an assignment of another replication factor",
        ),
    ],
)
def test_invalid_partition_growth_is_refused(
    request_: NewPartitions, error: KafkaError, reason: str
) -> None:
    h = cluster()
    create(h, NewTopic("t", 2, 2))
    result = h.controller.create_partitions([request_])
    assert result.records == ()
    assert result.reply[0].error is error and reason in (result.reply[0].message or "")


def test_new_partitions_follow_explicit_assignments() -> None:
    h = cluster()
    create(h, NewTopic("t", 1, 2))
    h.run(h.controller.create_partitions([NewPartitions("t", 2, ((3, 1),))]))
    state = h.image.partition("t", 1)
    assert state is not None and (state.replicas, state.leader) == ((3, 1), 3)


# -- configs -------------------------------------------------------------------------------


def configs_of(h: ControllerHarness, topic: str = "t") -> dict[str, str]:
    image = h.image.topic(topic)
    assert image is not None
    return dict(image.configs)


def test_alter_configs_replaces_the_whole_set_of_overrides() -> None:
    h = cluster()
    create(h, NewTopic("t", 1, 1, configs={"retention.ms": "1000", "segment.ms": "5000"}))
    replies = h.run(h.controller.alter_configs({"t": {"retention.ms": "2000"}}))
    assert replies[0].error is KafkaError.NONE
    assert configs_of(h) == {"retention.ms": "2000"}


def test_incremental_alter_configs_sets_deletes_appends_and_subtracts() -> None:
    h = cluster()
    create(h, NewTopic("t", 1, 1, configs={"retention.ms": "1000"}))
    ops = [
        ConfigOp("retention.ms", ConfigOpType.DELETE),
        ConfigOp("segment.ms", ConfigOpType.SET, "5000"),
        ConfigOp("cleanup.policy", ConfigOpType.SUBTRACT, "compact"),
    ]
    replies = h.run(h.controller.incremental_alter_configs({"t": ops}))
    assert replies[0].error is KafkaError.NONE, replies
    assert configs_of(h) == {"segment.ms": "5000", "cleanup.policy": "delete"}


@pytest.mark.parametrize(
    ("ops", "error", "reason"),
    [
        pytest.param(
            [ConfigOp("cleanup.policy", ConfigOpType.APPEND, "compact")],
            KafkaError.INVALID_CONFIG,
            "compact",
            id="appending an unsupported policy",
        ),
        pytest.param(
            [ConfigOp("retention.ms", ConfigOpType.APPEND, "5")],
            KafkaError.INVALID_CONFIG,
            "not a list config",
            id="appending to a scalar",
        ),
        pytest.param(
            [ConfigOp("retention.ms", ConfigOpType.SET)],
            KafkaError.INVALID_CONFIG,
            "needs a value",
            id="setting without a value",
        ),
        pytest.param(
            [ConfigOp("a", ConfigOpType.DELETE), ConfigOp("a", ConfigOpType.DELETE)],
            KafkaError.INVALID_REQUEST,
            "given twice",
            id="a key twice",
        ),
        pytest.param(
            [ConfigOp("nope", ConfigOpType.SET, "1")],
            KafkaError.INVALID_CONFIG,
            "unknown topic config",
            id="an unknown key",
        ),
    ],
)
def test_invalid_incremental_config_changes_are_refused(
    ops: list[ConfigOp], error: KafkaError, reason: str
) -> None:
    h = cluster()
    create(h, NewTopic("t", 1, 1))
    result = h.controller.incremental_alter_configs({"t": ops})
    assert result.records == ()
    assert result.reply[0].error is error and reason in (result.reply[0].message or "")


def test_configs_of_an_unknown_topic_are_refused() -> None:
    h = cluster()
    result = h.controller.alter_configs({"nope": {"retention.ms": "1"}})
    assert result.reply[0].error is KafkaError.UNKNOWN_TOPIC_OR_PARTITION


def test_validate_only_config_changes_write_nothing() -> None:
    h = cluster()
    create(h, NewTopic("t", 1, 1))
    result = h.controller.alter_configs({"t": {"retention.ms": "1"}}, validate_only=True)
    assert result.records == () and result.reply[0].error is KafkaError.NONE


# -- producer ids and the offsets topic ------------------------------------------------------


def test_producer_ids_come_in_consecutive_blocks() -> None:
    h = cluster()
    first = h.run(h.controller.allocate_producer_ids(1, h.epochs[1]))
    second = h.run(h.controller.allocate_producer_ids(2, h.epochs[2]))
    assert (first.first_producer_id, first.count) == (0, 1000)
    assert second.first_producer_id == 1000
    assert h.image.next_producer_id == 2000


def test_producer_ids_are_refused_to_a_stale_broker() -> None:
    h = cluster()
    result = h.controller.allocate_producer_ids(1, 0)
    assert result.reply.error is KafkaError.STALE_BROKER_EPOCH and result.records == ()


@pytest.mark.parametrize(
    ("brokers", "expected_rf"),
    [
        pytest.param(1, 1, id="one broker gives replication factor one"),
        pytest.param(2, 2, id="two brokers cap the replication factor at two"),
        pytest.param(5, 3, id="five brokers give the configured three"),
    ],
)
def test_the_offsets_topic_is_created_with_the_replication_factor_capped_by_live_brokers(
    brokers: int, expected_rf: int
) -> None:
    h = cluster(*range(1, brokers + 1), offsets_topic_partitions=6)
    reply = h.run(h.controller.create_offsets_topic())
    assert reply.error is KafkaError.NONE
    assert (reply.num_partitions, reply.replication_factor) == (6, expected_rf)
    topic = h.image.topic(OFFSETS_TOPIC)
    assert topic is not None
    assert dict(topic.configs) == {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "segment.bytes": "104857600",
    }


def test_the_offsets_topic_is_created_once() -> None:
    h = cluster()
    h.run(h.controller.create_offsets_topic())
    again = h.controller.create_offsets_topic()
    assert again.reply.error is KafkaError.TOPIC_ALREADY_EXISTS and again.records == ()
