"""THE ONE PLACE where dashboards and alerts meet the probe metric catalog (synthetics/).

The probes (issue 5) are being built on another branch. Until their catalog module
exists, :func:`probe_catalog` returns ``None`` and the generated dashboards and rules
simply have no probe panels and no probe alerts (the README says so). Nothing in this
package spells a probe metric name: panels and alerts ask for a *role*
(``ProbeMetrics.lost`` ...) and get the catalog's own spec object.

When the probe catalog lands on main:
1. check ``ROLE_ATTRIBUTES`` against its spec objects (one line per role; optional roles
   may map to ``None``);
2. regenerate: ``tidewatch dashboards build -o dashboards/generated`` and
   ``tidewatch alerts build -o alerts/generated`` (the drift tests fail until then).
A module that exists but lacks a mapped attribute is an error, not a silent skip.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Final

from alerts.promql import MetricLike

__all__ = ["PROBE_CATALOG_MODULE", "ROLE_ATTRIBUTES", "ProbeMetrics", "probe_catalog"]

PROBE_CATALOG_MODULE: Final = "synthetics.catalog"

# role -> attribute of PROBE_CATALOG_MODULE holding that metric's spec object. Checked
# against synthetics/catalog.py of the synthetics branch (commit 1717a37), not yet on main.
ROLE_ATTRIBUTES: Final[dict[str, str | None]] = {
    "produce_attempts": "PRODUCE_ATTEMPTS",
    "produce_successes": "PRODUCE_SUCCESSES",
    "produced": "RECORDS_PRODUCED",
    "produce_errors": "PRODUCE_ERRORS",
    "consumed": "RECORDS_CONSUMED",
    "lost": "RECORDS_LOST",
    "duplicated": "RECORDS_DUPLICATED",
    "reordered": "RECORDS_REORDERED",
    "corrupted": "RECORDS_CORRUPTED",
    "late": "RECORDS_LATE",
    "ack_latency": "ACK_LATENCY",
    "end_to_end_latency": "END_TO_END_LATENCY",
}


@dataclass(frozen=True, slots=True)
class ProbeMetrics:
    """The probe metrics dashboards and alerts use, by role.

    Counters count probe records (one per partition per interval): produce attempts and
    the successes among them (produce availability), records acknowledged (``produced``,
    the population that can be lost) and the anomalies; the two latency metrics are
    histograms in seconds. ``partition_label`` and ``broker_label`` name the
    labels carrying the probed partition and its leader broker.
    """

    produce_attempts: MetricLike
    produce_successes: MetricLike
    produced: MetricLike
    produce_errors: MetricLike
    consumed: MetricLike
    lost: MetricLike
    duplicated: MetricLike
    ack_latency: MetricLike
    end_to_end_latency: MetricLike
    reordered: MetricLike | None = None
    corrupted: MetricLike | None = None
    late: MetricLike | None = None
    partition_label: str = "partition"
    broker_label: str = "broker"

    def specs(self) -> tuple[MetricLike, ...]:
        out: list[MetricLike] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not isinstance(value, str):
                out.append(value)
        return tuple(out)

    def anomalies(self) -> tuple[tuple[str, MetricLike], ...]:
        """(kind, counter) of every anomaly the catalog counts, for per-kind panels."""
        kinds = ("lost", "duplicated", "reordered", "corrupted", "late")
        return tuple((k, getattr(self, k)) for k in kinds if getattr(self, k) is not None)


def _from_module(module: ModuleType) -> ProbeMetrics:
    values: dict[str, MetricLike | None] = {}
    for role, attribute in ROLE_ATTRIBUTES.items():
        if attribute is None:
            values[role] = None
            continue
        if not hasattr(module, attribute):
            raise RuntimeError(
                f"{module.__name__} has no {attribute!r} (role {role!r}): update "
                "ROLE_ATTRIBUTES in alerts/probes.py to the probe catalog's names"
            )
        values[role] = getattr(module, attribute)
    return ProbeMetrics(**values)  # type: ignore[arg-type]


def probe_catalog(module_name: str = PROBE_CATALOG_MODULE) -> ProbeMetrics | None:
    """The probe metrics, or None while the probe catalog module does not exist."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    return _from_module(module)
