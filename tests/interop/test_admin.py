"""Topic administration through the admin clients of confluent-kafka, kafka-python and
aiokafka: create (with configs), describe topics and configs, alter configs (incremental
and classic), add partitions, delete; mistakes come back as the Kafka error a real
broker would send, with a message a person can act on; topic ids survive a restart.

Every change made through a client is checked through another path (the raw protocol
client or another family's admin client), so a client that merely echoes its request
cannot make a test pass.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)
from kio.schema.errors import ErrorCode

from contracts.launcher import BrokerProcess
from tests.interop.clients import FAMILIES, kafka_python
from tests.interop.messages import Message
from tests.interop.wire import WireClient

pytestmark = pytest.mark.interop

TIMEOUT_S = 15
DEFAULT_RETENTION_MS = str(7 * 24 * 3600 * 1000)


@pytest.fixture(scope="module")
def admin(shared_broker: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": shared_broker.bootstrap})


def kafka_uuid(value: object) -> uuid.UUID:
    """A topic id as Kafka prints it (URL-safe base64 of 16 bytes, no padding)."""
    return uuid.UUID(bytes=base64.urlsafe_b64decode(str(value) + "=="))


def wait(future: Future[Any]) -> Any:
    return future.result(timeout=TIMEOUT_S)


def confluent_error(future: Future[Any]) -> KafkaError:
    with pytest.raises(KafkaException) as info:
        future.result(timeout=TIMEOUT_S)
    error = info.value.args[0]
    assert isinstance(error, KafkaError)
    return error


def topic_configs(admin: AdminClient, topic: str) -> dict[str, tuple[str, ConfigSource]]:
    resource = ConfigResource("topic", topic)
    entries = wait(admin.describe_configs([resource])[resource])
    return {name: (e.value, ConfigSource(e.source)) for name, e in entries.items()}


def partition_count(wire: WireClient, topic: str) -> int:
    (found,) = wire.metadata(topic).topics
    assert found.error_code == ErrorCode.none, found.error_code
    return len(found.partitions)


def topic_exists(wire: WireClient, topic: str) -> bool:
    (found,) = wire.metadata(topic).topics
    return bool(found.error_code == ErrorCode.none)


# -- confluent-kafka ---------------------------------------------------------------------


def test_confluent_admin_creates_a_topic_with_configs_and_describes_it(
    admin: AdminClient, wire: WireClient, topic: str
) -> None:
    created = admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "3600000"})])
    assert wait(created[topic]) is None

    described = wait(admin.describe_topics(TopicCollection([topic]))[topic])
    assert described.name == topic
    assert kafka_uuid(described.topic_id) == wire.topic_id(topic)
    assert [(p.id, p.leader.id, [r.id for r in p.replicas]) for p in described.partitions] == [
        (0, 0, [0]),
        (1, 0, [0]),
    ]
    configs = topic_configs(admin, topic)
    assert configs["retention.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["retention.bytes"] == ("-1", ConfigSource.DEFAULT_CONFIG)
    assert configs["cleanup.policy"] == ("delete", ConfigSource.DEFAULT_CONFIG)


def test_confluent_admin_alters_configs_incrementally_and_classically(
    admin: AdminClient, wire: WireClient, topic: str
) -> None:
    wire.create_topic(topic, 1, {"retention.ms": "3600000"})
    incremental = ConfigResource(
        "topic",
        topic,
        incremental_configs=[
            ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    assert wait(admin.incremental_alter_configs([incremental])[incremental]) is None
    configs = topic_configs(admin, topic)
    assert configs["retention.bytes"] == ("1048576", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["retention.ms"] == (DEFAULT_RETENTION_MS, ConfigSource.DEFAULT_CONFIG)

    # Classic AlterConfigs replaces the whole set of overrides: retention.bytes reverts.
    classic = ConfigResource("topic", topic, set_config={"segment.ms": "3600000"})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "alter_configs has been deprecated", DeprecationWarning)
        futures = admin.alter_configs([classic])
    assert wait(futures[classic]) is None
    configs = topic_configs(admin, topic)
    assert configs["segment.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["retention.bytes"] == ("-1", ConfigSource.DEFAULT_CONFIG)


def test_confluent_admin_adds_partitions_that_producers_can_use(
    admin: AdminClient, wire: WireClient, shared_broker: BrokerProcess, topic: str
) -> None:
    wire.create_topic(topic, 1)
    assert wait(admin.create_partitions([NewPartitions(topic, 3)])[topic]) is None
    assert partition_count(wire, topic) == 3
    message = Message(b"to the new partition", b"k", timestamp_ms=1_700_000_000_000)
    FAMILIES["confluent-kafka"].produce(shared_broker.bootstrap, topic, [message], partition=2)
    assert wire.log_end_offset(topic, 2) == 1


def test_confluent_admin_deletes_a_topic(admin: AdminClient, wire: WireClient, topic: str) -> None:
    wire.create_topic(topic, 1)
    assert wait(admin.delete_topics([topic])[topic]) is None
    assert not topic_exists(wire, topic)
    assert topic not in admin.list_topics(timeout=TIMEOUT_S).topics


def test_confluent_admin_validate_only_creates_nothing(
    admin: AdminClient, wire: WireClient, topic: str
) -> None:
    assert wait(admin.create_topics([NewTopic(topic, 1, 1)], validate_only=True)[topic]) is None
    assert not topic_exists(wire, topic)


def _duplicate(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    wire.create_topic(topic, 1)
    return admin.create_topics([NewTopic(topic, 1, 1)])[topic]


def _bad_config_value(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    return admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "soon"})])[topic]


def _unknown_config(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    return admin.create_topics([NewTopic(topic, 1, 1, config={"no.such.config": "1"})])[topic]


def _replication_factor(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    return admin.create_topics([NewTopic(topic, 1, 3)])[topic]


def _invalid_name(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    return admin.create_topics([NewTopic(topic + "/slash", 1, 1)])[topic + "/slash"]


def _fewer_partitions(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    wire.create_topic(topic, 3)
    return admin.create_partitions([NewPartitions(topic, 2)])[topic]


def _alter_unknown(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    resource = ConfigResource(
        "topic",
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    return admin.incremental_alter_configs([resource])[resource]


def _alter_invalid(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    wire.create_topic(topic, 1)
    resource = ConfigResource(
        "topic",
        topic,
        incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    return admin.incremental_alter_configs([resource])[resource]


def _describe_unknown(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    return admin.describe_topics(TopicCollection([topic]))[topic]


def _delete_unknown(admin: AdminClient, wire: WireClient, topic: str) -> Future[Any]:
    return admin.delete_topics([topic])[topic]


# (what goes wrong, the Kafka error, words the message must contain; librdkafka shows
# only the error name for some APIs, so those cases check the code alone).
CONFLUENT_MISTAKES = [
    ("creating an existing topic", _duplicate, KafkaError.TOPIC_ALREADY_EXISTS, "already exists"),
    (
        "a config value that is not a number",
        _bad_config_value,
        KafkaError.INVALID_CONFIG,
        "retention.ms",
    ),
    ("an unknown config", _unknown_config, KafkaError.INVALID_CONFIG, "no.such.config"),
    (
        "replication factor 3 on one node",
        _replication_factor,
        KafkaError.INVALID_REPLICATION_FACTOR,
        "larger than the 1 available",
    ),
    ("a topic name with a slash", _invalid_name, KafkaError.TOPIC_EXCEPTION, "is not legal"),
    (
        "fewer partitions than now",
        _fewer_partitions,
        KafkaError.INVALID_PARTITIONS,
        "must be larger",
    ),
    (
        "altering an unknown topic",
        _alter_unknown,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        "does not exist",
    ),
    (
        "a config value the broker does not support",
        _alter_invalid,
        KafkaError.INVALID_CONFIG,
        "compact",
    ),
    ("describing an unknown topic", _describe_unknown, KafkaError.UNKNOWN_TOPIC_OR_PART, ""),
    ("deleting an unknown topic", _delete_unknown, KafkaError.UNKNOWN_TOPIC_OR_PART, ""),
]


@pytest.mark.parametrize(
    ("make_mistake", "code", "words"),
    [m[1:] for m in CONFLUENT_MISTAKES],
    ids=[m[0] for m in CONFLUENT_MISTAKES],
)
def test_confluent_admin_mistakes_get_the_kafka_error(
    admin: AdminClient, wire: WireClient, topic: str, make_mistake: Any, code: int, words: str
) -> None:
    error = confluent_error(make_mistake(admin, wire, topic))
    assert error.code() == code, error
    assert words in error.str(), error.str()


# -- kafka-python ------------------------------------------------------------------------


@pytest.fixture
def kp_admin(shared_broker: BrokerProcess) -> Iterator[Any]:
    kafka = kafka_python()
    client = kafka.admin.KafkaAdminClient(
        bootstrap_servers=shared_broker.bootstrap, request_timeout_ms=TIMEOUT_S * 1000
    )
    try:
        yield client
    finally:
        client.close()


def test_kafka_python_admin_manages_a_topic_from_creation_to_deletion(
    kp_admin: Any, admin: AdminClient, wire: WireClient, topic: str
) -> None:
    kafka = kafka_python()
    admin_mod = kafka.admin
    kp_admin.create_topics(
        [admin_mod.NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})]
    )
    (described,) = kp_admin.describe_topics([topic])
    assert described["error_code"] == 0
    assert uuid.UUID(described["topic_id"]) == wire.topic_id(topic)
    assert [p["partition_index"] for p in described["partitions"]] == [0, 1]

    resource = admin_mod.ConfigResource(admin_mod.ConfigResourceType.TOPIC, topic)
    listed = kp_admin.describe_configs([resource], config_filter="all")["topic"][topic]
    assert listed["retention.ms"]["value"] == "3600000"
    assert listed["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert listed["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"

    # Classic AlterConfigs, then IncrementalAlterConfigs; confluent's admin checks.
    kp_admin.alter_configs(
        [
            admin_mod.ConfigResource(
                admin_mod.ConfigResourceType.TOPIC, topic, configs={"retention.ms": "60000"}
            )
        ],
        incremental=False,
    )
    assert topic_configs(admin, topic)["retention.ms"] == (
        "60000",
        ConfigSource.DYNAMIC_TOPIC_CONFIG,
    )
    kp_admin.alter_configs(
        [
            admin_mod.ConfigResource(
                admin_mod.ConfigResourceType.TOPIC, topic, configs={"retention.bytes": "4096"}
            )
        ],
        incremental=True,
    )
    configs = topic_configs(admin, topic)
    assert configs["retention.bytes"] == ("4096", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert configs["retention.ms"] == ("60000", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    kp_admin.create_partitions({topic: admin_mod.NewPartitions(5)})
    assert partition_count(wire, topic) == 5

    kp_admin.delete_topics([topic])
    assert not topic_exists(wire, topic)


def test_kafka_python_admin_raises_the_kafka_error_with_the_brokers_message(
    kp_admin: Any, wire: WireClient, topic: str
) -> None:
    kafka = kafka_python()
    admin_mod, errors = kafka.admin, kafka.errors
    wire.create_topic(topic, 1)
    with pytest.raises(errors.TopicAlreadyExistsError, match="already exists"):
        kp_admin.create_topics([admin_mod.NewTopic(topic, 1, 1)])
    with pytest.raises(errors.InvalidConfigurationError, match=r"segment\.bytes"):
        kp_admin.create_topics(
            [admin_mod.NewTopic(topic + "-bad", 1, 1, topic_configs={"segment.bytes": "1"})]
        )
    with pytest.raises(errors.UnknownTopicOrPartitionError, match="does not exist"):
        kp_admin.delete_topics([topic + "-missing"])
    with pytest.raises(errors.InvalidPartitionsError, match="must be larger"):
        kp_admin.create_partitions({topic: admin_mod.NewPartitions(1)})


# -- aiokafka ----------------------------------------------------------------------------


async def _aiokafka_admin_session(bootstrap: str, topic: str) -> dict[str, Any]:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin import NewPartitions as AioNewPartitions
    from aiokafka.admin import NewTopic as AioNewTopic
    from aiokafka.admin.config_resource import ConfigResource as AioConfigResource
    from aiokafka.admin.config_resource import ConfigResourceType

    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_S * 1000)
    await client.start()
    seen: dict[str, Any] = {}
    try:
        new = [AioNewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})]
        seen["create"] = (await client.create_topics(new)).topic_errors
        seen["duplicate"] = (await client.create_topics(new)).topic_errors
        seen["bad config"] = (
            await client.create_topics(
                [AioNewTopic(topic + "-bad", 1, 1, topic_configs={"retention.ms": "x"})]
            )
        ).topic_errors
        seen["describe"] = await client.describe_topics([topic])
        resource = AioConfigResource(ConfigResourceType.TOPIC, topic)
        (described,) = await client.describe_configs([resource])
        seen["configs"] = described.resources
        altered = AioConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"retention.ms": "1000"}
        )
        (alter,) = await client.alter_configs([altered])
        seen["alter"] = alter.resources
        seen["partitions"] = (
            await client.create_partitions({topic: AioNewPartitions(3)})
        ).topic_errors
        seen["delete"] = (await client.delete_topics([topic])).topic_error_codes
        seen["delete again"] = (await client.delete_topics([topic])).topic_error_codes
    finally:
        await client.close()
    return seen


def test_aiokafka_admin_manages_a_topic_and_sees_the_kafka_errors(
    shared_broker: BrokerProcess, admin: AdminClient, wire: WireClient, topic: str
) -> None:
    seen = asyncio.run(_aiokafka_admin_session(shared_broker.bootstrap, topic))
    assert seen["create"] == [(topic, 0, None)]
    ((_, code, message),) = seen["duplicate"]
    assert (ErrorCode(code), "already exists" in message) == (ErrorCode.topic_already_exists, True)
    ((_, code, message),) = seen["bad config"]
    assert (ErrorCode(code), "retention.ms" in message) == (ErrorCode.invalid_config, True)
    ((described),) = seen["describe"]
    assert (described["topic"], len(described["partitions"])) == (topic, 2)
    ((code, _, _, name, entries),) = seen["configs"]
    assert (code, name) == (0, topic)
    assert {e[0]: e[1] for e in entries}["retention.ms"] == "3600000"
    assert seen["alter"] == [(0, None, 2, topic)]
    assert seen["partitions"] == [(topic, 0, None)]
    assert seen["delete"] == [(topic, 0)]
    assert seen["delete again"] == [(topic, ErrorCode.unknown_topic_or_partition.value)]
    assert not topic_exists(wire, topic)


# -- topic ids ---------------------------------------------------------------------------


def test_topic_ids_stay_the_same_across_a_restart(broker: BrokerProcess, topic: str) -> None:
    names = [f"{topic}-{i}" for i in range(3)]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name, future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).items():
        assert wait(future) is None, name
    del admin
    message = Message(b"before the restart", b"k", timestamp_ms=1_700_000_000_000)
    FAMILIES["confluent-kafka"].produce(broker.bootstrap, names[1], [message])

    def ids() -> dict[str, uuid.UUID]:
        client = AdminClient({"bootstrap.servers": broker.bootstrap})
        described = client.describe_topics(TopicCollection(names))
        from_admin = {n: kafka_uuid(wait(f).topic_id) for n, f in described.items()}
        with WireClient(broker.bootstrap) as wire:
            assert from_admin == {n: wire.topic_id(n) for n in names}
        return from_admin

    before = ids()
    assert len(set(before.values())) == len(names)
    broker.restart()
    assert ids() == before
    # confluent-kafka fetches by topic id (Fetch v13+): the id still finds the data.
    (consumed,) = FAMILIES["confluent-kafka"].consume(broker.bootstrap, names[1], 1)
    assert (consumed.key, consumed.value) == (message.key, message.value)
