"""Consumer groups with real clients: members share partitions, and when one dies
(SIGKILL: its session expires) or leaves (SIGTERM: LeaveGroup), the others take over
its partitions without skipping a record.

Every family runs the same scenario: confluent-kafka, kafka-python and aiokafka
through ``group_member.py``, and kcat's balanced consumer (``kcat -G``). Ownership is
checked three ways: each client's own assignment callbacks, DescribeGroups through an
admin client, and the broker's ``/status/groups``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pytest
from confluent_kafka.admin import AdminClient

from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.group_member import SESSION_TIMEOUT_MS
from tests.broker.groups_integration.members import FAMILIES, Consumed, GroupMember, wait_until
from tests.broker.groups_integration.support import create_topic, group_status, producing, quiet

pytestmark = [pytest.mark.interop, pytest.mark.slow]

PARTITIONS = 6
SESSION_S = SESSION_TIMEOUT_MS / 1000
# Members that must outlive a restart or show a handover "well before" their session ends
# get a long session, so that a busy machine's slow start or slow rebalance cannot pass for
# an expiry (aiokafka's request timeout of 40 s bounds it).
LONG_SESSION_MS = 30_000
LONG_SESSION_S = LONG_SESSION_MS / 1000
# A coordinator that waited for the rebalance timeout instead of the session would take
# the clients' max.poll.interval.ms: five minutes by default. Well below that, and well
# above anything a loaded machine adds to a session expiry:
WELL_BEFORE_REBALANCE_TIMEOUT_S = 60.0
FAMILY_IDS = [f"{family} members" for family in FAMILIES]


def shared_out(members: Sequence[GroupMember]) -> dict[str, set[int]] | None:
    """The members' own assignments when they cover every partition exactly once."""
    owned = {m.name: m.assignment() for m in members}
    if any(not parts for parts in owned.values()):
        return None
    flat = [p for parts in owned.values() for p in parts or ()]
    if sorted(flat) != list(range(PARTITIONS)):
        return None
    return {name: set(parts or ()) for name, parts in owned.items()}


def described(bootstrap: str, group: str) -> tuple[str, dict[str, set[int]]]:
    """Group state and each member's partitions, by client id, from DescribeGroups."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
    description = admin.describe_consumer_groups([group])[group].result(15)
    return description.state.name, {
        m.client_id: {tp.partition for tp in m.assignment.topic_partitions}
        for m in description.members
    }


def broker_owners(http_url: str, group: str) -> dict[str, set[int]] | None:
    """Each owning client's partitions as /status/groups shows them (Stable only)."""
    status = group_status(http_url, group)
    if status is None or status["state"] != "Stable":
        return None
    owners: dict[str, set[int]] = {}
    for p in status["partitions"]:
        if p["client_id"]:
            owners.setdefault(p["client_id"], set()).add(p["partition"])
    return owners


def settle(
    broker: BrokerProcess, group: str, members: Sequence[GroupMember], what: str
) -> dict[str, set[int]]:
    """Wait until the clients share the partitions and the broker agrees with them."""

    def agreed() -> dict[str, set[int]] | None:
        owned = shared_out(members)
        if owned is None:
            return None
        state, by_client = described(broker.bootstrap, group)
        if state != "STABLE" or by_client != owned:
            return None
        return owned

    return wait_until(agreed, 40, what, interval_s=0.2)


