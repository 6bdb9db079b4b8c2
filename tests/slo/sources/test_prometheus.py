"""The Prometheus source against a real Prometheus holding backfilled history.

The same series are written as OpenMetrics, backfilled into Prometheus with ``promtool
tsdb create-blocks-from openmetrics``, and replayed from the file: evaluating through
Prometheus's HTTP API (window sums by PromQL, and range queries for a backtest) must
give the decisions and incidents the recorded-file path gives.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from contracts.launcher import free_port
from slo.backtest import replay
from slo.engine import Engine
from slo.sampling import Sampler
from slo.sources.prometheus import PrometheusError, PrometheusEvaluator, PrometheusSource
from slo.sources.recorded import RecordedHistory
from tests.slo.support import PROMTOOL, api_slo
from tests.support import tools

PROMETHEUS = tools.find_tool(tools.PROMETHEUS)
pytestmark = tools.requires(tools.PROMETHEUS, tools.PROMTOOL)
STEP = 60
MINUTES = 18 * 60


def _openmetrics(start: int) -> str:
    errors = requests = 0
    e_rows, r_rows = [], []
    for minute in range(MINUTES):
        e_rows.append(f'errors_total{{job="api"}} {errors} {start + minute * STEP}')
        r_rows.append(f'requests_total{{job="api"}} {requests} {start + minute * STEP}')
        # Both counters start at 0, as in a fresh process: rate() then does not extrapolate
        # before the first sample when a window is longer than the history.
        requests += 1000
        errors += 200 if 600 <= minute < 660 else (1 if minute % 7 == 3 else 0)
    return "\n".join(
        ["# TYPE errors counter", *e_rows, "# TYPE requests counter", *r_rows, "# EOF", ""]
    )


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[tuple[str, str, int]]:
    assert PROMETHEUS is not None
    assert PROMTOOL is not None
    start = (int(time.time()) - MINUTES * STEP - 3600) // 3600 * 3600
    text = _openmetrics(start)
    source = tmp_path / "history.om"
    source.write_text(text)
    data = tmp_path / "tsdb"
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{url}/-/ready") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "Prometheus did not become ready"
                await asyncio.sleep(0.2)
        yield url, text, start
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_window_sums_from_prometheus_match_the_engine_on_the_same_history(
    prometheus: tuple[str, str, int],
) -> None:
    url, text, start = prometheus
    slo = api_slo()
    history = RecordedHistory(text)
    end = start + (MINUTES - 1) * STEP
    data = history.read_range(Sampler([slo], STEP, use_promql=False).queries(), start, end, STEP)
    local = Engine([slo], step_seconds=STEP)
    sampler = Sampler([slo], STEP, use_promql=False)
    queries = sampler.queries()
    evaluator = PrometheusEvaluator(Engine([slo], step_seconds=STEP), PrometheusSource(url))
    checked = 0
    for i in range(MINUTES):
        local.record(start + i * STEP, *sampler.step({q: float(data[q][i]) for q in queries}))
        if i in (590, 605, 640, 700, 900, MINUTES - 1):
            mine = local.evaluate()
            theirs = await evaluator.evaluate(start + i * STEP)
            assert (theirs.page[0], theirs.ticket[0]) == (mine.page[0], mine.ticket[0])
            np.testing.assert_allclose(theirs.error_ratio, mine.error_ratio, rtol=1e-9)
            assert theirs.budget_remaining[0] == pytest.approx(mine.budget_remaining[0])
            checked += 1
    assert checked == 6


async def test_backtest_over_a_prometheus_range_finds_the_recorded_incident(
    prometheus: tuple[str, str, int],
) -> None:
    url, text, start = prometheus
    slo = api_slo()
    end = start + (MINUTES - 1) * STEP
    queries = Sampler([slo], STEP, use_promql=True).queries()
    ranged = await PrometheusSource(url).read_range(queries, start, end, STEP)
    from_prometheus = replay([slo], ranged, start, STEP, use_promql=True)[0]
    recorded = RecordedHistory(text).read_range(queries, start, end, STEP)
    from_file = replay([slo], recorded, start, STEP, use_promql=False)[0]
    assert from_prometheus.incidents == from_file.incidents
    assert from_prometheus.alerts == from_file.alerts
    (incident,) = from_file.incidents
    assert incident.page_detection_seconds == 300


async def test_a_bad_query_is_a_prometheus_error(prometheus: tuple[str, str, int]) -> None:
    url, _, _ = prometheus
    from slo.sampling import Query

    with pytest.raises(PrometheusError, match="parse error"):
        await PrometheusSource(url).read([Query("promql", "sum(")], int(time.time()))
