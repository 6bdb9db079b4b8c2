"""A mutation fuzzer for the Kafka listener: valid seed requests of many APIs, mutated
(bit flips, interesting values over length fields, insertions, deletions, truncation,
splicing, API retargeting) and sent over many short-lived TCP connections.

Each connection carries a few pipelined frames, optionally ends with a frame-level
attack (a corrupted size prefix, a frame cut short, raw random bytes), then half-closes
and reads until the broker closes. The broker processes every frame it received
before the first violation; the rest of the connection's bytes are discarded with it.
``FuzzStats`` counts what was sent; the broker's own counters say what it processed.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.protocol.apis import SUPPORTED
from tests.broker.robustness import wire

__all__ = ["FuzzStats", "Mutator", "run_fuzz", "seed_payloads"]

_TD0 = datetime.timedelta(0)


def _kio(module: str, *names: str) -> list[Any]:
    import importlib

    mod = importlib.import_module(f"kio.schema.{module}")
    return [getattr(mod, name) for name in names]


def _payload(entity: Any, correlation_id: int) -> bytes:
    """Header and body of a request (no size prefix)."""
    return wire.request_frame(entity, correlation_id)[4:]


def seed_payloads(topic: str, topic_id: uuid.UUID, absent_topic: str) -> list[bytes]:
    """Valid requests of every advertised API family, all naming ``topic`` (or
    ``absent_topic`` for DeleteTopics); admin requests that would change state are
    ``validate_only`` so only a mutation can make them act."""
    seeds: list[Any] = []
    (av0,) = _kio("api_versions.v0.request", "ApiVersionsRequest")
    seeds += [av0(), wire.api_versions_v3()]
    seeds.append(wire.metadata_v1([topic]))
    m12, m12t = _kio("metadata.v12.request", "MetadataRequest", "MetadataRequestTopic")
    seeds.append(
        m12(
            topics=(m12t(topic_id=None, name=topic),),
            allow_auto_topic_creation=False,
            include_topic_authorized_operations=False,
        )
    )
    seeds.append(wire.fetch_v4(topic, 0, 0, 4096))
    f12, f12t, f12p = _kio("fetch.v12.request", "FetchRequest", "FetchTopic", "FetchPartition")
    seeds.append(
        f12(
            cluster_id=None,
            max_wait=_TD0,
            min_bytes=0,
            topics=(
                f12t(
                    topic=topic,
                    partitions=(f12p(partition=0, fetch_offset=0, partition_max_bytes=4096),),
                ),
            ),
            forgotten_topics_data=(),
        )
    )
    seeds.append(  # as a follower: the leader's side of replication
        f12(
            replica_id=1,
            max_wait=_TD0,
            min_bytes=0,
            topics=(
                f12t(
                    topic=topic,
                    partitions=(
                        f12p(
                            partition=0,
                            current_leader_epoch=0,
                            fetch_offset=0,
                            last_fetched_epoch=0,
                            partition_max_bytes=4096,
                        ),
                    ),
                ),
            ),
            forgotten_topics_data=(),
        )
    )
    for version, replica_id in ((3, 1), (4, -1)):
        ep, ept, epp = _kio(
            f"offset_for_leader_epoch.v{version}.request",
            "OffsetForLeaderEpochRequest",
            "OffsetForLeaderTopic",
            "OffsetForLeaderPartition",
        )
        seeds.append(
            ep(
                replica_id=replica_id,
                topics=(ept(topic=topic, partitions=(epp(partition=0, leader_epoch=0),)),),
            )
        )
    f16, f16t, f16p = _kio("fetch.v16.request", "FetchRequest", "FetchTopic", "FetchPartition")
    seeds.append(
        f16(
            cluster_id=None,
            max_wait=_TD0,
            min_bytes=0,
            topics=(
                f16t(
                    topic_id=topic_id,
                    partitions=(f16p(partition=0, fetch_offset=0, partition_max_bytes=4096),),
                ),
            ),
            forgotten_topics_data=(),
        )
    )
    for stamp in (wire.EARLIEST, wire.LATEST):
        seeds.append(_list_offsets_v1(topic, stamp))
    l7, l7t, l7p = _kio(
        "list_offsets.v7.request", "ListOffsetsRequest", "ListOffsetsTopic", "ListOffsetsPartition"
    )
    seeds.append(
        l7(
            replica_id=-1,
            isolation_level=0,
            topics=(l7t(name=topic, partitions=(l7p(partition_index=0, timestamp=-3),)),),
        )
    )
    ct, ctt, ctc = _kio(
        "create_topics.v5.request", "CreateTopicsRequest", "CreatableTopic", "CreatableTopicConfig"
    )
    seeds.append(
        ct(
            topics=(
                ctt(
                    name=f"{topic}-new",
                    num_partitions=1,
                    replication_factor=1,
                    assignments=(),
                    configs=(ctc(name="retention.ms", value="60000"),),
                ),
            ),
            timeout=datetime.timedelta(seconds=5),
            validate_only=True,
        )
    )
    (dt,) = _kio("delete_topics.v4.request", "DeleteTopicsRequest")
    seeds.append(dt(topic_names=(absent_topic,), timeout=datetime.timedelta(seconds=5)))
    cp, cpt = _kio(
        "create_partitions.v1.request", "CreatePartitionsRequest", "CreatePartitionsTopic"
    )
    seeds.append(
        cp(
            topics=(cpt(name=topic, count=2, assignments=None),),
            timeout=datetime.timedelta(seconds=5),
            validate_only=True,
        )
    )
    dc, dcr = _kio(
        "describe_configs.v4.request", "DescribeConfigsRequest", "DescribeConfigsResource"
    )
    seeds.append(
        dc(resources=(dcr(resource_type=2, resource_name=topic, configuration_keys=None),))
    )
    ac, acr, acc = _kio(
        "alter_configs.v1.request", "AlterConfigsRequest", "AlterConfigsResource", "AlterableConfig"
    )
    seeds.append(
        ac(
            resources=(
                acr(
                    resource_type=2,
                    resource_name=topic,
                    configs=(acc(name="retention.ms", value="600000"),),
                ),
            ),
            validate_only=True,
        )
    )
    iac, iacr, iacc = _kio(
        "incremental_alter_configs.v1.request",
        "IncrementalAlterConfigsRequest",
        "AlterConfigsResource",
        "AlterableConfig",
    )
    seeds.append(
        iac(
            resources=(
                iacr(
                    resource_type=2,
                    resource_name=topic,
                    configs=(iacc(name="segment.bytes", config_operation=0, value="1048576"),),
                ),
            ),
            validate_only=True,
        )
    )
    (ip,) = _kio("init_producer_id.v4.request", "InitProducerIdRequest")
    seeds.append(ip(transactional_id=None, transaction_timeout=datetime.timedelta(seconds=60)))
    (dcl,) = _kio("describe_cluster.v0.request", "DescribeClusterRequest")
    seeds.append(dcl(include_cluster_authorized_operations=False))
    seeds += _group_seeds(topic)
    payloads = [_payload(entity, i + 1) for i, entity in enumerate(seeds)]
    values = [f"seed-{i}".encode() for i in range(5)]
    for version, batch, acks in (
        (3, wire.make_batch(values[:1]), 1),
        (7, wire.make_batch(values), -1),
        (9, wire.make_batch(values[:2]), 1),
        (
            8,
            wire.make_batch(values[:1], producer_id=990_000, producer_epoch=0, base_sequence=0),
            -1,
        ),
    ):
        body = wire.produce_body(version, topic, [(0, batch)], acks=acks)
        payloads.append(wire.produce_frame(version, 100 + version, body)[4:])
    return payloads


def _group_seeds(topic: str, group: str = "fuzz-group") -> list[Any]:
    """The consumer-group APIs: coordinator lookup, membership, offsets, admin."""
    seeds: list[Any] = []
    (fc,) = _kio("find_coordinator.v4.request", "FindCoordinatorRequest")
    seeds.append(fc(key_type=0, coordinator_keys=(group,)))
    jg, jgp = _kio("join_group.v5.request", "JoinGroupRequest", "JoinGroupRequestProtocol")
    seeds.append(
        jg(
            group_id=group,
            session_timeout=datetime.timedelta(seconds=10),
            rebalance_timeout=datetime.timedelta(seconds=10),
            member_id="",
            group_instance_id=None,
            protocol_type="consumer",
            protocols=(jgp(name="range", metadata=b"\x00\x01"),),
        )
    )
    sg, sga = _kio("sync_group.v5.request", "SyncGroupRequest", "SyncGroupRequestAssignment")
    seeds.append(
        sg(
            group_id=group,
            generation_id=1,
            member_id="member-1",
            group_instance_id=None,
            protocol_type="consumer",
            protocol_name="range",
            assignments=(sga(member_id="member-1", assignment=b"\x00\x01"),),
        )
    )
    (hb,) = _kio("heartbeat.v4.request", "HeartbeatRequest")
    seeds.append(hb(group_id=group, generation_id=1, member_id="member-1", group_instance_id=None))
    lg, lgm = _kio("leave_group.v4.request", "LeaveGroupRequest", "MemberIdentity")
    seeds.append(lg(group_id=group, members=(lgm(member_id="member-1", group_instance_id=None),)))
    oc, oct_, ocp = _kio(
        "offset_commit.v8.request",
        "OffsetCommitRequest",
        "OffsetCommitRequestTopic",
        "OffsetCommitRequestPartition",
    )
    seeds.append(
        oc(
            group_id=group,
            generation_id_or_member_epoch=-1,
            member_id="",
            group_instance_id=None,
            topics=(
                oct_(
                    name=topic,
                    partitions=(
                        ocp(partition_index=0, committed_offset=1, committed_metadata="m"),
                    ),
                ),
            ),
        )
    )
    of, ofg, oft = _kio(
        "offset_fetch.v8.request",
        "OffsetFetchRequest",
        "OffsetFetchRequestGroup",
        "OffsetFetchRequestTopics",
    )
    seeds.append(
        of(groups=(ofg(group_id=group, topics=(oft(name=topic, partition_indexes=(0,)),)),))
    )
    (lgr,) = _kio("list_groups.v4.request", "ListGroupsRequest")
    seeds.append(lgr(states_filter=()))
    (dg,) = _kio("describe_groups.v5.request", "DescribeGroupsRequest")
    seeds.append(dg(groups=(group,), include_authorized_operations=False))
    (dlg,) = _kio("delete_groups.v2.request", "DeleteGroupsRequest")
    seeds.append(dlg(groups_names=(f"{group}-absent",)))
    return seeds


def _list_offsets_v1(topic: str, timestamp: int) -> Any:
    req, t, p = _kio(
        "list_offsets.v1.request", "ListOffsetsRequest", "ListOffsetsTopic", "ListOffsetsPartition"
    )
    return req(
        replica_id=-1,
        topics=(t(name=topic, partitions=(p(partition_index=0, timestamp=timestamp),)),),
    )


# -- mutations ---------------------------------------------------------------------------

_INTERESTING_16 = (0, 1, -1, -2, 0x7FFF, -0x8000, 0x0100, 0x00FF)
_INTERESTING_32 = (0, 1, -1, -2, 0x7FFFFFFF, -0x80000000, 0x00010000, 0x0000FFFF, 4096)
# (api key, lowest version, highest version) the broker advertises, for retargeting.
_API_RANGES = tuple((int(r.key), r.min_version, r.max_version) for r in SUPPORTED.values())


@dataclass
class Mutator:
    """Mutates seed payloads; every choice comes from ``rng`` (reproducible by seed)."""

    seeds: list[bytes]
    rng: random.Random
    max_frame_bytes: int
    counts: dict[str, int] = field(default_factory=dict)

    def _pos(self, data: bytes | bytearray, extra: int = 0) -> int:
        return self.rng.randrange(len(data) + extra) if len(data) + extra > 0 else 0

    def bit_flips(self, data: bytearray) -> bytearray:
        for _ in range(self.rng.randint(1, 4)):
            if data:
                data[self._pos(data)] ^= 1 << self.rng.randrange(8)
        return data

    def interesting_bytes(self, data: bytearray) -> bytearray:
        for _ in range(self.rng.randint(1, 3)):
            if data:
                data[self._pos(data)] = self.rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF))
        return data

    def length_field(self, data: bytearray) -> bytearray:
        """Overwrite 2 or 4 bytes with a value typical of corrupt length/count fields."""
        if self.rng.random() < 0.5:
            raw = struct.pack(">h", self.rng.choice(_INTERESTING_16))
        else:
            value = self.rng.choice(
                (*_INTERESTING_32, len(data), len(data) + 1, self.rng.getrandbits(31))
            )
            raw = struct.pack(">i", value)
        pos = self._pos(data)
        data[pos : pos + len(raw)] = raw
        return data

    def varint(self, data: bytearray) -> bytearray:
        """An over-long or huge unsigned varint where a compact length may sit."""
        pos = self._pos(data)
        raw = self.rng.choice(
            (b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x80\x01", b"\xff\x7f", b"\x00")
        )
        data[pos : pos + 1] = raw
        return data

    def insert(self, data: bytearray) -> bytearray:
        pos = self._pos(data, 1)
        data[pos:pos] = self.rng.randbytes(self.rng.randint(1, 16))
        return data

    def delete(self, data: bytearray) -> bytearray:
        if data:
            pos = self._pos(data)
            del data[pos : pos + self.rng.randint(1, 16)]
        return data

    def truncate(self, data: bytearray) -> bytearray:
        return data[: self._pos(data)]

    def splice(self, data: bytearray) -> bytearray:
        other = self.rng.choice(self.seeds)
        return data[: self._pos(data)] + bytearray(other[self._pos(other) :])

    def duplicate(self, data: bytearray) -> bytearray:
        if data:
            pos = self._pos(data)
            chunk = data[pos : pos + self.rng.randint(1, 32)]
            data[pos:pos] = chunk
        return data

    def retarget(self, data: bytearray) -> bytearray:
        """Send one API's body under another API key and version."""
        key, low, high = self.rng.choice(_API_RANGES)
        if len(data) >= 4:
            data[0:4] = struct.pack(">hh", key, self.rng.randint(low, high))
        return data

    def body(self) -> tuple[str, bytes]:
        """One mutated payload (header and body) and the name of the first mutation."""
        # Length-preserving operators come first and twice: they keep the frame's
        # structure more often, so more mutants reach the handlers instead of the decoder.
        operators: list[tuple[str, Callable[[bytearray], bytearray]]] = [
            ("bit_flips", self.bit_flips),
            ("bit_flips", self.bit_flips),
            ("interesting_bytes", self.interesting_bytes),
            ("interesting_bytes", self.interesting_bytes),
            ("length_field", self.length_field),
            ("varint", self.varint),
            ("insert", self.insert),
            ("delete", self.delete),
            ("truncate", self.truncate),
            ("splice", self.splice),
            ("duplicate", self.duplicate),
            ("retarget", self.retarget),
        ]
        data = bytearray(self.rng.choice(self.seeds))
        first = ""
        for _ in range(1 if self.rng.random() < 0.7 else self.rng.randint(2, 4)):
            name, op = self.rng.choice(operators)
            first = first or name
            data = op(data)
        self.counts[first] = self.counts.get(first, 0) + 1
        return first, bytes(data)

    def frame_attack(self) -> tuple[str, bytes]:
        """Bytes that break framing itself; always the last thing on a connection."""
        _, payload = self.body()
        framed = wire.frame(payload)
        choice = self.rng.randrange(5)
        if choice == 0:
            size = self.rng.choice(
                (-1, -(2**31), self.max_frame_bytes + 1, 2**31 - 1, self.rng.getrandbits(31))
            )
            name, data = "size_prefix", struct.pack(">i", size) + payload
        elif choice == 1:
            delta = self.rng.randint(1, 64)
            name, data = "size_too_large", struct.pack(">i", len(payload) + delta) + payload
        elif choice == 2:
            delta = self.rng.randint(1, max(1, len(payload)))
            name, data = "size_too_small", struct.pack(">i", len(payload) - delta) + payload
        elif choice == 3:
            name, data = "cut_mid_frame", framed[: self._pos(framed)]
        else:
            name, data = "random_bytes", self.rng.randbytes(self.rng.randint(1, 256))
        self.counts[name] = self.counts.get(name, 0) + 1
        return name, data


