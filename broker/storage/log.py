"""The log of one partition: an ordered list of segments, the last one active.

Directory layout (one directory per partition, ``<topic>-<partition>``)::

    00000000000000000000.log / .index / .timeindex    sealed segments
    00000000000004213378.log / .index / .timeindex    the active segment
    00000000000004213378.snapshot                    producer state as of that offset
    leader-epoch-checkpoint                          where each leader epoch starts
    log-start-offset-checkpoint                      log start, when above the first segment

Invariants: segments are contiguous (each base offset is the previous segment's next
offset); ``log_start_offset`` is the first segment's base offset, or higher once a
follower followed its leader's log start (``advance_log_start``); ``log_end_offset`` is
the offset the next batch gets. A leader's batches are stored byte for byte as received
except the base offset and partition leader epoch, which are patched outside the CRC; a
follower's batches (``append_replicated``) are stored exactly as the leader stored them,
so replicas are byte-identical. Partition leader epochs never decrease along the log,
and the epoch cache (broker.storage.epoch_cache) records where each one starts.

Durability: appends go to the page cache with ``pwrite`` before they are acknowledged,
so a killed process loses nothing; ``flush`` fsyncs and advances ``flushed_offset``,
which is what survives a power loss. Who calls ``flush`` and when is the flush policy
(``broker.cluster.flusher``). ``flush`` is the only method safe to call from another
thread; everything else belongs to the event-loop thread. A flush that overlaps a
truncation does not advance ``flushed_offset``.

Crash safety of removals: data goes before the metadata describing it (newest segments
first, then the cut in the segment holding the new end, fsynced; then the epoch cache
and producer snapshots), so whatever a crash interrupts, opening the log
(broker.storage.log_loader) yields a valid log that still holds everything below the
truncation point, and the caller repeats the truncation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from broker.records.batch import BatchHeader
from broker.storage.checkpoint import (
    LOG_START_CHECKPOINT,
    write_log_start_checkpoint,
)
from broker.storage.epoch_cache import (
    EPOCH_CHECKPOINT,
    EpochEndOffset,
    EpochEntry,
    LeaderEpochCache,
)
from broker.storage.errors import (
    FencedLeaderEpochError,
    InvalidRecordError,
    LogStorageError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
)
from broker.storage.log_config import LogConfig
from broker.storage.log_loader import LogRecovery, load_log
from broker.storage.log_results import (
    AppendInfo,
    DeletedSegment,
    ReadInfo,
    ReplicaAppendInfo,
    TruncationInfo,
)
from broker.storage.log_segments import LogSegments
from broker.storage.producer_snapshots import (
    delete_snapshots,
    producer_state_at,
    replay_headers,
    snapshot_path,
)
from broker.storage.producer_state import ProducerStateManager
from broker.storage.replica_batches import fitting_batches, validate_replicated
from broker.storage.segment import LogSegment

__all__ = [
    "AppendInfo",
    "DeletedSegment",
    "Log",
    "LogRecovery",
    "ReadInfo",
    "ReplicaAppendInfo",
    "TruncationInfo",
]

log = logging.getLogger(__name__)

_MAX_RELATIVE_OFFSET = 2**31 - 1


class Log:
    """See the module docstring."""

    def __init__(self, directory: Path, config: LogConfig, clock_ms: Callable[[], int]) -> None:
        self.directory = directory
        self.config = config
        self._clock_ms = clock_ms
        self._segments = LogSegments(directory)
        self.producer_state = ProducerStateManager()
        self.epoch_cache = LeaderEpochCache(directory / EPOCH_CHECKPOINT)
        # The log start when a follower moved it above the first segment's base.
        self._start_offset = 0

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig,
        clock_ms: Callable[[], int],
        *,
        clean_shutdown: bool = False,
    ) -> tuple[Log, LogRecovery]:
        """Open (creating if needed) the log in ``directory`` and recover it.

        Sealed segments keep their index files when these validate, otherwise the index
        is rebuilt by a scan. The active segment is always scanned (with CRC checks
        unless the previous shutdown was clean) to rebuild its index, find the log end
        and replay producer state; a torn tail is truncated and reported. The epoch
        cache is checked against the log. Details in broker.storage.log_loader.
        """
        loaded = load_log(directory, config, clock_ms, clean_shutdown=clean_shutdown)
        self = cls(directory, config, clock_ms)
        for segment in loaded.segments:
            self._segments.add(segment)
        self.producer_state = loaded.producer_state
        self.epoch_cache = loaded.epoch_cache
        self._start_offset = loaded.log_start_offset
        self._segments.flushed_offset = self.log_end_offset
        return self, loaded.recovery

    # -- state -----------------------------------------------------------------------

    @property
    def active(self) -> LogSegment:
        return self._segments.active

    @property
    def log_start_offset(self) -> int:
        return max(self._segments.first.base_offset, self._start_offset)

    @property
    def log_end_offset(self) -> int:
        return self._segments.active.next_offset

    @property
    def size_bytes(self) -> int:
        return self._segments.size_bytes

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def max_timestamp(self) -> int:
        return self._segments.max_timestamp

    # -- leader epochs -----------------------------------------------------------------

    def assign_leader_epoch(self, leader_epoch: int) -> None:
        """Record that ``leader_epoch`` starts at the log end offset. A replica calls it
        when it becomes leader, before appending (Kafka's maybeAssignEpochStartOffset),
        so OffsetsForLeaderEpoch answers right before the first append. The latest
        epoch again is a no-op; an older one raises FencedLeaderEpochError."""
        latest = self.epoch_cache.latest_epoch
        if leader_epoch < latest:
            raise self._fenced(leader_epoch, latest)
        self.epoch_cache.assign(leader_epoch, self.log_end_offset)

    def end_offset_for_epoch(self, leader_epoch: int) -> EpochEndOffset:
        """The OffsetsForLeaderEpoch answer for ``leader_epoch`` (see
        LeaderEpochCache.end_offset_for), with this log's end offset."""
        return self.epoch_cache.end_offset_for(leader_epoch, self.log_end_offset)

    def _fenced(self, leader_epoch: int, latest: int) -> FencedLeaderEpochError:
        return FencedLeaderEpochError(
            f"{self.directory.name}: leader epoch {leader_epoch} is older than the latest "
            f"epoch {latest} in this log"
        )

    # -- append ----------------------------------------------------------------------

    def append(
        self, batch: bytes | bytearray | memoryview, header: BatchHeader, leader_epoch: int
    ) -> AppendInfo:
        """Assign offsets to one validated batch and write it (the stored copy carries
        the assigned base offset and ``leader_epoch``; ``batch`` itself is not modified).
        A new ``leader_epoch`` is recorded in the epoch cache at the batch's offset.

        Raises RecordTooLargeError, InvalidRecordError, FencedLeaderEpochError (an epoch
        older than the log's latest), the producer-state errors, or LogStorageError when
        the disk refuses the write (nothing is stored then).
        """
        size = header.size
        if size > self.config.max_message_bytes:
            raise RecordTooLargeError(
                f"batch of {size} bytes exceeds max.message.bytes={self.config.max_message_bytes}"
            )
        if header.is_transactional or header.is_control:
            raise InvalidRecordError("transactional and control batches are not supported")
        latest_epoch = self.epoch_cache.latest_epoch
        if leader_epoch < latest_epoch:
            raise self._fenced(leader_epoch, latest_epoch)
        if header.producer_id >= 0:
            original = self.producer_state.check(header)
            if original is not None:
                return AppendInfo(
                    original.first_offset,
                    original.last_offset,
                    header.records_count,
                    size,
                    original.max_timestamp,
                    duplicate=True,
                )
        self._maybe_roll(size, header.last_offset_delta)
        segment = self._segments.active
        base_offset = segment.next_offset
        if leader_epoch > latest_epoch:
            self.epoch_cache.assign(leader_epoch, base_offset)
        if segment.size == 0:
            segment.created_ms = self._clock_ms()
        segment.append(batch, header, base_offset, leader_epoch)
        self._segments.grew(size)
        if header.producer_id >= 0:
            self.producer_state.update(header._replace(base_offset=base_offset))
        return AppendInfo(
            base_offset,
            base_offset + header.last_offset_delta,
            header.records_count,
            size,
            header.max_timestamp,
        )

    def append_replicated(self, batches: bytes | bytearray | memoryview) -> ReplicaAppendInfo:
        """Append batches a follower fetched from its leader, stored exactly as given
        (offsets and leader epochs were assigned by the leader).

        ``batches`` holds whole batches, perhaps followed by a partial one (a fetch
        response cut at its byte limit): the partial tail is ignored and the result's
        ``size_bytes`` says how much was consumed. Every whole batch is validated before
        anything is stored (see broker.storage.replica_batches): CorruptBatchError,
        UnexpectedAppendOffsetError (a gap, an overlap, non-contiguous batches) or
        InvalidRecordError refuse the whole call and store nothing. max.message.bytes
        is not applied: the leader accepted the batch, and a follower refusing it would
        stop replicating.

        Segments roll as for leader appends. New epochs go to the epoch cache before the
        data, and producer state is updated as on the leader (the same ``update``), so
        a new leader still deduplicates retries. When the disk refuses a write
        (LogStorageError), the batches written before it stay (valid and contiguous)
        and the follower fetches again from the new log end.
        """
        view = memoryview(batches).cast("B")
        headers, consumed = validate_replicated(view, self.log_end_offset, self.directory.name)
        if not headers:
            end = self.log_end_offset
            return ReplicaAppendInfo(end, end - 1, 0, 0, 0, -1)
        position = 0
        first = 0
        while first < len(headers):
            stop, run_bytes = self._replicated_run(headers, first)
            run = headers[first:stop]
            self._assign_replicated_epochs(run)
            segment = self._segments.active
            if segment.size == 0:
                segment.created_ms = self._clock_ms()
            segment.append_batches(view[position : position + run_bytes], run)
            self._segments.grew(run_bytes)
            replay_headers(self.producer_state, run)
            position += run_bytes
            first = stop
        return ReplicaAppendInfo(
            headers[0].base_offset,
            headers[-1].last_offset,
            len(headers),
            sum(header.records_count for header in headers),
            consumed,
            max(header.max_timestamp for header in headers),
        )

    def _replicated_run(self, headers: Sequence[BatchHeader], first: int) -> tuple[int, int]:
        """Roll if ``headers[first]`` needs a new segment, then (end index, bytes) of the
        batches from ``first`` that go to the active segment in one write."""
        head = headers[first]
        self._maybe_roll(head.size, head.last_offset_delta)
        segment = self._segments.active
        room = self.config.segment_bytes - segment.size
        return fitting_batches(headers, first, room, segment.base_offset + _MAX_RELATIVE_OFFSET)

    def _assign_replicated_epochs(self, headers: Sequence[BatchHeader]) -> None:
        latest = self.epoch_cache.latest_epoch
        changes: list[EpochEntry] = []
        for header in headers:
            epoch = header.partition_leader_epoch
            if epoch >= 0 and epoch != latest:
                changes.append(EpochEntry(epoch, header.base_offset))
                latest = epoch
        if changes:
            self.epoch_cache.assign_all(changes)

    def _maybe_roll(self, incoming_bytes: int, last_delta: int) -> None:
        active = self._segments.active
        if active.size == 0:
            return
        reason = None
        if active.size + incoming_bytes > self.config.segment_bytes:
            reason = "size"
        elif self._clock_ms() - active.created_ms >= self.config.segment_ms:
            reason = "age"
        elif active.next_offset + last_delta - active.base_offset > _MAX_RELATIVE_OFFSET:
            reason = "offset range"
        if reason is not None:
            self.roll(reason)

    def roll(self, reason: str = "requested") -> LogSegment:
        """Seal the active segment and start a new one at the log end offset.

        Raises LogStorageError when the disk refuses a file (full, read-only); the
        active segment then stays active and a later append retries the roll."""
        old = self._segments.active
        if old.size == 0:
            return old
        base = old.next_offset
        try:
            old.persist_indexes()
            self.producer_state.write_snapshot(snapshot_path(self.directory, base))
            segment = LogSegment(self.directory, base, self.config.index_interval_bytes)
        except OSError as exc:
            raise LogStorageError(f"cannot roll {self.directory.name}: {exc.strerror}") from exc
        segment.next_offset = base
        segment.created_ms = self._clock_ms()
        self._segments.roll_to(segment)
        log.debug("rolled %s at offset %d (%s)", self.directory.name, base, reason)
        return segment

    # -- read ------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, max_offset: int, min_one: bool = True) -> ReadInfo:
        """Whole batches from the batch holding ``offset``, up to ``max_bytes`` and not
        past ``max_offset`` (the high watermark). With ``min_one`` the first batch is
        returned even when larger than ``max_bytes``. Reads stay within one segment.

        Raises OffsetOutOfRangeError below the log start or above the log end.
        """
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside [{self.log_start_offset}, {self.log_end_offset}]"
            )
        return self._segments.read(offset, max_bytes, max_offset, min_one)

    def read_replica(self, offset: int, max_bytes: int) -> ReadInfo:
        """What a follower fetch gets: like ``read`` but up to the log end offset, not
        the high watermark (followers copy what is not committed yet), at least one
        whole batch. Raises OffsetOutOfRangeError outside [log start, log end]."""
        return self.read(offset, max_bytes, self.log_end_offset)

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with timestamp >= ``timestamp``."""
        return self._segments.offset_for_timestamp(timestamp, self.log_start_offset)

    def offset_of_max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp, or None."""
        return self._segments.offset_of_max_timestamp()

    def record_timestamp(self, offset: int) -> int | None:
        """Exact timestamp of the record at ``offset`` (decoding its batch), or None
        when the offset is not stored."""
        if not self.log_start_offset <= offset < self.log_end_offset:
            return None
        return self._segments.record_timestamp(offset)

    def bytes_from(self, offset: int) -> int:
        """Bytes of the record batches a reader at ``offset`` does not have yet: from
        the batch holding it (or the log start, when below it) to the log end; 0 at or
        past the log end. Whole batches (a batch holding ``offset`` counts fully)."""
        if offset >= self.log_end_offset:
            return 0
        return self._segments.bytes_from(max(offset, self.log_start_offset))

    def segment_max_timestamp(self, offset: int) -> int | None:
        """Largest timestamp of the segment holding ``offset``: when retention.ms will
        delete it is this plus retention.ms."""
        return self._segments.segment_max_timestamp(offset)

    # -- truncation (followers) ------------------------------------------------------

    def truncate_to(self, offset: int) -> TruncationInfo:
        """Remove every batch at and above ``offset``: a follower cutting its log where
        it diverged from its leader's.

        ``offset`` should be a batch boundary. Inside a batch the log is cut at that
        batch's start (batches are never split, as in Kafka), so the new log end may be
        below ``offset``. At or above the log end no data goes, but an epoch cache entry
        starting at the log end does (as in Kafka: a leader that assigned its epoch and
        lost the leadership before appending must not keep claiming that epoch, or its
        next leader's divergence check never lets it fetch). Below the log start:
        OffsetOutOfRangeError (use ``truncate_fully_and_start_at``).

        Order, for crash safety: later segments are deleted newest first; the segment
        holding the cut is truncated and fsynced, and the directory fsynced; then the
        epoch cache drops the entries from the cut on, producer snapshots above the cut
        are deleted and producer state is rebuilt as of the cut (newest snapshot at or
        below it, plus a replay of the batches after it). A crash part-way leaves a
        log that opens with everything below ``offset``; the caller truncates again.
        Raises LogStorageError when the disk refuses.
        """
        end = self.log_end_offset
        if offset >= end:
            self.epoch_cache.truncate_from_end(end)
            return TruncationInfo(end, end, 0)
        if offset < self.log_start_offset:
            raise OffsetOutOfRangeError(
                f"{self.directory.name}: cannot truncate to {offset}, below the log start "
                f"offset {self.log_start_offset}"
            )
        cut, removed = self._segments.truncate_at(offset)
        if cut < self._start_offset:  # the log start was inside the cut batch
            self._set_log_start(cut)
        active = self._segments.active
        active.created_ms = active.first_batch_timestamp if active.size else self._clock_ms()
        self._after_truncation(cut)
        self.producer_state = producer_state_at(self.directory, list(self._segments), cut)
        return TruncationInfo(end, self.log_end_offset, removed)

    def truncate_fully_and_start_at(self, offset: int) -> TruncationInfo:
        """Empty the log and restart it at ``offset`` (Kafka's truncateFullyAndStartAt):
        a follower whose log end is below its leader's log start. Every segment, the
        epoch cache, producer state and its snapshots go; log start and end become
        ``offset``. A crash part-way leaves a prefix of the old segments, or an empty log
        at 0, and the caller does it again. Raises LogStorageError when the disk refuses.
        """
        if offset < 0:
            raise ValueError(f"cannot start a log at offset {offset}")
        end = self.log_end_offset
        (self.directory / LOG_START_CHECKPOINT).unlink(missing_ok=True)
        removed = self._segments.restart_at(
            offset, self.config.index_interval_bytes, self._clock_ms()
        )
        self._start_offset = offset
        self.epoch_cache.clear()
        delete_snapshots(self.directory, above=-1)
        self.producer_state = ProducerStateManager()
        return TruncationInfo(end, offset, removed)

    def advance_log_start(self, offset: int) -> list[DeletedSegment]:
        """Move the log start up to ``offset``: a follower following its leader's log
        start (Kafka's maybeIncrementLogStartOffset). Offsets below it can no longer be
        read; whole segments below it are deleted (never the active one); the epoch
        cache's first entry moves up. The offset is persisted first
        (``log-start-offset-checkpoint``) so a restart keeps it. Not above the current
        start: nothing happens. Above the log end: OffsetOutOfRangeError (use
        ``truncate_fully_and_start_at``). Returns the deleted segments."""
        if offset <= self.log_start_offset:
            return []
        if offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"{self.directory.name}: cannot start the log at {offset}, above its end "
                f"offset {self.log_end_offset}"
            )
        self._set_log_start(offset)
        deleted = []
        while len(self._segments) > 1 and self._segments[1].base_offset <= offset:
            deleted.append(self._delete_oldest(f"below the log start offset {offset}"))
        self.epoch_cache.truncate_from_start(offset)
        return deleted

    def _set_log_start(self, offset: int) -> None:
        write_log_start_checkpoint(self.directory, offset)
        self._start_offset = offset

    def _after_truncation(self, new_end: int) -> None:
        self.epoch_cache.truncate_from_end(new_end)
        delete_snapshots(self.directory, above=new_end)

    # -- retention -------------------------------------------------------------------

    def delete_expired(self, now_ms: int, limit: int | None = None) -> list[DeletedSegment]:
        """Delete whole segments beyond retention.ms or retention.bytes, oldest first.

        A fully expired active segment is rolled first so its data can go too (the log
        start then equals the log end). Never deletes data above the deleted segments,
        nor, with ``limit`` (a leader's high watermark), any segment holding an offset
        at or above ``limit``: records its followers or consumers may not have read.
        """
        deleted: list[DeletedSegment] = []
        segments = self._segments

        def may_delete_first() -> bool:
            return len(segments) > 1 and (limit is None or segments.first.next_offset <= limit)

        retention_ms = self.config.retention_ms
        if retention_ms >= 0:
            horizon = now_ms - retention_ms
            active = segments.active
            if (
                active.size
                and active.max_timestamp < horizon
                and (limit is None or active.next_offset <= limit)
                and all(s.max_timestamp < horizon for s in segments)
            ):
                self.roll("retention")
            while may_delete_first() and segments.first.max_timestamp < horizon:
                deleted.append(self._delete_oldest(f"older than retention.ms={retention_ms}"))
        retention_bytes = self.config.retention_bytes
        if retention_bytes >= 0:
            while (
                may_delete_first() and segments.size_bytes - segments.first.size >= retention_bytes
            ):
                deleted.append(self._delete_oldest(f"beyond retention.bytes={retention_bytes}"))
        return deleted

    def delete_segments_below(self, offset: int, reason: str) -> list[DeletedSegment]:
        """Delete sealed segments whose every offset is below ``offset`` (used by
        internal logs that snapshot their state and drop the history before it)."""
        deleted = []
        while len(self._segments) > 1 and self._segments.first.next_offset <= offset:
            deleted.append(self._delete_oldest(reason))
        return deleted

    def _delete_oldest(self, reason: str) -> DeletedSegment:
        segment = self._segments.remove_oldest()
        # Snapshots from the first segment on stay: a truncation may rebuild from them.
        delete_snapshots(self.directory, below=self._segments.first.base_offset)
        self.epoch_cache.truncate_from_start(self.log_start_offset)
        return DeletedSegment(segment.base_offset, segment.next_offset, segment.size, reason)

    # -- durability and lifecycle ----------------------------------------------------

    def flush(self) -> int:
        """fsync everything appended so far; returns the offset now durable. Safe to call
        from a flusher thread while the event loop appends (see LogSegments.flush)."""
        return self._segments.flush()

    @property
    def flushed_offset(self) -> int:
        """Everything below it has been fsynced (survives a power loss)."""
        return self._segments.flushed_offset

    @property
    def unflushed(self) -> bool:
        return self.flushed_offset < self.log_end_offset

    def close(self) -> None:
        """fsync, persist the indexes and close every segment. Raises LogStorageError
        when the disk refuses; the segments are closed anyway and, without a clean
        shutdown, the next open recovers the log by a scan."""
        try:
            self.flush()
            for segment in self._segments:
                segment.persist_indexes()
        except OSError as exc:
            raise LogStorageError(
                f"cannot close {self.directory.name} cleanly: {exc.strerror or exc}"
            ) from exc
        finally:
            for segment in self._segments:
                segment.close()

    def delete(self) -> None:
        for segment in self._segments:
            segment.delete()
        for path in self.directory.iterdir():
            path.unlink()
        self.directory.rmdir()
