"""Broker-to-controller RPCs: canonical round trips, strict refusal of anything
malformed, and dispatch to the controller method of each request type."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.error_codes import KafkaError
from broker.metadata.errors import MetadataRecordError, RpcError
from broker.metadata.replies import (
    BrokerHeartbeatReply,
    ControllerResult,
    IsrChange,
    NewPartitions,
    NewTopic,
)
from broker.metadata.rpc import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    ROUTES,
    AllocateProducerIdsRequest,
    AlterConfigsRequest,
    AlterPartitionRequest,
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
    ControlledShutdownRequest,
    CreateOffsetsTopicRequest,
    CreatePartitionsRequest,
    CreateTopicsRequest,
    DeleteTopicsRequest,
    DeleteTopicTarget,
    ErrorResponse,
    IncrementalAlterConfigsRequest,
    RegisterBrokerRequest,
    RpcRequest,
    RpcResponse,
    decode_request,
    decode_response,
    dispatch,
    encode_rpc,
)
from broker.metadata.topic_configs import ConfigOp, ConfigOpType
from tests.broker.metadata.harness import CLUSTER_ID, ControllerHarness, incarnation, listeners_for
from tests.broker.metadata.rpc_strategies import requests, responses

TOPIC_ID = uuid.UUID("8f2c7b0e-3f41-4c39-9d4c-1c8a5e2b7a10")
HEARTBEAT = BrokerHeartbeatRequest(
    node_id=3, broker_epoch=12, metadata_offset=40, want_fence=False, want_shutdown=True
)
ALTER = AlterPartitionRequest(
    node_id=1,
    broker_epoch=5,
    changes=(IsrChange(TOPIC_ID, 0, leader_epoch=2, partition_epoch=4, new_isr=(1, 2)),),
)
CREATE = CreateTopicsRequest(
    topics=(NewTopic("orders", 3, 2, assignments=None, configs={"retention.ms": "1000"}),),
    validate_only=False,
)
CREATE_ASSIGNED = CreateTopicsRequest(
    topics=(NewTopic("orders", assignments={0: (1, 2), 10: (2, 3)}),), validate_only=False
)
INCREMENTAL = IncrementalAlterConfigsRequest(
    resources={"orders": (ConfigOp("cleanup.policy", ConfigOpType.APPEND, "compact"),)},
    validate_only=False,
)


# -- round trips ----------------------------------------------------------------------
# No deadlines and no "too slow" health check: a busy machine must not fail a test.


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_every_request_survives_an_encode_decode_round_trip(request: RpcRequest[Any]) -> None:
    data = encode_rpc(request)
    assert decode_request(data) == request
    assert encode_rpc(decode_request(data)) == data


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses)
def test_every_response_survives_an_encode_decode_round_trip(response: RpcResponse) -> None:
    data = encode_rpc(response)
    assert decode_response(data) == response
    assert encode_rpc(decode_response(data)) == data


def test_a_heartbeat_has_a_stable_readable_encoding() -> None:
    assert encode_rpc(HEARTBEAT) == (
        b'{"data":{"broker_epoch":12,"metadata_offset":40,"node_id":3,"want_fence":false,'
        b'"want_shutdown":true},"kind":"broker_heartbeat","version":1}'
    )


def test_error_codes_travel_as_kafka_numbers_and_integer_keys_as_decimal_text() -> None:
    response = ErrorResponse(KafkaError.NOT_CONTROLLER, "node 2 is not the active controller")
    assert b'"error":41' in encode_rpc(response)
    assert b'"assignments":{"0":[1,2],"10":[2,3]}' in encode_rpc(CREATE_ASSIGNED)
    assert decode_request(encode_rpc(CREATE_ASSIGNED)) == CREATE_ASSIGNED


def test_an_enum_field_decodes_to_its_enum_member() -> None:
    decoded = decode_request(encode_rpc(INCREMENTAL))
    assert isinstance(decoded, IncrementalAlterConfigsRequest)
    assert decoded.resources["orders"][0].op is ConfigOpType.APPEND


def test_kinds_are_unique_and_every_request_has_a_route_to_a_response() -> None:
    assert len(REQUEST_TYPES) == len(ROUTES) == 11
    assert set(RESPONSE_TYPES.values()) == {r.response for r in ROUTES.values()} | {ErrorResponse}
    assert not set(REQUEST_TYPES) & set(RESPONSE_TYPES)


def test_a_request_is_not_a_response_and_a_response_is_not_a_request() -> None:
    with pytest.raises(RpcError, match="unknown kind 'broker_heartbeat'"):
        decode_response(encode_rpc(HEARTBEAT))
    with pytest.raises(RpcError, match="unknown kind 'error_response'"):
        decode_request(encode_rpc(ErrorResponse(KafkaError.INVALID_REQUEST, "bad")))


# -- refusals -------------------------------------------------------------------------

VALID = encode_rpc(ALTER)


def _swap(old: bytes, new: bytes, valid: bytes = VALID) -> bytes:
    assert old in valid, old
    return valid.replace(old, new)


def _envelope(kind: str, data: dict[str, Any], version: int = 1) -> bytes:
    plain = {"data": data, "kind": kind, "version": version}
    return json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()


MALFORMED_REQUESTS = [
    pytest.param(b"\xff\xfe", "not UTF-8", id="bytes that are not utf-8 are refused"),
    pytest.param(b'{"data":', "not JSON", id="truncated json is refused"),
    pytest.param(VALID + b"\n", "canonical", id="a trailing newline is not canonical"),
    pytest.param(b"[1,2]", "expected an object with keys", id="an array is not an envelope"),
    pytest.param(
        _swap(b',"version":1}', b"}"), "expected an object with keys", id="a missing version"
    ),
    pytest.param(
        _swap(b'"kind":"alter_partition"', b'"kind":"alter_partitions"'),
        "unknown kind 'alter_partitions'",
        id="an unknown kind is refused",
    ),
    pytest.param(
        _swap(b'"kind":"alter_partition"', b'"kind":7'),
        "unknown kind 7",
        id="a kind that is not a string is refused",
    ),
    pytest.param(
        _swap(b'"version":1', b'"version":2'),
        "unsupported version 2",
        id="an unknown version is refused",
    ),
    pytest.param(
        _swap(b'"version":1', b'"version":true'),
        "unsupported version True",
        id="a boolean version is refused",
    ),
    pytest.param(
        _swap(b'"broker_epoch":5,', b""),
        "missing field 'broker_epoch'",
        id="a missing field is refused",
    ),
    pytest.param(
        _swap(b'"node_id":1', b'"node_id":1,"zone":"red"'),
        "unexpected field 'zone'",
        id="an extra field is refused",
    ),
    pytest.param(
        _swap(b'"node_id":1', b'"node_id":-1'),
        "alter_partition: node_id: -1 is outside 0..2147483647",
        id="a negative node id is refused",
    ),
    pytest.param(
        _swap(b'"broker_epoch":5', b'"broker_epoch":-5'),
        "broker_epoch: -5 is outside",
        id="a negative broker epoch is refused",
    ),
    pytest.param(
        _swap(b'"node_id":1', b'"node_id":"1"'),
        "node_id: expected an integer",
        id="a string where an integer belongs is refused",
    ),
    pytest.param(
        _swap(b'"node_id":1', b'"node_id":true'),
        "node_id: expected an integer",
        id="a boolean where an integer belongs is refused",
    ),
    pytest.param(
        _swap(b'"node_id":1', b'"node_id":1.0'),
        "not an integer",
        id="a float is refused",
    ),
    pytest.param(
        _swap(b'"new_isr":[1,2]', b'"new_isr":[1,-2]'),
        "changes[0].new_isr[1]: -2 is outside",
        id="a negative node id deep inside a change is refused",
    ),
    pytest.param(
        _swap(b'"partition_index":0', b'"partition_index":-1'),
        "partition_index: -1 is outside",
        id="a negative partition index is refused",
    ),
    pytest.param(
        _swap(b'"leader_epoch":2,', b""),
        "changes[0]: missing field 'leader_epoch'",
        id="a nested object with a missing field is refused",
    ),
    pytest.param(
        _swap(b'2b7a10"}', b'2b7a10","x":1}'),
        "changes[0]: unexpected field 'x'",
        id="a nested object with an extra field is refused",
    ),
    pytest.param(
        _envelope("alter_partition", {"broker_epoch": 5, "changes": {"a": 1}, "node_id": 1}),
        "changes: expected an array",
        id="an object where an array belongs is refused",
    ),
    pytest.param(
        _swap(b'"topic_id":"8f2c7b0e', b'"topic_id":"8F2C7B0E'),
        "canonical form",
        id="an upper case uuid is refused",
    ),
    pytest.param(
        _swap(b'"node_id":1', b'"node_id":1,"node_id":1'),
        "duplicate key 'node_id'",
        id="duplicate keys are refused",
    ),
    pytest.param(
        _swap(b'"0":[1,2]', b'"00":[1,2]', encode_rpc(CREATE_ASSIGNED)),
        "key '00' is not a canonical decimal integer",
        id="an integer key with a leading zero is refused",
    ),
    pytest.param(
        _swap(b'"0":[1,2]', b'"-1":[1,2]', encode_rpc(CREATE_ASSIGNED)),
        "assignments key: -1 is outside",
        id="a negative partition index as a key is refused",
    ),
    pytest.param(
        _swap(b'"0":[1,2]', b'"0x":[1,2]', encode_rpc(CREATE_ASSIGNED)),
        "key '0x' is not a canonical decimal integer",
        id="a key that is not a number is refused",
    ),
    pytest.param(
        _swap(b'"op":2', b'"op":9', encode_rpc(INCREMENTAL)),
        "9 is not a known ConfigOpType",
        id="an unknown config operation is refused",
    ),
    pytest.param(
        _swap(b'"op":2', b'"op":"APPEND"', encode_rpc(INCREMENTAL)),
        "op: expected an integer, got a string",
        id="an enum by name is refused",
    ),
    pytest.param(
        _swap(b'"num_partitions":3', b'"num_partitions":-2', encode_rpc(CREATE)),
        "num_partitions: -2 is outside -1..",
        id="a partition count below minus one is refused",
    ),
    pytest.param(
        _envelope("delete_topics", {"targets": [{"name": "t", "topic_id": str(TOPIC_ID)}]}),
        "by name or by id, not both",
        id="a delete target with both a name and an id is refused",
    ),
    pytest.param(
        _envelope("create_offsets_topic", {"x": 1}),
        "unexpected field 'x'",
        id="a request without fields refuses any field",
    ),
    pytest.param(
        _envelope("broker_heartbeat", {}),
        "missing field 'broker_epoch'",
        id="an empty object is missing the first field in name order",
    ),
    pytest.param(b"9" * 5000, "not JSON", id="an absurdly long number is refused"),
    pytest.param(b"[" * 100_000, "not JSON", id="absurdly deep nesting is refused"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED_REQUESTS)
def test_malformed_requests_are_refused_with_a_one_line_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RpcError) as raised:
        decode_request(data)
    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)


OK_HEARTBEAT = encode_rpc(
    BrokerHeartbeatResponse(BrokerHeartbeatReply(KafkaError.NONE, None, True, False, False))
)

MALFORMED_RESPONSES = [
    pytest.param(
        _swap(b'"error":0', b'"error":12345', OK_HEARTBEAT),
        "12345 is not a known KafkaError",
        id="an unknown error code is refused",
    ),
    pytest.param(
        _swap(b'"is_fenced":false', b'"is_fenced":0', OK_HEARTBEAT),
        "is_fenced: expected bool",
        id="a number where a boolean belongs is refused",
    ),
    pytest.param(
        _swap(b'"should_shutdown":false', b'"should_shutdown":false,"zzz":null', OK_HEARTBEAT),
        "reply: unexpected field 'zzz'",
        id="an extra field in a reply is refused",
    ),
    pytest.param(
        _envelope("error_response", {"error": 0, "message": "fine"}),
        "error code other than NONE",
        id="an error response without an error is refused",
    ),
    pytest.param(
        _envelope("error_response", {"error": 41, "message": ""}),
        "message: length 0 is outside",
        id="an error response without a message is refused",
    ),
    pytest.param(
        _envelope(
            "alter_partition_response",
            {
                "reply": {
                    "error": 0,
                    "message": None,
                    "partitions": [
                        {
                            "error": 0,
                            "isr": [1],
                            "leader": -2,
                            "leader_epoch": 1,
                            "message": None,
                            "partition_epoch": 1,
                            "partition_index": 0,
                            "topic_id": str(TOPIC_ID),
                        }
                    ],
                }
            },
        ),
        "reply.partitions[0].leader: -2 is outside -1..",
        id="a leader below minus one in a reply is refused",
    ),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED_RESPONSES)
def test_malformed_responses_are_refused_with_a_one_line_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RpcError) as raised:
        decode_response(data)
    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_rpc_larger_than_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(RpcError, match="exceeds"):
        decode_request(b" " * (8 * 1024 * 1024 + 1))


CONSTRUCTION = [
    pytest.param(
        lambda: ControlledShutdownRequest(node_id=-1, broker_epoch=1),
        "node_id: -1 is outside",
        id="a request with a negative node id cannot be built",
    ),
    pytest.param(
        lambda: AlterPartitionRequest(1, 1, [IsrChange(TOPIC_ID, 0, 1, 1, (1,))]),  # type: ignore[arg-type]
        "changes: expected a tuple, got list",
        id="a list where a tuple belongs cannot be built",
    ),
    pytest.param(
        lambda: DeleteTopicTarget(name=None, topic_id=None),
        "by name or by id",
        id="a delete target naming nothing cannot be built",
    ),
    pytest.param(
        lambda: ErrorResponse(KafkaError.NONE, "all good"),
        "other than NONE",
        id="an error response without an error cannot be built",
    ),
    pytest.param(
        lambda: CreatePartitionsRequest((NewPartitions("t", -3),), validate_only=False),
        "topics[0].count: -3 is outside",
        id="a negative partition count cannot be built",
    ),
]


@pytest.mark.parametrize(("build", "reason"), CONSTRUCTION)
def test_invalid_messages_cannot_be_built(build: Callable[[], object], reason: str) -> None:
    with pytest.raises(MetadataRecordError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_encoding_an_unregistered_type_is_a_type_error() -> None:
    class Rogue(RpcResponse):
        __slots__ = ()
        KIND = "broker_heartbeat_response"

    with pytest.raises(TypeError, match="not a registered RPC type"):
        encode_rpc(Rogue())


# -- fuzzing --------------------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_either_decode_canonically_or_raise_rpc_error(data: bytes) -> None:
    for decode in (decode_request, decode_response):
        try:
            message = decode(data)
        except RpcError:
            continue
        assert encode_rpc(message) == data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests | responses, st.data())
def test_mutated_valid_rpcs_either_decode_canonically_or_raise_rpc_error(
    message: RpcRequest[Any] | RpcResponse, data: st.DataObject
) -> None:
    encoded = bytearray(encode_rpc(message))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    for decode in (decode_request, decode_response):
        try:
            decoded = decode(bytes(encoded))
        except RpcError:
            continue
        assert encode_rpc(decoded) == bytes(encoded)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from([*REQUEST_TYPES, *RESPONSE_TYPES]), json_values)
def test_arbitrary_json_under_a_known_kind_decodes_or_raises_rpc_error(
    kind: str, data: Any
) -> None:
    encoded = _envelope(kind, data) if isinstance(data, dict) else _envelope(kind, {"x": data})
    for decode in (decode_request, decode_response):
        try:
            decoded = decode(encoded)
        except RpcError:
            continue
        assert encode_rpc(decoded) == encoded


# -- dispatch -------------------------------------------------------------------------


def _cluster() -> ControllerHarness:
    harness = ControllerHarness(seed=7)
    harness.start_brokers(1, 2, 3)
    harness.create_topic("orders", 2, 3)
    return harness


def _shrink_isr(h: ControllerHarness) -> tuple[int, int, tuple[IsrChange, ...]]:
    topic = h.image.topic("orders")
    assert topic is not None
    partition = topic.partitions[0]
    isr = tuple(node for node in partition.isr if node == partition.leader)
    change = IsrChange(
        topic.topic_id, 0, partition.leader_epoch, partition.partition_epoch, new_isr=isr
    )
    return partition.leader, h.epochs[partition.leader], (change,)


@dataclass(frozen=True)
class Case:
    """A request built against a harness, and the direct controller call it stands for."""

    request: Callable[[ControllerHarness], RpcRequest[Any]]
    direct: Callable[[ControllerHarness], ControllerResult[Any]]


CASES: dict[str, Case] = {
    "register_broker": Case(
        lambda h: RegisterBrokerRequest(4, incarnation(4), CLUSTER_ID, listeners_for(4), "r1"),
        lambda h: h.controller.register_broker(
            4, incarnation(4), listeners_for(4), h.now_ms, cluster_id=CLUSTER_ID, rack="r1"
        ),
    ),
    "broker_heartbeat": Case(
        lambda h: BrokerHeartbeatRequest(2, h.epochs[2], h.image.last_offset, False, True),
        lambda h: h.controller.broker_heartbeat(
            2, h.epochs[2], h.now_ms, metadata_offset=h.image.last_offset, want_shutdown=True
        ),
    ),
    "controlled_shutdown": Case(
        lambda h: ControlledShutdownRequest(3, h.epochs[3]),
        lambda h: h.controller.controlled_shutdown(3, h.epochs[3], h.now_ms),
    ),
    "alter_partition": Case(
        lambda h: AlterPartitionRequest(*_shrink_isr(h)),
        lambda h: h.controller.alter_partition(*_shrink_isr(h)),
    ),
    "create_topics": Case(
        lambda h: CreateTopicsRequest((NewTopic("payments", 3, 2),), validate_only=False),
        lambda h: h.controller.create_topics([NewTopic("payments", 3, 2)]),
    ),
    "delete_topics": Case(
        lambda h: DeleteTopicsRequest(
            (DeleteTopicTarget("orders", None), DeleteTopicTarget(None, TOPIC_ID))
        ),
        lambda h: h.controller.delete_topics(["orders", TOPIC_ID]),
    ),
    "create_partitions": Case(
        lambda h: CreatePartitionsRequest((NewPartitions("orders", 4),), validate_only=True),
        lambda h: h.controller.create_partitions([NewPartitions("orders", 4)], validate_only=True),
    ),
    "alter_configs": Case(
        lambda h: AlterConfigsRequest({"orders": {"retention.ms": "1000"}}, validate_only=False),
        lambda h: h.controller.alter_configs({"orders": {"retention.ms": "1000"}}),
    ),
    "incremental_alter_configs": Case(
        lambda h: INCREMENTAL,
        lambda h: h.controller.incremental_alter_configs(INCREMENTAL.resources),
    ),
    "allocate_producer_ids": Case(
        lambda h: AllocateProducerIdsRequest(1, h.epochs[1]),
        lambda h: h.controller.allocate_producer_ids(1, h.epochs[1]),
    ),
    "create_offsets_topic": Case(
        lambda h: CreateOffsetsTopicRequest(),
        lambda h: h.controller.create_offsets_topic(),
    ),
}


def test_every_request_kind_has_a_dispatch_case() -> None:
    assert set(CASES) == set(REQUEST_TYPES)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_dispatch_calls_the_controller_method_of_the_request_and_wraps_its_reply(
    kind: str,
) -> None:
    dispatched, direct = _cluster(), _cluster()
    case = CASES[kind]
    request = case.request(dispatched)
    assert kind == request.KIND
    result = dispatch(dispatched.controller, request, dispatched.now_ms)
    expected = case.direct(direct)
    assert result.records == expected.records
    assert type(result.reply) is ROUTES[type(request)].response
    assert result.reply.reply == expected.reply  # type: ignore[attr-defined]
    assert decode_response(encode_rpc(result.reply)) == result.reply


def test_dispatching_a_request_type_without_a_route_is_a_type_error() -> None:
    class Rogue(RpcRequest[ErrorResponse]):
        __slots__ = ()
        KIND = "rogue"

    with pytest.raises(TypeError, match="not a registered RPC request"):
        dispatch(_cluster().controller, Rogue(), 0)
