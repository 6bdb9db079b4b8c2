"""Inline SVG charts: gaps stay gaps, bands and labels are escaped, nothing external."""

from __future__ import annotations

import math

from loadtest.svg import Band, Series, gantt, line_chart


def test_a_missing_value_breaks_the_line_instead_of_inventing_a_slope() -> None:
    svg = line_chart("t", [Series("s", [0, 1, 2, 3, 4], [1, 2, math.nan, 3, 4])], "ms")
    assert svg.count("<polyline") == 2


def test_on_a_log_scale_zero_is_no_data() -> None:
    svg = line_chart("t", [Series("s", [0, 1, 2], [5, 0, 7])], "ms", log_y=True)
    assert svg.count("<polyline") == 0
    assert svg.count("<circle") == 2


def test_labels_are_escaped_and_no_external_reference_is_made() -> None:
    svg = line_chart("a<b", [Series("x&y", [0, 1], [1, 2])], "ms", [Band(0, 1, "<fault>")])
    assert "a&lt;b" in svg
    assert "x&amp;y" in svg
    assert "&lt;fault&gt;" in svg
    assert "href" not in svg
    assert "<script" not in svg


def test_a_gantt_row_without_an_end_runs_to_the_end_of_the_axis() -> None:
    svg = gantt("alerts", [("A", [(1.0, None)]), ("B", [(2.0, 3.0)])], x_max=10)
    assert svg.count('fill="#d62728"') == 2
    assert "1.0-end s" in svg
