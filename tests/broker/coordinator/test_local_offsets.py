"""The single-node offsets partitions: local logs led here, committed under the flush
policy, compacted on disk, and read back after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from broker.cluster.flusher import Flusher, FlushPolicy
from broker.coordinator.local_offsets import LocalOffsetsLogs
from broker.coordinator.offsets_layout import OFFSETS_LOG_CONFIG
from broker.coordinator.service import GroupService
from broker.error_codes import KafkaError
from broker.storage.log_config import LogConfig
from contracts.clock import ManualClock
from tests.broker.coordinator.offsets_support import group_service, offsets

COUNT = 4
SMALL_SEGMENTS = LogConfig(segment_bytes=4096, retention_ms=-1, max_message_bytes=1 << 20)


@asynccontextmanager
async def running(
    data_dir: Path,
    policy: FlushPolicy = FlushPolicy.INTERVAL,
    *,
    config: LogConfig = OFFSETS_LOG_CONFIG,
    compact_after_records: int = 100_000,
    interval_ms: int = 1000,
) -> AsyncIterator[tuple[GroupService, LocalOffsetsLogs]]:
    """A GroupService leading every local partition, closed (logs too) on exit."""
    flusher = Flusher(policy, interval_ms)
    flusher.start()
    logs = LocalOffsetsLogs(data_dir, COUNT, flusher, ManualClock().time_ms, config=config)
    service = group_service(COUNT, compact_after_records=compact_after_records)
    await logs.lead_all(service)
    try:
        yield service, logs
    finally:
        await service.close()
        logs.close()
        await flusher.close()


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a background flush round; the deadline only bounds a hang."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_committed_offsets_survive_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path) as (service, _):
        for n in range(20):
            assert await service.commit(f"g{n}", -1, "", offsets((0, n), (1, n + 1))) == {
                ("orders", 0): KafkaError.NONE,
                ("orders", 1): KafkaError.NONE,
            }
        assert await service.delete("g3") is KafkaError.NONE
    async with running(tmp_path) as (service, _):
        for n in range(20):
            committed = service.committed(f"g{n}")[1]
            expected = {} if n == 3 else {("orders", 0): n, ("orders", 1): n + 1}
            assert {key: c.offset for key, c in committed.items()} == expected


async def test_under_the_durable_policy_a_commit_is_answered_once_fsynced(tmp_path: Path) -> None:
    async with running(tmp_path, FlushPolicy.DURABLE) as (service, logs):
        await service.commit("g", -1, "", offsets((0, 5)))
        handle = logs.logs[service.coordinator_for("g")]
        assert handle.log.flushed_offset == handle.log_end_offset == 1


async def test_under_the_interval_policy_a_background_round_fsyncs_commits(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, interval_ms=10) as (service, logs):
        await service.commit("g", -1, "", offsets((0, 5)))
        handle = logs.logs[service.coordinator_for("g")]
        await eventually(lambda: not handle.log.unflushed)


async def test_compaction_of_a_local_partition_frees_whole_segments(tmp_path: Path) -> None:
    run = running(tmp_path, config=SMALL_SEGMENTS, compact_after_records=50)
    async with run as (service, logs):
        handle = logs.logs[service.coordinator_for("busy")]
        for n in range(600):
            await service.commit("busy", -1, "", offsets((n % 5, n)))
        partition = service.offsets_partition(service.coordinator_for("busy"))
        assert partition is not None
        await eventually(lambda: partition.compactions >= 5 and not partition.compaction_due)
        assert handle.log_start_offset > 500
        assert handle.log.segment_count <= 3
    async with running(tmp_path, config=SMALL_SEGMENTS) as (service, logs):
        assert logs.logs[service.coordinator_for("busy")].log_start_offset > 500
        committed = service.committed("busy")[1]
        assert {p: c.offset for (_, p), c in committed.items()} == {
            0: 595,
            1: 596,
            2: 597,
            3: 598,
            4: 599,
        }
