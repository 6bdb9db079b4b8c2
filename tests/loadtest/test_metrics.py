"""The load generator's metrics, as Prometheus scrapes them during a game day."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadtest.collector import Collector
from loadtest.frames import Frame
from loadtest.histogram import Histogram
from loadtest.metrics import LOAD_CATALOG, LoadMetricsCollector
from loadtest.schedule import ArrivalSchedule, Phase


def test_the_exposition_uses_catalog_names_and_cumulative_latency_buckets() -> None:
    c = Collector(ArrivalSchedule([Phase(10, 100, 100)]), 1.0, 1, {"g": 1})
    ack = Histogram()
    ack.record([2_000] * 90 + [700_000] * 10)  # 90 at 2 ms, 10 at 700 ms
    c.add(Frame("producer", 0, 0, sent=100, acked=99, failed=1, ack_latency=ack.sparse()))
    c.add(Frame("consumer", 0, 0, group="g", consumed=99, e2e_latency=ack.sparse()))
    c.complete()
    registry = CollectorRegistry()
    registry.register(LoadMetricsCollector(lambda: c, threading.Lock()))
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    assert {f.name for f in families} == {m.family for m in LOAD_CATALOG}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    assert samples[("tidewatch_load_produced_total", (("result", "acked"),))] == 99
    assert samples[("tidewatch_load_produced_total", (("result", "failed"),))] == 1
    bucket = "tidewatch_load_ack_latency_seconds_bucket"
    assert samples[(bucket, (("le", "0.5"),))] == 90
    assert samples[(bucket, (("le", "1.0"),))] == 100
    assert samples[(bucket, (("le", "+Inf"),))] == 100
    assert samples[("tidewatch_load_end_to_end_latency_seconds_count", (("group", "g"),))] == 100
    assert samples[("tidewatch_load_scheduled_total", ())] == 100
