"""Tracing: produce spans join the client's W3C trace; latency buckets carry exemplars.

The first tests run a broker process and read its JSON-lines spans; the unit tests
after them use opentelemetry-sdk's in-memory exporter, no sockets."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import broker.server.handlers.produce as produce_handler
import broker.tracing
from broker.app import BrokerApp
from broker.config import BrokerConfig
from broker.coordinator.coordinator import GroupCoordinator
from broker.coordinator.service import GroupService
from broker.metrics.stats import BrokerStats, RequestStats
from broker.protocol.header import RequestHeader
from broker.protocol.produce_codec import ProduceRequestData
from broker.records.batch import Compression
from broker.records.record import Record, build_batch
from broker.server.authorizer import AllowAll
from broker.server.context import BrokerServices, RequestContext
from broker.server.producer_ids import ProducerIdBlocks
from broker.tracing import (
    BrokerTracer,
    JsonLinesExporter,
    TracingConfig,
    build_tracer,
    trace_id_of,
    traceparent_of,
)
from contracts.clock import ManualClock
from contracts.fields import HostPort
from contracts.launcher import BrokerProcess
from tests.broker.cluster.replicas import open_replicas
from tests.broker.records.undecodable import undecodable_batch

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


# -- unit tests: the tracer with an in-memory exporter --------------------------------

TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN}-01".encode()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[BrokerTracer]:
    built = build_tracer(TracingConfig(enabled=True), exporter)
    assert built is not None
    yield built
    built.shutdown()


def finished(tracer: BrokerTracer, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Spans ended so far (the batch processor is flushed first)."""
    tracer.provider.force_flush()
    return list(exporter.get_finished_spans())


def batch_with(*headers: tuple[tuple[str, bytes | None], ...], codec: int = 0) -> bytes:
    """A batch of one record per entry of ``headers``."""
    return build_batch([Record(b"v", headers=h) for h in headers], compression=codec)


def produce_span(
    tracer: BrokerTracer, exporter: InMemorySpanExporter, records: bytes
) -> ReadableSpan:
    with tracer.produce_span("orders", 3, records):
        pass
    (span,) = finished(tracer, exporter)
    return span


def test_tracing_is_off_by_default_and_builds_no_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_provider(*args: object, **kwargs: object) -> TracerProvider:
        raise AssertionError("a tracer provider was built with tracing off")

    monkeypatch.setattr(broker.tracing, "TracerProvider", no_provider)
    assert BrokerConfig().tracing.enabled is False
    assert build_tracer(BrokerConfig().tracing) is None
    assert build_tracer(BrokerConfig().tracing, InMemorySpanExporter()) is None


def test_a_broker_with_the_default_configuration_has_no_tracer(tmp_path: Path) -> None:
    app = BrokerApp(BrokerConfig(data_dir=tmp_path), span_exporter=InMemorySpanExporter())
    assert app.tracer is None


def test_a_broker_tracer_never_becomes_the_global_tracer_provider(
    tracer: BrokerTracer,
) -> None:
    assert trace.get_tracer_provider() is not tracer.provider
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


def test_a_produce_span_joins_the_trace_of_the_first_record(
    tracer: BrokerTracer, exporter: InMemorySpanExporter
) -> None:
    span = produce_span(tracer, exporter, batch_with((("traceparent", TRACEPARENT),)))
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == PARENT_SPAN
    assert span.name == "produce orders"
    assert span.kind is trace.SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation": "publish",
        "messaging.destination.name": "orders",
        "messaging.kafka.destination.partition": 3,
        "tidewatch.joined_client_trace": True,
    }


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(batch_with(()), id="a record without headers"),
        pytest.param(batch_with((("other", b"x"),)), id="a record with other headers only"),
        pytest.param(
            batch_with((), (("traceparent", TRACEPARENT),)),
            id="a traceparent on the second record only",
        ),
    ],
)
def test_a_batch_without_a_traceparent_on_its_first_record_starts_a_new_trace(
    tracer: BrokerTracer, exporter: InMemorySpanExporter, records: bytes
) -> None:
    span = produce_span(tracer, exporter, records)
    assert span.parent is None
    assert span.context.is_valid
    assert f"{span.context.trace_id:032x}" != TRACE_ID
    assert (span.attributes or {})["tidewatch.joined_client_trace"] is False


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"garbage", id="not a traceparent at all"),
        pytest.param(b"00-" + b"0" * 32 + f"-{PARENT_SPAN}-01".encode(), id="an all-zero trace id"),
        pytest.param(f"00-{TRACE_ID}-".encode() + b"0" * 16 + b"-01", id="an all-zero span id"),
        pytest.param(f"ff-{TRACE_ID}-{PARENT_SPAN}-01".encode(), id="the forbidden version ff"),
        pytest.param(f"00-{TRACE_ID[:-2]}-{PARENT_SPAN}-01".encode(), id="a short trace id"),
        pytest.param(
            f"00-{TRACE_ID[:-1]}g-{PARENT_SPAN}-01".encode(), id="a trace id with a non-hex digit"
        ),
        pytest.param(f"00-{TRACE_ID}-{PARENT_SPAN}".encode(), id="no flags"),
        pytest.param(b"\xff\xfe\x00-" + TRACEPARENT, id="bytes that are not UTF-8"),
        pytest.param(TRACEPARENT * 500, id="a very long value"),
        pytest.param(b"", id="an empty value"),
        pytest.param(None, id="a null value"),
    ],
)
def test_a_malformed_traceparent_is_ignored_and_starts_a_new_trace(
    tracer: BrokerTracer, exporter: InMemorySpanExporter, value: bytes | None
) -> None:
    span = produce_span(tracer, exporter, batch_with((("traceparent", value),)))
    assert span.parent is None
    assert span.context.is_valid
    assert (span.attributes or {})["tidewatch.joined_client_trace"] is False


