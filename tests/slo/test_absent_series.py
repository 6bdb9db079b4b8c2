"""A bad (or good) selector that matches no series while the total has data.

A counter labelled by error code has no series until the first error: on a healthy
system the bad side of the SLI matches nothing. That is zero bad events, not a gap; only
a missing total is a gap. These tests drive the sampler and engine with the values a
source answers (``None`` = no series matched).
"""

from __future__ import annotations

import numpy as np
import pytest

from slo.engine import Engine
from slo.model import SLO
from slo.sampling import Query, Sampler
from slo.spec import load_text

SPEC = """
version: tidewatch/v1
service: svc
slos:
  - name: bad-events
    objective: 99.9
    sli:
      events: {bad: 'requests_total{error!="none"}', total: requests_total}
  - name: good-events
    objective: 99.9
    sli:
      events: {good: 'requests_total{error="none"}', total: requests_total}
  - name: probe
    objective: 99.9
    sli:
      probe: {success: probe_verified_total, total: probe_acked_total}
  - name: latency
    objective: 99
    sli:
      latency: {histogram: latency_seconds, threshold_seconds: 0.25}
"""

SLOTH_SPEC = """
version: prometheus/v1
service: svc
slos:
  - name: sloth
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(requests_total{error!="none"}[{{.window}}]))
        total_query: sum(rate(requests_total[{{.window}}]))
    alerting: {name: SlothBurn, page_alert: {disable: true}, ticket_alert: {disable: true}}
"""


def _slo(name: str) -> SLO:
    return next(s for s in load_text(SPEC, "svc.yaml") if s.name == name)


def _step(sampler: Sampler, side: float | None, total: float | None) -> tuple[float, float, bool]:
    side_q, total_q = sampler.queries()
    errors, events, has = sampler.step({side_q: side, total_q: total})
    return float(errors[0]), float(events[0]), bool(has[0])


def test_a_bad_selector_without_series_counts_zero_bad_events_while_the_total_has_data() -> None:
    sampler = Sampler([_slo("bad-events")], 60, use_promql=False)
    assert _step(sampler, None, 1000.0) == (0.0, 0.0, True)  # first reading: a baseline
    assert _step(sampler, None, 2000.0) == (0.0, 1000.0, True)
    assert _step(sampler, None, 3000.0) == (0.0, 1000.0, True)


def test_the_first_errors_count_when_the_bad_series_appears() -> None:
    # The series is created by the first error and read at its first value: those errors
    # happened since the last step (the counter started at zero).
    sampler = Sampler([_slo("bad-events")], 60, use_promql=False)
    _step(sampler, None, 1000.0)
    assert _step(sampler, 7.0, 2000.0) == (7.0, 1000.0, True)
    assert _step(sampler, 9.0, 3000.0) == (2.0, 1000.0, True)


def test_no_total_stays_a_gap_whatever_the_bad_side_says() -> None:
    sampler = Sampler([_slo("bad-events")], 60, use_promql=False)
    _step(sampler, None, 1000.0)
    assert _step(sampler, None, None) == (0.0, 0.0, False)
    assert _step(sampler, 5.0, None) == (0.0, 0.0, False)
    # Back with data: the increase across the gap is counted then.
    assert _step(sampler, 5.0, 4000.0) == (5.0, 3000.0, True)


@pytest.mark.parametrize("name", ["good-events", "probe"], ids=["for_good_events", "for_probes"])
def test_a_good_selector_without_series_makes_every_event_bad(name: str) -> None:
    # No good series while events happen: none of them was good. (On a healthy system
    # the good series exist; this is a service failing everything, or a wrong selector,
    # which should be loud rather than a silent gap.)
    sampler = Sampler([_slo(name)], 60, use_promql=False)
    _step(sampler, None, 100.0)
    assert _step(sampler, None, 250.0) == (150.0, 150.0, True)
    assert _step(sampler, 40.0, 300.0) == (10.0, 50.0, True)


def test_a_latency_bucket_missing_while_count_exists_stays_a_gap() -> None:
    # Buckets exist whenever _count does: a missing le="0.25" bucket means the threshold
    # is not a bucket bound (a configuration error), not that every request was slow.
    sampler = Sampler([_slo("latency")], 60, use_promql=False)
    assert _step(sampler, None, 100.0) == (0.0, 0.0, False)
    assert _step(sampler, None, 200.0) == (0.0, 0.0, False)


def test_sloth_event_rates_from_prometheus_count_an_empty_error_query_as_zero() -> None:
    (slo,) = load_text(SLOTH_SPEC, "sloth.yaml")
    sampler = Sampler([slo], 60, use_promql=True)
    error_q, total_q = sampler.queries()
    assert error_q.kind == "promql" and "error" in error_q.text
    assert _step(sampler, None, 10.0) == (0.0, 600.0, True)
    assert _step(sampler, None, None) == (0.0, 0.0, False)


def test_sloth_simple_queries_read_locally_count_absent_bad_series_as_zero() -> None:
    (slo,) = load_text(SLOTH_SPEC, "sloth.yaml")
    sampler = Sampler([slo], 60, use_promql=False)
    assert all(q.kind == "sum" for q in sampler.queries())
    _step(sampler, None, 100.0)
    assert _step(sampler, None, 300.0) == (0.0, 200.0, True)


def test_a_healthy_system_without_error_series_has_full_budget_and_no_gap() -> None:
    slo = _slo("bad-events")
    engine = Engine([slo], step_seconds=60)
    sampler = Sampler([slo], 60, use_promql=False)
    bad_q, total_q = sampler.queries()
    for minute in range(30):
        values: dict[Query, float | None] = {bad_q: None, total_q: 1000.0 * minute}
        engine.record(minute * 60, *sampler.step(values))
    ev = engine.evaluate()
    five = list(ev.window_seconds[0]).index(300)
    assert ev.error_ratio[0, five] == 0.0
    assert ev.coverage[0, five] == 1.0
    assert ev.budget_remaining[0] == 1.0
    assert not ev.no_data[0] and not ev.page[0] and not ev.ticket[0]
    # Then errors start, the series appearing with them: 5% errors page.
    errors = 0.0
    for minute in range(30, 45):
        errors += 50.0
        values = {bad_q: errors, total_q: 1000.0 * minute}
        engine.record(minute * 60, *sampler.step(values))
    ev = engine.evaluate()
    assert ev.error_ratio[0, five] == pytest.approx(0.05)
    assert ev.page[0]
    assert np.isfinite(ev.budget_remaining[0]) and ev.budget_remaining[0] < 0
