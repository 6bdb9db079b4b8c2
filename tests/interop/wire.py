"""A small blocking Kafka client that speaks the raw protocol, for tests that need to
control every byte: duplicate idempotent batches, stale epochs, acks=0, every advertised
API version, old Produce versions kio cannot encode.

Requests and responses are kio dataclasses (``build`` fills whichever fields a version
has); headers come from kio's header schemas, so the response header version (v0 for
ApiVersions, v1 for other flexible responses) is kio's, not the broker's, opinion.
Every response must decode to exactly the bytes of its frame.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import select
import socket
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

__all__ = [
    "OldProduceResult",
    "WireClient",
    "build",
    "decode_old_produce_response",
    "encode_body",
    "encode_old_produce",
    "errors_in",
    "nested",
    "request_class",
]

_SIZE = struct.Struct(">i")
CLIENT_ID = "tidewatch-interop-wire"


def build(cls: type[Any], **values: Any) -> Any:
    """An instance of the kio class ``cls`` from those ``values`` its version has."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def nested(cls: type[Any], name: str) -> type[Any]:
    """The nested entity ``name`` defined next to ``cls`` (same API and version)."""
    found = getattr(sys.modules[cls.__module__], name)
    assert isinstance(found, type), name
    return found


def errors_in(entity: Any, path: str = "") -> Iterator[tuple[str, ErrorCode]]:
    """Every ``error_code`` field anywhere in a decoded response, with its path."""
    if isinstance(entity, tuple):
        for i, item in enumerate(entity):
            yield from errors_in(item, f"{path}[{i}]")
        return
    if not dataclasses.is_dataclass(entity):
        return
    for field in dataclasses.fields(entity):
        value = getattr(entity, field.name)
        where = f"{path}.{field.name}" if path else field.name
        if field.name == "error_code":
            yield where, ErrorCode(value)
        else:
            yield from errors_in(value, where)


