"""Parse PromQL metric selectors (``name{label="v",other=~"re"}``) into the model.

Only the selector subset of PromQL: what the in-process engine can evaluate from scraped
metrics. :func:`selector_from_sloth_query` also recognises Sloth's common
``sum(rate(SELECTOR[{{.window}}]))`` shape so such specs evaluate without Prometheus.
"""

from __future__ import annotations

import re
from typing import Final, cast

from contracts.promql import Matcher, MatchOp, Selector

__all__ = ["parse_selector", "selector_from_sloth_query"]

_NAME: Final = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR_RE: Final = re.compile(rf"^\s*({_NAME})?\s*(?:\{{(.*)\}})?\s*$", re.S)
_MATCHER_RE: Final = re.compile(
    r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)'
)
_SLOTH_RATE_RE: Final = re.compile(
    r"^\s*sum\s*\(\s*(?:rate|increase)\s*\(\s*(.+?)\s*\[\s*\{\{\s*\.window\s*\}\}\s*\]\s*\)\s*\)\s*$",
    re.S,
)
_UNESCAPE: Final = re.compile(r"\\(.)")


def parse_selector(text: str) -> Selector:
    """``'x_total{code=~"5.."}'`` -> Selector; raises ValueError on anything else."""
    match = _SELECTOR_RE.match(text)
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a metric selector")
    name, body = match.group(1), match.group(2)
    matchers: list[Matcher] = []
    position = 0
    body = (body or "").strip()
    while position < len(body):
        item = _MATCHER_RE.match(body, position)
        if item is None or item.end() == position:
            raise ValueError(f"cannot parse label matchers in {text.strip()!r}")
        value = _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), item.group(3))
        matchers.append(Matcher(item.group(1), cast(MatchOp, item.group(2)), value))
        position = item.end()
    if name is None:
        names = [m for m in matchers if m.label == "__name__" and m.op == "="]
        if not names:
            raise ValueError(f"{text.strip()!r} names no metric")
        name = names[0].value
        matchers = [m for m in matchers if m is not names[0]]
    return Selector(name, tuple(matchers))


def selector_from_sloth_query(query: str) -> Selector | None:
    """The selector inside ``sum(rate(SELECTOR[{{.window}}]))``, or None for other shapes."""
    match = _SLOTH_RATE_RE.match(query)
    if match is None:
        return None
    try:
        return parse_selector(match.group(1))
    except ValueError:
        return None
