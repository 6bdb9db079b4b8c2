"""A full disk: the data directory is a 4 MiB tmpfs. Produce fails with
KAFKA_STORAGE_ERROR (56) while the broker stays up and serves reads; it resumes when
space returns (a filler file deleted, or the tmpfs grown); nothing stored before is
damaged, before or after a crash-restart; a broker stopped on the full disk starts again
on it and serves what it stored.

Needs root (``mount -t tmpfs``); skipped with the reason when mounting is refused.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from contracts.launcher import BrokerProcess, ProcessStartError
from tests.broker.robustness import wire
from tests.broker.robustness.clients import KafkaConsumer, KafkaProducer, TopicPartition, kafka
from tests.broker.robustness.conftest import StartBroker
from tests.broker.robustness.support import metric, scan_segment, scrape
from tests.support import tools

KAFKA_STORAGE_ERROR = 56
TOPIC = "filling"
RECORD_BYTES = 1024
RECORDS_PER_BATCH = 16
REFUSED_BATCH_BYTES = RECORD_BYTES * RECORDS_PER_BATCH  # a lower bound of a batch's size


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test and unmounted afterwards, even on failure."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs for the full-disk test: {result.stderr.strip()}"
        tools.missing_component(reason, tools.TMPFS_HINT)
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


class Stream:
    """Produces batches of unique 1 KiB records with the raw client and remembers
    every acknowledged value with its offset."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.broker = broker
        self.acked: list[bytes] = []
        self.sequence = 0

    def next_batch(self) -> list[bytes]:
        values = []
        for _ in range(RECORDS_PER_BATCH):
            head = f"record-{self.sequence:07d}-".encode()
            values.append(head + bytes([65 + self.sequence % 26]) * (RECORD_BYTES - len(head)))
            self.sequence += 1
        return values

    def produce_once(self) -> int:
        """Send one batch; returns the partition error code (0 when stored)."""
        values = self.next_batch()
        with wire.RawConnection(self.broker.host, self.broker.port) as conn:
            response = conn.produce(3, TOPIC, [(0, wire.make_batch(values))], acks=-1)
        (partition,) = response.responses[0].partition_responses
        error = int(partition.error_code.value)
        if error == 0:
            assert int(partition.base_offset) == len(self.acked), "offsets jumped"
            self.acked.extend(values)
        return error

    def produce_until_full(self, max_batches: int = 2000) -> int:
        """Produce until the broker answers with an error; returns batches stored."""
        for stored in range(max_batches):
            error = self.produce_once()
            if error:
                assert error == KAFKA_STORAGE_ERROR, f"expected KAFKA_STORAGE_ERROR, got {error}"
                return stored
        raise AssertionError(f"the disk never filled after {max_batches} batches")

    def log_end(self) -> int:
        with wire.RawConnection(self.broker.host, self.broker.port) as conn:
            error, offset = wire.list_offset(conn, TOPIC, 0, wire.LATEST)
        assert error == 0
        return offset

    def stored_values(self) -> list[bytes]:
        with wire.RawConnection(self.broker.host, self.broker.port) as conn:
            data = wire.fetch_all(conn, TOPIC, 0, 0, self.log_end())
        return [v or b"" for _, v in wire.batch_values(data)]


