"""Tidewatch's shared contracts: the bottom package every part imports.

Everything two or more parts must agree on lives here, once: the metric specification
type and its common labels, the latency bucket boundaries, the PromQL builder, the
strict YAML field reader with its one duration grammar, the clock protocol and the
broker launcher. Feature packages (``broker``, ``synthetics``, ``slo``, ``alerts``,
``dashboards``, ``loadtest``) import from here; this package imports none of them (an
import-linter contract in ``make check`` enforces it).
"""
