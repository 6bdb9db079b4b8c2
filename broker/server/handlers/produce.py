"""Produce: validate and append one batch per partition led here, then acknowledge.

acks=0 gets no response at all (answering would desynchronise the client's
correlation ids). Under the durable flush policy, acks 1/all wait for the fsync round
covering the appended partitions. acks=all is refused with NOT_ENOUGH_REPLICAS before
the append while the partition's ISR is smaller than min.insync.replicas, and after the
append waits for the high watermark to pass the batch (every in-sync replica has it):
NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrinks below the minimum meanwhile,
NOT_LEADER_OR_FOLLOWER when leadership moves, REQUEST_TIMED_OUT at the request's
timeout. A partition led by another broker answers NOT_LEADER_OR_FOLLOWER (clients
refresh their metadata and retry there). Versions 0-2 are advertised only because older
librdkafka compresses only when v0 is listed; they are answered UNSUPPORTED_VERSION.
Errors are per partition: one bad batch does not fail its neighbours. Every rejected
batch is logged with the client address and the reason; an acks value other than
-1, 0 or 1 fails the whole request with INVALID_REQUIRED_ACKS before anything is stored.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from kio.schema.errors import ErrorCode

from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.protocol.produce_codec import (
    PartitionResult,
    ProduceRequestData,
    encode_produce_response,
)
from broker.records.batch import CorruptBatchError
from broker.server.authorizer import Operation, ResourceType
from broker.server.context import (
    NO_RESPONSE,
    BrokerServices,
    MaybeAsyncReply,
    RawBody,
    Reply,
    RequestContext,
    allowed,
)
from broker.server.errors import error_code_for, wire_error
from broker.storage.errors import InvalidRecordError, LogStorageError, StorageError
from broker.storage.log import AppendInfo
from broker.tracing import BrokerTracer, trace_id_of

__all__ = ["handle"]

log = logging.getLogger(__name__)

MIN_SUPPORTED_VERSION = 3
VALID_ACKS = (-1, 0, 1)
_NONE = ErrorCode.none.value

Results = list[tuple[str, list[PartitionResult]]]


def handle(
    services: BrokerServices, ctx: RequestContext, request: ProduceRequestData
) -> MaybeAsyncReply:
    version = ctx.version
    if version < MIN_SUPPORTED_VERSION:
        return _reply(
            version, request.acks, _all_failed(ctx, request, ErrorCode.unsupported_version)
        )
    if request.acks not in VALID_ACKS:
        log.warning(
            "rejected produce from %s: acks=%d is not one of -1, 0, 1",
            ctx.client_address,
            request.acks,
        )
        return _reply(version, 1, _all_failed(ctx, request, ErrorCode.invalid_required_acks))
    if request.transactional_id is not None:
        return _reply(
            version,
            request.acks,
            _all_failed(ctx, request, ErrorCode.transactional_id_authorization_failed),
        )
    replicas = services.replicas
    results: Results = []
    appended: list[Appended] = []
    for topic, partitions in request.topics:
        out: list[PartitionResult] = []
        results.append((topic, out))
        if not allowed(services, ctx, Operation.WRITE, ResourceType.TOPIC, topic):
            ctx.error = ErrorCode.topic_authorization_failed.name
            out.extend(
                PartitionResult(i, ErrorCode.topic_authorization_failed.value)
                for i, _ in partitions
            )
            continue
        if topic == OFFSETS_TOPIC:  # written by the group coordinators only, as Kafka
            ctx.error = ErrorCode.invalid_topic_exception.name
            out.extend(
                PartitionResult(
                    i,
                    ErrorCode.invalid_topic_exception.value,
                    error_message=f"{topic} is an internal topic",
                )
                for i, _ in partitions
            )
            continue
        for index, records in partitions:
            partition, missing = replicas.leader_of(topic, index)
            if partition is None:
                ctx.error = wire_error(missing).name
                out.append(PartitionResult(index, int(missing)))
                continue
            if request.acks == -1:
                refusal = replicas.check_acks_all(partition)
                if refusal:
                    ctx.error = refusal.name.lower()
                    out.append(
                        PartitionResult(
                            index,
                            int(refusal),
                            error_message=f"{topic}-{index} has fewer in-sync replicas than "
                            f"min.insync.replicas",
                        )
                    )
                    continue
            try:
                if records is None:
                    raise InvalidRecordError("records are null")
                if services.tracer is None:
                    info = replicas.append(partition, records)
                else:
                    info = _traced_append(services.tracer, replicas, ctx, partition, records)
            except (StorageError, CorruptBatchError) as exc:
                if isinstance(exc, LogStorageError):
                    services.stats.storage_errors += 1
                code = error_code_for(exc)
                ctx.error = code.name
                log.warning(
                    "rejected produce to %s-%d from %s: %s: %s",
                    topic,
                    index,
                    ctx.client_address,
                    code.name.upper(),
                    exc,
                )
                out.append(PartitionResult(index, code.value, error_message=str(exc)))
                continue
            out.append(
                PartitionResult(index, _NONE, info.base_offset, -1, partition.log_start_offset)
            )
            appended.append(Appended(partition, out, len(out) - 1, info.last_offset))
    if request.acks == 0:
        return NO_RESPONSE
    if appended and (replicas.flusher.durable or (request.acks == -1 and _waits(appended))):
        return _acknowledge(services, ctx, version, request, results, appended)
    return RawBody([encode_produce_response(version, results)])


class Appended(NamedTuple):
    partition: Partition
    out: list[PartitionResult]
    slot: int
    last_offset: int


def _waits(appended: list[Appended]) -> bool:
    """Whether an acks=all answer must wait (some batch is not replicated yet)."""
    return any(a.partition.high_watermark <= a.last_offset for a in appended)


async def _acknowledge(
    services: BrokerServices,
    ctx: RequestContext,
    version: int,
    request: ProduceRequestData,
    results: Results,
    appended: list[Appended],
) -> Reply:
    replicas = services.replicas
    if replicas.flusher.durable:
        failures = await replicas.wait_durable(a.partition for a in appended)
        for a in appended:
            error = failures.get(a.partition)
            if error is not None:
                services.stats.storage_errors += 1
                a.out[a.slot] = PartitionResult(
                    a.out[a.slot].partition,
                    ErrorCode.kafka_storage_error.value,
                    error_message=str(error),
                )
    if request.acks == -1:
        waiting = [a for a in appended if a.out[a.slot].error_code == _NONE]
        outcomes = await asyncio.gather(
            *(
                replicas.wait_replicated(a.partition, a.last_offset, max(request.timeout_ms, 1))
                for a in waiting
            )
        )
        for a, outcome in zip(waiting, outcomes, strict=True):
            if outcome:
                ctx.error = outcome.name.lower()
                a.out[a.slot] = PartitionResult(a.out[a.slot].partition, int(outcome))
    return RawBody([encode_produce_response(version, results)])


def _traced_append(
    tracer: BrokerTracer,
    replicas: ReplicaManager,
    ctx: RequestContext,
    partition: Partition,
    records: memoryview,
) -> AppendInfo:
    with tracer.produce_span(partition.topic, partition.index, records) as span:
        info = replicas.append(partition, records)
        span.set_attribute("messaging.kafka.offset", info.base_offset)
        span.set_attribute("messaging.batch.message_count", info.records)
        ctx.trace_id = trace_id_of(span)
        return info


def _all_failed(ctx: RequestContext, request: ProduceRequestData, error: ErrorCode) -> Results:
    ctx.error = error.name
    return [
        (topic, [PartitionResult(i, error.value) for i, _ in parts])
        for topic, parts in request.topics
    ]


def _reply(version: int, acks: int, results: Results) -> Reply:
    if acks == 0:
        return NO_RESPONSE
    return RawBody([encode_produce_response(version, results)])