class WireClient:
    """One TCP connection to a broker; requests are answered in order."""

    def __init__(self, bootstrap: str, timeout_s: float = 10.0) -> None:
        host, _, port = bootstrap.rpartition(":")
        self.timeout_s = timeout_s
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._correlation = 0
        self._buf = bytearray()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- sending -----------------------------------------------------------------------

    def _next_correlation(self) -> int:
        self._correlation += 1
        return self._correlation

    def send(self, request: Any) -> int:
        """Send a kio request; returns its correlation id."""
        correlation = self._next_correlation()
        header_cls = request.__header_schema__
        header = build(
            header_cls,
            request_api_key=request.__api_key__,
            request_api_version=request.__version__,
            correlation_id=correlation,
            client_id=CLIENT_ID,
        )
        buf = io.BytesIO()
        entity_writer(header_cls)(buf, header)
        entity_writer(type(request))(buf, request)
        self.sock.sendall(_SIZE.pack(buf.tell()) + buf.getvalue())
        return correlation

    def send_raw(self, api_key: int, version: int, body: bytes, *, flexible: bool = False) -> int:
        """Send a hand-encoded body with a v1 (or, if ``flexible``, v2) request header."""
        correlation = self._next_correlation()
        client = CLIENT_ID.encode()
        header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
        if flexible:
            header += b"\x00"
        frame = header + body
        self.sock.sendall(_SIZE.pack(len(frame)) + frame)
        return correlation

    # -- receiving ---------------------------------------------------------------------

    def _fill(self, size: int, deadline: float) -> None:
        while len(self._buf) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete response within {self.timeout_s}s")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self._buf += chunk

    def receive_frame(self, timeout_s: float | None = None) -> bytes:
        """The next response frame (without its size prefix)."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        self._fill(4, deadline)
        (size,) = _SIZE.unpack_from(self._buf, 0)
        self._fill(4 + size, deadline)
        frame = bytes(self._buf[4 : 4 + size])
        del self._buf[: 4 + size]
        return frame

    def readable_within(self, timeout_s: float) -> bool:
        """Whether any response byte arrives within ``timeout_s`` (for acks=0 checks)."""
        if self._buf:
            return True
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        return bool(ready)

    def receive(self, api_key: int, version: int, correlation: int) -> Any:
        """Decode the next response as ``api_key`` at ``version``; checks the correlation
        id and that the body is consumed exactly."""
        frame = self.receive_frame()
        cls = load_response_schema(api_key, version)
        header_cls = cls.__header_schema__
        header, used = entity_reader(header_cls)(frame, 0)
        assert header.correlation_id == correlation, (
            f"correlation id {header.correlation_id} answered where {correlation} was due"
        )
        response, size = entity_reader(cls)(frame, used)
        assert used + size == len(frame), (
            f"{cls.__name__} v{version}: {len(frame) - used - size} bytes left after the body"
        )
        return response

    def request(self, request: Any) -> Any:
        correlation = self.send(request)
        return self.receive(request.__api_key__, request.__version__, correlation)

    def receive_raw(self, correlation: int) -> bytes:
        """The body of the next response, after a v0 response header."""
        frame = self.receive_frame()
        (got,) = _SIZE.unpack_from(frame, 0)
        assert got == correlation, f"correlation id {got} answered where {correlation} was due"
        return frame[4:]

    # -- conveniences at the newest advertised versions --------------------------------

    def create_topic(
        self, name: str, partitions: int = 1, configs: dict[str, str] | None = None
    ) -> Any:
        """CreateTopics v7; returns the topic's result (asserting no error)."""
        cls = request_class(19, 7)
        topic = build(
            nested(cls, "CreatableTopic"),
            name=name,
            num_partitions=partitions,
            replication_factor=1,
            assignments=(),
            configs=tuple(
                build(nested(cls, "CreatableTopicConfig"), name=k, value=v)
                for k, v in (configs or {}).items()
            ),
        )
        response = self.request(
            build(cls, topics=(topic,), timeout=datetime.timedelta(seconds=10), validate_only=False)
        )
        (result,) = response.topics
        assert result.error_code == ErrorCode.none, (result.error_code, result.error_message)
        return result

    def set_topic_config(self, topic: str, name: str, value: str | None) -> None:
        """IncrementalAlterConfigs v1: SET ``name`` (or DELETE it when ``value`` is None)."""
        cls = request_class(44, 1)
        config = build(
            nested(cls, "AlterableConfig"),
            name=name,
            config_operation=1 if value is None else 0,
            value=value,
        )
        resource = build(
            nested(cls, "AlterConfigsResource"),
            resource_type=2,
            resource_name=topic,
            configs=(config,),
        )
        (result,) = self.request(build(cls, resources=(resource,), validate_only=False)).responses
        assert result.error_code == ErrorCode.none, result.error_message

    def metadata(self, *topics: str, version: int = 12) -> Any:
        cls = request_class(3, version)
        wanted = tuple(
            build(nested(cls, "MetadataRequestTopic"), name=t, topic_id=None) for t in topics
        )
        return self.request(
            build(
                cls,
                topics=wanted,
                allow_auto_topic_creation=False,
                include_cluster_authorized_operations=False,
                include_topic_authorized_operations=False,
            )
        )

    def topic_id(self, topic: str) -> uuid.UUID:
        (found,) = self.metadata(topic).topics
        assert found.error_code == ErrorCode.none, found.error_code
        return found.topic_id  # type: ignore[no-any-return]

    def produce(
        self,
        topic: str,
        partition: int,
        batch: bytes,
        *,
        acks: int = 1,
        version: int = 9,
        send_only: bool = False,
    ) -> Any:
        """Produce one batch; returns the partition response (or the correlation id
        when ``send_only``, for acks=0 and pipelining checks)."""
        cls = request_class(0, version)
        request = build(
            cls,
            transactional_id=None,
            acks=acks,
            timeout=datetime.timedelta(seconds=10),
            topic_data=(
                build(
                    nested(cls, "TopicProduceData"),
                    name=topic,
                    partition_data=(
                        build(nested(cls, "PartitionProduceData"), index=partition, records=batch),
                    ),
                ),
            ),
        )
        if send_only:
            return self.send(request)
        response = self.request(request)
        ((result,),) = (t.partition_responses for t in response.responses)
        return result

    def list_offset(self, topic: str, partition: int, timestamp: int, version: int = 7) -> Any:
        """ListOffsets for one partition (-1 latest, -2 earliest, else a time in ms)."""
        cls = request_class(2, version)
        request = build(
            cls,
            replica_id=-1,
            isolation_level=0,
            topics=(
                build(
                    nested(cls, "ListOffsetsTopic"),
                    name=topic,
                    partitions=(
                        build(
                            nested(cls, "ListOffsetsPartition"),
                            partition_index=partition,
                            current_leader_epoch=-1,
                            timestamp=timestamp,
                        ),
                    ),
                ),
            ),
        )
        ((result,),) = (t.partitions for t in self.request(request).topics)
        return result

    def log_end_offset(self, topic: str, partition: int = 0) -> int:
        result = self.list_offset(topic, partition, -1)
        assert result.error_code == ErrorCode.none, result.error_code
        return int(result.offset)

    def fetch_request(
        self,
        topic: str,
        partition: int,
        offset: int,
        *,
        version: int = 12,
        max_wait_ms: int = 0,
        min_bytes: int = 1,
        partition_max_bytes: int = 1 << 20,
        topic_id: uuid.UUID | None = None,
    ) -> Any:
        """A Fetch request for one partition (v13+ need ``topic_id``)."""
        cls = request_class(1, version)
        part = build(
            nested(cls, "FetchPartition"),
            partition=partition,
            current_leader_epoch=-1,
            fetch_offset=offset,
            last_fetched_epoch=-1,
            log_start_offset=-1,
            partition_max_bytes=partition_max_bytes,
        )
        return build(
            cls,
            replica_id=-1,
            max_wait=datetime.timedelta(milliseconds=max_wait_ms),
            min_bytes=min_bytes,
            max_bytes=64 << 20,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=(
                build(
                    nested(cls, "FetchTopic"),
                    topic=topic,
                    topic_id=topic_id,
                    partitions=(part,),
                ),
            ),
            forgotten_topics_data=(),
            rack_id="",
        )

    def fetch(self, topic: str, partition: int, offset: int, **options: Any) -> Any:
        """Fetch one partition; returns its partition data (``records`` raw bytes)."""
        response = self.request(self.fetch_request(topic, partition, offset, **options))
        assert response.error_code == ErrorCode.none, response.error_code
        ((result,),) = (t.partitions for t in response.responses)
        return result

    def init_producer_id(
        self, producer_id: int = -1, producer_epoch: int = -1, *, version: int = 4
    ) -> tuple[int, int]:
        """InitProducerId: a fresh id at epoch 0, or (v3+, given the current id and
        epoch) the same id with the epoch bumped."""
        cls = request_class(22, version)
        response = self.request(
            build(
                cls,
                transactional_id=None,
                transaction_timeout=datetime.timedelta(seconds=60),
                producer_id=producer_id,
                producer_epoch=producer_epoch,
            )
        )
        assert response.error_code == ErrorCode.none, response.error_code
        return int(response.producer_id), int(response.producer_epoch)

    # -- consumer groups (newest versions) ----------------------------------------------

    def join_group(self, group: str, *, metadata: bytes = b"subscription") -> tuple[str, int]:
        """JoinGroup v7 as the only member (with the MEMBER_ID_REQUIRED round trip);
        returns (member id, generation). The group then waits for SyncGroup."""
        cls = request_class(11, 7)

        def join(member_id: str) -> Any:
            protocol = build(
                nested(cls, "JoinGroupRequestProtocol"), name="range", metadata=metadata
            )
            return self.request(
                build(
                    cls,
                    group_id=group,
                    session_timeout=datetime.timedelta(seconds=30),
                    rebalance_timeout=datetime.timedelta(seconds=30),
                    member_id=member_id,
                    group_instance_id=None,
                    protocol_type="consumer",
                    protocols=(protocol,),
                )
            )

        first = join("")
        assert first.error_code == ErrorCode.member_id_required, first.error_code
        second = join(first.member_id)
        assert second.error_code == ErrorCode.none, second.error_code
        return second.member_id, int(second.generation_id)

    def sync_group(self, group: str, member_id: str, generation: int, assignment: bytes) -> bytes:
        """SyncGroup v5 as the leader assigning ``assignment`` to itself."""
        cls = request_class(14, 5)
        mine = build(
            nested(cls, "SyncGroupRequestAssignment"), member_id=member_id, assignment=assignment
        )
        response = self.request(
            build(
                cls,
                group_id=group,
                generation_id=generation,
                member_id=member_id,
                group_instance_id=None,
                protocol_type="consumer",
                protocol_name="range",
                assignments=(mine,),
            )
        )
        assert response.error_code == ErrorCode.none, response.error_code
        return bytes(response.assignment)

    def stable_member(self, group: str) -> tuple[str, int]:
        """Join and sync: the group is Stable with this connection as its one member."""
        member_id, generation = self.join_group(group)
        self.sync_group(group, member_id, generation, b"assignment")
        return member_id, generation

    def commit_offset(self, group: str, topic: str, partition: int, offset: int) -> None:
        """OffsetCommit v8 outside any generation (a standalone commit)."""
        cls = request_class(8, 8)
        part = build(
            nested(cls, "OffsetCommitRequestPartition"),
            partition_index=partition,
            committed_offset=offset,
            committed_leader_epoch=-1,
            committed_metadata="",
        )
        topic_entry = build(nested(cls, "OffsetCommitRequestTopic"), name=topic, partitions=(part,))
        response = self.request(
            build(
                cls,
                group_id=group,
                generation_id_or_member_epoch=-1,
                member_id="",
                group_instance_id=None,
                topics=(topic_entry,),
            )
        )
        ((result,),) = (t.partitions for t in response.topics)
        assert result.error_code == ErrorCode.none, result.error_code

    def committed_offset(self, group: str, topic: str, partition: int) -> tuple[int, str | None]:
        """OffsetFetch v8: (committed offset, metadata); offset -1 when none."""
        cls = request_class(9, 8)
        wanted = build(
            nested(cls, "OffsetFetchRequestTopics"), name=topic, partition_indexes=(partition,)
        )
        response = self.request(
            build(
                cls,
                groups=(
                    build(nested(cls, "OffsetFetchRequestGroup"), group_id=group, topics=(wanted,)),
                ),
                require_stable=False,
            )
        )
        (found,) = response.groups
        assert found.error_code == ErrorCode.none, found.error_code
        ((result,),) = (t.partitions for t in found.topics)
        return int(result.committed_offset), result.metadata

    def group_state(self, group: str) -> str:
        """DescribeGroups v5: the group's state name (Dead when unknown)."""
        cls = request_class(15, 5)
        (found,) = self.request(
            build(cls, groups=(group,), include_authorized_operations=False)
        ).groups
        return str(found.group_state)


