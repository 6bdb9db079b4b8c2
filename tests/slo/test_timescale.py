"""Time compression for game days: compressed rules in Prometheus take the decisions the
uncompressed engine takes, one compressed step per nominal step; the serve loop ticks on
compressed time."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from slo.rules import generate, group_names, render
from slo.sampling import Query
from slo.service import SLOService
from slo.spec import load_text
from slo.timescale import TimeScale, compress_duration, compress_promql, compress_rules
from tests.slo.support import (
    API_SPEC,
    PROMTOOL,
    CounterSeries,
    alert_test,
    api_slo,
    input_series,
    needs_promtool,
    run_engine,
)

EXAMPLES = Path("slo/examples/rules")


@pytest.mark.parametrize(
    ("expr", "factor", "expected"),
    [
        pytest.param("sum(rate(x[5m]))", 60, "sum(rate(x[5s]))", id="a range selector shrinks"),
        pytest.param(
            "max_over_time(a[30d:1m])",
            60,
            "max_over_time(a[12h:1s])",
            id="a subquery range and step shrink",
        ),
        pytest.param("a[1h:]", 60, "a[1m:]", id="a subquery without a step keeps the default step"),
        pytest.param("x offset 1h", 60, "x offset 1m", id="an offset shrinks"),
        pytest.param(
            'rate(x{topic=~"[5m]"}[1h])',
            60,
            'rate(x{topic=~"[5m]"}[1m])',
            id="string literals are left alone",
        ),
        pytest.param("z[90s]", 60, "z[1s500ms]", id="fractions of a second become milliseconds"),
        pytest.param(
            "sum_over_time(y[7d])",
            60,
            "sum_over_time(y[2h48m])",
            id="days become hours and minutes",
        ),
        pytest.param("x > 300", 60, "x > 300", id="numbers are not durations"),
        pytest.param("rate(x[5m])", 1, "rate(x[5m])", id="a factor of one changes nothing"),
    ],
)
def test_compress_promql_divides_every_duration_by_the_factor(
    expr: str, factor: float, expected: str
) -> None:
    assert compress_promql(expr, factor) == expected


def test_compressed_durations_never_reach_zero() -> None:
    assert compress_duration("1s", 5000) == "1ms"


def test_compress_rules_shrinks_for_and_interval_and_keeps_rule_names() -> None:
    document: dict[str, Any] = {
        "groups": [
            {
                "name": "g",
                "interval": "1m",
                "rules": [
                    {"record": "slo:sli_error:ratio_rate5m", "expr": "rate(x[5m])"},
                    {"alert": "A", "expr": "y[1h] > 0", "for": "10m", "keep_firing_for": "2m"},
                ],
            }
        ]
    }
    out = compress_rules(document, 60)
    group = out["groups"][0]
    assert group["interval"] == "1s"
    assert group["rules"][0] == {"record": "slo:sli_error:ratio_rate5m", "expr": "rate(x[5s])"}
    assert group["rules"][1]["for"] == "10s"
    assert group["rules"][1]["keep_firing_for"] == "2s"
    assert document["groups"][0]["rules"][1]["for"] == "10m", "the input is not modified"


def test_compress_rules_keeps_every_non_zero_hold_at_least_as_long_as_the_floor() -> None:
    rules = [
        {"alert": "Short", "expr": "up == 0", "for": "1m", "keep_firing_for": "30s"},
        {"alert": "Long", "expr": "up == 0", "for": "10m"},
        {"alert": "Instant", "expr": "up == 0", "for": "0s"},
    ]
    out = compress_rules({"groups": [{"name": "g", "rules": rules}]}, 120, min_for_seconds=1.5)
    short, long, instant = out["groups"][0]["rules"]
    assert (short["for"], short["keep_firing_for"]) == ("1s500ms", "1s500ms"), "500ms, 250ms"
    assert long["for"] == "5s", "longer than the floor: divided as before"
    assert instant["for"] == compress_duration("0s", 120), "a zero hold gets no floor"


def test_time_scale_runs_faster_from_its_origin() -> None:
    scale = TimeScale(60, origin_real=1000.0)
    assert scale.virtual(1000.0) == 1000.0
    assert scale.virtual(1001.5) == 1090.0
    assert scale.real_seconds(3600) == 60.0
    with pytest.raises(ValueError, match="positive"):
        TimeScale(0)


@needs_promtool
@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_compressed_example_rules_pass_promtool_check(tmp_path: Path, name: str) -> None:
    assert PROMTOOL is not None
    document = yaml.safe_load((EXAMPLES / name).read_text())
    path = tmp_path / name
    path.write_text(render(compress_rules(document, 60)))
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


CASES = [
    ("fast_burn_then_recovery", lambda i: 0.05 if 300 < i <= 330 else 0.0),
    ("slow_burn_reaches_the_ticket", lambda i: 0.02 if i > 200 else 0.0),
]


@needs_promtool
@pytest.mark.slow
@pytest.mark.parametrize(("error_ratio"), [pytest.param(c[1], id=c[0]) for c in CASES])
def test_rules_compressed_sixty_times_page_and_ticket_a_second_for_every_engine_minute(
    tmp_path: Path, error_ratio: object
) -> None:
    """The engine at 1-minute steps with nominal windows, and Prometheus at 1-second
    steps with rules compressed by 60, agree at every step whose decision is stable."""
    assert PROMTOOL is not None and callable(error_ratio)
    slo = api_slo()
    steps = 720
    series = CounterSeries.build(steps, 60, 1000, error_ratio)
    evaluations = run_engine(slo, series)
    decisions = np.array([[e.page[0], e.ticket[0]] for e in evaluations])
    assert decisions.any(), "the case never alerts: it would prove nothing"
    stable = [
        i
        for i in range(1, steps - 1)
        if (decisions[i] == decisions[i - 1]).all() and (decisions[i] == decisions[i + 1]).all()
    ]
    tests = []
    for i in stable:
        test = alert_test(slo, 0, bool(decisions[i, 0]), bool(decisions[i, 1]))
        test["eval_time"] = f"{i}s"  # minute i of the engine is second i of Prometheus
        tests.append(test)
    (tmp_path / "rules.yaml").write_text(render(compress_rules(generate([slo]), 60)))
    test_file = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1s",
        "group_eval_order": list(group_names(slo)),
        "tests": [
            {"interval": "1s", "input_series": input_series(series), "alert_rule_test": tests}
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test_file, sort_keys=False))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


class _GrowingSource:
    def __init__(self) -> None:
        self.reads = 0

    async def read(self, queries: Sequence[Query], t: int) -> dict[Query, float | None]:
        self.reads += 1
        bad, total = queries
        return {bad: 0.0, total: 100.0 * self.reads}


async def test_the_serve_loop_ticks_one_step_per_compressed_interval() -> None:
    source = _GrowingSource()
    origin = time.time()
    service = SLOService(
        load_text(API_SPEC, "api.yaml"),
        source,
        step_seconds=60,
        time_scale=TimeScale(600, origin_real=origin),  # one 60 s step every 0.1 s
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    # Uncompressed, six steps of 60 s would take six minutes: waiting up to 30 s tells the
    # two apart without depending on how fast this machine runs the loop.
    deadline = time.monotonic() + 30
    while service.ticks < 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert service.ticks >= 6, "six steps of 60 s did not pass in 30 real seconds"
    assert service.engine.now is not None
    assert service.engine.now >= origin + 5 * 60 - 60


def test_serve_refuses_a_compressed_history_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from slo.cli import slo

    spec = tmp_path / "api.yaml"
    spec.write_text(API_SPEC)
    result = CliRunner().invoke(
        slo,
        [
            "serve",
            str(spec),
            "--scrape",
            "http://127.0.0.1:1/metrics",
            "--time-scale",
            "60",
            "--state",
            str(tmp_path / "h.npz"),
        ],
    )
    assert result.exit_code != 0
    assert "--time-scale cannot be combined with --state" in result.output
