"""Deterministic YAML: sorted mapping keys, multi-line strings as literal blocks."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["render"]


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(document: dict[str, Any], header: str = "") -> str:
    """YAML text; ``header`` becomes leading comment lines."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=True, width=1000, allow_unicode=True)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + body
