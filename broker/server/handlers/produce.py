"""Produce: validate and append one batch per partition, then acknowledge.

acks=0 gets no response at all (answering would desynchronise the client's
correlation ids). Under the durable flush policy, acks 1/all wait for the fsync round
covering the appended partitions. Versions 0-2 are advertised only because older
librdkafka compresses only when v0 is listed; they are answered UNSUPPORTED_VERSION.
Errors are per partition: one bad batch does not fail its neighbours. Every rejected
batch is logged with the client address and the reason; an acks value other than
-1, 0 or 1 fails the whole request with INVALID_REQUIRED_ACKS before anything is stored.
"""

from __future__ import annotations

import logging

from kio.schema.errors import ErrorCode

from broker.cluster.partition import Partition
from broker.cluster.replica_manager import ReplicaManager
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
from broker.server.errors import error_code_for
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
    appended: list[tuple[Partition, list[PartitionResult], int]] = []
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
        for index, records in partitions:
            partition = replicas.get(topic, index)
            if partition is None:
                ctx.error = ErrorCode.unknown_topic_or_partition.name
                out.append(PartitionResult(index, ErrorCode.unknown_topic_or_partition.value))
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
            appended.append((partition, out, len(out) - 1))
    if request.acks == 0:
        return NO_RESPONSE
    if appended and replicas.flusher.durable:
        return _after_flush(services, version, results, appended)
    return RawBody([encode_produce_response(version, results)])


async def _after_flush(
    services: BrokerServices,
    version: int,
    results: Results,
    appended: list[tuple[Partition, list[PartitionResult], int]],
) -> Reply:
    failures = await services.replicas.wait_durable(p for p, _, _ in appended)
    for partition, out, slot in appended:
        error = failures.get(partition)
        if error is not None:
            services.stats.storage_errors += 1
            out[slot] = PartitionResult(
                out[slot].partition, ErrorCode.kafka_storage_error.value, error_message=str(error)
            )
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
