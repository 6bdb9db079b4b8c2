"""Benchmark: evaluate many SLOs per tick and measure time and memory.

Each configuration runs in a fresh process (so peak RSS is its own): N synthetic
event-ratio SLOs with the workbook alerts, fed random counter readings at a 60 s step.
A tick is sampling (readings -> increments), recording into the history and evaluating
every window and alert. The same N SLOs are run with periods from 1h to 90d to show that
the cost of a tick does not grow with window length.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import time
from typing import Any

import numpy as np

__all__ = ["machine", "run_all", "run_config"]


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_kb = int(f.readline().split()[1])
    except OSError:
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def run_config(n: int, period_seconds: int, ticks: int, seed: int = 1) -> dict[str, Any]:
    from contracts.promql import Matcher, Selector
    from slo.engine import Engine
    from slo.model import SLO, Alerting, EventRatioSLI, RollingWindow
    from slo.sampling import Sampler
    from slo.windows import conditions_for_period

    rss_start_kb = _status_kb("VmRSS")
    conditions = conditions_for_period(period_seconds)
    slos = [
        SLO(
            service=f"svc{i // 100}",
            name=f"slo{i}",
            objective_ratio=0.999,
            sli=EventRatioSLI(
                total=Selector("req_total", (Matcher("slo", "=", str(i)),)),
                bad=Selector("req_errors_total", (Matcher("slo", "=", str(i)),)),
            ),
            window=RollingWindow(period_seconds),
            alerting=Alerting(name="BenchBurnRate", conditions=conditions),
        )
        for i in range(n)
    ]
    step = 60
    engine = Engine(slos, step_seconds=step)
    for ring in engine.history.rings:
        ring.fill(1.0)  # touch every page: memory as after a full period of history
    sampler = Sampler(slos, step, use_promql=False)
    queries = sampler.queries()
    rng = np.random.default_rng(seed)
    totals = np.zeros(n)
    errors = np.zeros(n)
    bad_q, total_q = queries[0::2], queries[1::2]
    sample_s, record_s, evaluate_s, tick_s = [], [], [], []
    for tick in range(ticks):
        totals += rng.integers(100, 10_000, n)
        errors += rng.binomial(100, 0.002, n)
        values: dict[Any, float | None] = dict(zip(bad_q, errors.tolist(), strict=True))
        values.update(zip(total_q, totals.tolist(), strict=True))
        t0 = time.perf_counter()
        increments = sampler.step(values)
        t1 = time.perf_counter()
        engine.record(1_700_000_000 // step * step + tick * step, *increments)
        t2 = time.perf_counter()
        engine.evaluate()
        t3 = time.perf_counter()
        sample_s.append(t1 - t0)
        record_s.append(t2 - t1)
        evaluate_s.append(t3 - t2)
        tick_s.append(t3 - t0)
    measured = slice(min(3, ticks - 1), None)  # the first ticks warm caches up

    def stats(xs: list[float]) -> dict[str, float]:
        xs = xs[measured]
        return {
            "median_ms": round(statistics.median(xs) * 1000, 2),
            "max_ms": round(max(xs) * 1000, 2),
        }

    return {
        "slos": n,
        "period_seconds": period_seconds,
        "ticks": ticks,
        "history_bytes_per_slo": engine.layout.bytes_per_slo(),
        "tick": stats(tick_s),
        "sampling": stats(sample_s),
        "record": stats(record_s),
        "evaluate": stats(evaluate_s),
        "rss_peak_mib": round(_status_kb("VmHWM") / 1024, 1),
        "rss_start_mib": round(rss_start_kb / 1024, 1),
    }


def run_all(n: int, ticks: int, periods_seconds: list[int]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    results = []
    for period in periods_seconds:
        with ctx.Pool(1) as pool:
            results.append(pool.apply(run_config, (n, period, ticks)))
    return {"machine": machine(), "results": results}
