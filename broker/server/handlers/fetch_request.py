"""The parts of a Fetch that the consumer and follower paths share: what each partition
asks for (``Wanted``, grouped by ``TopicRequest``) and what one read pass over them
gathered (``FetchResult``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode

from broker.protocol.fetch_codec import FetchPartitionData, FetchTopicData

__all__ = ["FetchResult", "TopicRequest", "Wanted"]


@dataclass(frozen=True, slots=True)
class Wanted:
    """One partition of the request (epochs are -1 when the version lacks them)."""

    index: int
    offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1


@dataclass(slots=True)
class TopicRequest:
    """One topic of the request: its name (None: an unknown topic id), id, and an error
    that answers all its partitions (unknown, not authorized)."""

    name: str | None
    topic_id: uuid.UUID
    error: ErrorCode
    partitions: list[Wanted]


@dataclass(slots=True)
class FetchResult:
    """One read pass: the response's topics, bytes gathered, the last partition error
    (for the request metrics) and whether the answer must go now (an error or a
    diverging epoch: waiting cannot change it)."""

    topics: list[FetchTopicData] = field(default_factory=list)
    total_bytes: int = 0
    error: ErrorCode | None = None
    answer_now: bool = False

    def add(self, data: FetchPartitionData) -> None:
        self.total_bytes += len(data.records)
        if data.error_code != 0:
            self.error = ErrorCode(data.error_code)
            self.answer_now = True
        if data.diverging_epoch is not None:
            self.answer_now = True
