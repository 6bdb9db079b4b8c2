"""Which API versions each client family actually uses against this broker, observed
by the fault proxy in front of it (logging each request): every request must be in the
advertised table, and the versions that matter for the features claimed elsewhere must
be the modern ones (confluent-kafka fetching by topic id, kafka-python initialising an
idempotent producer, everyone producing record batch v2).

Run with ``-s`` to print the table (it is reproduced in the interop README).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from broker.protocol.apis import SUPPORTED, ApiKey
from contracts.launcher import BrokerProcess
from loadtest.faults.proxy import ThreadedFaultProxy
from tests.interop.clients import FAMILIES, confluent_consumer, kafka_python, samples_for
from tests.interop.kcat import kcat_query_offset
from tests.interop.proxy import RequestLog

pytestmark = pytest.mark.interop

TIMEOUT_S = 15
OBSERVED: dict[str, dict[str, list[int]]] = {}


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RequestLog]]:
    log = RequestLog()
    proxy = ThreadedFaultProxy(on_request=log.record).start()
    base = tmp_path_factory.mktemp("proxied")
    broker = BrokerProcess(base / "data", "--advertised", proxy.address)
    try:
        broker.start()
        proxy.set_upstream("127.0.0.1", broker.listen_address.port)
        yield proxy.address, log
    finally:
        broker.stop()
        proxy.close()
    print(_table())


def _table() -> str:
    apis = sorted({api for versions in OBSERVED.values() for api in versions})
    families = list(OBSERVED)
    lines = ["| API | " + " | ".join(families) + " |", "|---|" + "---|" * len(families)]
    for api in apis:
        cells = [",".join(map(str, OBSERVED[f].get(api, []))) or "-" for f in families]
        lines.append(f"| {api} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summarise(seen: list[tuple[int, int]]) -> dict[str, list[int]]:
    versions: dict[str, set[int]] = defaultdict(set)
    for key, version in seen:
        versions[ApiKey(key).name.lower() if key in SUPPORTED else f"api {key}"].add(version)
    return {api: sorted(v) for api, v in versions.items()}


def _admin_round(bootstrap: str, name: str) -> None:
    """Create, describe, alter, extend and delete a topic with the family's admin client."""
    topic = f"negotiated-admin-{name}"
    if name == "confluent-kafka":
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(TIMEOUT_S)
        admin.describe_topics(TopicCollection([topic]))[topic].result(TIMEOUT_S)
        resource = ConfigResource(
            "topic",
            topic,
            incremental_configs=[
                ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)
            ],
        )
        admin.incremental_alter_configs([resource])[resource].result(TIMEOUT_S)
        admin.describe_configs([resource])[resource].result(TIMEOUT_S)
        admin.create_partitions([NewPartitions(topic, 2)])[topic].result(TIMEOUT_S)
        admin.delete_topics([topic])[topic].result(TIMEOUT_S)
    elif name == "kafka-python":
        kafka = kafka_python()
        admin_mod = kafka.admin
        client = admin_mod.KafkaAdminClient(bootstrap_servers=bootstrap)
        resource = admin_mod.ConfigResource(
            admin_mod.ConfigResourceType.TOPIC, topic, configs={"retention.ms": "60000"}
        )
        try:
            client.create_topics([admin_mod.NewTopic(topic, 1, 1)])
            client.describe_topics([topic])
            client.alter_configs([resource], incremental=True)
            client.alter_configs([resource], incremental=False)
            client.describe_configs([resource])
            client.create_partitions({topic: admin_mod.NewPartitions(2)})
            client.delete_topics([topic])
        finally:
            client.close()
    elif name == "aiokafka":

        async def run() -> None:
            from aiokafka.admin import AIOKafkaAdminClient
            from aiokafka.admin import NewPartitions as AioNewPartitions
            from aiokafka.admin import NewTopic as AioNewTopic
            from aiokafka.admin.config_resource import ConfigResource as AioConfigResource
            from aiokafka.admin.config_resource import ConfigResourceType

            client = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            resource = AioConfigResource(
                ConfigResourceType.TOPIC, topic, configs={"retention.ms": "60000"}
            )
            await client.start()
            try:
                await client.create_topics([AioNewTopic(topic, 1, 1)])
                await client.describe_topics([topic])
                await client.alter_configs([resource])
                await client.describe_configs([resource])
                await client.create_partitions({topic: AioNewPartitions(2)})
                await client.delete_topics([topic])
            finally:
                await client.close()

        asyncio.run(run())


def _offsets_round(bootstrap: str, name: str, topic: str) -> None:
    if name == "kcat":
        kcat_query_offset(bootstrap, topic, 0, 0)
    elif name == "confluent-kafka":
        from confluent_kafka import TopicPartition

        consumer = confluent_consumer(bootstrap)
        try:
            consumer.offsets_for_times([TopicPartition(topic, 0, 0)], timeout=TIMEOUT_S)
        finally:
            consumer.close()
    elif name == "kafka-python":
        kafka = kafka_python()
        consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        try:
            consumer.offsets_for_times({kafka.TopicPartition(topic, 0): 0})
        finally:
            consumer.close()
    else:

        async def run() -> None:
            from aiokafka import AIOKafkaConsumer
            from aiokafka import TopicPartition as AioTopicPartition

            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
            await consumer.start()
            try:
                await consumer.offsets_for_times({AioTopicPartition(topic, 0): 0})
            finally:
                await consumer.stop()

        asyncio.run(run())


IDEMPOTENCE = {
    "kcat": {},
    "confluent-kafka": {"enable.idempotence": True},
    "kafka-python": {},  # idempotent by default
    "aiokafka": {"enable_idempotence": True},
}


@pytest.mark.parametrize("name", list(FAMILIES), ids=[f"{n} negotiates" for n in FAMILIES])
def test_each_client_family_uses_advertised_modern_versions(
    proxied: tuple[str, RequestLog], name: str
) -> None:
    bootstrap, log = proxied
    log.take()
    client = FAMILIES[name]
    topic = f"negotiated-{name}"
    messages = samples_for(client)
    client.produce(bootstrap, topic, messages, compression="lz4", options=IDEMPOTENCE.get(name))
    assert len(client.consume(bootstrap, topic, len(messages))) == len(messages)
    _offsets_round(bootstrap, name, topic)
    _admin_round(bootstrap, name)
    seen = log.take()
    OBSERVED[name] = _summarise(seen)

    outside = [
        (key, version)
        for key, version in seen
        if key not in SUPPORTED
        or not SUPPORTED[key].min_version <= version <= SUPPORTED[key].max_version
    ]
    assert not outside, f"{name} sent versions the broker does not advertise: {outside}"
    assert seen[0][0] == ApiKey.API_VERSIONS, "the first request is not ApiVersions"
    versions = OBSERVED[name]
    assert min(versions["produce"]) >= 3, "record batch v2 needs Produce v3+"
    assert min(versions["fetch"]) >= 4
    if name == "confluent-kafka":
        assert min(versions["fetch"]) >= 13, "confluent-kafka should fetch by topic id"
    if name != "kcat":
        assert "init_producer_id" in versions, f"{name} did not initialise its idempotent producer"
        for api in ("create_topics", "describe_configs", "create_partitions", "delete_topics"):
            assert api in versions, f"{name}'s admin client sent no {api}"
