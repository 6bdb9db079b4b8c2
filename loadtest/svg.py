"""Small, dependency-free SVG line charts for the self-contained HTML reports (pure).

A chart is a list of :class:`Series` over a shared x axis (seconds into the run), with
optional shaded :class:`Band` s (fault windows) and a log-scaled y axis for latencies.
The output is an inline ``<svg>`` element: no scripts, no external assets, so a report
opens anywhere and can be archived as one file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

__all__ = ["PALETTE", "Band", "Series", "gantt", "line_chart"]

PALETTE: Final = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 64, 16, 28, 44


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = ""
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Band:
    start: float
    end: float
    label: str
    color: str = "#f4c7c3"


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    if abs(value) < 0.01:
        return f"{value:.0e}"
    return f"{value:g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    y_label: str,
    bands: Sequence[Band] = (),
    log_y: bool = False,
    width: int = 920,
    height: int = 280,
) -> str:
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys if math.isfinite(y) and (y > 0 or not log_y)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    for b in bands:
        x0, x1 = min(x0, b.start), max(x1, b.end)
    if x1 <= x0:
        x1 = x0 + 1
    if log_y:
        low = min(ys, default=1.0)
        high = max(ys, default=10.0)
        y0 = 10 ** math.floor(math.log10(low))
        y1 = 10 ** math.ceil(math.log10(high)) if high > y0 else y0 * 10
    else:
        y0, y1 = 0.0, max(ys, default=1.0) * 1.1 or 1.0
    plot_w = width - _PAD_LEFT - _PAD_RIGHT
    plot_h = height - _PAD_TOP - _PAD_BOTTOM

    def px(x: float) -> float:
        return _PAD_LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        if log_y:
            y = max(y, y0)
            frac = (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0))
        else:
            frac = (y - y0) / (y1 - y0)
        return _PAD_TOP + plot_h - frac * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="{_PAD_LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for b in bands:
        bx0, bx1 = px(b.start), px(max(b.end, b.start))
        out.append(
            f'<rect x="{bx0:.1f}" y="{_PAD_TOP}" width="{max(bx1 - bx0, 1.5):.1f}" '
            f'height="{plot_h}" fill="{b.color}" opacity="0.5">'
            f"<title>{escape(b.label)}</title></rect>"
            f'<text x="{bx0 + 2:.1f}" y="{_PAD_TOP + 11}" fill="#7a1f1a">{escape(b.label)}</text>'
        )
    out.extend(_y_axis(y0, y1, log_y, py, width))
    out.extend(_x_axis(x0, x1, px, height))
    out.append(
        f'<text x="14" y="{_PAD_TOP + plot_h / 2:.0f}" transform="rotate(-90 14 '
        f'{_PAD_TOP + plot_h / 2:.0f})" text-anchor="middle">{escape(y_label)}</text>'
    )
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        for run in _runs(s, log_y):  # a missing value breaks the line: no invented slope
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            shape = "polyline" if len(run) > 1 else "circle"
            if shape == "circle":
                x, y = run[0]
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="1.8" fill="{color}"/>')
            else:
                out.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} '
                    f'points="{points}"/>'
                )
        lx = _PAD_LEFT + 8 + i * 150
        out.append(
            f'<rect x="{lx}" y="{height - 14}" width="12" height="3" fill="{color}"/>'
            f'<text x="{lx + 16}" y="{height - 10}">{escape(s.name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _runs(s: Series, log_y: bool) -> list[list[tuple[float, float]]]:
    """Consecutive drawable points; NaN (or <= 0 on a log scale) ends a run."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(s.xs, s.ys, strict=True):
        if math.isfinite(y) and (y > 0 or not log_y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _y_axis(y0: float, y1: float, log_y: bool, py: object, width: int) -> list[str]:
    assert callable(py)
    out = []
    if log_y:
        ticks = []
        v = y0
        while v <= y1 * 1.0001:
            ticks.append(v)
            v *= 10
    else:
        step = _nice_step(y1 - y0, 5)
        ticks = [y0 + k * step for k in range(int((y1 - y0) / step) + 1)]
    for v in ticks:
        y = py(v)
        out.append(
            f'<line x1="{_PAD_LEFT}" x2="{width - _PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{_PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>'
        )
    return out


def _x_axis(x0: float, x1: float, px: object, height: int) -> list[str]:
    assert callable(px)
    step = _nice_step(x1 - x0, 10)
    first = math.ceil(x0 / step) * step
    out = []
    k = 0
    while first + k * step <= x1 + 1e-9:
        v = first + k * step
        x = px(v)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height - _PAD_BOTTOM}" '
            f'y2="{height - _PAD_BOTTOM + 4}" stroke="#555"/>'
            f'<text x="{x:.1f}" y="{height - _PAD_BOTTOM + 16}" text-anchor="middle">'
            f"{_fmt(v)} s</text>"
        )
        k += 1
    return out


def gantt(
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[float, float | None]]]],
    x_max: float,
    bands: Sequence[Band] = (),
    width: int = 920,
) -> str:
    """Horizontal bars: one row per label, a bar per ``(start, end)`` (None: to the end)."""
    label_w = 300
    row_h = 18
    height = _PAD_TOP + row_h * max(len(rows), 1) + _PAD_BOTTOM
    plot_w = width - label_w - _PAD_RIGHT
    x_max = max(x_max, 1.0)

    def px(x: float) -> float:
        return label_w + min(max(x, 0.0), x_max) / x_max * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="8" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    plot_h = row_h * max(len(rows), 1)
    for b in bands:
        x0, x1 = px(b.start), px(b.end)
        out.append(
            f'<rect x="{x0:.1f}" y="{_PAD_TOP}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="{plot_h}" fill="{b.color}" opacity="0.5"><title>{escape(b.label)}</title>'
            "</rect>"
        )
    for i, (label, spans) in enumerate(rows):
        y = _PAD_TOP + i * row_h
        out.append(f'<text x="8" y="{y + 13}">{escape(label[:48])}</text>')
        for start, end in spans:
            x0, x1 = px(start), px(x_max if end is None else end)
            until = "end" if end is None else f"{end:.1f}"
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 2):.1f}" '
                f'height="{row_h - 6}" fill="#d62728">'
                f"<title>{escape(label)}: {start:.1f}-{until} s</title></rect>"
            )
    out.extend(_x_axis(0.0, x_max, px, height))
    out.append("</svg>")
    return "\n".join(out)
