"""Leader epoch checks for clients and ListOffsets on a new leader (Kafka's rules)."""

from __future__ import annotations

import pytest

from broker.error_codes import KafkaError
from broker.replication import NO_EPOCH, check_leader_epoch
from tests.broker.replication.builders import leader_of

NONE = KafkaError.NONE
NOT_AVAILABLE = KafkaError.OFFSET_NOT_AVAILABLE
EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3


@pytest.mark.parametrize(
    ("requested", "error"),
    [
        (NO_EPOCH, NONE),
        (5, NONE),
        (4, KafkaError.FENCED_LEADER_EPOCH),
        (0, KafkaError.FENCED_LEADER_EPOCH),
        (6, KafkaError.UNKNOWN_LEADER_EPOCH),
    ],
    ids=[
        "not given: passes",
        "the same epoch: passes",
        "one older: fenced",
        "much older: fenced",
        "newer: unknown (our metadata is behind)",
    ],
)
def test_a_clients_leader_epoch_is_checked_against_ours(requested: int, error: KafkaError) -> None:
    assert check_leader_epoch(requested, 5) is error
    assert leader_of(leader_epoch=5).check_client_epoch(requested) is error


@pytest.mark.parametrize(
    ("high_watermark", "timestamp", "found_offset", "from_replica", "error"),
    [
        (80, LATEST, None, False, NOT_AVAILABLE),
        (80, EARLIEST, 0, False, NONE),
        (80, 1_000, 50, False, NONE),
        (80, 1_000, 85, False, NOT_AVAILABLE),
        (80, 1_000, None, False, NOT_AVAILABLE),
        (80, MAX_TIMESTAMP, 90, False, NOT_AVAILABLE),
        (80, LATEST, None, True, NONE),
        (90, LATEST, None, False, NONE),
    ],
    ids=[
        "latest while the HW lags the epoch start",
        "earliest is always answered",
        "a timestamp found below the HW",
        "a timestamp found at or above the HW",
        "a timestamp found nowhere",
        "the max timestamp above the HW",
        "replicas are never refused",
        "once the HW reaches the epoch start",
    ],
)
def test_a_new_leader_answers_offset_not_available_until_its_hw_reaches_its_epoch_start(
    high_watermark: int,
    timestamp: int,
    found_offset: int | None,
    from_replica: bool,
    error: KafkaError,
) -> None:
    leader = leader_of(log_end=100, high_watermark=high_watermark, epoch_start=90)
    assert leader.list_offsets_error(timestamp, found_offset, from_replica=from_replica) is error
