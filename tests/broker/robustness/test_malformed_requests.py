"""Malformed input of every kind against a real broker: each frame is either answered
with the Kafka error code in a normal response (and nothing is stored), or its
connection is closed with the reason logged and counted in
``tidewatch_broker_malformed_requests_total{reason}``. Other clients keep working
while it happens.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.launcher import BrokerProcess
from tests.broker.robustness import wire
from tests.broker.robustness.clients import KafkaConsumer, TopicPartition
from tests.broker.robustness.conftest import StartBroker
from tests.broker.robustness.support import metric, scrape, wait_until, write_config

MAX_REQUEST_BYTES = 65536
VICTIM = "victim"
PAIR = "pair"
BYSTANDER = "bystander"

# Kafka error codes
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_REQUIRED_ACKS = 21
UNSUPPORTED_VERSION = 35
INVALID_RECORD = 87


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    tmp = tmp_path_factory.mktemp("malformed")
    config = write_config(
        tmp / "broker.yaml",
        {"max_request_bytes": MAX_REQUEST_BYTES, "auto_create_topics": False},
    )
    process = BrokerProcess(tmp / "data", "--config", str(config)).start()
    try:
        admin = AdminClient({"bootstrap.servers": process.bootstrap})
        futures = admin.create_topics(
            [NewTopic(VICTIM, 1, 1), NewTopic(PAIR, 2, 1), NewTopic(BYSTANDER, 1, 1)]
        )
        for future in futures.values():
            future.result(timeout=30)
        yield process
    finally:
        process.stop()


def connect(broker: BrokerProcess) -> wire.RawConnection:
    return wire.RawConnection(broker.host, broker.port)


def latest(broker: BrokerProcess, topic: str, partition: int = 0) -> int:
    with connect(broker) as conn:
        error, offset = wire.list_offset(conn, topic, partition, wire.LATEST)
    assert error == 0
    return offset


# -- connections the broker must close --------------------------------------------------


def _hdr(api_key: int, version: int, client_len: int = -1) -> bytes:
    return struct.pack(">hhih", api_key, version, 7, client_len)


@dataclass(frozen=True)
class Closed:
    """A byte stream after which the broker must close the connection."""

    id: str
    data: Callable[[], bytes]
    reason: str | None  # malformed_requests_total label; None: depends on the bytes
    logged: str  # a fragment of the logged reason
    client_closes: bool = False  # the client hangs up mid-frame itself


def _random_bytes() -> bytes:
    return random.Random(20240611).randbytes(4096)


CLOSED_CASES = [
    Closed("random bytes", _random_bytes, None, ""),
    Closed(
        "a frame size one above max_request_bytes",
        lambda: struct.pack(">i", MAX_REQUEST_BYTES + 1) + b"\x00" * 64,
        "frame_size",
        f"frame size {MAX_REQUEST_BYTES + 1} is outside 0..{MAX_REQUEST_BYTES}",
    ),
    Closed(
        "an absurd frame size of 2 GiB",
        lambda: struct.pack(">i", 2**31 - 1),
        "frame_size",
        "frame size 2147483647 is outside",
    ),
    Closed(
        "a negative frame size",
        lambda: struct.pack(">i", -1) + _hdr(18, 0),
        "frame_size",
        "frame size -1 is outside",
    ),
    Closed(
        "the most negative frame size",
        lambda: struct.pack(">i", -(2**31)),
        "frame_size",
        "frame size -2147483648 is outside",
    ),
    Closed(
        "a header shorter than its fixed fields",
        lambda: wire.frame(b"\x00\x12\x00"),
        "header",
        "request of 3 bytes is shorter than a header",
    ),
    Closed(
        "a client id longer than the frame",
        lambda: wire.frame(_hdr(18, 0, client_len=500) + b"abc"),
        "header",
        "client id runs past the end of the request",
    ),
    Closed(
        "a negative client id length other than null",
        lambda: wire.frame(_hdr(18, 0, client_len=-2)),
        "header",
        "client id length -2 is invalid",
    ),
    Closed(
        "tagged header fields that run past the frame",
        lambda: wire.frame(_hdr(18, 3) + b"\x05"),
        "header",
        "tagged fields run past the end of the request",
    ),
    Closed(
        "an unknown api key",
        lambda: wire.frame(_hdr(9999, 0)),
        "unknown_api",
        "unknown or unsupported API key 9999",
    ),
    Closed(
        "a negative api key",
        lambda: wire.frame(_hdr(-1, 0)),
        "unknown_api",
        "unknown or unsupported API key -1",
    ),
    Closed(
        "an inter-broker api key no client may send (LeaderAndIsr)",
        lambda: wire.frame(_hdr(4, 0)),
        "unknown_api",
        "unknown or unsupported API key 4",
    ),
    Closed(
        "a Metadata version above the supported range",
        lambda: wire.frame(_hdr(3, 99) + b"\x00\x00\x00\x00"),
        "unsupported_version",
        "metadata v99 is not supported",
    ),
    Closed(
        "a negative Metadata version",
        lambda: wire.frame(_hdr(3, -1)),
        "unsupported_version",
        "metadata v-1 is not supported",
    ),
    Closed(
        "a Fetch version below the supported range",
        lambda: wire.frame(_hdr(1, 3) + b"\x00" * 16),
        "unsupported_version",
        "fetch v3 is not supported",
    ),
    Closed(
        "a Metadata body claiming two billion topics",
        lambda: wire.frame(_hdr(3, 1) + struct.pack(">i", 2**31 - 1) + b"\x00\x01a"),
        "decode",
        "cannot decode MetadataRequest v1",
    ),
    Closed(
        "a Produce body cut inside the topic name",
        lambda: wire.frame(
            _hdr(0, 3) + wire.produce_body(3, VICTIM, [(0, wire.make_batch([b"x"]))])[:12]
        ),
        "decode",
        "cannot decode ProduceRequest v3",
    ),
    Closed(
        "a Produce body whose records length runs past the frame",
        lambda: wire.frame(
            _hdr(0, 3) + wire.produce_body(3, VICTIM, [(0, wire.make_batch([b"x"]))])[:-5]
        ),
        "decode",
        "cannot decode ProduceRequest v3",
    ),
    Closed(
        "a Fetch body of garbage",
        lambda: wire.frame(_hdr(1, 4) + b"\xff" * 7),
        "decode",
        "cannot decode FetchRequest v4",
    ),
    Closed(
        "a flexible CreateTopics body with a string length beyond the frame",
        lambda: wire.frame(_hdr(19, 5) + b"\x00" + b"\x02" + b"\x7f" + b"ab"),
        "decode",
        "cannot decode CreateTopicsRequest v5",
    ),
    Closed(
        "a connection closed in the middle of a frame",
        lambda: struct.pack(">i", 100) + _hdr(18, 0) + b"\x00" * 20,
        "truncated",
        "closed the connection in the middle of a request",
        client_closes=True,
    ),
    Closed(
        "a connection closed in the middle of the size prefix",
        lambda: b"\x00\x00",
        "truncated",
        "closed the connection in the middle of a request",
        client_closes=True,
    ),
]


def send_and_expect_close(broker: BrokerProcess, case: Closed) -> str:
    """Send the case's bytes and return the peer address the broker logs for us."""
    conn = connect(broker)
    peer = "{}:{}".format(*conn.sock.getsockname())
    try:
        conn.send(case.data())
        if case.client_closes:
            conn.sock.shutdown(socket.SHUT_WR)
        assert conn.closed_by_peer(timeout_s=10), "the broker kept the connection open"
    finally:
        conn.close()
    return peer


