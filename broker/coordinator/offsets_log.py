"""OffsetsLog: what the group coordinator needs from one partition of the offsets topic.

The coordinator of a group is the leader of its ``__consumer_offsets`` partition. Whoever
owns that partition (a broker alone: the local logs of ``local_offsets``; a cluster:
the replicated topic, ``replicated_offsets``) hands GroupService an ``OffsetsLog`` when this
node becomes its leader and takes it back by resigning. The coordinator never opens,
closes or replicates the log: it reads it to load its groups, appends record batches,
waits until they are committed, and drops history below a snapshot.

"Committed" is the owner's rule: on a single node, durable under the flush policy; in a
cluster, below the high watermark (replicated to the ISR, with acks=all semantics).

Concurrency: event-loop thread only, like every partition. ``wait_committed`` may be
awaited by several commits at once; GroupService applies their effects in log order
whatever order they wake up in.

Errors (raised by ``append`` and ``wait_committed``):

- ``broker.storage.errors.LogStorageError``: the disk refused (append: nothing stored);
  answered KAFKA_STORAGE_ERROR;
- ``OffsetsLogFencedError``: this node no longer leads the partition; answered
  NOT_COORDINATOR (the record may or may not survive; the client retries);
- ``OffsetsLogUnavailableError``: the record cannot be committed now (too few in-sync
  replicas, timed out); answered COORDINATOR_NOT_AVAILABLE, as Kafka maps
  NOT_ENOUGH_REPLICAS and REQUEST_TIMED_OUT for commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AppendedOffsets",
    "OffsetsLog",
    "OffsetsLogFencedError",
    "OffsetsLogUnavailableError",
]


@dataclass(frozen=True, slots=True)
class AppendedOffsets:
    """Offsets the log assigned to an appended batch (inclusive range)."""

    first_offset: int
    last_offset: int


class OffsetsLogFencedError(Exception):
    """This node stopped leading the offsets partition (or its leader epoch moved on)."""


class OffsetsLogUnavailableError(Exception):
    """The offsets partition cannot commit records now (for example too few in-sync
    replicas, or the wait timed out); the client should retry later."""


class OffsetsLog(Protocol):
    """One offsets-topic partition led by this node, as its leader sees it."""

    @property
    def log_start_offset(self) -> int:
        """First offset still readable (moves up with ``drop_history_below``)."""
        ...

    @property
    def log_end_offset(self) -> int:
        """Offset the next appended record gets."""
        ...

    def read(self, offset: int, max_bytes: int) -> bytes | memoryview:
        """Whole v2 record batches from the batch holding ``offset`` up to the log end
        (the leader's whole log, committed or not: a new leader's log is the one that
        will be committed), at most about ``max_bytes`` but at least one batch when
        ``offset`` is below the log end; empty at the log end. The first batch may
        start below ``offset``: the caller skips records below it."""
        ...

    def append(self, batch: bytes) -> AppendedOffsets:
        """Append one v2 record batch built by the caller (base offset 0); the log
        assigns the offsets (and stamps its leader epoch). Raises LogStorageError
        (nothing stored) or OffsetsLogFencedError."""
        ...

    async def wait_committed(self, last_offset: int) -> None:
        """Return once every record up to ``last_offset`` is committed. Raises
        LogStorageError, OffsetsLogFencedError or OffsetsLogUnavailableError; it need
        not return when leadership is lost (GroupService stops waiting on resign)."""
        ...

    def drop_history_below(self, offset: int) -> None:
        """Records below ``offset`` are no longer needed (a committed snapshot at
        ``offset`` holds their state): move the log start up to it. Storage frees them
        whole segments at a time; in a cluster, followers follow the leader's log start.
        Raises LogStorageError when the disk refuses."""
        ...
