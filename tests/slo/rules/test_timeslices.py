"""Time-slice SLIs (a lag gauge) in promtool and in the engine, worked out by hand.

Lag is good while max(lag) <= 30 s; objective 99.5% over 30d (budget 0.005, threshold
14.4x = 0.072; the 6x pair needs 0.03 over 6h, out of reach here). Samples every
minute; avg_over_time over a window W counts the W/1m + 1 samples in [t - W, t], and
so does the engine for time slices. The lag breaches from minute 600
on: the 5m window (6 samples) passes 0.072 with 1 bad sample, the 1h window (61 samples)
needs 5 (5/61 = 0.082; 4/61 = 0.066): page at minute 604.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slo.engine import Engine
from slo.sampling import Sampler
from slo.spec import load_text
from tests.slo.support import (
    alert_test,
    needs_promtool,
    promtool_test_file,
    run_promtool_test,
    series_notation,
)

SPEC = """
version: tidewatch/v1
service: kafka
slos:
  - name: lag
    objective: 99.5
    window: 30d
    sli:
      gauge: {query: 'lag_seconds{group="orders"}', aggregate: max, op: "<=", threshold: 30}
    alerting: {name: KafkaLagBurnRate, no_data: false}
"""
BREACH_FROM = 600
MINUTES = 700


def _lag(minute: int) -> list[float]:
    """Two partitions; the second one lags from BREACH_FROM on."""
    return [5.0, 45.0 if minute >= BREACH_FROM else 10.0]


def _engine_decisions() -> list[tuple[bool, bool]]:
    (slo,) = load_text(SPEC, "lag.yaml")
    engine = Engine([slo], step_seconds=60)
    sampler = Sampler([slo], 60, use_promql=False)
    (query,) = sampler.queries()
    decisions = []
    for minute in range(MINUTES):
        engine.record(minute * 60, *sampler.step({query: max(_lag(minute))}))
        ev = engine.evaluate()
        decisions.append((bool(ev.page[0]), bool(ev.ticket[0])))
    return decisions


def test_engine_pages_when_the_fifth_bad_slice_enters_the_hour() -> None:
    pages = [page for page, _ in _engine_decisions()]
    assert pages.index(True) == BREACH_FROM + 4
    assert not any(pages[: BREACH_FROM + 4])


@needs_promtool
def test_generated_slice_rules_page_at_the_same_minute(tmp_path: Path) -> None:
    (slo,) = load_text(SPEC, "lag.yaml")
    values = np.array([_lag(m) for m in range(MINUTES)])
    series = [
        {
            "series": f'lag_seconds{{group="orders",partition="{p}"}}',
            "values": series_notation(list(values[:, p])),
        }
        for p in (0, 1)
    ]
    # Ten hours of history is less than the ticket windows (1d, 3d), whose ratios are then
    # inflated in Prometheus as in the engine: the ticket is taken from the engine.
    decisions = _engine_decisions()
    minutes = (BREACH_FROM - 1, BREACH_FROM + 3, BREACH_FROM + 4, BREACH_FROM + 30)
    tests = [alert_test(slo, m, *decisions[m]) for m in minutes]
    assert [decisions[m][0] for m in minutes] == [False, False, True, True]
    run_promtool_test(
        tmp_path,
        [slo],
        promtool_test_file(slo, [{"input_series": series, "alert_rule_test": tests}]),
    )