def _undecodable(codec: Compression) -> bytes:
    return undecodable_batch(codec, (("traceparent", TRACEPARENT),))


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param(
            batch_with((("traceparent", TRACEPARENT),)), TRACEPARENT.decode(), id="a plain batch"
        ),
        pytest.param(
            batch_with((("traceparent", TRACEPARENT),), codec=Compression.GZIP),
            TRACEPARENT.decode(),
            id="a gzip batch",
        ),
        pytest.param(
            batch_with((("traceparent", TRACEPARENT),), codec=Compression.ZSTD),
            TRACEPARENT.decode(),
            id="a zstd batch",
        ),
        pytest.param(b"", None, id="no bytes"),
        pytest.param(b"\x00" * 40, None, id="fewer bytes than a batch header"),
        pytest.param(
            batch_with((("traceparent", TRACEPARENT),))[:-3], None, id="a truncated batch"
        ),
        pytest.param(
            batch_with((("traceparent", TRACEPARENT),))[:-1] + b"?",
            None,
            id="a batch with a bad CRC",
        ),
        *(
            pytest.param(
                _undecodable(codec),
                None,
                id=f"a {codec.name.lower()} batch that cannot be decompressed",
            )
            for codec in (Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD)
        ),
    ],
)
def test_the_traceparent_of_a_batch_is_read_from_its_first_record_or_is_none(
    records: bytes, expected: str | None
) -> None:
    assert traceparent_of(records) == expected


def test_an_undecodable_batch_still_gets_a_produce_span(
    tracer: BrokerTracer, exporter: InMemorySpanExporter
) -> None:
    span = produce_span(tracer, exporter, _undecodable(Compression.GZIP))
    assert span.parent is None


def test_a_fetch_span_lasts_until_the_caller_ends_it(
    tracer: BrokerTracer, exporter: InMemorySpanExporter
) -> None:
    span = tracer.start_fetch_span(["orders", "payments"])
    assert finished(tracer, exporter) == []  # a long poll is still waiting
    span.end()
    (done,) = finished(tracer, exporter)
    assert done.name == "fetch"
    assert done.kind is trace.SpanKind.SERVER
    assert done.parent is None
    assert (done.attributes or {})["messaging.destination.names"] == ("orders", "payments")


def test_the_trace_id_of_a_span_is_32_hex_digits_or_none_for_an_invalid_span(
    tracer: BrokerTracer,
) -> None:
    with tracer.produce_span("orders", 0, batch_with((("traceparent", TRACEPARENT),))) as span:
        assert trace_id_of(span) == TRACE_ID
    assert trace_id_of(trace.INVALID_SPAN) is None


def test_a_traced_request_becomes_the_exemplar_of_its_latency_bucket(
    tracer: BrokerTracer,
) -> None:
    stats = RequestStats()
    with tracer.produce_span("orders", 0, batch_with((("traceparent", TRACEPARENT),))) as span:
        stats.record("none", 0.0001, 0.003, trace_id_of(span))
    with tracer.produce_span("orders", 0, batch_with(())) as later:
        stats.record("none", 0.0001, 0.003, trace_id_of(later))  # same bucket: replaces it
    stats.record("none", 0.0001, 0.003)  # untraced: leaves the exemplar alone
    with tracer.produce_span("orders", 0, batch_with(())) as slow:
        stats.record("none", 0.0001, 2.0, trace_id_of(slow))  # another bucket
    exemplars = {
        entry[0]: entry[2].labels["trace_id"]
        for entry in stats.duration.cumulative()
        if len(entry) == 3
    }
    assert exemplars == {"0.005": trace_id_of(later), "2.5": trace_id_of(slow)}