@pytest.mark.parametrize("case", CLOSED_CASES, ids=lambda c: c.id)
def test_the_broker_closes_the_connection_with_a_logged_and_counted_reason_after(
    attacked: BrokerProcess, case: Closed
) -> None:
    before = scrape(attacked)
    end_before = latest(attacked, VICTIM)
    peer = send_and_expect_close(attacked, case)

    line = wait_until(
        lambda: next(
            (
                line
                for line in attacked.output().splitlines()
                if f"connection from {peer}" in line and case.logged in line
            ),
            None,
        ),
        10,
        f"a log line about {peer} containing {case.logged!r}",
    )
    assert "WARNING" in line

    def counted() -> bool:
        after = scrape(attacked)
        name = "tidewatch_broker_malformed_requests_total"
        if case.reason is None:
            return metric(after, name) == metric(before, name) + 1
        return (
            metric(after, name, reason=case.reason) == metric(before, name, reason=case.reason) + 1
        )

    wait_until(counted, 10, f"malformed_requests_total{{reason={case.reason}}} to grow by one")
    assert latest(attacked, VICTIM) == end_before, "a malformed request changed stored data"
    assert "Traceback" not in attacked.output()


# -- requests the broker must answer with an error code ---------------------------------


def _flip_value_byte(batch: bytes) -> bytes:
    corrupt = bytearray(batch)
    corrupt[-2] ^= 0x40  # inside the last record's value: covered by the CRC
    return bytes(corrupt)


