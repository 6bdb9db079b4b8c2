"""OpenTelemetry spans for produce and fetch handling. Off by default, free when off.

With ``tracing: {enabled: true}`` the broker opens a span per produced partition batch
and per fetch request. When a produced batch's first record carries a W3C
``traceparent`` header, the produce span joins that trace (its parent is the client's
span), so a trace started in a producer continues through the broker. Spans go to an
exporter chosen in the config:

- ``jsonl``: one JSON object per finished span appended to ``tracing.path`` (no
  collector needed; handy on one machine and in tests);
- ``otlp``: OTLP over HTTP to ``tracing.endpoint`` (needs the
  ``opentelemetry-exporter-otlp-proto-http`` package);
- ``console``: printed to stdout.

Latency histograms carry the trace id of the latest traced request per bucket as an
exemplar, visible when /metrics is scraped in the OpenMetrics format.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from broker.records.batch import CorruptBatchError
from broker.records.record import decode_batch

__all__ = [
    "BrokerTracer",
    "JsonLinesExporter",
    "TracingConfig",
    "build_tracer",
    "trace_id_of",
    "traceparent_of",
]

log = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class TracingConfig:
    enabled: bool = False
    exporter: str = "jsonl"
    path: Path = Path("tidewatch-traces.jsonl")
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "tidewatch-broker"


class JsonLinesExporter(SpanExporter):
    """Appends finished spans as JSON lines; thread-safe."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
                        "span_id": f"{ctx.span_id:016x}" if ctx else None,
                        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
                        "kind": span.kind.name,
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                        "attributes": dict(span.attributes or {}),
                        "status": span.status.status_code.name,
                    },
                    sort_keys=True,
                    default=str,
                )
            )
        with self._lock, open(self._path, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS


def trace_id_of(span: trace.Span) -> str | None:
    ctx = span.get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def traceparent_of(records: bytes | memoryview) -> str | None:
    """The ``traceparent`` header of the first record of a batch, if any."""
    try:
        decoded = decode_batch(records)
    except (CorruptBatchError, ValueError):
        return None
    if not decoded:
        return None
    for name, value in decoded[0].headers:
        if name == "traceparent" and value:
            return value.decode(errors="replace")
    return None


class BrokerTracer:
    """Creates broker spans; construct only when tracing is on (handlers check None)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("tidewatch.broker")

    @contextmanager
    def produce_span(
        self, topic: str, partition: int, records: bytes | memoryview
    ) -> Iterator[Any]:
        parent = None
        joined = False
        traceparent = traceparent_of(records)
        if traceparent is not None:
            parent = _PROPAGATOR.extract({"traceparent": traceparent})
            # A malformed header extracts to no span: the span then starts a new trace
            # and must not claim to have joined the client's.
            joined = trace.get_current_span(parent).get_span_context().is_valid
        with self._tracer.start_as_current_span(
            f"produce {topic}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation": "publish",
                "messaging.destination.name": topic,
                "messaging.kafka.destination.partition": partition,
                "tidewatch.joined_client_trace": joined,
            },
        ) as span:
            yield span

    def start_fetch_span(self, topics: Sequence[str]) -> trace.Span:
        """A span for one fetch request; the caller ends it when the response is ready
        (a long poll spans the wait)."""
        return self._tracer.start_span(
            "fetch",
            kind=trace.SpanKind.SERVER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation": "receive",
                "messaging.destination.names": list(topics),
            },
        )

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_tracer(
    config: TracingConfig, exporter: SpanExporter | None = None
) -> BrokerTracer | None:
    """A tracer for ``config`` (None when tracing is off). ``exporter`` overrides the
    configured one (tests pass an in-memory exporter)."""
    if not config.enabled:
        return None
    if exporter is None:
        exporter = _exporter(config)
    provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    return BrokerTracer(provider)


def _exporter(config: TracingConfig) -> SpanExporter:
    if config.exporter == "console":
        return ConsoleSpanExporter()
    if config.exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as exc:
            raise ValueError(
                "tracing.exporter otlp needs the opentelemetry-exporter-otlp-proto-http "
                "package: pip install opentelemetry-exporter-otlp-proto-http"
            ) from exc
        exporter: SpanExporter = OTLPSpanExporter(endpoint=config.endpoint)
        return exporter
    return JsonLinesExporter(config.path)
