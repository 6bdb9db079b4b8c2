"""Frames from workers become complete intervals only when every worker has reported."""

from __future__ import annotations

import pytest

from loadtest.collector import Collector
from loadtest.frames import Frame
from loadtest.histogram import Histogram
from loadtest.schedule import ArrivalSchedule, Phase


def sparse(*values_us: int) -> tuple[list[int], list[int], int, int]:
    h = Histogram()
    h.record(list(values_us))
    return h.sparse()


def collector() -> Collector:
    return Collector(ArrivalSchedule([Phase(10.0, 100, 100)]), 1.0, producers=2, groups={"g": 1})


def test_an_interval_completes_once_every_worker_reported_it() -> None:
    c = collector()
    c.add(Frame("producer", 0, 0, sent=50, acked=50, ack_latency=sparse(1000, 3000)))
    c.add(Frame("producer", 1, 0, sent=49, acked=48, ack_latency=sparse(2000)))
    assert c.complete() == []  # the consumer has not reported interval 0
    c.add(Frame("consumer", 0, 0, group="g", consumed=90, e2e_latency=sparse(5000)))
    (point,) = c.complete()
    assert point.target_rate == pytest.approx(100.0)
    assert (point.sent_rate, point.acked_rate) == (99.0, 98.0)
    assert point.consumed_rate == {"g": 90.0}
    assert point.ack_max_ms == 3.0
    assert point.e2e_p99_ms == pytest.approx(5.0, rel=0.01)
    assert c.totals["sent"] == 99


def test_a_finished_worker_no_longer_holds_intervals_back() -> None:
    c = collector()
    c.add(Frame("producer", 0, 3))
    c.add(Frame("consumer", 0, 3, group="g"))
    c.finished("producer", 1)
    assert [p.index for p in c.complete()] == [0, 1, 2, 3]


def test_flushing_completes_every_interval_seen() -> None:
    c = collector()
    c.add(Frame("producer", 0, 1, failed=2, errors={"_MSG_TIMED_OUT": 2}))
    points = c.complete(flush=True)
    assert [p.index for p in points] == [0, 1]
    assert points[1].errors == {"_MSG_TIMED_OUT": 2}
    assert c.errors["_MSG_TIMED_OUT"] == 2


def test_summaries_report_percentiles_per_latency_and_group() -> None:
    c = collector()
    c.add(Frame("consumer", 0, 0, group="g", e2e_latency=sparse(*range(1000, 101000, 1000))))
    summary = c.summaries()
    assert summary["end_to_end[g]"].count == 100
    assert summary["end_to_end"].p50_ms == pytest.approx(50.0, rel=0.01)
    assert summary["end_to_end"].max_ms == 100.0
