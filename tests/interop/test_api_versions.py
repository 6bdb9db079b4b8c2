"""Every API version the broker advertises works: for each (API, version) in
broker.protocol.apis.SUPPORTED the raw client sends a request built for that version,
the response must decode with kio at that version using exactly the bytes of its frame,
carry no error code, and have the effect the API promises, checked through a second
request. Group APIs get a group in the state they need (joined, stable, with committed
offsets) from requests at the newest versions first.

Also: ApiVersions above the advertised maximum is answered in the v0 layout with
UNSUPPORTED_VERSION and the full table (KAFKA_NOTES trap 2), Produce v0-2 are answered
UNSUPPORTED_VERSION without storing anything, and a version of another API outside its
range closes the connection with the reason in the broker's log.
"""

from __future__ import annotations

import datetime
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.protocol.apis import SUPPORTED, ApiKey
from broker.records.record import Record, build_batch
from contracts.launcher import BrokerProcess
from tests.interop.messages import BASE_TIMESTAMP_MS
from tests.interop.wire import (
    WireClient,
    build,
    decode_old_produce_response,
    encode_body,
    encode_old_produce,
    errors_in,
    nested,
    request_class,
)

pytestmark = pytest.mark.interop

DATA_TOPIC = "every-version-data"
TIMEOUT = datetime.timedelta(seconds=10)
TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4


@dataclass
class Scenario:
    """What a request for one (API, version) needs: a client, the shared data topic and
    a topic name of its own for requests that change state."""

    wire: WireClient
    api: ApiKey
    version: int
    data_topic_id: uuid.UUID

    @property
    def own_topic(self) -> str:
        return f"every-version-{self.api.name.lower()}-v{self.version}"

    @property
    def own_group(self) -> str:
        return f"every-version-group-{self.api.name.lower()}-v{self.version}"

    def topic_configs(self, topic: str) -> dict[str, str]:
        cls = request_class(ApiKey.DESCRIBE_CONFIGS, 4)
        resource = build(
            nested(cls, "DescribeConfigsResource"),
            resource_type=TOPIC_RESOURCE,
            resource_name=topic,
            configuration_keys=None,
        )
        (result,) = self.wire.request(build(cls, resources=(resource,))).results
        assert result.error_code == ErrorCode.none, result.error_message
        return {c.name: c.value for c in result.configs}

    def partitions(self, topic: str) -> int | None:
        (found,) = self.wire.metadata(topic).topics
        return len(found.partitions) if found.error_code == ErrorCode.none else None


Build = Callable[[type[Any], Scenario], Any]
Check = Callable[[Any, Scenario], None]


# -- one request builder and one check per API ----------------------------------------


def produce_request(cls: type[Any], s: Scenario) -> Any:
    batch = build_batch([Record(f"v{s.version}".encode(), b"k", BASE_TIMESTAMP_MS)])
    partition = build(nested(cls, "PartitionProduceData"), index=0, records=batch)
    topic = build(nested(cls, "TopicProduceData"), name=DATA_TOPIC, partition_data=(partition,))
    return build(cls, transactional_id=None, acks=-1, timeout=TIMEOUT, topic_data=(topic,))


def produce_check(response: Any, s: Scenario) -> None:
    ((result,),) = (t.partition_responses for t in response.responses)
    assert result.base_offset >= 0
    assert s.wire.log_end_offset(DATA_TOPIC) > result.base_offset


def fetch_request(cls: type[Any], s: Scenario) -> Any:
    return s.wire.fetch_request(DATA_TOPIC, 0, 0, version=s.version, topic_id=s.data_topic_id)


def fetch_check(response: Any, s: Scenario) -> None:
    ((result,),) = (t.partitions for t in response.responses)
    records = bytes(result.records or b"")
    assert result.high_watermark >= 1
    assert len(records) >= 61, "not even one whole batch"
    assert struct.unpack_from(">q", records, 0)[0] == 0, "the first batch is not at offset 0"