def _count_mismatch(batch: bytes) -> bytes:
    edited = bytearray(batch)
    struct.pack_into(">i", edited, 57, 5)  # records_count 5 with last_offset_delta 0
    return wire.with_fixed_crc(bytes(edited))


def _negative_length(batch: bytes) -> bytes:
    edited = bytearray(batch)
    struct.pack_into(">i", edited, 8, -20)
    return bytes(edited)


def _magic(batch: bytes, magic: int) -> bytes:
    edited = bytearray(batch)
    edited[16] = magic
    return bytes(edited)


def _v0_message_set() -> bytes:
    legacy = bytearray(wire.v1_message_set(b"old"))
    legacy[16] = 0  # magic 0 (CRC no longer matches either, but magic is checked first)
    return bytes(legacy)


@dataclass(frozen=True)
class Rejected:
    """A Produce whose partition must be answered with ``error`` and store nothing."""

    id: str
    records: Callable[[], bytes | None]
    error: int
    error_name: str
    version: int = 3
    acks: int = 1


ONE = wire.make_batch([b"one"])

REJECTED_CASES = [
    Rejected("a bad CRC", lambda: _flip_value_byte(ONE), CORRUPT_MESSAGE, "corrupt_message"),
    Rejected(
        "a bad CRC in flexible Produce v9",
        lambda: _flip_value_byte(ONE),
        CORRUPT_MESSAGE,
        "corrupt_message",
        version=9,
    ),
    Rejected(
        "a batch cut short of its length", lambda: ONE[:-5], CORRUPT_MESSAGE, "corrupt_message"
    ),
    Rejected(
        "a batch shorter than a batch header",
        lambda: ONE[:40],
        CORRUPT_MESSAGE,
        "corrupt_message",
    ),
    Rejected(
        "a negative batch length",
        lambda: _negative_length(ONE),
        CORRUPT_MESSAGE,
        "corrupt_message",
    ),
    Rejected(
        "a magic 1 message set (pre-0.11 format)",
        lambda: wire.v1_message_set(b"old"),
        INVALID_RECORD,
        "invalid_record",
    ),
    Rejected("a magic 0 message set", _v0_message_set, INVALID_RECORD, "invalid_record"),
    Rejected(
        "a v2 batch whose magic byte says 3",
        lambda: _magic(ONE, 3),
        INVALID_RECORD,
        "invalid_record",
    ),
    Rejected(
        "two batches in one partition's records",
        lambda: ONE + wire.make_batch([b"two"]),
        INVALID_RECORD,
        "invalid_record",
    ),
    Rejected(
        "garbage after the batch",
        lambda: ONE + b"\xde\xad\xbe\xef",
        INVALID_RECORD,
        "invalid_record",
    ),
    Rejected("null records", lambda: None, INVALID_RECORD, "invalid_record"),
    Rejected(
        "a record count that disagrees with the offset delta",
        lambda: _count_mismatch(ONE),
        INVALID_RECORD,
        "invalid_record",
    ),
    Rejected(
        "a transactional batch",
        lambda: wire.make_batch(
            [b"t"], producer_id=1, producer_epoch=0, base_sequence=0, attributes=0x10
        ),
        INVALID_RECORD,
        "invalid_record",
    ),
    Rejected("acks=5", lambda: ONE, INVALID_REQUIRED_ACKS, "invalid_required_acks", acks=5),
    Rejected(
        "Produce v2 (advertised for old librdkafka, not served)",
        lambda: ONE,
        UNSUPPORTED_VERSION,
        "unsupported_version",
        version=2,
    ),
]


def _partition_error(response: object) -> tuple[int, str | None]:
    (topic,) = response.responses  # type: ignore[attr-defined]
    (partition,) = topic.partition_responses
    message = getattr(partition, "error_message", None)
    return int(partition.error_code.value), message


