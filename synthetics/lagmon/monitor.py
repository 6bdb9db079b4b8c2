"""Reading consumer-group lag from one cluster with ordinary Kafka clients (aiokafka).

One poll: ListGroups (every broker in the metadata), FindCoordinator and OffsetFetch per
group, DescribeGroups per coordinator (state and members), ListOffsets for the high watermark
and log start of every committed partition, and, for each partition with lag whose
first unconsumed offset was not read before, one fetch at that offset to read the
record's timestamp (cached per offset, so a stuck group costs nothing more).
DescribeConfigs gives each lagging topic's ``retention.ms`` (refreshed every 5 minutes).
The results go to a :class:`~synthetics.lagmon.tracker.LagBook`.

Only this module talks to the cluster; a failed poll leaves an empty snapshot (no stale
numbers) and ``up`` false.

Brokers and coordinators come and go: the coordinator of every group is looked up
afresh on each poll, so a group whose coordinator moved (its broker died, its offsets
partition got a new leader) is read from the new one on the next poll. A broker that
does not answer ListGroups (down, but still in the metadata until the cluster fences
it) costs only the groups it coordinates; a group whose coordinator is moving or
loading (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) is
left out of that poll; the poll fails only when no broker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from contracts.clock import Clock, SystemClock
from synthetics.connection import client_options
from synthetics.kafka_client import describe_error
from synthetics.lagmon.config import LagClusterConfig, LagConfig
from synthetics.lagmon.tracker import GroupLag, GroupReading, LagBook, PartitionReading

__all__ = ["ClusterMonitor"]

log = logging.getLogger(__name__)

_CACHE_LIMIT = 100_000
_RETENTION_REFRESH_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class _Group:
    group_id: str
    coordinator: int
    offsets: dict[TopicPartition, int]
    state: str = ""
    members: int = 0


class ClusterMonitor:
    def __init__(
        self, cluster: LagClusterConfig, config: LagConfig, clock: Clock | None = None
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.book = LagBook(config.status)
        self.snapshot: list[GroupLag] = []
        self.up = False
        self.last_error: str | None = None
        self.last_poll_ns: int | None = None
        self.last_poll_seconds: float | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._timestamps: dict[tuple[str, int, int], int] = {}
        self._retention: dict[str, tuple[int | None, float]] = {}

    async def start(self) -> None:
        options = client_options(self.cluster.connection)
        self._admin = AIOKafkaAdminClient(**options)
        self._consumer = AIOKafkaConsumer(
            **options,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=64 * 1024,
        )
        try:
            await self._admin.start()
            await self._consumer.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        consumer, admin = self._consumer, self._admin
        self._consumer = self._admin = None
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()
        if admin is not None:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    async def poll(self) -> list[GroupLag]:
        """One poll; never raises for cluster errors (they set ``up`` and ``last_error``)."""
        started = self.clock.monotonic()
        try:
            readings = await self._read_retrying()
        except (KafkaError, OSError, TimeoutError) as exc:
            self.up = False
            self.last_error = describe_error(exc)
            self.snapshot = []
            log.warning("lag %s: poll failed: %s", self.cluster.name, self.last_error)
            await self.close()  # reconnect from scratch next time
            return []
        finally:
            self.last_poll_seconds = self.clock.monotonic() - started
        now_ns = self.clock.time_ns()
        self.snapshot = self.book.update(readings, now_ns // 1_000_000)
        self.up = True
        self.last_error = None
        self.last_poll_ns = now_ns
        return self.snapshot

    async def _read_retrying(self) -> list[GroupReading]:
        """One read; after a retriable Kafka error (a leader or coordinator that moved
        under the clients' cached metadata, e.g. NodeNotReadyError for a killed broker)
        the clients are rebuilt, which fetches fresh metadata, and the read is tried once
        more within the same poll."""
        for attempt in (1, 2):
            try:
                if self._admin is None:
                    await self.start()
                return await self._read()
            except KafkaError as exc:
                if attempt == 2 or not exc.retriable:
                    raise
                log.info("lag %s: %s; retrying with fresh metadata", self.cluster.name, exc)
                await self.close()
        raise AssertionError("unreachable")

    async def _read(self) -> list[GroupReading]:
        admin, consumer = self._admin, self._consumer
        assert admin is not None
        assert consumer is not None
        ids = await self._group_ids(admin)
        results = await asyncio.gather(
            *(self._group(admin, g) for g in ids), return_exceptions=True
        )
        found = []
        for group_id, result in zip(ids, results, strict=True):
            if isinstance(result, KafkaError):  # e.g. loading or moving: skip this poll
                log.warning("lag %s: group %s: %s", self.cluster.name, group_id, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                found.append(result)
        groups = await self._describe(admin, found)
        partitions = sorted(
            {tp for g in groups for tp, offset in g.offsets.items() if offset >= 0},
            key=lambda tp: (tp.topic, tp.partition),
        )
        ends: dict[TopicPartition, int] = {}
        starts: dict[TopicPartition, int] = {}
        if partitions:
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
        wanted: dict[tuple[str, int, int], TopicPartition] = {}
        for g in groups:
            for tp, offset in g.offsets.items():
                if 0 <= offset < ends.get(tp, -1):
                    first = max(offset, starts.get(tp, 0))
                    wanted[(tp.topic, tp.partition, first)] = tp
        await self._read_timestamps(consumer, wanted)
        retention = await self._retention_ms(admin, sorted({k[0] for k in wanted}))
        readings = []
        for g in groups:
            parts = []
            for tp, offset in g.offsets.items():
                if offset < 0 or tp not in ends:
                    continue
                start = starts.get(tp, 0)
                parts.append(
                    PartitionReading(
                        tp.topic,
                        tp.partition,
                        offset,
                        ends[tp],
                        start,
                        self._timestamps.get((tp.topic, tp.partition, max(offset, start))),
                        retention.get(tp.topic),
                    )
                )
            readings.append(
                GroupReading(g.group_id, g.coordinator, g.state, g.members, tuple(parts))
            )
        return readings

    async def _group_ids(self, admin: AIOKafkaAdminClient) -> list[str]:
        """The matching groups listed by every broker that answers (see the module
        docstring); raises the first error when none does."""
        brokers = [int(b["node_id"]) for b in (await admin.describe_cluster())["brokers"]]
        results = await asyncio.gather(
            *(admin.list_consumer_groups([b]) for b in brokers), return_exceptions=True
        )
        listed: set[str] = set()
        failures: list[BaseException] = []
        for broker, result in zip(brokers, results, strict=True):
            if isinstance(result, KafkaError | OSError | TimeoutError):
                failures.append(result)
                log.warning(
                    "lag %s: broker %d: list groups: %s",
                    self.cluster.name,
                    broker,
                    describe_error(result),
                )
            elif isinstance(result, BaseException):
                raise result
            else:
                listed.update(str(g[0]) for g in result)
        if failures and len(failures) == len(brokers):
            raise failures[0]
        return sorted(g for g in listed if self.cluster.groups.matches(g))

    async def _group(self, admin: AIOKafkaAdminClient, group_id: str) -> _Group:
        coordinator = await admin.find_coordinator(group_id)
        offsets = await admin.list_consumer_group_offsets(
            group_id, group_coordinator_id=coordinator
        )
        return _Group(group_id, coordinator, {tp: om.offset for tp, om in offsets.items()})

    async def _describe(self, admin: AIOKafkaAdminClient, groups: list[_Group]) -> list[_Group]:
        by_coordinator: dict[int, list[str]] = {}
        for g in groups:
            by_coordinator.setdefault(g.coordinator, []).append(g.group_id)
        described: dict[str, tuple[str, int]] = {}
        unanswered: set[int] = set()
        for coordinator, ids in by_coordinator.items():
            try:
                responses = await admin.describe_consumer_groups(
                    ids, group_coordinator_id=coordinator
                )
            except KafkaError as exc:  # it stopped coordinating them: next poll
                log.warning(
                    "lag %s: describe groups on broker %d: %s",
                    self.cluster.name,
                    coordinator,
                    describe_error(exc),
                )
                unanswered.add(coordinator)
                continue
            for response in responses:
                for item in response.to_object().get("groups", ()):
                    described[item["group"]] = (item["state"], len(item.get("members", ())))
        return [
            _Group(g.group_id, g.coordinator, g.offsets, *described.get(g.group_id, ("", 0)))
            for g in groups
            if g.coordinator not in unanswered
        ]

    async def _read_timestamps(
        self, consumer: AIOKafkaConsumer, wanted: dict[tuple[str, int, int], TopicPartition]
    ) -> None:
        """Fetch the record at each wanted (topic, partition, offset) not cached yet."""
        missing: dict[TopicPartition, int] = {}
        for (topic, partition, offset), tp in wanted.items():
            if (topic, partition, offset) not in self._timestamps:
                missing[tp] = offset
        if not missing:
            return
        if len(self._timestamps) + len(missing) > _CACHE_LIMIT:
            self._timestamps.clear()
        consumer.assign(list(missing))
        for tp, offset in missing.items():
            consumer.seek(tp, offset)
        deadline = self.clock.monotonic() + self.config.fetch_timeout_seconds
        pending = set(missing)
        try:
            while pending and self.clock.monotonic() < deadline:
                batches = await consumer.getmany(*pending, timeout_ms=200, max_records=100)
                for tp, records in batches.items():
                    for record in records:
                        if tp in pending and record.offset >= missing[tp]:
                            self._timestamps[(tp.topic, tp.partition, missing[tp])] = (
                                record.timestamp
                            )
                            pending.discard(tp)
                            consumer.pause(tp)
        finally:
            consumer.unsubscribe()
        if pending:
            log.warning(
                "lag %s: no record read at the committed offset of %s within %g s",
                self.cluster.name,
                ", ".join(f"{tp.topic}-{tp.partition}" for tp in sorted(pending)),
                self.config.fetch_timeout_seconds,
            )

    async def _retention_ms(
        self, admin: AIOKafkaAdminClient, topics: list[str]
    ) -> dict[str, int | None]:
        now = self.clock.monotonic()
        stale = [
            t
            for t in topics
            if t not in self._retention or now - self._retention[t][1] > _RETENTION_REFRESH_SECONDS
        ]
        if stale:
            try:
                resources = [
                    ConfigResource(ConfigResourceType.TOPIC, t, {"retention.ms": None})
                    for t in stale
                ]
                responses = await admin.describe_configs(resources)
            except KafkaError as exc:
                log.warning("lag %s: describe configs: %s", self.cluster.name, exc)
                responses = []
            found = _retention_values([r.to_object() for r in responses])
            for t in stale:
                self._retention[t] = (found.get(t), now)
        return {t: self._retention[t][0] for t in topics}


def _retention_values(objects: list[dict[str, Any]]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for obj in objects:
        for resource in obj.get("resources", ()):
            if resource.get("error_code"):
                continue
            for entry in resource.get("config_entries", ()):
                name = entry.get("config_names", entry.get("config_name"))
                if name == "retention.ms" and entry.get("config_value") is not None:
                    with contextlib.suppress(ValueError):
                        out[resource["resource_name"]] = int(entry["config_value"])
    return out