def list_offsets_request(cls: type[Any], s: Scenario) -> Any:
    part = build(
        nested(cls, "ListOffsetsPartition"),
        partition_index=0,
        current_leader_epoch=-1,
        timestamp=-1,
    )
    topic = build(nested(cls, "ListOffsetsTopic"), name=DATA_TOPIC, partitions=(part,))
    return build(cls, replica_id=-1, isolation_level=0, topics=(topic,))


def list_offsets_check(response: Any, s: Scenario) -> None:
    ((result,),) = (t.partitions for t in response.topics)
    assert result.offset == s.wire.log_end_offset(DATA_TOPIC) >= 1


def offset_for_leader_epoch_request(cls: type[Any], s: Scenario) -> Any:
    part = build(
        nested(cls, "OffsetForLeaderPartition"),
        partition=0,
        current_leader_epoch=-1,
        leader_epoch=0,
    )
    topic = build(nested(cls, "OffsetForLeaderTopic"), topic=DATA_TOPIC, partitions=(part,))
    return build(cls, replica_id=-1, topics=(topic,))


def offset_for_leader_epoch_check(response: Any, s: Scenario) -> None:
    # A single node leads in epoch 0 from offset 0: epoch 0 ends at the log end.
    ((result,),) = (t.partitions for t in response.topics)
    assert (result.leader_epoch, result.end_offset) == (0, s.wire.log_end_offset(DATA_TOPIC))


def metadata_request(cls: type[Any], s: Scenario) -> Any:
    topic = build(nested(cls, "MetadataRequestTopic"), name=DATA_TOPIC, topic_id=None)
    return build(
        cls,
        topics=(topic,),
        allow_auto_topic_creation=False,
        include_cluster_authorized_operations=False,
        include_topic_authorized_operations=False,
    )


def metadata_check(response: Any, s: Scenario) -> None:
    (broker,) = response.brokers
    assert (broker.host, broker.port) == (
        s.wire.sock.getpeername()[0],
        s.wire.sock.getpeername()[1],
    )
    assert response.controller_id == broker.node_id
    (topic,) = response.topics
    assert topic.name == DATA_TOPIC
    assert [p.leader_id for p in topic.partitions] == [broker.node_id]
    if s.version >= 10:
        assert topic.topic_id == s.data_topic_id


def api_versions_request(cls: type[Any], s: Scenario) -> Any:
    return build(cls, client_software_name="tidewatch-interop", client_software_version="1")


def api_versions_check(response: Any, s: Scenario) -> None:
    advertised = {(k.api_key, k.min_version, k.max_version) for k in response.api_keys}
    assert advertised == {(r.key, r.min_version, r.max_version) for r in SUPPORTED.values()}


def create_topics_request(cls: type[Any], s: Scenario) -> Any:
    config = build(nested(cls, "CreatableTopicConfig"), name="retention.ms", value="86400000")
    topic = build(
        nested(cls, "CreatableTopic"),
        name=s.own_topic,
        num_partitions=2,
        replication_factor=1,
        assignments=(),
        configs=(config,),
    )
    return build(cls, topics=(topic,), timeout=TIMEOUT, validate_only=False)


def create_topics_check(response: Any, s: Scenario) -> None:
    assert s.partitions(s.own_topic) == 2
    assert s.topic_configs(s.own_topic)["retention.ms"] == "86400000"


def delete_topics_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.create_topic(s.own_topic)
    state = nested(cls, "DeleteTopicState") if s.version >= 6 else None
    return build(
        cls,
        topic_names=(s.own_topic,),
        topics=(build(state, name=s.own_topic, topic_id=None),) if state else (),
        timeout=TIMEOUT,
    )


def delete_topics_check(response: Any, s: Scenario) -> None:
    assert s.partitions(s.own_topic) is None


def init_producer_id_request(cls: type[Any], s: Scenario) -> Any:
    return build(
        cls,
        transactional_id=None,
        transaction_timeout=datetime.timedelta(seconds=60),
        producer_id=-1,
        producer_epoch=-1,
    )


