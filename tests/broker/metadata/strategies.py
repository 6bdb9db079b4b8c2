"""Hypothesis strategies for metadata records (valid by construction)."""

from __future__ import annotations

import uuid

from hypothesis import strategies as st

from broker.metadata.codec import INT32_MAX, INT64_MAX
from broker.metadata.records import (
    NO_LEADER,
    SECURITY_PROTOCOLS,
    BrokerControlledShutdown,
    Config,
    FenceBroker,
    Listener,
    MetadataRecord,
    Partition,
    PartitionChange,
    ProducerIds,
    RegisterBroker,
    RemoveTopic,
    Topic,
    UnfenceBroker,
)

node_ids = st.integers(0, INT32_MAX)
epochs = st.integers(0, INT32_MAX)
broker_epochs = st.integers(0, INT64_MAX)
partition_indexes = st.integers(0, 9_999)
topic_ids = st.uuids().filter(lambda u: u.int != 0)
names = st.text(min_size=1, max_size=40)
topic_names = st.from_regex(r"[a-zA-Z0-9._-]{1,60}", fullmatch=True).filter(
    lambda n: n not in (".", "..")
)
config_maps = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=4)

listeners = st.builds(
    Listener,
    name=names,
    host=names,
    port=st.integers(1, 65535),
    security_protocol=st.sampled_from(SECURITY_PROTOCOLS),
)


@st.composite
def register_brokers(draw: st.DrawFn) -> RegisterBroker:
    endpoints = draw(st.lists(listeners, min_size=1, max_size=3, unique_by=lambda e: e.name))
    return RegisterBroker(
        node_id=draw(node_ids),
        incarnation_id=draw(st.uuids()),
        broker_epoch=draw(broker_epochs),
        listeners=tuple(endpoints),
        rack=draw(st.none() | names),
    )


@st.composite
def replica_states(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    replicas = draw(st.lists(node_ids, min_size=1, max_size=5, unique=True))
    isr = draw(st.lists(st.sampled_from(replicas), min_size=1, unique=True))
    leader = draw(st.sampled_from([NO_LEADER, *isr]))
    return tuple(replicas), tuple(isr), leader


@st.composite
def partitions(draw: st.DrawFn) -> Partition:
    replicas, isr, leader = draw(replica_states())
    return Partition(
        topic_id=draw(topic_ids),
        partition_index=draw(partition_indexes),
        replicas=replicas,
        isr=isr,
        leader=leader,
        leader_epoch=draw(epochs),
        partition_epoch=draw(epochs),
    )


@st.composite
def partition_changes(draw: st.DrawFn) -> PartitionChange:
    _, isr, leader = draw(replica_states())
    which = draw(st.sampled_from(["leader", "isr", "both"]))
    return PartitionChange(
        topic_id=draw(topic_ids),
        partition_index=draw(partition_indexes),
        leader=None if which == "isr" else leader,
        isr=None if which == "leader" else isr,
        leader_epoch=draw(epochs),
        partition_epoch=draw(epochs),
    )


def _broker_state(
    cls: type[FenceBroker | UnfenceBroker | BrokerControlledShutdown],
) -> st.SearchStrategy[MetadataRecord]:
    return st.builds(cls, node_id=node_ids, broker_epoch=broker_epochs)


records: st.SearchStrategy[MetadataRecord] = st.one_of(
    register_brokers(),
    _broker_state(FenceBroker),
    _broker_state(UnfenceBroker),
    _broker_state(BrokerControlledShutdown),
    st.builds(Topic, name=topic_names, topic_id=topic_ids, configs=config_maps),
    st.builds(RemoveTopic, topic_id=topic_ids),
    partitions(),
    partition_changes(),
    st.builds(
        Config,
        resource_type=st.just("topic"),
        resource_name=names,
        key=names,
        value=st.none() | st.text(max_size=30),
    ),
    st.builds(
        ProducerIds,
        node_id=node_ids,
        broker_epoch=broker_epochs,
        next_producer_id=st.integers(0, INT64_MAX),
    ),
)

__all__ = ["records", "topic_ids", "uuid"]
