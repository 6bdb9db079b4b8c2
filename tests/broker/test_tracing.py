"""Tracing: produce spans join the client's W3C trace; latency buckets carry exemplars."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from contracts.launcher import BrokerProcess

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def traced_broker(tmp_path: Path) -> Iterator[tuple[BrokerProcess, Path]]:
    spans = tmp_path / "spans.jsonl"
    config = tmp_path / "broker.yaml"
    config.write_text(f"tracing: {{enabled: true, exporter: jsonl, path: {spans}}}\n")
    process = BrokerProcess(tmp_path / "data", "--config", str(config)).start()
    try:
        yield process, spans
    finally:
        process.stop()


def _spans(path: Path, deadline_s: float = 10.0) -> list[dict[str, object]]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line]
            if any(s["name"] == "fetch" for s in lines) and any(
                str(s["name"]).startswith("produce") for s in lines
            ):
                return lines
        time.sleep(0.2)
    raise AssertionError(f"no produce and fetch spans in {path} after {deadline_s}s")


def test_a_produce_span_joins_the_trace_of_the_record_traceparent(
    traced_broker: tuple[BrokerProcess, Path],
) -> None:
    broker, spans_path = traced_broker
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN}-01".encode()
    producer.send("traced", b"payload", headers=[("traceparent", traceparent)]).get(timeout=10)
    producer.send("traced", b"untraced").get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=3000)
    consumer.assign([TopicPartition("traced", 0)])
    consumer.seek_to_beginning()
    assert len(list(consumer)) == 2
    consumer.close()

    spans = _spans(spans_path)
    produce = [s for s in spans if s["name"] == "produce traced"]
    joined = [s for s in produce if s["trace_id"] == TRACE_ID]
    assert len(joined) == 1
    assert joined[0]["parent_span_id"] == PARENT_SPAN
    assert joined[0]["attributes"]["messaging.destination.name"] == "traced"  # type: ignore[index]
    assert joined[0]["attributes"]["tidewatch.joined_client_trace"] is True  # type: ignore[index]
    others = [s for s in produce if s["trace_id"] != TRACE_ID]
    assert others
    assert all(s["parent_span_id"] is None for s in others)

    request = urllib.request.Request(
        f"{broker.http_url}/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    produce_buckets = [
        line
        for line in text.splitlines()
        if line.startswith("tidewatch_broker_request_duration_seconds_bucket")
        and 'api="produce"' in line
    ]
    # Each bucket keeps its latest traced request, so the exemplar may be either trace.
    assert any('# {trace_id="' in line for line in produce_buckets)


def test_tracing_is_off_by_default_and_the_classic_exposition_has_no_exemplars(
    broker: BrokerProcess,
) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(
        "plain", b"x", headers=[("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN}-01".encode())]
    ).get(timeout=10)
    producer.close()
    with urllib.request.urlopen(f"{broker.http_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "trace_id" not in text
    assert 'tidewatch_broker_requests_total{api="produce"' in text.replace(
        'broker="0",cluster="local",', ""
    )