def init_producer_id_check(response: Any, s: Scenario) -> None:
    assert (response.producer_id >= 0, response.producer_epoch) == (True, 0)


def describe_configs_request(cls: type[Any], s: Scenario) -> Any:
    resources = tuple(
        build(
            nested(cls, "DescribeConfigsResource"),
            resource_type=kind,
            resource_name=name,
            configuration_keys=None,
        )
        for kind, name in ((TOPIC_RESOURCE, DATA_TOPIC), (BROKER_RESOURCE, "0"))
    )
    return build(cls, resources=resources, include_synonyms=False, include_documentation=True)


def describe_configs_check(response: Any, s: Scenario) -> None:
    topic, broker = ({c.name: c.value for c in r.configs} for r in response.results)
    assert topic["cleanup.policy"] == "delete"
    assert broker["broker.id"] == "0"


def alter_configs_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.create_topic(s.own_topic)
    config = build(nested(cls, "AlterableConfig"), name="retention.ms", value="4321000")
    resource = build(
        nested(cls, "AlterConfigsResource"),
        resource_type=TOPIC_RESOURCE,
        resource_name=s.own_topic,
        configs=(config,),
    )
    return build(cls, resources=(resource,), validate_only=False)


def alter_configs_check(response: Any, s: Scenario) -> None:
    assert s.topic_configs(s.own_topic)["retention.ms"] == "4321000"


def create_partitions_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.create_topic(s.own_topic, 1)
    topic = build(nested(cls, "CreatePartitionsTopic"), name=s.own_topic, count=3, assignments=None)
    return build(cls, topics=(topic,), timeout=TIMEOUT, validate_only=False)


def create_partitions_check(response: Any, s: Scenario) -> None:
    assert s.partitions(s.own_topic) == 3


def incremental_alter_configs_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.create_topic(s.own_topic)
    config = build(
        nested(cls, "AlterableConfig"), name="retention.bytes", config_operation=0, value="65536"
    )
    resource = build(
        nested(cls, "AlterConfigsResource"),
        resource_type=TOPIC_RESOURCE,
        resource_name=s.own_topic,
        configs=(config,),
    )
    return build(cls, resources=(resource,), validate_only=False)


def incremental_alter_configs_check(response: Any, s: Scenario) -> None:
    assert s.topic_configs(s.own_topic)["retention.bytes"] == "65536"


def describe_cluster_request(cls: type[Any], s: Scenario) -> Any:
    return build(cls, include_cluster_authorized_operations=False, endpoint_type=1)


def describe_cluster_check(response: Any, s: Scenario) -> None:
    (broker,) = response.brokers
    assert response.controller_id == broker.broker_id
    assert response.cluster_id


def find_coordinator_request(cls: type[Any], s: Scenario) -> Any:
    return build(cls, key="some-group", key_type=0, coordinator_keys=("some-group",))


def find_coordinator_check(response: Any, s: Scenario) -> None:
    found = response.coordinators if s.version >= 4 else [response]
    host, port = s.wire.sock.getpeername()[:2]
    assert [(c.node_id, c.host, c.port) for c in found] == [(0, host, port)]


# -- consumer groups ------------------------------------------------------------------

SESSION = datetime.timedelta(seconds=30)


def join_group_request(cls: type[Any], s: Scenario) -> Any:
    def join(member_id: str) -> Any:
        protocol = build(nested(cls, "JoinGroupRequestProtocol"), name="range", metadata=b"sub")
        return build(
            cls,
            group_id=s.own_group,
            session_timeout=SESSION,
            rebalance_timeout=SESSION,
            member_id=member_id,
            group_instance_id=None,
            protocol_type="consumer",
            protocols=(protocol,),
        )

    if s.version < 4:
        return join("")
    # v4+: the first join is answered MEMBER_ID_REQUIRED with the id to join with.
    first = s.wire.request(join(""))
    assert first.error_code == ErrorCode.member_id_required, first.error_code
    assert first.member_id
    return join(first.member_id)


