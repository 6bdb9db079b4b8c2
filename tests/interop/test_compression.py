"""Compressed batches: every client family sends each of the four codecs, the broker
stores the batches as they came (codec bits set, far smaller than the records), and
the producer's own family as well as another family read the records back intact.

KAFKA_NOTES trap 6: librdkafka before 2.12 (Debian's kcat is 2.0.2) silently sends
gzip, snappy and lz4 uncompressed unless the broker advertises Produce v0. Found while
writing these tests: librdkafka (2.0.2 and confluent-kafka's 2.16.0 alike) also sends
LZ4 uncompressed unless FindCoordinator v0 is advertised ("Feature LZ4: FindCoordinator
(0..0) NOT supported by broker" with debug=feature). The stored codec bits are read
from the segment files, so a silent fallback fails here.
"""

from __future__ import annotations

import pytest

from contracts.launcher import BrokerProcess
from tests.interop.checks import CODEC_IDS, assert_same_records, stored_batches
from tests.interop.clients import FAMILIES
from tests.interop.messages import compressible_messages

pytestmark = pytest.mark.interop

CODECS = ("gzip", "snappy", "lz4", "zstd")
# Who else reads each family's compressed batches (decompression by another library).
OTHER_READER = {
    "kcat": "confluent-kafka",
    "confluent-kafka": "kafka-python",
    "kafka-python": "aiokafka",
    "aiokafka": "kcat",
}
CASES = [(producer, codec) for producer in FAMILIES for codec in CODECS]


@pytest.mark.parametrize(
    ("producer", "codec"),
    CASES,
    ids=[f"{producer} sends {codec}" for producer, codec in CASES],
)
def test_compressed_batches_are_stored_compressed_and_read_back_intact(
    shared_broker: BrokerProcess, producer: str, codec: str
) -> None:
    client = FAMILIES[producer]
    topic = f"compressed-{codec}-from-{producer}"
    messages = compressible_messages(
        f"{producer}/{codec}",
        timestamps=client.timestamps,
        varying_headers=client.per_message_headers,
    )
    client.produce(shared_broker.bootstrap, topic, messages, compression=codec)

    batches = stored_batches(shared_broker.data_dir, topic)
    assert batches, "nothing was stored"
    assert len(batches) < len(messages), "every record went in a batch of its own"
    assert [b.codec for b in batches] == [CODEC_IDS[codec]] * len(batches), (
        f"stored batches carry codecs {[b.codec for b in batches]}, expected {codec}"
    )
    assert sum(b.records_count for b in batches) == len(messages)
    raw_bytes = sum(len(m.value or b"") for m in messages)
    stored_bytes = sum(b.size for b in batches)
    assert stored_bytes < raw_bytes / 4, (
        f"{stored_bytes} bytes stored for {raw_bytes} bytes of values: not compressed"
    )

    for reader in (producer, OTHER_READER[producer]):
        consumed = FAMILIES[reader].consume(shared_broker.bootstrap, topic, len(messages))
        assert_same_records(consumed, messages)
