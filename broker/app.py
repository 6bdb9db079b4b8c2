"""Wiring: builds the broker's parts from a BrokerConfig and runs them.

Start order: storage (lock, recover), partitions, flush policy and retention loop, the
Kafka listener, then HTTP. Stop order is the reverse, ending with a clean storage close
(which writes the clean-shutdown marker so the next start skips CRC scans).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from broker.cluster.flusher import Flusher
from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager, ReplicationSettings
from broker.config import BrokerConfig
from broker.coordinator.coordinator import CoordinatorConfig, GroupCoordinator
from broker.coordinator.lag import GroupLag, LagTracker
from broker.coordinator.local_offsets import LocalOffsetsLogs
from broker.coordinator.offsets_layout import COORDINATOR_DIR
from broker.coordinator.replicated_offsets import OffsetsTopicLeadership
from broker.coordinator.service import GroupService
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.metrics.cluster_status import ClusterStatus, cluster_status
from broker.metrics.collector import BrokerCollector, disk_space
from broker.metrics.controller_collector import ControllerCollector
from broker.metrics.group_collector import CompatCollector, GroupCollector
from broker.metrics.http import build_http_app
from broker.metrics.replica_collector import ReplicaCollector
from broker.metrics.stats import BrokerStats
from broker.network.server import KafkaServer
from broker.node.broker_lifecycle import FatalRegistrationError
from broker.node.cluster_node import ClusterNode
from broker.server.authorizer import AllowAll, Authorizer
from broker.server.context import BrokerServices
from broker.server.dispatch import Dispatcher
from broker.server.producer_ids import ProducerIdBlocks
from broker.storage.manager import LogManager
from broker.tracing import build_tracer
from contracts import ready_file
from contracts.clock import Clock, SystemClock
from contracts.fields import HostPort
from contracts.lag.status import StatusConfig

__all__ = ["BrokerApp", "ClusterMembershipError"]

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class ClusterMembershipError(RuntimeError):
    """The cluster refused this broker (a live broker has its node id, or another
    cluster id); the message says which and what to change."""


@dataclass
class BrokerApp:
    config: BrokerConfig
    clock: Clock = field(default_factory=SystemClock)
    authorizer: Authorizer = field(default_factory=AllowAll)
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=False)
    )
    # Tests inject an in-memory exporter; otherwise the configured one is used.
    span_exporter: SpanExporter | None = None
    # More routes on the broker's HTTP server (the platform's status page).
    http_routes: Callable[[web.Application], None] | None = None

    def __post_init__(self) -> None:
        self.stats = BrokerStats()
        self.log_manager = LogManager(
            self.config.data_dir,
            self.config.topic_defaults,
            self.clock.time_ms,
            node_id=self.config.node_id,
            cluster_id=self.config.cluster_id,
        )
        self.flusher = Flusher(
            self.config.flush_policy,
            self.config.flush_interval_ms,
            on_round=self.stats.flush.observe,
        )
        self.replicas = ReplicaManager(
            self.log_manager,
            self.flusher,
            self.clock,
            node_id=self.config.node_id,
            settings=ReplicationSettings(
                replica_lag_time_max_ms=self.config.cluster_settings.replica_lag_time_max_ms,
                replica_fetch_backoff_ms=self.config.cluster_settings.replica_fetch_backoff_ms,
            ),
        )
        self.cluster = ClusterNode(
            self.config, self.log_manager, self.replicas, self.clock, stats=self.stats.replication
        )
        # A broker alone: every offsets partition is a local log led here. A cluster:
        # they are the replicated topic, led where the metadata image says.
        self.offsets_logs: LocalOffsetsLogs | None = None
        if not self.config.offsets_replicated:
            self.offsets_logs = LocalOffsetsLogs(
                self.config.data_dir,
                self.config.offsets_topic_partitions,
                self.flusher,
                self.clock.time_ms,
            )
        self.groups = GroupService(
            GroupCoordinator(
                CoordinatorConfig(
                    min_session_timeout_ms=self.config.group_min_session_timeout_ms,
                    max_session_timeout_ms=self.config.group_max_session_timeout_ms,
                    initial_rebalance_delay_ms=self.config.group_initial_rebalance_delay_ms,
                )
            ),
            self.replicas,
            self.clock,
            partition_count=self.config.offsets_topic_partitions,
        )
        self.offsets_leadership = OffsetsTopicLeadership(self.replicas, self.groups)
        if self.offsets_logs is None:
            self.cluster.image_listeners.append(self.offsets_leadership.on_image)
        self.lag = LagTracker(
            self.groups.coordinator,
            self.replicas,
            self.clock,
            StatusConfig(
                window=self.config.lag_window_commits,
                min_stop_seconds=self.config.lag_min_stop_seconds,
            ),
        )
        self.tracer = build_tracer(self.config.tracing, self.span_exporter)
        self.kafka: KafkaServer | None = None
        self._http_runner: web.AppRunner | None = None
        self.bootstrap: HostPort | None = None  # advertised to clients
        self.listen_address: HostPort | None = None  # the Kafka listener as bound
        self.http_address: HostPort | None = None
        self._storage_open = False
        self._started = time.monotonic()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.log_manager.open)
        self._storage_open = True
        await loop.run_in_executor(None, self.cluster.open)
        if self.offsets_logs is not None:
            replayed = await self.offsets_logs.lead_all(self.groups)
            log.info("replayed %d committed-offset records", replayed)
        elif (self.config.data_dir / COORDINATOR_DIR).is_dir():
            log.warning(
                "%s holds committed offsets of a single-node broker; a cluster keeps its "
                "offsets in the replicated %s topic and does not migrate them (they are "
                "left untouched)",
                self.config.data_dir / COORDINATOR_DIR,
                OFFSETS_TOPIC,
            )
        self.replicas.start(self.config.retention_check_interval_ms)
        self.groups.start()
        services = BrokerServices(
            config=self.config,
            replicas=self.replicas,
            clock=self.clock,
            stats=self.stats,
            authorizer=self.authorizer,
            cluster_id=self.log_manager.cluster_id,
            advertised=self.config.advertised_address(self.config.listen.port),
            groups=self.groups,
            tracer=self.tracer,
            cluster=self.cluster,
            producer_ids=ProducerIdBlocks(self.cluster, self.config.node_id),
        )
        self.kafka = KafkaServer(
            Dispatcher(services),
            self.stats,
            max_request_bytes=self.config.max_request_bytes,
            max_inflight=self.config.max_inflight_requests,
            request_metrics=self.config.metrics_enabled,
        )
        try:
            port = await self.kafka.start(self.config.listen.host, self.config.listen.port)
        except OSError as exc:
            await self._close_storage()
            raise OSError(
                exc.errno,
                f"cannot listen for Kafka clients on {self.config.listen}: {exc.strerror}",
            ) from exc
        services.advertised = self.config.advertised_address(port)
        self.bootstrap = services.advertised
        self.listen_address = HostPort(self.config.listen.host, port)
        await self.cluster.start(services.advertised)
        try:
            await self.cluster.wait_until_serving()
        except FatalRegistrationError as exc:
            await self.stop()
            raise ClusterMembershipError(
                f"the cluster refused node {self.config.node_id}: {exc}"
            ) from None
        self._register_metrics()
        if self.config.http is not None:
            await self._start_http(self.config.http)

    def _register_metrics(self) -> None:
        partitions = lambda: self.replicas.partitions.values()  # noqa: E731
        self.registry.register(
            GroupCollector(
                cluster=self.config.cluster, node_id=self.config.node_id, snapshot=self.lag.snapshot
            )
        )
        if self.config.metrics_compat:
            self.registry.register(
                CompatCollector(
                    cluster=self.config.cluster,
                    node_id=self.config.node_id,
                    partitions=partitions,
                    snapshot=self.lag.snapshot,
                    controller_image=self.cluster.controller_image,
                )
            )
        controller = self.cluster.controller
        self.registry.register(
            ControllerCollector(
                cluster=self.config.cluster,
                node_id=self.config.node_id,
                image=lambda: self.replicas.image,
                controller_active=lambda: self.cluster.controller_active,
                elections=None if controller is None else controller.elections,
                quorum=self.cluster.quorum_state,
            )
        )
        self.registry.register(
            ReplicaCollector(
                cluster=self.config.cluster,
                node_id=self.config.node_id,
                stats=self.stats.replication,
                partitions=partitions,
                now_ms=self.clock.time_ms,
            )
        )
        self.registry.register(
            BrokerCollector(
                cluster=self.config.cluster,
                node_id=self.config.node_id,
                version=VERSION,
                flush_policy=self.config.flush_policy.value,
                stats=self.stats,
                partitions=partitions,
                recovery_truncated_bytes=lambda: sum(
                    r.truncated_bytes for r in self.log_manager.recoveries.values()
                ),
                unflushed_partitions=lambda: sum(
                    1 for p in self.replicas.partitions.values() if p.log.unflushed
                ),
                data_dir_space=lambda: disk_space(self.config.data_dir),
            )
        )
        ProcessCollector(registry=self.registry)

    async def _start_http(self, address: HostPort) -> None:
        app = build_http_app(
            self.registry if self.config.metrics_enabled else None,
            self.not_ready_reason,
            self.group_status,
            self.http_routes,
            self.partition_status,
            self.cluster_status,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, address.host, address.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            await self.stop()
            raise OSError(exc.errno, f"cannot serve HTTP on {address}: {exc.strerror}") from exc
        self._http_runner = runner
        server = site._server  # aiohttp keeps the bound socket here
        port = address.port
        sockets = getattr(server, "sockets", None)
        if sockets:
            port = sockets[0].getsockname()[1]
        self.http_address = HostPort(address.host, port)

    def ready_info(self) -> ready_file.BrokerReady:
        """What ``--ready-file`` publishes about this broker; only after ``start``."""
        if self.listen_address is None or self.bootstrap is None:
            raise RuntimeError("the broker has not started")
        http = self.http_address
        return ready_file.BrokerReady(
            pid=os.getpid(),
            node_id=self.config.node_id,
            cluster=self.config.cluster,
            data_dir=self.config.data_dir.resolve(),
            kafka=self.listen_address,
            advertised=self.bootstrap,
            http=http,
        )

    def status_snapshot(self) -> dict[str, Any]:
        """The broker's part of the status page feed: itself, partitions, groups."""
        return {
            "broker": {
                "bootstrap": str(self.bootstrap) if self.bootstrap else None,
                "version": VERSION,
                "flush_policy": self.config.flush_policy.value,
                "ready": self.not_ready_reason() is None,
                "uptime_seconds": time.monotonic() - self._started,
                "cluster": self.config.cluster,
                "node_id": self.config.node_id,
            },
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.index,
                    "log_start_offset": p.log_start_offset,
                    "log_end_offset": p.log_end_offset,
                    "high_watermark": p.high_watermark,
                    "size_bytes": p.size_bytes,
                    "segments": p.segment_count,
                    "records_appended": p.records_appended,
                    "records_fetched": p.records_fetched,
                    "bytes_appended": p.bytes_appended,
                    "bytes_fetched": p.bytes_fetched,
                }
                for p in sorted(self.replicas.partitions.values(), key=lambda p: (p.topic, p.index))
            ],
            "groups": self.group_status(),
        }

    def partition_status(self) -> dict[str, Any]:
        """Every partition in this broker's metadata image, and its own replica of it."""
        image = self.replicas.image
        partitions: list[dict[str, Any]] = []
        for name in image.topic_names():
            topic = image.topic(name)
            assert topic is not None
            for state in topic.partitions:
                local = self.replicas.get(name, state.partition_index)
                partitions.append(
                    {
                        "topic": name,
                        "partition": state.partition_index,
                        "leader": state.leader,
                        "leader_epoch": state.leader_epoch,
                        "partition_epoch": state.partition_epoch,
                        "replicas": list(state.replicas),
                        "isr": list(state.isr),
                        "local": None if local is None else _local_replica_json(local),
                    }
                )
        return {
            "node_id": self.config.node_id,
            "controller_id": self.cluster.controller_id,
            "metadata_offset": image.last_offset,
            "partitions": partitions,
        }

    def cluster_status(self) -> ClusterStatus:
        """Brokers, the active controller and every partition's replica sets, as this
        broker's committed metadata image shows them (served at /status/cluster)."""
        return cluster_status(
            self.replicas.image,
            node_id=self.config.node_id,
            controller_id=self.cluster.controller_id,
            voters=self.cluster.voters,
        )

    def group_status(self) -> list[dict[str, object]]:
        return [_group_json(g) for g in self.lag.snapshot()]

    def not_ready_reason(self) -> str | None:
        if not self._storage_open:
            return "storage is not open"
        if self.kafka is None or not self.kafka.serving:
            return "the Kafka listener is not accepting connections"
        return None

    async def stop(self) -> None:
        """Stop cleanly: first hand this broker's leaderships to other replicas (a
        controlled shutdown, so clients see only retriable errors), then stop serving."""
        if self.kafka is not None and self._storage_open:
            try:
                if not await self.cluster.controlled_shutdown():
                    log.warning("controlled shutdown incomplete: some leaderships stayed here")
            except Exception:
                log.exception("controlled shutdown failed; stopping anyway")
        if self._http_runner is not None:
            await self._http_runner.cleanup()
            self._http_runner = None
        if self.kafka is not None:
            await self.kafka.stop()
            self.kafka = None
        await self._close_storage()

    async def _close_storage(self) -> None:
        if self._storage_open:
            self._storage_open = False
            await self.cluster.stop()
            await self.groups.close()
            await self.flusher.close()  # no fsync round runs while the offsets logs close
            if self.offsets_logs is not None:
                self.offsets_logs.close()
            await self.replicas.close()
            if self.tracer is not None:
                self.tracer.shutdown()


def _local_replica_json(partition: Partition) -> dict[str, object]:
    role = (
        "leader"
        if partition.leader is not None
        else "follower"
        if partition.follower is not None
        else "none"
    )
    return {
        "role": role,
        "log_start_offset": partition.log_start_offset,
        "log_end_offset": partition.log_end_offset,
        "high_watermark": partition.high_watermark,
    }


def _group_json(group: GroupLag) -> dict[str, object]:
    return {
        "group": group.group_id,
        "state": group.state,
        "members": group.members,
        "rebalances": group.rebalances_total,
        "status": group.status.status.name,
        "reason": group.status.reason,
        "lag_records": group.lag_records,
        "max_lag_seconds": round(group.max_lag_seconds, 3),
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed_offset": p.committed_offset,
                "high_watermark": p.high_watermark,
                "lag_records": p.lag_records,
                "lag_seconds": round(p.lag_seconds, 3),
                "retention_headroom_seconds": p.retention_headroom_seconds,
                "status": p.status.status.name,
                "reason": p.status.reason,
                "member_id": p.member_id,
                "client_id": p.client_id,
                "client_host": p.client_host,
            }
            for p in group.partitions
        ],
    }