def join_group_check(response: Any, s: Scenario) -> None:
    assert response.member_id
    assert response.leader == response.member_id
    assert response.generation_id >= 1
    assert [(m.member_id, bytes(m.metadata)) for m in response.members] == [
        (response.member_id, b"sub")
    ]


def sync_group_request(cls: type[Any], s: Scenario) -> Any:
    member_id, generation = s.wire.join_group(s.own_group)
    mine = build(
        nested(cls, "SyncGroupRequestAssignment"),
        member_id=member_id,
        assignment=f"assigned in v{s.version}".encode(),
    )
    return build(
        cls,
        group_id=s.own_group,
        generation_id=generation,
        member_id=member_id,
        group_instance_id=None,
        protocol_type="consumer",
        protocol_name="range",
        assignments=(mine,),
    )


def sync_group_check(response: Any, s: Scenario) -> None:
    assert bytes(response.assignment) == f"assigned in v{s.version}".encode()
    assert s.wire.group_state(s.own_group) == "Stable"


def heartbeat_request(cls: type[Any], s: Scenario) -> Any:
    member_id, generation = s.wire.stable_member(s.own_group)
    return build(
        cls,
        group_id=s.own_group,
        generation_id=generation,
        member_id=member_id,
        group_instance_id=None,
    )


def heartbeat_check(response: Any, s: Scenario) -> None:
    assert s.wire.group_state(s.own_group) == "Stable"


def leave_group_request(cls: type[Any], s: Scenario) -> Any:
    member_id, _ = s.wire.stable_member(s.own_group)
    if s.version < 3:
        return build(cls, group_id=s.own_group, member_id=member_id)
    identity = build(nested(cls, "MemberIdentity"), member_id=member_id, group_instance_id=None)
    return build(cls, group_id=s.own_group, members=(identity,))


def leave_group_check(response: Any, s: Scenario) -> None:
    assert s.wire.group_state(s.own_group) == "Empty"


def offset_commit_request(cls: type[Any], s: Scenario) -> Any:
    part = build(
        nested(cls, "OffsetCommitRequestPartition"),
        partition_index=0,
        committed_offset=1,
        committed_leader_epoch=-1,
        committed_metadata=f"v{s.version}",
    )
    topic = build(nested(cls, "OffsetCommitRequestTopic"), name=DATA_TOPIC, partitions=(part,))
    return build(
        cls,
        group_id=s.own_group,
        generation_id_or_member_epoch=-1,
        member_id="",
        group_instance_id=None,
        topics=(topic,),
    )


def offset_commit_check(response: Any, s: Scenario) -> None:
    assert s.wire.committed_offset(s.own_group, DATA_TOPIC, 0) == (1, f"v{s.version}")


def offset_fetch_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.commit_offset(s.own_group, DATA_TOPIC, 0, 1)
    if s.version < 8:
        topic = build(
            nested(cls, "OffsetFetchRequestTopic"), name=DATA_TOPIC, partition_indexes=(0,)
        )
        return build(cls, group_id=s.own_group, topics=(topic,), require_stable=False)
    topic = build(nested(cls, "OffsetFetchRequestTopics"), name=DATA_TOPIC, partition_indexes=(0,))
    group = build(nested(cls, "OffsetFetchRequestGroup"), group_id=s.own_group, topics=(topic,))
    return build(cls, groups=(group,), require_stable=False)


def offset_fetch_check(response: Any, s: Scenario) -> None:
    topics = response.groups[0].topics if s.version >= 8 else response.topics
    ((partition,),) = (t.partitions for t in topics)
    assert partition.committed_offset == 1


def list_groups_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.commit_offset(s.own_group, DATA_TOPIC, 0, 1)
    return build(cls, states_filter=())


def list_groups_check(response: Any, s: Scenario) -> None:
    assert s.own_group in {g.group_id for g in response.groups}


