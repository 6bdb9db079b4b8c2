"""Tidewatch's SLO engine: specs (ours, Sloth, OpenSLO), in-process error budgets and
burn-rate alerts, and Prometheus rules.

The pipeline reads left to right: ``spec`` (YAML formats) -> ``model`` (frozen,
validated) -> ``windows`` (data) -> ``engine`` (numpy) and ``rules`` (pure generators)
-> render (``report``, ``rules.render``). Only ``cli``, ``store`` and the loaders touch
files.
"""

__all__: list[str] = []
