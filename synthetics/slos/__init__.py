"""Default SLOs on the probe's metrics (``probe.yaml``) and their generated Prometheus
rules (``rules/probe.yaml``, a golden file).

``tidewatch generate`` regenerates the rules; tests fail when they drift, when a selector
names a metric the probe does not export, or when promtool rejects them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RULES_DIR", "SPECS", "SPEC_DIR"]

SPEC_DIR = Path(__file__).parent
RULES_DIR = SPEC_DIR / "rules"
SPECS = (SPEC_DIR / "probe.yaml",)