@pytest.mark.parametrize("case", REJECTED_CASES, ids=lambda c: c.id)
def test_produce_is_answered_with_the_kafka_error_code_and_stores_nothing_for(
    attacked: BrokerProcess, case: Rejected
) -> None:
    before = scrape(attacked)
    end_before = latest(attacked, VICTIM)
    with connect(attacked) as conn:
        peer = "{}:{}".format(*conn.sock.getsockname())
        response = conn.produce(case.version, VICTIM, [(0, case.records())], acks=case.acks)
        error, message = _partition_error(response)
        assert error == case.error, f"expected error {case.error}, got {error} ({message})"
        # The connection stays usable after a rejected request.
        assert conn.call(wire.api_versions_v3()).error_code.value == 0
    assert latest(attacked, VICTIM) == end_before
    after = scrape(attacked)
    name = "tidewatch_broker_requests_total"
    assert metric(after, name, api="produce", error=case.error_name) == (
        metric(before, name, api="produce", error=case.error_name) + 1
    )
    if case.error in (CORRUPT_MESSAGE, INVALID_RECORD, INVALID_REQUIRED_ACKS):
        wait_until(
            lambda: any(
                f"from {peer}" in line and "rejected" in line
                for line in attacked.output().splitlines()
            ),
            10,
            f"a log line saying why the produce from {peer} was rejected",
        )


def test_api_versions_above_the_supported_range_is_answered_in_the_v0_layout_with_the_table(
    attacked: BrokerProcess,
) -> None:
    with connect(attacked) as conn:
        conn.send(wire.frame(_hdr(18, 99)))
        payload = conn.read_frame()
    assert payload is not None
    correlation_id, error, count = struct.unpack_from(">ihi", payload, 0)
    assert (correlation_id, error) == (7, UNSUPPORTED_VERSION)
    ranges = {
        struct.unpack_from(">hhh", payload, 10 + 6 * i)[0]: struct.unpack_from(
            ">hhh", payload, 10 + 6 * i
        )[1:]
        for i in range(count)
    }
    assert ranges[18] == (0, 4)
    assert len(payload) == 10 + 6 * count


def test_one_corrupt_batch_does_not_fail_the_valid_batch_of_another_partition(
    attacked: BrokerProcess,
) -> None:
    ends = [latest(attacked, PAIR, 0), latest(attacked, PAIR, 1)]
    with connect(attacked) as conn:
        response = conn.produce(
            3, PAIR, [(0, _flip_value_byte(ONE)), (1, wire.make_batch([b"good"]))]
        )
        with_fetch = wire.fetch(conn, PAIR, 1, ends[1])
    (topic,) = response.responses
    errors = {p.index: int(p.error_code.value) for p in topic.partition_responses}
    assert errors == {0: CORRUPT_MESSAGE, 1: 0}
    assert [latest(attacked, PAIR, 0), latest(attacked, PAIR, 1)] == [ends[0], ends[1] + 1]
    assert [v for _, v in wire.batch_values(with_fetch.records)] == [b"good"]


def test_trailing_bytes_after_a_request_body_are_tolerated_and_counted(
    attacked: BrokerProcess,
) -> None:
    before = scrape(attacked)
    body = wire.encode_entity(wire.metadata_v1([VICTIM])) + b"\x00\x00\x00"
    with connect(attacked) as conn:
        conn.send(wire.frame(wire.header(3, 1, 41, flexible=False) + body))
        payload = conn.read_frame()
    assert payload is not None
    answer = wire.decode_response(3, 1, payload)
    assert answer.correlation_id == 41
    assert [t.name for t in answer.body.topics] == [VICTIM]
    after = scrape(attacked)
    name = "tidewatch_broker_request_trailing_bytes_total"
    assert metric(after, name, api="metadata") == metric(before, name, api="metadata") + 1


# -- everyone else keeps working ---------------------------------------------------------


