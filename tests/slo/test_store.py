"""History survives a restart: the budget is not reset, downtime is a gap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slo import store
from slo.engine import Engine
from slo.sampling import Sampler
from slo.spec import load_text

SPEC = """
version: tidewatch/v1
service: s
slos:
  - name: a
    objective: 99
    sli: {events: {bad: bad_total, total: all_total}}
  - name: b
    objective: 99.9
    sli: {events: {bad: bad_total, total: all_total}}
"""


def _run(engine: Engine, sampler: Sampler, minutes: range, bad: float, total: float) -> None:
    queries = sampler.queries()
    for m in minutes:
        values = {queries[0]: bad * (m + 1), queries[1]: total * (m + 1)}
        engine.record(m * 60, *sampler.step(values))


def test_restart_keeps_the_period_budget_and_records_downtime_as_a_gap(tmp_path: Path) -> None:
    slos = load_text(SPEC, "s.yaml")
    engine, sampler = Engine(slos), Sampler(slos, 60, use_promql=False)
    _run(engine, sampler, range(120), bad=1, total=100)
    before = engine.evaluate()
    path = tmp_path / "history.npz"
    store.save(path, engine, sampler)

    engine2, sampler2 = Engine(slos), Sampler(slos, 60, use_promql=False)
    assert store.load(path, engine2, sampler2) == 2
    after = engine2.evaluate()
    np.testing.assert_array_equal(after.budget_remaining, before.budget_remaining)
    np.testing.assert_array_equal(after.total, before.total)

    # 30 minutes down, then the counters are read again: their increase is counted once,
    # the missing steps are a gap.
    _run(engine2, sampler2, range(150, 160), bad=1, total=100)
    ev = engine2.evaluate()
    assert ev.total[0, -1] == pytest.approx(159 * 100)
    assert ev.coverage[0, -1] == pytest.approx(130 / 160)


def test_history_of_an_unchanged_slo_survives_when_another_is_removed(tmp_path: Path) -> None:
    slos = load_text(SPEC, "s.yaml")
    engine, sampler = Engine(slos), Sampler(slos, 60, use_promql=False)
    _run(engine, sampler, range(10), bad=1, total=100)
    path = tmp_path / "h.npz"
    store.save(path, engine, sampler)
    only_b = [slos[1]]
    engine_b = Engine(only_b)
    assert store.load(path, engine_b, Sampler(only_b, 60, use_promql=False)) == 1
    assert engine_b.evaluate().total[0, -1] == pytest.approx(900)


def test_a_history_with_another_step_is_refused(tmp_path: Path) -> None:
    slos = load_text(SPEC, "s.yaml")
    engine, sampler = Engine(slos), Sampler(slos, 60, use_promql=False)
    _run(engine, sampler, range(3), bad=0, total=1)
    path = tmp_path / "h.npz"
    store.save(path, engine, sampler)
    with pytest.raises(store.StoreError, match="layout differs"):
        store.load(path, Engine(slos, step_seconds=30), Sampler(slos, 30, use_promql=False))


def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not numpy")
    slos = load_text(SPEC, "s.yaml")
    with pytest.raises(store.StoreError, match="not a history file"):
        store.load(path, Engine(slos), Sampler(slos, 60, use_promql=False))
