"""Produce: validate and append one batch per partition, then acknowledge.

acks=0 gets no response at all (answering would desynchronise the client's
correlation ids). Under the durable flush policy, acks 1/all wait for the fsync round
covering the appended partitions. Versions 0-2 are advertised only because older
librdkafka compresses only when v0 is listed; they are answered UNSUPPORTED_VERSION.
Errors are per partition: one bad batch does not fail its neighbours.
"""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from broker.cluster.partition import Partition
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
from broker.storage.errors import LogStorageError, StorageError

__all__ = ["handle"]

MIN_SUPPORTED_VERSION = 3
_NONE = ErrorCode.none.value

Results = list[tuple[str, list[PartitionResult]]]


def handle(
    services: BrokerServices, ctx: RequestContext, request: ProduceRequestData
) -> MaybeAsyncReply:
    version = ctx.version
    if version < MIN_SUPPORTED_VERSION:
        ctx.error = ErrorCode.unsupported_version.name
        return _reply(version, request.acks, _all_failed(request, ErrorCode.unsupported_version))
    if request.transactional_id is not None:
        ctx.error = ErrorCode.transactional_id_authorization_failed.name
        return _reply(
            version,
            request.acks,
            _all_failed(request, ErrorCode.transactional_id_authorization_failed),
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
            if records is None:
                ctx.error = ErrorCode.invalid_record.name
                out.append(
                    PartitionResult(
                        index, ErrorCode.invalid_record.value, error_message="records are null"
                    )
                )
                continue
            try:
                info = replicas.append(partition, records)
            except (StorageError, CorruptBatchError) as exc:
                if isinstance(exc, LogStorageError):
                    services.stats.storage_errors += 1
                code = error_code_for(exc)
                ctx.error = code.name
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
                out[slot].index, ErrorCode.kafka_storage_error.value, error_message=str(error)
            )
    return RawBody([encode_produce_response(version, results)])


def _all_failed(request: ProduceRequestData, error: ErrorCode) -> Results:
    return [
        (topic, [PartitionResult(i, error.value) for i, _ in parts])
        for topic, parts in request.topics
    ]


def _reply(version: int, acks: int, results: Results) -> Reply:
    if acks == 0:
        return NO_RESPONSE
    return RawBody([encode_produce_response(version, results)])
