"""What a follower sends its leader, in Kafka's wire types (kio), and the answers in
the replication core's types (``broker.replication``). Pure: dataclasses in and out.

One request per kind carries every partition of that kind followed from one leader:

- ``Fetch`` v12 (topics by name; ``replica_id`` in the body; ``current_leader_epoch``,
  ``last_fetched_epoch`` and the follower's log start per partition; the diverging
  epoch comes back as a tagged field);
- ``OffsetsForLeaderEpoch`` v4 with ``replica_id``;
- ``ListOffsets`` v7 with ``replica_id``, one request for the earliest offsets and one
  for the latest (Kafka refuses a partition named twice in one request).

An error code the broker has no ``KafkaError`` member for becomes
UNKNOWN_SERVER_ERROR (the follower backs off and retries, as for any other error).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kio.schema.fetch.v12 import request as fetch_v12
from kio.schema.list_offsets.v7 import request as list_offsets_v7
from kio.schema.offset_for_leader_epoch.v4 import request as epoch_v4
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i8, i32, i32Timedelta, i64

from broker.error_codes import KafkaError
from broker.replication import EpochRequest, FetchRequest, FetchResponse, LeaderOffsetsRequest
from broker.storage.epoch_cache import EpochEndOffset

__all__ = [
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "PartitionKey",
    "ReplicaFetchLimits",
    "epoch_answers",
    "epoch_request",
    "fetch_answers",
    "fetch_request",
    "kafka_error",
    "offsets_answers",
    "offsets_request",
]

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
_NO_EPOCH = -1

PartitionKey = tuple[str, int]
T = TypeVar("T")
_KNOWN_CODES = frozenset(int(e) for e in KafkaError)


@dataclass(frozen=True, slots=True)
class ReplicaFetchLimits:
    """Kafka's replica.fetch.* settings: the long poll, and the byte limits (soft for
    the first batch, which always comes whole)."""

    max_wait_ms: int = 500
    min_bytes: int = 1
    max_bytes: int = 10 * 1024 * 1024
    partition_max_bytes: int = 1024 * 1024


def kafka_error(code: int) -> KafkaError:
    return KafkaError(code) if code in _KNOWN_CODES else KafkaError.UNKNOWN_SERVER_ERROR


def _by_topic(wanted: Iterable[tuple[PartitionKey, T]]) -> dict[str, list[tuple[int, T]]]:
    topics: dict[str, list[tuple[int, T]]] = {}
    for (topic, partition), item in wanted:
        topics.setdefault(topic, []).append((partition, item))
    return topics


def fetch_request(
    replica_id: int,
    wanted: Sequence[tuple[PartitionKey, FetchRequest]],
    limits: ReplicaFetchLimits,
) -> fetch_v12.FetchRequest:
    topics = tuple(
        fetch_v12.FetchTopic(
            topic=TopicName(topic),
            partitions=tuple(
                fetch_v12.FetchPartition(
                    partition=i32(partition),
                    current_leader_epoch=i32(request.current_leader_epoch),
                    fetch_offset=i64(request.fetch_offset),
                    last_fetched_epoch=i32(request.last_fetched_epoch),
                    log_start_offset=i64(request.log_start_offset),
                    partition_max_bytes=i32(limits.partition_max_bytes),
                )
                for partition, request in partitions
            ),
        )
        for topic, partitions in _by_topic(wanted).items()
    )
    return fetch_v12.FetchRequest(
        replica_id=BrokerId(replica_id),
        max_wait=i32Timedelta.parse(datetime.timedelta(milliseconds=limits.max_wait_ms)),
        min_bytes=i32(limits.min_bytes),
        max_bytes=i32(limits.max_bytes),
        topics=topics,
        forgotten_topics_data=(),
    )


def fetch_answers(response: Any) -> dict[PartitionKey, FetchResponse]:
    """Each partition's answer (a top-level error answers every partition named)."""
    top_error = kafka_error(int(response.error_code))
    answers: dict[PartitionKey, FetchResponse] = {}
    for topic in response.responses:
        for p in topic.partitions:
            error = top_error if top_error is not KafkaError.NONE else kafka_error(p.error_code)
            diverging = p.diverging_epoch
            answers[(topic.topic, p.partition_index)] = FetchResponse(
                error,
                high_watermark=p.high_watermark,
                log_start_offset=p.log_start_offset,
                records=p.records or b"",
                diverging_epoch=(
                    EpochEndOffset(diverging.epoch, diverging.end_offset)
                    if diverging.epoch >= 0 and diverging.end_offset >= 0
                    else None
                ),
            )
    return answers


def epoch_request(
    replica_id: int, wanted: Sequence[tuple[PartitionKey, EpochRequest]]
) -> epoch_v4.OffsetForLeaderEpochRequest:
    topics = tuple(
        epoch_v4.OffsetForLeaderTopic(
            topic=TopicName(topic),
            partitions=tuple(
                epoch_v4.OffsetForLeaderPartition(
                    partition=i32(partition),
                    current_leader_epoch=i32(request.current_leader_epoch),
                    leader_epoch=i32(request.leader_epoch),
                )
                for partition, request in partitions
            ),
        )
        for topic, partitions in _by_topic(wanted).items()
    )
    return epoch_v4.OffsetForLeaderEpochRequest(replica_id=BrokerId(replica_id), topics=topics)


def epoch_answers(response: Any) -> dict[PartitionKey, tuple[KafkaError, EpochEndOffset]]:
    return _answers(
        response.topics,
        lambda t: str(t.topic),
        lambda p: int(p.partition),
        lambda p: (kafka_error(p.error_code), EpochEndOffset(p.leader_epoch, p.end_offset)),
    )


def offsets_request(
    replica_id: int, wanted: Sequence[tuple[PartitionKey, LeaderOffsetsRequest]], timestamp: int
) -> list_offsets_v7.ListOffsetsRequest:
    topics = tuple(
        list_offsets_v7.ListOffsetsTopic(
            name=TopicName(topic),
            partitions=tuple(
                list_offsets_v7.ListOffsetsPartition(
                    partition_index=i32(partition),
                    current_leader_epoch=i32(request.current_leader_epoch),
                    timestamp=i64(timestamp),
                )
                for partition, request in partitions
            ),
        )
        for topic, partitions in _by_topic(wanted).items()
    )
    return list_offsets_v7.ListOffsetsRequest(
        replica_id=BrokerId(replica_id), isolation_level=i8(0), topics=topics
    )


def offsets_answers(response: Any) -> dict[PartitionKey, tuple[KafkaError, int]]:
    return _answers(
        response.topics,
        lambda t: str(t.name),
        lambda p: int(p.partition_index),
        lambda p: (kafka_error(p.error_code), int(p.offset)),
    )


def _answers(
    topics: Iterable[Any],
    topic_name: Callable[[Any], str],
    partition_index: Callable[[Any], int],
    answer: Callable[[Any], T],
) -> dict[PartitionKey, T]:
    return {(topic_name(t), partition_index(p)): answer(p) for t in topics for p in t.partitions}