def test_requests_without_a_trace_cost_no_exemplar_storage() -> None:
    stats = RequestStats()
    for _ in range(100):
        stats.record("none", 0.0001, 0.003)
    assert stats.duration.exemplars is None
    assert all(len(entry) == 2 for entry in stats.duration.cumulative())


def test_the_json_lines_exporter_writes_one_object_per_span(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spans.jsonl"
    built = build_tracer(TracingConfig(enabled=True), JsonLinesExporter(path))
    assert built is not None
    with built.produce_span("orders", 1, batch_with((("traceparent", TRACEPARENT),))):
        pass
    built.start_fetch_span(["orders"]).end()
    built.shutdown()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["produce orders", "fetch"]
    assert (lines[0]["trace_id"], lines[0]["parent_span_id"]) == (TRACE_ID, PARENT_SPAN)
    assert lines[1]["parent_span_id"] is None
    assert lines[0]["attributes"]["messaging.kafka.destination.partition"] == 1
    assert lines[0]["kind"] == "SERVER"
    assert lines[0]["end_ns"] >= lines[0]["start_ns"]


@pytest.mark.parametrize(
    ("exporter_name", "expected"),
    [
        pytest.param("jsonl", JsonLinesExporter, id="jsonl writes a file"),
        pytest.param("console", ConsoleSpanExporter, id="console prints"),
    ],
)
def test_the_configured_exporter_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exporter_name: str, expected: type
) -> None:
    built_with: list[SpanExporter] = []
    monkeypatch.setattr(
        broker.tracing, "BatchSpanProcessor", lambda exporter, **_: built_with.append(exporter)
    )
    monkeypatch.setattr(TracerProvider, "add_span_processor", lambda self, processor: None)
    config = TracingConfig(enabled=True, exporter=exporter_name, path=tmp_path / "s.jsonl")
    assert build_tracer(config) is not None
    assert [type(e) for e in built_with] == [expected]


def test_the_otlp_exporter_without_its_package_is_refused_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ValueError, match="pip install opentelemetry-exporter-otlp-proto-http"):
        build_tracer(TracingConfig(enabled=True, exporter="otlp"))


# -- the produce handler with tracing on ----------------------------------------------


@pytest.fixture
def traced_services(tmp_path: Path, tracer: BrokerTracer) -> Iterator[BrokerServices]:
    clock = ManualClock()
    with open_replicas(tmp_path / "data", clock) as replicas:
        replicas.create_topic("orders", 1)
        yield BrokerServices(
            config=BrokerConfig(data_dir=tmp_path / "data"),
            replicas=replicas,
            clock=clock,
            stats=BrokerStats(),
            authorizer=AllowAll(),
            cluster_id="test",
            advertised=HostPort("127.0.0.1", 9092),
            groups=GroupService(GroupCoordinator(), replicas, clock, partition_count=1),
            tracer=tracer,
            cluster=replicas.metadata,
            producer_ids=ProducerIdBlocks(replicas.metadata, 0),
        )


def _produce(services: BrokerServices, records: bytes) -> RequestContext:
    ctx = RequestContext(RequestHeader(0, 9, 1, "test", 0), "User:test", "127.0.0.1:1")
    request = ProduceRequestData(None, 1, 1_000, [("orders", [(0, memoryview(records))])])
    produce_handler.handle(services, ctx, request)
    return ctx


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(batch_with((("traceparent", TRACEPARENT),)), id="a traced batch"),
        pytest.param(batch_with(()), id="an untraced batch"),
        pytest.param(
            _undecodable(Compression.LZ4), id="a compressed batch the broker cannot decode"
        ),
    ],
)
def test_a_traced_produce_stores_the_batch_and_hands_its_trace_id_to_the_metrics(
    traced_services: BrokerServices,
    tracer: BrokerTracer,
    exporter: InMemorySpanExporter,
    records: bytes,
) -> None:
    ctx = _produce(traced_services, records)
    assert ctx.error == "none"
    partition = traced_services.replicas.get("orders", 0)
    assert partition is not None
    assert partition.log_end_offset == 1
    (span,) = finished(tracer, exporter)
    assert ctx.trace_id == f"{span.context.trace_id:032x}"
    assert (span.attributes or {})["messaging.kafka.offset"] == 0
    assert (span.attributes or {})["messaging.batch.message_count"] == 1
