"""At least 100,000 mutated requests, processed by a real broker: it stays up, logs no
unexpected exception, and stored data is unchanged.

How "unchanged" is asserted: every seed names only ``fuzz-target`` (or a topic that
does not exist), auto-creation is off, and the checked topic ``pristine`` is written
before the attack. A mutant that happens to be a genuinely valid produce may append to
``fuzz-target`` (and a mutant CreateTopics may create a topic): that is correct
behaviour. So afterwards: ``pristine``'s segment files are byte-identical and a consumer
reads exactly what was produced; every batch stored anywhere passes an independent
CRC-32C scan with contiguous offsets; and after a SIGKILL the recovery scan finds
nothing to truncate.
"""

from __future__ import annotations

import struct
import time
import urllib.request
from pathlib import Path
from typing import Any

import uvloop
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.protocol.apis import SUPPORTED
from broker.storage.manager import METADATA_LOG_DIR
from contracts.launcher import BrokerProcess
from tests.broker.robustness import fuzz, wire
from tests.broker.robustness.clients import KafkaConsumer, TopicPartition
from tests.broker.robustness.conftest import StartBroker
from tests.broker.robustness.support import log_digests, metric, scan_segment, scrape

PROCESSED_TARGET = 100_000
MAX_REQUEST_BYTES = 1 << 20
PRISTINE = "pristine"
TARGET = "fuzz-target"
PRISTINE_RECORDS = 3000
RNG_SEED = 20240611