def consumed_everything(
    members: Sequence[GroupMember], produced: list[str]
) -> Callable[[], Consumed | None]:
    def probe() -> Consumed | None:
        consumed = Consumed(members)
        return consumed if not consumed.missing(produced) else None

    return probe


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_survivors_take_over_a_killed_members_partitions_without_skipping_a_record(
    family: str, shared_broker: BrokerProcess, start_member: Callable[..., GroupMember]
) -> None:
    topic = group = f"killed-{family}"
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic, PARTITIONS)
    members = [start_member(family, bootstrap, group, topic) for _ in range(3)]
    owned = settle(shared_broker, group, members, "three members to share six partitions")
    assert sorted(len(parts) for parts in owned.values()) == [2, 2, 2]

    with producing(bootstrap, topic, PARTITIONS, family) as producer:
        wait_until(lambda: all(m.records() for m in members), 30, "every member to consume")
        victim, survivors = members[0], members[1:]
        orphaned = owned[victim.name]
        killed_at = time.monotonic()
        victim.kill()
        wait_until(
            lambda: shared_out(survivors), WELL_BEFORE_REBALANCE_TIMEOUT_S, "survivors to take over"
        )
        took_over_s = time.monotonic() - killed_at
        after = len(producer.produced)

        def survivors_read_orphans() -> bool:
            fresh = {
                p for m in survivors for p, _, v in m.records() if int(v.rsplit("-", 1)[1]) >= after
            }
            return orphaned <= fresh

        wait_until(survivors_read_orphans, 30, "survivors to read the orphaned partitions")
    produced = producer.stop()

    consumed = wait_until(consumed_everything(members, produced), 30, "every record consumed")
    settled = settle(shared_broker, group, survivors, "the survivors to be the whole group")
    assert set(settled) == {m.name for m in survivors}
    assert wait_until(
        lambda: broker_owners(shared_broker.http_url, group) == settled,
        10,
        "/status/groups to show the survivors as owners",
    )
    # The killed member said nothing: only its session expiry could trigger the
    # rebalance, so it came after most of a session timeout (a lower bound only: the
    # wait above bounds the other side, far below a rebalance timeout).
    assert took_over_s >= SESSION_S - 1.5, took_over_s
    print(
        f"\n{family}: {len(produced)} produced, {len(consumed.rows)} consumed, "
        f"{consumed.duplicates} duplicates; takeover {took_over_s:.1f} s after SIGKILL"
    )


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_a_member_that_leaves_politely_hands_over_its_partitions_well_before_a_session_timeout(
    family: str, shared_broker: BrokerProcess, start_member: Callable[..., GroupMember]
) -> None:
    topic = group = f"leaving-{family}"
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic, PARTITIONS)
    members = [
        start_member(family, bootstrap, group, topic, session_timeout_ms=LONG_SESSION_MS)
        for _ in range(2)
    ]
    settle(shared_broker, group, members, "two members to share six partitions")
    before = group_status(shared_broker.http_url, group)
    assert before is not None
    rebalances_before = before["rebalances"]

    with producing(bootstrap, topic, PARTITIONS, family) as producer:
        wait_until(lambda: all(m.records() for m in members), 30, "every member to consume")
        leaver, stayer = members
        if family == "kcat":
            # kcat drops, unprinted, the records it already fetched once SIGTERM has
            # set its stop flag (consume_cb returns early) while their offsets were
            # stored and get committed on close: a skip made by kcat. So it leaves
            # only after printing everything produced so far.
            so_far = producer.pause()
            wait_until(consumed_everything(members, so_far), 30, "kcat to print every record")
        left_at = time.monotonic()
        assert leaver.terminate() == 0, leaver.log()
        owned = wait_until(lambda: shared_out([stayer]), LONG_SESSION_S, "the stayer to take over")
        took_over_s = time.monotonic() - left_at
        producer.resume()
        after = len(producer.produced)
        wait_until(
            lambda: any(int(v.rsplit("-", 1)[1]) > after for _, _, v in stayer.records()),
            30,
            "the stayer to read records produced after the leave",
        )
    produced = producer.stop()

    assert owned == {stayer.name: set(range(PARTITIONS))}
    if family != "kcat":
        assert leaver.closed_politely()
    consumed = wait_until(consumed_everything(members, produced), 30, "every record consumed")
    status = group_status(shared_broker.http_url, group)
    assert status is not None
    assert status["members"] == 1
    assert status["rebalances"] > rebalances_before
    assert took_over_s < LONG_SESSION_S / 2, took_over_s  # not a session expiry
    print(
        f"\n{family}: takeover {took_over_s:.2f} s after a polite leave; "
        f"{consumed.duplicates} duplicates of {len(produced)}"
    )


def test_a_member_killed_while_a_new_one_joins_is_dropped_at_its_session_timeout(
    shared_broker: BrokerProcess, start_member: Callable[..., GroupMember]
) -> None:
    # A rolling restart: one consumer crashes and its replacement joins at once. The
    # join starts a rebalance that the dead member will never rejoin; like Kafka, the
    # coordinator must drop it when its session expires, not wait for its rebalance
    # timeout (max.poll.interval.ms, five minutes by default).
    topic = group = "killed-during-join"
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic, PARTITIONS)
    crashed, stayer = (start_member("confluent", bootstrap, group, topic) for _ in range(2))
    settle(shared_broker, group, [crashed, stayer], "two members to share six partitions")
    killed_at = time.monotonic()
    crashed.kill()
    replacement = start_member("confluent", bootstrap, group, topic)
    settle(shared_broker, group, [stayer, replacement], "the stayer and the replacement")
    assert time.monotonic() - killed_at < WELL_BEFORE_REBALANCE_TIMEOUT_S


@pytest.mark.parametrize("family", FAMILIES, ids=FAMILY_IDS)
def test_a_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance(
    family: str, shared_broker: BrokerProcess, start_member: Callable[..., GroupMember]
) -> None:
    topic = group = f"static-{family}"
    bootstrap, http_url = shared_broker.bootstrap, shared_broker.http_url
    create_topic(bootstrap, topic, PARTITIONS)

    def static_member(i: int) -> GroupMember:
        return start_member(
            family,
            bootstrap,
            group,
            topic,
            instance_id=f"{family}-{i}",
            name=f"s{i}",
            session_timeout_ms=LONG_SESSION_MS,
        )

    # The first member to join leads the group; the one restarted must not lead it. A
    # restarted leader gets the member list and assigns again, and kafka-python rejoins
    # (a rebalance the client asks for) when its topic metadata arrived only after that
    # assignment, which a loaded machine makes likely.
    other = static_member(1)
    wait_until(lambda: (group_status(http_url, group) or {}).get("members"), 30, "a leader")
    crashed = static_member(0)
    owned = settle(shared_broker, group, [crashed, other], "two static members")
    before = group_status(http_url, group)
    assert before is not None
    rebalances = before["rebalances"]
    events = other.rebalance_events()

    crashed.kill()
    restarted = start_member(
        family,
        bootstrap,
        group,
        topic,
        instance_id=f"{family}-0",
        name="s0-again",
        session_timeout_ms=LONG_SESSION_MS,
    )
    started = time.monotonic()
    again = wait_until(
        lambda: restarted.assignment(), LONG_SESSION_S, "the restarted member's assignment"
    )
    assert time.monotonic() - started < LONG_SESSION_S
    assert again == owned[crashed.name]
    status = group_status(http_url, group)
    assert status is not None
    assert status["rebalances"] == rebalances
    assert status["members"] == 2 and status["state"] == "Stable"
    assert other.rebalance_events() == events, "the other member saw a rebalance"
    assert other.assignment() == owned[other.name]