class Bystanders:
    """A confluent-kafka producer (acks=all) and a kafka-python consumer running in
    threads; they record every error they see."""

    def __init__(self, broker: BrokerProcess, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.errors: list[str] = []
        self.acked: list[bytes] = []
        self.consumed: list[bytes] = []
        self.stop = threading.Event()
        self.produced_all = threading.Event()
        self._threads = [
            threading.Thread(target=self._produce, daemon=True),
            threading.Thread(target=self._consume, daemon=True),
        ]

    def __enter__(self) -> Bystanders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        producer, consumer = self._threads
        producer.join(60)
        self.produced_all.set()  # the consumer may finish once it has every ack
        consumer.join(60)

    def _produce(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.broker.bootstrap,
                "acks": "all",
                "linger.ms": 1,
                "error_cb": lambda err: self.errors.append(f"producer: {err}"),
            }
        )

        def delivered(err: object, msg: object) -> None:
            if err is not None:
                self.errors.append(f"delivery: {err}")
            else:
                self.acked.append(msg.value())  # type: ignore[attr-defined]

        sent = 0
        while not self.stop.is_set() and sent < 100_000:
            producer.produce(
                self.topic, value=f"bystander-{sent:06d}".encode(), on_delivery=delivered
            )
            sent += 1
            producer.poll(0.002)
        remaining = producer.flush(30)
        if remaining:
            self.errors.append(f"producer: {remaining} messages not delivered")

    def _consume(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.broker.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",
            consumer_timeout_ms=200,
        )
        try:
            consumer.assign([TopicPartition(self.topic, 0)])
            consumer.seek(TopicPartition(self.topic, 0), 0)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if self.produced_all.is_set() and len(self.consumed) >= len(self.acked):
                    break
                try:
                    batch = consumer.poll(timeout_ms=200)
                except Exception as exc:  # record, do not hide
                    self.errors.append(f"consumer: {exc!r}")
                    return
                for records in batch.values():
                    self.consumed.extend(r.value for r in records)
        finally:
            consumer.close()


def test_other_clients_see_no_errors_while_every_kind_of_malformed_input_arrives(
    attacked: BrokerProcess,
) -> None:
    rounds = 0
    with Bystanders(attacked, BYSTANDER) as clients:
        wait_until(lambda: len(clients.acked) >= 50, 30, "the bystander producer to get going")
        # The attack goes on until the bystander has had 100 more records acknowledged
        # under it, however slow the machine; the deadline only bounds a starved one.
        acked_before = len(clients.acked)
        deadline = time.monotonic() + 120
        while rounds == 0 or len(clients.acked) < acked_before + 100:
            assert time.monotonic() < deadline, "the bystander producer was starved"
            for closed in CLOSED_CASES:
                send_and_expect_close(attacked, closed)
            with connect(attacked) as conn:
                for rejected in REJECTED_CASES:
                    response = conn.produce(
                        rejected.version, VICTIM, [(0, rejected.records())], acks=rejected.acks
                    )
                    assert _partition_error(response)[0] == rejected.error
            rounds += 1
    assert clients.errors == []
    assert clients.consumed == clients.acked
    assert latest(attacked, BYSTANDER) == len(clients.acked)
    assert "Traceback" not in attacked.output()


def test_the_broker_log_holds_no_traceback_after_the_attack(attacked: BrokerProcess) -> None:
    # Runs last in the module: no malformed input may have produced an unexpected error.
    output = attacked.output()
    assert "Traceback" not in output
    assert " ERROR " not in output
    assert Path(attacked.data_dir).exists()


def test_a_batch_with_a_valid_crc_over_garbage_records_is_refused(
    attacked: BrokerProcess,
) -> None:
    batch = bytearray(wire.make_batch([b"x" * 20]))
    batch[61:] = b"\xff" * (len(batch) - 61)  # the one record: not a valid varint layout
    end_before = latest(attacked, VICTIM)
    with connect(attacked) as conn:
        response = conn.produce(3, VICTIM, [(0, wire.with_fixed_crc(bytes(batch)))])
    error, _ = _partition_error(response)
    assert latest(attacked, VICTIM) == end_before, "a batch of garbage records was stored"
    assert error in (CORRUPT_MESSAGE, INVALID_RECORD)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_size_prefixes_alone_do_not_make_the_broker_allocate_the_frames_they_announce(
    start_broker: StartBroker,
) -> None:
    # 16 connections each announce a 32 MiB request and send nothing more: the broker
    # must not reserve 16 x 32 MiB for bytes that never come.
    broker = start_broker(config={"max_request_bytes": 32 * 1024 * 1024})
    before = _rss_mib(broker.pid)
    sockets = [socket.create_connection((broker.host, broker.port)) for _ in range(16)]
    try:
        for sock in sockets:
            sock.sendall(struct.pack(">i", 32 * 1024 * 1024 - 1) + b"\x00" * 70_000)
        with wire.RawConnection(broker.host, broker.port) as conn:  # all received by now
            assert conn.call(wire.api_versions_v3()).error_code.value == 0
        grown = _rss_mib(broker.pid) - before
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 64, f"the broker grew by {grown:.0f} MiB for 16 x 70 KB received"
    wait_until(
        lambda: (
            metric(scrape(broker), "tidewatch_broker_malformed_requests_total", reason="truncated")
            == 16
        ),
        10,
        "16 truncated frames counted",
    )
