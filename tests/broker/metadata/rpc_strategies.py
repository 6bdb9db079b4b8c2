"""Hypothesis strategies for broker-to-controller RPCs (valid by construction)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from broker.error_codes import KafkaError
from broker.metadata.codec import INT32_MAX, INT64_MAX
from broker.metadata.image import TopicPartitionRef
from broker.metadata.replies import (
    INT16_MAX,
    AlterConfigsReply,
    AlterPartitionReply,
    BrokerHeartbeatReply,
    BrokerRegistrationReply,
    ControlledShutdownReply,
    CreatePartitionsReply,
    CreateTopicReply,
    DeleteTopicReply,
    IsrChange,
    IsrChangeReply,
    NewPartitions,
    NewTopic,
    ProducerIdsReply,
)
from broker.metadata.rpc import (
    AllocateProducerIdsRequest,
    AllocateProducerIdsResponse,
    AlterConfigsRequest,
    AlterConfigsResponse,
    AlterPartitionRequest,
    AlterPartitionResponse,
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
    ControlledShutdownRequest,
    ControlledShutdownResponse,
    CreateOffsetsTopicRequest,
    CreateOffsetsTopicResponse,
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DeleteTopicTarget,
    ErrorResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
    RegisterBrokerRequest,
    RegisterBrokerResponse,
    RpcRequest,
    RpcResponse,
)
from broker.metadata.topic_configs import ConfigOp, ConfigOpType
from tests.broker.metadata.strategies import (
    broker_epochs,
    epochs,
    listeners,
    names,
    node_ids,
    partition_indexes,
    topic_ids,
)

texts = st.text(max_size=20)
messages = st.none() | st.text(min_size=1, max_size=40)
errors = st.sampled_from(KafkaError)
offsets = st.integers(-1, INT64_MAX)
or_none_epochs = st.integers(-1, INT32_MAX)
node_id_lists = st.lists(node_ids, max_size=4).map(tuple)
config_values = st.dictionaries(texts, st.none() | texts, max_size=3)


def _tuples(strategy: st.SearchStrategy[Any], max_size: int = 3) -> st.SearchStrategy[Any]:
    return st.lists(strategy, max_size=max_size).map(tuple)


isr_changes = st.builds(
    IsrChange,
    topic_id=topic_ids,
    partition_index=partition_indexes,
    leader_epoch=epochs,
    partition_epoch=epochs,
    new_isr=node_id_lists,
)
new_topics = st.builds(
    NewTopic,
    name=texts,
    num_partitions=st.integers(-1, INT32_MAX),
    replication_factor=st.integers(-1, INT16_MAX),
    assignments=st.none() | st.dictionaries(partition_indexes, node_id_lists, max_size=3),
    configs=config_values,
)
new_partitions = st.builds(
    NewPartitions,
    topic=texts,
    count=st.integers(0, INT32_MAX),
    assignments=st.none() | _tuples(node_id_lists),
)
config_ops = st.builds(
    ConfigOp, key=texts, op=st.sampled_from(ConfigOpType), value=st.none() | texts
)
delete_targets = st.builds(DeleteTopicTarget, name=texts, topic_id=st.none()) | st.builds(
    DeleteTopicTarget, name=st.none(), topic_id=st.uuids()
)

requests: st.SearchStrategy[RpcRequest[Any]] = st.one_of(
    st.builds(
        RegisterBrokerRequest,
        node_id=node_ids,
        incarnation_id=st.uuids(),
        cluster_id=names,
        listeners=_tuples(listeners),
        rack=st.none() | names,
    ),
    st.builds(
        BrokerHeartbeatRequest,
        node_id=node_ids,
        broker_epoch=broker_epochs,
        metadata_offset=offsets,
        want_fence=st.booleans(),
        want_shutdown=st.booleans(),
    ),
    st.builds(ControlledShutdownRequest, node_id=node_ids, broker_epoch=broker_epochs),
    st.builds(
        AlterPartitionRequest,
        node_id=node_ids,
        broker_epoch=broker_epochs,
        changes=_tuples(isr_changes),
    ),
    st.builds(CreateTopicsRequest, topics=_tuples(new_topics), validate_only=st.booleans()),
    st.builds(DeleteTopicsRequest, targets=_tuples(delete_targets)),
    st.builds(CreatePartitionsRequest, topics=_tuples(new_partitions), validate_only=st.booleans()),
    st.builds(
        AlterConfigsRequest,
        resources=st.dictionaries(texts, config_values, max_size=3),
        validate_only=st.booleans(),
    ),
    st.builds(
        IncrementalAlterConfigsRequest,
        resources=st.dictionaries(texts, _tuples(config_ops), max_size=3),
        validate_only=st.booleans(),
    ),
    st.builds(AllocateProducerIdsRequest, node_id=node_ids, broker_epoch=broker_epochs),
    st.just(CreateOffsetsTopicRequest()),
)

isr_change_replies = st.builds(
    IsrChangeReply,
    topic_id=topic_ids,
    partition_index=partition_indexes,
    error=errors,
    message=messages,
    leader=st.integers(-1, INT32_MAX),
    leader_epoch=or_none_epochs,
    partition_epoch=or_none_epochs,
    isr=node_id_lists,
)
create_topic_replies = st.builds(
    CreateTopicReply,
    name=texts,
    error=errors,
    message=messages,
    topic_id=st.none() | topic_ids,
    num_partitions=st.integers(-1, INT32_MAX),
    replication_factor=st.integers(-1, INT16_MAX),
    configs=st.dictionaries(texts, texts, max_size=3),
    warnings=_tuples(texts),
)
config_replies = _tuples(st.builds(AlterConfigsReply, topic=texts, error=errors, message=messages))

responses: st.SearchStrategy[RpcResponse] = st.one_of(
    st.builds(
        RegisterBrokerResponse,
        reply=st.builds(
            BrokerRegistrationReply,
            error=errors,
            message=messages,
            broker_epoch=st.integers(-1, INT64_MAX),
        ),
    ),
    st.builds(
        BrokerHeartbeatResponse,
        reply=st.builds(
            BrokerHeartbeatReply,
            error=errors,
            message=messages,
            is_caught_up=st.booleans(),
            is_fenced=st.booleans(),
            should_shutdown=st.booleans(),
        ),
    ),
    st.builds(
        ControlledShutdownResponse,
        reply=st.builds(
            ControlledShutdownReply,
            error=errors,
            message=messages,
            done=st.booleans(),
            still_leading=_tuples(
                st.builds(
                    TopicPartitionRef,
                    topic=texts,
                    topic_id=topic_ids,
                    partition_index=partition_indexes,
                )
            ),
        ),
    ),
    st.builds(
        AlterPartitionResponse,
        reply=st.builds(
            AlterPartitionReply,
            error=errors,
            message=messages,
            partitions=_tuples(isr_change_replies),
        ),
    ),
    st.builds(CreateTopicsResponse, reply=_tuples(create_topic_replies)),
    st.builds(
        DeleteTopicsResponse,
        reply=_tuples(
            st.builds(
                DeleteTopicReply,
                name=st.none() | texts,
                topic_id=st.none() | topic_ids,
                error=errors,
                message=messages,
            )
        ),
    ),
    st.builds(
        CreatePartitionsResponse,
        reply=_tuples(
            st.builds(CreatePartitionsReply, topic=texts, error=errors, message=messages)
        ),
    ),
    st.builds(AlterConfigsResponse, reply=config_replies),
    st.builds(IncrementalAlterConfigsResponse, reply=config_replies),
    st.builds(
        AllocateProducerIdsResponse,
        reply=st.builds(
            ProducerIdsReply,
            error=errors,
            message=messages,
            first_producer_id=st.integers(-1, INT64_MAX),
            count=st.integers(0, INT32_MAX),
        ),
    ),
    st.builds(CreateOffsetsTopicResponse, reply=create_topic_replies),
    st.builds(
        ErrorResponse,
        error=errors.filter(lambda e: e is not KafkaError.NONE),
        message=st.text(min_size=1, max_size=40),
    ),
)

__all__ = ["requests", "responses"]