def create_topics(broker: BrokerProcess, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result(timeout=30)


def ensure_topic(broker: BrokerProcess, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    try:
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def produce_values(broker: BrokerProcess, topic: str, values: list[bytes]) -> None:
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    for value in values:
        producer.produce(
            topic, value=value, on_delivery=lambda err, _: errors.append(str(err)) if err else None
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []


def consume_values(broker: BrokerProcess, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
    )
    values: list[bytes] = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        deadline = time.monotonic() + 30
        while len(values) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
    finally:
        consumer.close()
    return values


def topic_id(broker: BrokerProcess, topic: str) -> Any:
    (m12,) = fuzz._kio("metadata.v12.request", "MetadataRequest")
    with wire.RawConnection(broker.host, broker.port) as conn:
        response = conn.call(
            m12(
                topics=None,
                allow_auto_topic_creation=False,
                include_topic_authorized_operations=False,
            )
        )
    return next(t.topic_id for t in response.topics if t.name == topic)


def processed(text: str) -> float:
    return metric(text, "tidewatch_broker_requests_total") + metric(
        text, "tidewatch_broker_malformed_requests_total"
    )


def assert_partition_directory_is_intact(directory: Path) -> int:
    """Every batch of every segment valid, offsets contiguous across segments; returns
    the number of batches."""
    expected_next = None
    count = 0
    for segment in sorted(directory.glob("*.log")):
        base = int(segment.stem)
        batches = scan_segment(segment)
        if batches:
            assert batches[0].base_offset == base, f"{segment}: first batch is not at {base}"
        for batch in batches:
            if expected_next is not None:
                assert batch.base_offset == expected_next, f"{segment}: gap or overlap at {batch}"
            expected_next = batch.last_offset + 1
            count += 1
    return count


def test_the_broker_survives_100k_mutated_requests_and_stored_data_is_unchanged(
    start_broker: StartBroker,
) -> None:
    broker = start_broker(
        config={"max_request_bytes": MAX_REQUEST_BYTES, "auto_create_topics": False}
    )
    create_topics(broker, PRISTINE, TARGET)
    values = [f"pristine-{i:05d}".encode() * 3 for i in range(PRISTINE_RECORDS)]
    produce_values(broker, PRISTINE, values)
    pristine_dir = broker.data_dir / f"{PRISTINE}-0"
    digests_before = log_digests(pristine_dir)
    assert digests_before, "nothing stored for the checked topic"

    seeds = fuzz.seed_payloads(TARGET, topic_id(broker, TARGET), absent_topic="fuzz-gone")
    with wire.RawConnection(broker.host, broker.port) as conn:
        for seed in seeds:  # every seed is a valid request the broker answers
            conn.send(wire.frame(seed))
            assert conn.read_frame() is not None
    assert all(PRISTINE.encode() not in seed for seed in seeds)

    mutator = fuzz.Mutator(seeds, __import__("random").Random(RNG_SEED), MAX_REQUEST_BYTES)
    before = processed(scrape(broker))
    started = time.monotonic()
    sent = connections = 0
    done = 0.0
    for _ in range(40):  # rounds; each sends a fresh batch of mutants
        # A mutant may legitimately delete the target (a DeleteTopics spliced with its
        # name); bring it back so later rounds still reach produce and fetch paths.
        ensure_topic(broker, TARGET)
        stats = uvloop.run(
            fuzz.run_fuzz(broker.host, broker.port, mutator, frames=60_000, deadline_s=60)
        )
        sent += stats.frames_sent
        connections += stats.connections
        assert stats.connect_errors == 0, "the broker stopped accepting connections"
        done = processed(scrape(broker)) - before
        if done >= PROCESSED_TARGET:  # a count, however long it takes: no throughput floor
            break
    elapsed = time.monotonic() - started
    print(
        f"fuzz: {done:.0f} mutated requests processed by the broker "
        f"({sent} sent over {connections} connections) in {elapsed:.1f}s, "
        f"{done / elapsed:.0f} requests/s; mutations {sorted(mutator.counts.items())}"
    )
    assert done >= PROCESSED_TARGET

    # The broker is up and serves everyone.
    with urllib.request.urlopen(f"{broker.http_url}/readyz", timeout=5) as response:
        assert response.status == 200
    with wire.RawConnection(broker.host, broker.port) as conn:
        assert conn.call(wire.api_versions_v3()).error_code.value == 0
    create_topics(broker, "after-the-fuzz")
    produce_values(broker, "after-the-fuzz", [b"still", b"serving"])
    assert consume_values(broker, "after-the-fuzz", 2) == [b"still", b"serving"]

    # No unexpected exception: rejections are WARNING lines, never a traceback or ERROR.
    output = broker.output()
    assert "Traceback" not in output
    assert not [line for line in output.splitlines() if " ERROR " in line or " CRITICAL " in line]

    # Stored data: the checked topic is byte-identical and reads back exactly.
    assert log_digests(pristine_dir) == digests_before
    assert consume_values(broker, PRISTINE, PRISTINE_RECORDS) == values

    # Everything stored anywhere is valid; a crash-restart recovers without truncating.
    broker.kill()
    logs = [
        d
        for d in broker.data_dir.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.name != METADATA_LOG_DIR
    ]
    logs += list((broker.data_dir / ".coordinator").glob("offsets-*"))
    batches = {d.name: assert_partition_directory_is_intact(d) for d in logs}
    assert batches[f"{PRISTINE}-0"] > 0
    broker.start()
    text = scrape(broker)
    assert metric(text, "tidewatch_broker_recovery_truncated_bytes") == 0
    assert log_digests(pristine_dir) == digests_before
    assert consume_values(broker, PRISTINE, PRISTINE_RECORDS) == values
    assert metric(text, "tidewatch_partition_log_end_offset", topic=PRISTINE) == PRISTINE_RECORDS


def test_the_fuzzer_seeds_cover_several_apis_and_every_mutation_kind() -> None:
    import random
    import uuid

    seeds = fuzz.seed_payloads(TARGET, uuid.uuid4(), absent_topic="fuzz-gone")
    api_keys = {struct.unpack_from(">h", seed)[0] for seed in seeds}
    assert api_keys == set(SUPPORTED), "every advertised API has a seed"
    mutator = fuzz.Mutator(seeds, random.Random(1), MAX_REQUEST_BYTES)
    mutants = [mutator.body()[1] for _ in range(2000)]
    mutants += [mutator.frame_attack()[1] for _ in range(200)]
    assert sum(m not in seeds for m in mutants) > 0.95 * len(mutants)
    assert set(mutator.counts) == {
        "bit_flips",
        "interesting_bytes",
        "length_field",
        "varint",
        "insert",
        "delete",
        "truncate",
        "splice",
        "duplicate",
        "retarget",
        "size_prefix",
        "size_too_large",
        "size_too_small",
        "cut_mid_frame",
        "random_bytes",
    }
