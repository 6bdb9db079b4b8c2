"""The local source scrapes a real aiohttp server exposing a prometheus_client registry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from slo.engine import Engine
from slo.sampling import Query, Sampler
from slo.sources.local import LocalSource
from slo.spec import load_text
from tests.slo.support import serving

SPEC = """
version: tidewatch/v1
service: broker
slos:
  - name: produce
    objective: 99
    sli:
      events: {bad: 'produce_requests_total{result="error"}', total: produce_requests_total}
  - name: latency
    objective: 90
    sli:
      latency: {histogram: produce_latency_seconds, threshold_seconds: 0.25}
"""


class Exporter:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "produce_requests", "Produce requests.", ["result"], registry=self.registry
        )
        self.latency = Histogram(
            "produce_latency_seconds", "Latency.", buckets=(0.1, 0.25, 1.0), registry=self.registry
        )
        self.up = True

    async def metrics(self, _: web.Request) -> web.Response:
        if not self.up:
            raise web.HTTPServiceUnavailable()
        return web.Response(body=generate_latest(self.registry), content_type="text/plain")


@pytest.fixture
async def exporter() -> AsyncIterator[tuple[Exporter, str]]:
    exp = Exporter()
    app = web.Application()
    app.router.add_get("/metrics", exp.metrics)
    async with serving(app) as url:
        yield exp, url + "/metrics"


async def test_scraped_counters_and_histogram_become_budget_and_burn_rates(
    exporter: tuple[Exporter, str],
) -> None:
    exp, url = exporter
    slos = load_text(SPEC, "broker.yaml")
    engine = Engine(slos, step_seconds=60)
    sampler = Sampler(slos, 60, use_promql=False)
    source = LocalSource([url])
    for minute in range(6):
        exp.requests.labels("ok").inc(99)
        exp.requests.labels("error").inc(1)
        for _ in range(3):
            exp.latency.observe(0.2)
        exp.latency.observe(0.5)
        values = await source.read(sampler.queries(), minute * 60)
        engine.record(minute * 60, *sampler.step(values))
    ev = engine.evaluate()
    five_minutes = list(ev.window_seconds[0]).index(300)
    assert ev.error_ratio[0, five_minutes] == pytest.approx(0.01)
    assert ev.burn_rate[0, five_minutes] == pytest.approx(1.0)
    assert ev.error_ratio[1, five_minutes] == pytest.approx(0.25)  # 1 in 4 above 250 ms
    assert ev.burn_rate[1, five_minutes] == pytest.approx(2.5)


async def test_an_unreachable_target_is_a_gap_not_good_events(
    exporter: tuple[Exporter, str],
) -> None:
    exp, url = exporter
    slos = load_text(SPEC, "broker.yaml")[:1]
    sampler = Sampler(slos, 60, use_promql=False)
    source = LocalSource([url])
    exp.requests.labels("ok").inc(10)
    exp.requests.labels("error").inc(0)
    await source.read(sampler.queries(), 0)
    exp.up = False
    values = await source.read(sampler.queries(), 60)
    assert set(values.values()) == {None}
    assert url in source.errors
    _, _, has = sampler.step(values)
    assert not has.any()


async def test_selectors_match_labels_and_bucket_bounds_numerically(
    exporter: tuple[Exporter, str],
) -> None:
    exp, url = exporter
    exp.latency.observe(0.05)
    exp.latency.observe(0.3)
    source = LocalSource([url])
    (slo,) = load_text(SPEC, "b.yaml")[1:]
    sampler = Sampler([slo], 60, use_promql=False)
    values = await source.read(sampler.queries(), 0)
    good, total = sampler.queries()
    assert isinstance(good, Query)
    assert values[good] == 1.0  # le="0.25" matches the exporter's "0.25"
    assert values[total] == 2.0
    assert np.isnan(sampler.prev_error).all()


async def test_a_healthy_exporter_without_error_series_is_measured_as_all_good(
    exporter: tuple[Exporter, str],
) -> None:
    # prometheus_client creates a labelled child on first use: no result="error" series
    # exists until the first error, as with the broker's error-code label.
    exp, url = exporter
    slos = load_text(SPEC, "broker.yaml")[:1]
    engine = Engine(slos, step_seconds=60)
    sampler = Sampler(slos, 60, use_promql=False)
    source = LocalSource([url])
    bad_q, _ = sampler.queries()
    for minute in range(6):
        exp.requests.labels("ok").inc(100)
        values = await source.read(sampler.queries(), minute * 60)
        assert values[bad_q] is None
        engine.record(minute * 60, *sampler.step(values))
    ev = engine.evaluate()
    five_minutes = list(ev.window_seconds[0]).index(300)
    assert ev.error_ratio[0, five_minutes] == 0.0
    assert ev.coverage[0, five_minutes] == 1.0
    assert ev.budget_remaining[0] == 1.0
    # The first errors are counted in full at the step their series appears.
    exp.requests.labels("ok").inc(96)
    exp.requests.labels("error").inc(4)
    values = await source.read(sampler.queries(), 360)
    engine.record(360, *sampler.step(values))
    ev = engine.evaluate()
    assert ev.errors[0, five_minutes] == 4.0
    assert ev.error_ratio[0, five_minutes] == pytest.approx(4 / 500)


async def test_a_failed_target_is_a_gap_for_the_metrics_it_exposed_not_a_partial_sum(
    exporter: tuple[Exporter, str],
) -> None:
    # Two targets summed by one SLO; only the second one has an error series. While it
    # is down the step is a gap (not zero errors over half the traffic, which would also
    # look like a counter reset), and its increase is counted once when it is back.
    healthy, healthy_url = exporter
    failing = Exporter()
    app = web.Application()
    app.router.add_get("/metrics", failing.metrics)
    slos = load_text(SPEC, "broker.yaml")[:1]
    sampler = Sampler(slos, 60, use_promql=False)
    async with serving(app) as base:
        source = LocalSource([healthy_url, base + "/metrics"])
        counted = []
        for minute in range(6):
            healthy.requests.labels("ok").inc(100)
            failing.requests.labels("ok").inc(90)
            failing.requests.labels("error").inc(10)
            failing.up = minute not in (2, 3)
            values = await source.read(sampler.queries(), minute * 60)
            errors, total, has = sampler.step(values)
            counted.append((float(errors[0]), float(total[0]), bool(has[0])))
    assert counted == [
        (0.0, 0.0, True),  # baseline
        (10.0, 200.0, True),
        (0.0, 0.0, False),
        (0.0, 0.0, False),
        (30.0, 600.0, True),  # the three minutes since the last reading
        (10.0, 200.0, True),
    ]