def describe_groups_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.stable_member(s.own_group)
    return build(cls, groups=(s.own_group,), include_authorized_operations=False)


def describe_groups_check(response: Any, s: Scenario) -> None:
    (group,) = response.groups
    assert (group.group_id, group.group_state, group.protocol_data) == (
        s.own_group,
        "Stable",
        "range",
    )
    (member,) = group.members
    assert bytes(member.member_assignment) == b"assignment"


def delete_groups_request(cls: type[Any], s: Scenario) -> Any:
    s.wire.commit_offset(s.own_group, DATA_TOPIC, 0, 1)
    return build(cls, groups_names=(s.own_group,))


def delete_groups_check(response: Any, s: Scenario) -> None:
    assert s.wire.committed_offset(s.own_group, DATA_TOPIC, 0)[0] == -1


APIS: dict[ApiKey, tuple[Build, Check]] = {
    ApiKey.PRODUCE: (produce_request, produce_check),
    ApiKey.FETCH: (fetch_request, fetch_check),
    ApiKey.LIST_OFFSETS: (list_offsets_request, list_offsets_check),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (
        offset_for_leader_epoch_request,
        offset_for_leader_epoch_check,
    ),
    ApiKey.METADATA: (metadata_request, metadata_check),
    ApiKey.API_VERSIONS: (api_versions_request, api_versions_check),
    ApiKey.CREATE_TOPICS: (create_topics_request, create_topics_check),
    ApiKey.DELETE_TOPICS: (delete_topics_request, delete_topics_check),
    ApiKey.INIT_PRODUCER_ID: (init_producer_id_request, init_producer_id_check),
    ApiKey.DESCRIBE_CONFIGS: (describe_configs_request, describe_configs_check),
    ApiKey.ALTER_CONFIGS: (alter_configs_request, alter_configs_check),
    ApiKey.CREATE_PARTITIONS: (create_partitions_request, create_partitions_check),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (
        incremental_alter_configs_request,
        incremental_alter_configs_check,
    ),
    ApiKey.DESCRIBE_CLUSTER: (describe_cluster_request, describe_cluster_check),
    ApiKey.FIND_COORDINATOR: (find_coordinator_request, find_coordinator_check),
    ApiKey.JOIN_GROUP: (join_group_request, join_group_check),
    ApiKey.SYNC_GROUP: (sync_group_request, sync_group_check),
    ApiKey.HEARTBEAT: (heartbeat_request, heartbeat_check),
    ApiKey.LEAVE_GROUP: (leave_group_request, leave_group_check),
    ApiKey.OFFSET_COMMIT: (offset_commit_request, offset_commit_check),
    ApiKey.OFFSET_FETCH: (offset_fetch_request, offset_fetch_check),
    ApiKey.LIST_GROUPS: (list_groups_request, list_groups_check),
    ApiKey.DESCRIBE_GROUPS: (describe_groups_request, describe_groups_check),
    ApiKey.DELETE_GROUPS: (delete_groups_request, delete_groups_check),
}

VERSIONS = [
    (ApiKey(key), version)
    for key, api in sorted(SUPPORTED.items())
    for version in range(api.min_version, api.max_version + 1)
    if api.decodable(version)
]


def test_every_advertised_api_has_a_request_builder() -> None:
    assert set(SUPPORTED) == set(APIS)


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """This module's broker: new groups skip the initial rebalance delay, so each
    JoinGroup completes at once instead of after 0.5 s."""
    base = tmp_path_factory.mktemp("every-version")
    config = base / "broker.yaml"
    config.write_text("groups:\n  initial_rebalance_delay_ms: 0\n")
    process = BrokerProcess(base / "data", "--config", str(config)).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def data_topic_id(shared_broker: BrokerProcess) -> uuid.UUID:
    with WireClient(shared_broker.bootstrap) as wire:
        wire.create_topic(DATA_TOPIC)
        batch = build_batch([Record(b"first", b"k", BASE_TIMESTAMP_MS)])
        assert wire.produce(DATA_TOPIC, 0, batch).error_code == ErrorCode.none
        return wire.topic_id(DATA_TOPIC)