def request_class(api_key: int, version: int) -> type[Any]:
    return load_request_schema(api_key, version)


def encode_body(entity: Any) -> bytes:
    """The body bytes of a kio entity, for requests sent with ``send_raw``."""
    buf = io.BytesIO()
    entity_writer(type(entity))(buf, entity)
    return buf.getvalue()


# -- Produce v0-2, which kio does not model ------------------------------------------------


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def encode_old_produce(
    acks: int, timeout_ms: int, topic: str, partition: int, batch: bytes
) -> bytes:
    """A Produce v0-2 request body: acks, timeout, [topic, [partition, records]]."""
    return (
        struct.pack(">hii", acks, timeout_ms, 1)
        + _string(topic)
        + struct.pack(">iii", 1, partition, len(batch))
        + batch
    )


@dataclasses.dataclass(frozen=True)
class OldProduceResult:
    topic: str
    partition: int
    error_code: int
    base_offset: int


def decode_old_produce_response(version: int, body: bytes) -> list[OldProduceResult]:
    """Decode a Produce v0-2 response and check it is consumed exactly."""
    pos = 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from(fmt, body, pos)
        pos += struct.calcsize(fmt)
        return values

    results = []
    (topics,) = take(">i")
    for _ in range(topics):
        (name_len,) = take(">h")
        name = body[pos : pos + name_len].decode()
        pos += name_len
        (partitions,) = take(">i")
        for _ in range(partitions):
            index, error, base_offset = take(">ihq")
            if version >= 2:
                take(">q")  # log_append_time
            results.append(OldProduceResult(name, index, error, base_offset))
    if version >= 1:
        take(">i")  # throttle_time_ms
    assert pos == len(body), f"Produce v{version} response has {len(body) - pos} extra bytes"
    return results