def consume_all(broker: BrokerProcess, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        fetch_max_bytes=1 << 20,
    )
    values: list[bytes] = []
    try:
        partition = TopicPartition(TOPIC, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        deadline = time.monotonic() + 60
        while len(values) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
    finally:
        consumer.close()
    return values


def assert_ready(broker: BrokerProcess) -> None:
    with urllib.request.urlopen(f"{broker.http_url}/readyz", timeout=5) as response:
        assert response.status == 200


def test_a_full_disk_fails_produce_with_a_storage_error_and_produce_resumes_when_space_returns(
    small_disk: Path, start_broker: StartBroker
) -> None:
    broker = start_broker(data_dir=small_disk / "data")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    # Small segments so that rolls (new files, index writes) also meet the full disk.
    new = NewTopic(TOPIC, 1, 1, config={"segment.bytes": str(256 * 1024)})
    admin.create_topics([new])[TOPIC].result(timeout=30)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (1024 * 1024))
    stream = Stream(broker)

    # 1. Fill the disk: produce fails with KAFKA_STORAGE_ERROR.
    stored = stream.produce_until_full()
    assert stored > 10
    end_when_full = stream.log_end()
    assert end_when_full == len(stream.acked)
    for _ in range(5):
        assert stream.produce_once() == KAFKA_STORAGE_ERROR
    assert stream.log_end() == end_when_full, "a failed produce stored something"

    # ... a real client sees the storage error too (its record is larger than the batch
    # just refused, so it cannot fit in what is left whatever the file layout left) ...
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks=1, retries=0, enable_idempotence=False
    )
    try:
        # Larger than the batch the full disk just refused: whatever space is left
        # (it depends on how the other files fill their pages) cannot hold it.
        with pytest.raises(kafka.errors.KafkaStorageError):
            producer.send(TOPIC, b"x" * REFUSED_BATCH_BYTES * 2).get(timeout=30)
    finally:
        producer.close(timeout=5)

    # ... while the broker stays up, says why, counts it, and serves what it stored.
    assert_ready(broker)
    assert stream.stored_values() == stream.acked
    assert metric(scrape(broker), "tidewatch_broker_storage_errors_total") >= 6
    # (in the words of the write refused: an append or a segment roll, whichever filled it)
    assert "no space left on device" in broker.output().lower()
    assert "Traceback" not in broker.output()

    # 2. Space returns (the filler is deleted): produce resumes at the next offset.
    filler.unlink()
    assert stream.produce_once() == 0
    assert stream.log_end() == end_when_full + RECORDS_PER_BATCH
    stream.produce_until_full()

    # 3. Full again; the tmpfs grows: produce resumes.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    for _ in range(20):
        assert stream.produce_once() == 0

    # Nothing stored is damaged: a consumer reads every acknowledged record once, in order.
    assert consume_all(broker, len(stream.acked)) == stream.acked
    assert stream.stored_values() == stream.acked
    assert "Traceback" not in broker.output()
    assert not [line for line in broker.output().splitlines() if " ERROR " in line]

    # A crash and a restart (full recovery scan) change nothing either.
    broker.kill()
    for segment in sorted((broker.data_dir / f"{TOPIC}-0").glob("*.log")):
        scan_segment(segment)  # every batch whole, CRC valid, no stray bytes
    broker.start()
    assert metric(scrape(broker), "tidewatch_broker_recovery_truncated_bytes") == 0
    assert consume_all(broker, len(stream.acked)) == stream.acked
    assert stream.produce_once() == 0
    assert os.path.ismount(small_disk)


def test_a_broker_stopped_while_the_disk_is_full_loses_nothing_acknowledged(
    small_disk: Path, start_broker: StartBroker
) -> None:
    broker = start_broker(data_dir=small_disk / "data")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for name in (TOPIC, "neighbour"):
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    stream = Stream(broker)
    with wire.RawConnection(broker.host, broker.port) as conn:
        response = conn.produce(3, "neighbour", [(0, wire.make_batch([b"n1", b"n2"]))])
    assert int(response.responses[0].partition_responses[0].error_code.value) == 0
    stream.produce_until_full()
    fd = os.open(small_disk / "fill-the-rest", os.O_WRONLY | os.O_CREAT)
    try:  # leave no byte free at all
        for _ in range(10_000):
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)

    assert broker.stop() != 0, "a shutdown that could not persist everything reported success"
    output = broker.output()
    assert "Traceback" not in output
    assert f"cannot close {TOPIC}-0 cleanly: No space left on device" in output
    assert "the next start recovers by a full scan" in output
    assert not (broker.data_dir / ".clean_shutdown").exists()

    # It does not start on the disk still full: the metadata quorum must write its state
    # (a new term) to start, as KRaft must; it says so in one line ...
    with pytest.raises(ProcessStartError):
        broker.start()
    assert "No space left on device" in broker.output()
    assert "make room in the data directory" in broker.output()

    # ... and once space returns it serves everything acknowledged and takes writes.
    (small_disk / "fill-the-rest").unlink()
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    broker.start()
    assert stream.stored_values() == stream.acked
    with wire.RawConnection(broker.host, broker.port) as conn:
        fetched = wire.fetch(conn, "neighbour", 0, 0)
    assert [v for _, v in wire.batch_values(fetched.records)] == [b"n1", b"n2"]
    assert stream.produce_once() == 0
    assert stream.stored_values() == stream.acked
    assert "Traceback" not in broker.output()
