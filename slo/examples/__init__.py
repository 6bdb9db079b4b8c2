"""Example specs (EXAMPLES ONLY: plausible metric names) and their generated rules.

``tidewatch generate`` regenerates ``slo/examples/rules/*.yaml``; a test fails when the
committed files drift from what the generator writes.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES_DIR", "RULES_DIR"]

EXAMPLES_DIR = Path(__file__).parent
RULES_DIR = EXAMPLES_DIR / "rules"