@pytest.mark.parametrize(
    ("api", "version"),
    VERSIONS,
    ids=[f"{api.name.lower()} v{version} is answered without error" for api, version in VERSIONS],
)
def test_every_advertised_version_is_answered_and_decodes_at_that_version(
    wire: WireClient, data_topic_id: uuid.UUID, api: ApiKey, version: int
) -> None:
    scenario = Scenario(wire, api, version, data_topic_id)
    make, check = APIS[api]
    request = make(request_class(api, version), scenario)
    assert (request.__api_key__, request.__version__) == (api, version)
    response = wire.request(request)
    errors = [(where, code) for where, code in errors_in(response) if code != ErrorCode.none]
    assert not errors, errors
    check(response, scenario)


# -- outside the advertised ranges --------------------------------------------------------


def _read_v0_api_versions(body: bytes) -> tuple[ErrorCode, set[tuple[int, int, int]]]:
    error, count = struct.unpack_from(">hi", body, 0)
    assert len(body) == 6 + 6 * count, "the v0 layout has no fields after the key list"
    ranges = {struct.unpack_from(">hhh", body, 6 + 6 * i) for i in range(count)}
    return ErrorCode(error), ranges


@pytest.mark.parametrize("version", [5, 127], ids=["one above the max", "far above the max"])
def test_api_versions_above_the_max_gets_unsupported_version_and_the_full_table_in_v0_layout(
    wire: WireClient, version: int
) -> None:
    request = build(
        request_class(ApiKey.API_VERSIONS, 4),
        client_software_name="tidewatch-interop",
        client_software_version="1",
    )
    correlation = wire.send_raw(ApiKey.API_VERSIONS, version, encode_body(request), flexible=True)
    error, ranges = _read_v0_api_versions(wire.receive_raw(correlation))
    assert error == ErrorCode.unsupported_version
    assert ranges == {(r.key, r.min_version, r.max_version) for r in SUPPORTED.values()}
    # The client then retries with the highest version we listed, on the same connection.
    retry = wire.request(request)
    assert retry.error_code == ErrorCode.none
    assert len(retry.api_keys) == len(SUPPORTED)


@pytest.mark.parametrize("version", [0, 1, 2], ids=[f"produce v{v}" for v in (0, 1, 2)])
def test_old_produce_versions_are_answered_unsupported_version_and_store_nothing(
    wire: WireClient, topic: str, version: int
) -> None:
    wire.create_topic(topic)
    batch = build_batch([Record(b"old", b"k", BASE_TIMESTAMP_MS)])
    correlation = wire.send_raw(
        ApiKey.PRODUCE, version, encode_old_produce(1, 5000, topic, 0, batch)
    )
    (result,) = decode_old_produce_response(version, wire.receive_raw(correlation))
    assert (result.topic, result.partition) == (topic, 0)
    assert ErrorCode(result.error_code) == ErrorCode.unsupported_version
    assert wire.log_end_offset(topic) == 0


@pytest.mark.drops_connections
def test_a_version_outside_an_apis_range_closes_only_that_connection_with_a_logged_reason(
    shared_broker: BrokerProcess, wire: WireClient, data_topic_id: uuid.UUID
) -> None:
    metadata_max = SUPPORTED[ApiKey.METADATA].max_version
    with WireClient(shared_broker.bootstrap) as victim:
        victim.send_raw(ApiKey.METADATA, metadata_max + 1, b"\x00\x00\x00\x00\x00", flexible=True)
        with pytest.raises(ConnectionError):
            victim.receive_frame()
    assert f"v{metadata_max + 1} is not supported" in shared_broker.output()
    # Everyone else is still served.
    assert wire.metadata(DATA_TOPIC).topics[0].error_code == ErrorCode.none
