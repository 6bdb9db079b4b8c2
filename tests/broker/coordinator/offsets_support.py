"""Support for the offsets tests: an in-memory OffsetsLog whose commit point (the high
watermark) the test moves, and group ids that land in a chosen partition."""

from __future__ import annotations

import asyncio
import struct

from broker.coordinator.coordinator import (
    CoordinatorConfig,
    GroupCoordinator,
    JoinRequest,
    OffsetCommitPlan,
)
from broker.coordinator.group import CommittedOffset
from broker.coordinator.offsets_log import AppendedOffsets
from broker.coordinator.offsets_partition import OffsetsPartition
from broker.coordinator.service import GroupService
from broker.metadata.offsets_topic import coordinator_partition
from broker.records.batch import check_batch
from contracts.clock import ManualClock


def groups_in(partition: int, count: int, how_many: int = 1, prefix: str = "group") -> list[str]:
    """The first ``how_many`` ids ``<prefix>-<n>`` whose offsets partition is ``partition``."""
    found: list[str] = []
    n = 0
    while len(found) < how_many:
        candidate = f"{prefix}-{n}"
        if coordinator_partition(candidate, count) == partition:
            found.append(candidate)
        n += 1
    return found


class FakeOffsetsLog:
    """Stores batches as a leader would (base offset assigned, the rest unchanged).

    With ``auto_commit`` every append is committed at once (a single node under the
    interval flush policy); otherwise ``commit_to`` moves the commit point and wakes
    the waiters it covers. ``append_error`` / ``wait_error`` make the next calls fail.
    """

    def __init__(self, *, auto_commit: bool = True) -> None:
        self.batches: list[tuple[int, int, bytes]] = []  # (base, last offset, bytes)
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.committed_offset = 0  # every offset below it is committed
        self.auto_commit = auto_commit
        self.append_error: Exception | None = None
        self.wait_error: Exception | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def waiting(self) -> int:
        return sum(1 for _, future in self._waiters if not future.done())

    def read(self, offset: int, max_bytes: int) -> bytes:
        out = bytearray()
        for _, last, data in self.batches:
            if last < offset:
                continue
            if out and len(out) + len(data) > max_bytes:
                break
            out += data
        return bytes(out)

    def append(self, batch: bytes) -> AppendedOffsets:
        if self.append_error is not None:
            raise self.append_error
        header = check_batch(batch)
        base = self.log_end_offset
        last = base + header.last_offset_delta
        self.batches.append((base, last, struct.pack(">q", base) + batch[8:]))
        self.log_end_offset = last + 1
        if self.auto_commit:
            self.commit_to(self.log_end_offset)
        return AppendedOffsets(base, last)

    async def wait_committed(self, last_offset: int) -> None:
        if self.wait_error is not None:
            raise self.wait_error
        if last_offset < self.committed_offset:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((last_offset, future))
        await future

    def commit_to(self, offset: int, *, newest_first: bool = False) -> None:
        """Commit below ``offset``; wake the waiters it covers (``newest_first``: in the
        reverse order of their offsets, as a replica layer may)."""
        self.committed_offset = max(self.committed_offset, offset)
        woken = sorted(self._waiters, key=lambda w: w[0], reverse=newest_first)
        for last, future in woken:
            if last < self.committed_offset and not future.done():
                future.set_result(None)

    def fail_waiters(self, error: Exception) -> None:
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(error)

    def drop_history_below(self, offset: int) -> None:
        self.log_start_offset = max(self.log_start_offset, offset)
        self.batches = [b for b in self.batches if b[1] >= self.log_start_offset]


class Topics:
    """Every topic partition exists except those of topic ``gone``."""

    def exists(self, topic: str, index: int) -> bool:
        return topic != "gone"


def group_service(partition_count: int, *, compact_after_records: int = 100_000) -> GroupService:
    """A service leading nothing yet, whose new groups rebalance without delay."""
    return GroupService(
        GroupCoordinator(CoordinatorConfig(initial_rebalance_delay_ms=0)),
        Topics(),
        ManualClock(),
        partition_count=partition_count,
        compact_after_records=compact_after_records,
    )


def join_request(group_id: str, member_id: str = "") -> JoinRequest:
    return JoinRequest(
        group_id=group_id,
        member_id=member_id,
        group_instance_id=None,
        client_id="client",
        client_host="127.0.0.1",
        session_timeout_ms=10_000,
        rebalance_timeout_ms=30_000,
        protocol_type="consumer",
        protocols=(("range", b""),),
        require_known_member_id=False,
    )


def offsets(
    *pairs: tuple[int, int], topic: str = "orders"
) -> list[tuple[str, int, CommittedOffset]]:
    """(partition, offset) pairs as commit input."""
    return [(topic, partition, CommittedOffset(offset)) for partition, offset in pairs]


def log_holding(
    partition: int, count: int, *commits: tuple[str, int, int], committed: bool = True
) -> FakeOffsetsLog:
    """A log a previous leader wrote: one commit per (group, partition, offset), all
    committed (and later appends committed at once) or none."""
    log = FakeOffsetsLog()
    writer = OffsetsPartition(partition, log, count, ManualClock().time_ms)
    for group_id, index, offset in commits:
        writer.append_commit(
            OffsetCommitPlan(group_id, (("orders", index, CommittedOffset(offset)),))
        )
    if not committed:  # and what comes next waits for ``commit_to`` too
        log.committed_offset = 0
        log.auto_commit = False
    return log
