"""Test helpers: synthetic counter series, the engine fed with them, and promtool."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from aiohttp import web

from slo.alerts import alert_annotations, alert_labels, expand_templates, slo_labels
from slo.conventions import SEVERITY_PAGE, SEVERITY_TICKET
from slo.engine import Engine, Evaluation
from slo.model import SLO
from slo.rules import generate, group_names, render
from slo.sampling import Sampler
from slo.spec import load_text
from tests.support import tools

PROMTOOL = tools.find_tool(tools.PROMTOOL)
needs_promtool = tools.requires(tools.PROMTOOL)

API_SPEC = """
version: tidewatch/v1
service: api
slos:
  - name: requests
    objective: 99.9
    window: 30d
    sli:
      events:
        bad: errors_total{job="api"}
        total: requests_total{job="api"}
    alerting:
      name: ApiRequestsBurnRate
      no_data: false
"""


def api_slo() -> SLO:
    return load_text(API_SPEC, "api.yaml")[0]


@dataclass(frozen=True)
class CounterSeries:
    """Cumulative counters sampled every ``step_seconds`` from time 0."""

    step_seconds: int
    errors: np.ndarray
    total: np.ndarray

    @classmethod
    def build(
        cls,
        steps: int,
        step_seconds: int,
        events_per_step: int | Callable[[int], int],
        error_ratio: Callable[[int], float],
        bad_absent_until_first_error: bool = False,
    ) -> CounterSeries:
        """``error_ratio(i)`` is the share of bad events in step ``i`` (1-based).

        With ``bad_absent_until_first_error`` the error counter has no samples (NaN)
        while it is 0, as a counter labelled by error code that the first error creates.
        """
        events = events_per_step if callable(events_per_step) else (lambda i: events_per_step)
        total = np.array([0] + [events(i) for i in range(1, steps)])
        bad = np.array([0] + [round(total[i] * error_ratio(i)) for i in range(1, steps)])
        errors = np.cumsum(bad).astype(float)
        if bad_absent_until_first_error:
            errors[errors == 0] = np.nan
        return cls(step_seconds, errors, np.cumsum(total).astype(float))


def run_engine(slo: SLO, series: CounterSeries) -> list[Evaluation]:
    """Evaluate ``slo`` at every step of ``series`` (times 0, step, 2*step, ...)."""
    engine = Engine([slo], step_seconds=series.step_seconds)
    sampler = Sampler([slo], series.step_seconds, use_promql=False)
    bad_q, total_q = sampler.queries()
    out = []
    for i in range(len(series.total)):
        bad = None if np.isnan(series.errors[i]) else float(series.errors[i])
        values = {bad_q: bad, total_q: float(series.total[i])}
        engine.record(i * series.step_seconds, *sampler.step(values))
        out.append(engine.evaluate())
    return out


def series_notation(values: Sequence[float]) -> str:
    """promtool's expanding notation ("a+bxn" runs, "_xn" for n missing samples)."""
    parts = []
    i = 0
    while i < len(values):
        if np.isnan(values[i]):
            j = i
            while j < len(values) and np.isnan(values[j]):
                j += 1
            parts.append(f"_x{j - i}")
            i = j
            continue
        j = i + 1
        if j < len(values) and np.isnan(values[j]):
            parts.append(f"{values[i]:g}")
            i = j
            continue
        diff = values[j] - values[i] if j < len(values) else 0
        while j + 1 < len(values) and values[j + 1] - values[j] == diff:
            j += 1
        if j >= len(values):
            parts.append(f"{values[i]:g}")
            break
        parts.append(f"{values[i]:g}{diff:+g}x{j - i}")
        i = j + 1
    return " ".join(parts)


def input_series(series: CounterSeries) -> list[dict[str, str]]:
    return [
        {"series": 'errors_total{job="api"}', "values": series_notation(list(series.errors))},
        {"series": 'requests_total{job="api"}', "values": series_notation(list(series.total))},
    ]


def expected_alerts(slo: SLO, severities: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for severity in severities:
        labels = {**dict(slo.labels), **slo_labels(slo), **alert_labels(slo, severity)}  # type: ignore[arg-type]
        annotations = {
            k: expand_templates(v, labels)
            for k, v in alert_annotations(slo, severity).items()  # type: ignore[arg-type]
        }
        out.append({"exp_labels": labels, "exp_annotations": annotations})
    return out


def alert_test(slo: SLO, minute: int, page: bool, ticket: bool) -> dict[str, Any]:
    severities = [s for s, on in ((SEVERITY_PAGE, page), (SEVERITY_TICKET, ticket)) if on]
    return {
        "eval_time": f"{minute}m",
        "alertname": slo.alerting.name,
        "exp_alerts": expected_alerts(slo, severities),
    }


def promtool_test_file(
    slo: SLO, tests: list[dict[str, Any]], interval: str = "1m"
) -> dict[str, Any]:
    return {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": interval,
        "group_eval_order": list(group_names(slo)),
        "tests": [{"interval": interval, **t} for t in tests],
    }


def run_promtool_test(tmp_path: Path, slos: list[SLO], test_file: dict[str, Any]) -> None:
    assert PROMTOOL is not None
    (tmp_path / "rules.yaml").write_text(render(generate(slos)))
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


@contextlib.asynccontextmanager
async def serving(app: web.Application, port: int = 0) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 (a free port by default); yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        await runner.cleanup()
