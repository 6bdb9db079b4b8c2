"""Committed offsets survive a broker restart, clean or kill -9.

Each client family commits, as a real group member, offsets of its own group; the
broker is stopped (SIGTERM) or killed (SIGKILL) and started again on the same port.
Then every admin client reads every group's offsets back (OffsetFetch, including
kafka-python's multi-group v8 request), and a new member of each group - of another
family than the one that committed, so the OffsetCommit and OffsetFetch versions
differ - starts exactly at the committed offsets.
"""

from __future__ import annotations

import pytest

from contracts.launcher import BrokerProcess
from tests.broker.groups_integration.clients import (
    COMMITTERS,
    FETCHERS,
    READERS,
    kafka_python_committed,
)
from tests.broker.groups_integration.support import create_topic, produce

pytestmark = [pytest.mark.interop, pytest.mark.slow]

PARTITIONS = 3
PER_PARTITION = 10
TOPIC = "resume"
# The offsets each family commits (kcat commits what it consumed: as many records).
CHOSEN = {
    "confluent": {0: 1, 1: 5, 2: 9},
    "kafka-python": {0: 2, 1: 4, 2: 7},
    "aiokafka": {0: 3, 1: 6, 2: 8},
    "kcat": {0: 4, 1: 4, 2: 4},
}
FAMILIES = list(COMMITTERS)
# The family whose new member resumes each family's group.
READER_OF = dict(zip(FAMILIES, FAMILIES[1:] + FAMILIES[:1], strict=True))


def restart(broker: BrokerProcess, how: str) -> None:
    if how == "SIGKILL":
        broker.kill()
    else:
        assert broker.stop() == 0, broker.output()
    broker.start()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"], ids=["after a clean stop", "after kill -9"])
def test_committed_offsets_survive_a_restart_and_new_members_resume_exactly_there(
    how: str, broker: BrokerProcess
) -> None:
    create_topic(broker.bootstrap, TOPIC, PARTITIONS)
    produce(
        broker.bootstrap, TOPIC, [f"v{i}" for i in range(PARTITIONS * PER_PARTITION)], PARTITIONS
    )
    committed = {
        family: commit(broker.bootstrap, f"group-{family}", TOPIC, CHOSEN[family])
        for family, commit in COMMITTERS.items()
    }
    assert committed["kcat"], "kcat committed nothing"

    restart(broker, how)
    assert "replayed" in broker.output()

    groups = [f"group-{family}" for family in FAMILIES]
    multi = kafka_python_committed(broker.bootstrap, groups)
    for family in FAMILIES:
        metadata = "m{}" if family in ("kafka-python", "aiokafka") else ""
        want = {p: (o, metadata.format(p)) for p, o in committed[family].items()}
        assert multi[f"group-{family}"] == want, f"multi-group OffsetFetch, {family}'s group"
        for admin, fetch in FETCHERS.items():
            got = fetch(broker.bootstrap, f"group-{family}")
            expected = committed[family] if admin == "confluent" else want
            assert got == expected, f"{admin} admin reading {family}'s group"

    for family in FAMILIES:
        reader = READER_OF[family]
        start = {p: committed[family].get(p, 0) for p in range(PARTITIONS)}
        start = {p: o for p, o in start.items() if o < PER_PARTITION}  # records left
        if reader == "kcat":
            remaining = sum(PER_PARTITION - o for o in start.values())
            first = READERS[reader](broker.bootstrap, f"group-{family}", TOPIC, remaining)
        else:
            first = READERS[reader](broker.bootstrap, f"group-{family}", TOPIC, len(start))
        assert first == start, f"a {reader} member resuming {family}'s group"
