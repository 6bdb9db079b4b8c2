"""Group administration through the admin clients of three families: ListGroups,
DescribeGroups and DeleteGroups (a group with members cannot be deleted), and what
the broker's own status page shows before and after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.clients import (
    commit_aiokafka,
    commit_kafka_python,
    kafka_python_committed,
)
from tests.broker.groups_integration.kafka_python import KafkaAdminClient, MemberToRemove
from tests.broker.groups_integration.members import GroupMember, wait_until
from tests.broker.groups_integration.support import (
    create_topic,
    group_status,
    metric_samples,
    produce,
    quiet,
)

pytestmark = pytest.mark.interop


def stable_with_members(http_url: str, group: str, members: int) -> bool:
    status = group_status(http_url, group)
    return (
        status is not None
        and status["state"] == "Stable"
        and status["members"] == members
        and all(p["member_id"] for p in status["partitions"])
    )


def kafka_python_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap)


def aiokafka_admin_call(bootstrap: str, call: Callable[[AIOKafkaAdminClient], object]) -> object:
    async def run() -> object:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return await call(admin)  # type: ignore[misc]
        finally:
            await admin.close()

    return asyncio.run(run())


@pytest.fixture
def active_and_empty_groups(
    shared_broker: BrokerProcess,
    start_member: Callable[..., GroupMember],
    request: pytest.FixtureRequest,
) -> tuple[str, str, list[GroupMember]]:
    """A group with two consuming members and one with only committed offsets."""
    stem = request.node.name.split("[")[0][-40:]
    topic, active, empty = f"{stem}-t", f"{stem}-active", f"{stem}-empty"
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic, 4)
    produce(bootstrap, topic, [f"v{i}" for i in range(40)], 4)
    commit_kafka_python(bootstrap, empty, topic, {0: 3, 1: 4})
    members = [
        start_member("confluent", bootstrap, active, topic, name=f"{stem}-m{i}") for i in range(2)
    ]
    wait_until(
        lambda: (
            stable_with_members(shared_broker.http_url, active, 2)
            and all(m.assignment() for m in members)
        ),
        40,
        "two members to consume",
    )
    return active, empty, members


def test_admin_clients_list_groups_with_their_state_and_protocol_type(
    shared_broker: BrokerProcess, active_and_empty_groups: tuple[str, str, list[GroupMember]]
) -> None:
    active, empty, _ = active_and_empty_groups
    bootstrap = shared_broker.bootstrap

    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    listed = admin.list_consumer_groups().result(15)
    assert not listed.errors
    states = {g.group_id: g.state for g in listed.valid}
    assert states[active] is ConsumerGroupState.STABLE
    assert states[empty] is ConsumerGroupState.EMPTY
    only_empty = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(15)
    ids = {g.group_id for g in only_empty.valid}
    assert empty in ids and active not in ids

    kp = kafka_python_admin(bootstrap)
    try:
        by_id = {g["group_id"]: g for g in kp.list_groups()}
        stable_only = {g["group_id"] for g in kp.list_groups(states_filter=["Stable"])}
    finally:
        kp.close()
    assert by_id[active]["protocol_type"] == "consumer"
    assert by_id[active]["group_state"] == "Stable"
    assert by_id[empty]["group_state"] == "Empty"
    assert active in stable_only and empty not in stable_only

    aio = aiokafka_admin_call(bootstrap, lambda a: a.list_consumer_groups())
    assert {(active, "consumer")} <= {tuple(g[:2]) for g in aio}  # type: ignore[attr-defined]


def test_describe_groups_shows_members_client_ids_and_their_assignments(
    shared_broker: BrokerProcess, active_and_empty_groups: tuple[str, str, list[GroupMember]]
) -> None:
    active, empty, members = active_and_empty_groups
    bootstrap = shared_broker.bootstrap
    own = {m.name: m.assignment() for m in members}

    kp = kafka_python_admin(bootstrap)
    try:
        described = kp.describe_groups([active, empty, "no-such-group"])
    finally:
        kp.close()
    group = described[active]
    assert group["group_state"] == "Stable"
    assert group["protocol_type"] == "consumer"
    by_client = {
        m["client_id"]: {
            p for t in m["member_assignment"]["assigned_partitions"] for p in t["partitions"]
        }
        for m in group["members"]
    }
    assert by_client == own
    assert described[empty]["group_state"] == "Empty"
    assert described[empty]["members"] == []
    assert described["no-such-group"]["group_state"] == "Dead"

    responses = aiokafka_admin_call(bootstrap, lambda a: a.describe_consumer_groups([active]))
    (aio_group,) = responses[0].groups  # type: ignore[index]
    assert aio_group[1] == active and aio_group[2] == "Stable"
    assert len(aio_group[5]) == 2


def test_a_group_with_members_cannot_be_deleted_and_an_empty_one_is_forgotten(
    shared_broker: BrokerProcess, active_and_empty_groups: tuple[str, str, list[GroupMember]]
) -> None:
    active, empty, members = active_and_empty_groups
    bootstrap, http_url = shared_broker.bootstrap, shared_broker.http_url
    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})

    with pytest.raises(KafkaException) as refused:
        admin.delete_consumer_groups([active])[active].result(15)
    assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    kp = kafka_python_admin(bootstrap)
    try:
        assert kp.delete_groups([active, "no-such-group"]) == {
            active: "NonEmptyGroupError",
            "no-such-group": "GroupIdNotFoundError",
        }
    finally:
        kp.close()
    assert group_status(http_url, active) is not None

    assert kafka_python_committed(bootstrap, [empty])[empty]
    admin.delete_consumer_groups([empty])[empty].result(15)
    assert group_status(http_url, empty) is None
    assert kafka_python_committed(bootstrap, [empty])[empty] == {}
    assert metric_samples(http_url, "tidewatch_group_committed_offset", group=empty) == []

    for member in members:
        assert member.terminate() == 0
    wait_until(
        lambda: (group_status(http_url, active) or {}).get("state") == "Empty", 15, "empty group"
    )
    admin.delete_consumer_groups([active])[active].result(15)
    listed = {g.group_id for g in admin.list_consumer_groups().result(15).valid}
    assert active not in listed and empty not in listed


def test_a_deleted_group_stays_deleted_after_a_restart_and_starts_afresh(
    broker: BrokerProcess,
) -> None:
    topic = group = "deleted-then-restarted"
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"v{i}" for i in range(20)], 2)
    commit_aiokafka(bootstrap, group, topic, {0: 9, 1: 9})
    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    admin.delete_consumer_groups([group])[group].result(15)

    broker.kill()
    broker.start()
    assert kafka_python_committed(bootstrap, [group])[group] == {}
    assert group_status(broker.http_url, group) is None

    # The same name used again is a new group: its history starts with the new commits.
    commit_aiokafka(bootstrap, group, topic, {0: 2, 1: 3})
    status = group_status(broker.http_url, group)
    assert status is not None
    assert [p["committed_offset"] for p in status["partitions"]] == [2, 3]
    assert {p["status"] for p in status["partitions"]} == {"OK"}, status


def test_a_group_deleted_and_recreated_without_a_restart_is_not_judged_on_its_old_commits(
    shared_broker: BrokerProcess,
) -> None:
    topic = group = "deleted-then-reused"
    bootstrap, http_url = shared_broker.bootstrap, shared_broker.http_url
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [f"v{i}" for i in range(20)], 1)
    commit_aiokafka(bootstrap, group, topic, {0: 15})
    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    admin.delete_consumer_groups([group])[group].result(15)
    commit_aiokafka(bootstrap, group, topic, {0: 5})
    status = group_status(http_url, group)
    assert status is not None
    (partition,) = status["partitions"]
    assert partition["committed_offset"] == 5
    # The old group's offset 15 is gone with it: moving to 5 is no rewind.
    assert partition["status"] == "OK", partition["reason"]


def test_an_admin_removes_static_members_in_one_batched_leave_group(
    shared_broker: BrokerProcess, start_member: Callable[..., GroupMember]
) -> None:
    topic = group = "removed-by-admin"
    bootstrap, http_url = shared_broker.bootstrap, shared_broker.http_url
    create_topic(bootstrap, topic, 2)
    members = [
        start_member("confluent", bootstrap, group, topic, instance_id=f"host-{i}", name=f"r{i}")
        for i in range(2)
    ]
    wait_until(lambda: stable_with_members(http_url, group, 2), 40, "two static members")
    before = group_status(http_url, group)
    assert before is not None
    rebalances = before["rebalances"]

    kp = kafka_python_admin(bootstrap)
    try:
        removed = kp.remove_group_members(
            group,
            [MemberToRemove(group_instance_id="host-0"), MemberToRemove(group_instance_id="ghost")],
        )
    finally:
        kp.close()
    assert {key: error.__name__ for key, error in removed.items()} == {
        "host-0": "NoError",
        "ghost": "UnknownMemberIdError",
    }
    status = group_status(http_url, group)
    assert status is not None
    assert status["rebalances"] == rebalances + 1
    assert status["members"] == 1
    # The removed consumer is still running: it finds itself fenced and joins again.
    wait_until(lambda: stable_with_members(http_url, group, 2), 40, "the removed member back")
    assert all(m.running for m in members)