# -- the driver --------------------------------------------------------------------------


@dataclass
class FuzzStats:
    frames_sent: int = 0
    connections: int = 0
    responses: int = 0
    closed_by_idle_timeout: int = 0
    connect_errors: int = 0
    seconds: float = 0.0
    mutations: dict[str, int] = field(default_factory=dict)


def _count_frames(buf: bytes) -> int:
    n = pos = 0
    while pos + 4 <= len(buf):
        (size,) = struct.unpack_from(">i", buf, pos)
        if size < 0 or pos + 4 + size > len(buf):
            break
        pos += 4 + size
        n += 1
    return n


async def _connection(
    host: str, port: int, mutator: Mutator, stats: FuzzStats, idle_timeout_s: float
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        stats.connect_errors += 1
        return
    stats.connections += 1
    frames = [wire.frame(mutator.body()[1]) for _ in range(mutator.rng.randint(1, 12))]
    if mutator.rng.random() < 0.2:
        frames.append(mutator.frame_attack()[1])
    stats.frames_sent += len(frames)
    received = bytearray()
    try:
        writer.write(b"".join(frames))
        writer.write_eof()
        while True:
            chunk = await asyncio.wait_for(reader.read(1 << 16), idle_timeout_s)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        stats.closed_by_idle_timeout += 1
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    stats.responses += _count_frames(bytes(received))


async def run_fuzz(
    host: str,
    port: int,
    mutator: Mutator,
    *,
    frames: int,
    concurrency: int = 24,
    deadline_s: float = 120.0,
    idle_timeout_s: float = 0.5,
) -> FuzzStats:
    """Send at least ``frames`` fuzzed frames over ``concurrency`` parallel connection
    loops, or stop at ``deadline_s``."""
    stats = FuzzStats()
    started = time.monotonic()
    stop_at = started + deadline_s

    async def loop() -> None:
        while stats.frames_sent < frames and time.monotonic() < stop_at:
            await _connection(host, port, mutator, stats, idle_timeout_s)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    stats.seconds = time.monotonic() - started
    stats.mutations = dict(mutator.counts)
    return stats
