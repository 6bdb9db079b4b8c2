"""ISR shrinks and expansions of the partitions a broker leads, from the metadata delta
its image moved by. Pure.

Counted the way Kafka's leader-side IsrShrinksPerSec / IsrExpandsPerSec are: once per
committed ISR change of a partition this node leads in the same leadership (same
leader epoch), whoever asked for it (the leader itself through AlterPartition, or the
controller taking a fenced or shutting-down broker out). A change that removes members
is a shrink, one that adds members an expansion (both, should one image carry both).
A new leadership is no ISR change.
"""

from __future__ import annotations

from broker.metadata.delta import MetadataDelta
from broker.metrics.stats import ReplicationStats

__all__ = ["count_isr_changes"]


def count_isr_changes(stats: ReplicationStats, changes: MetadataDelta) -> None:
    """Add the ISR shrinks and expansions of ``changes`` to ``stats``."""
    for local in changes.to_lead:
        previous = local.previous
        if previous is None or local.is_new_leadership:
            continue
        before, after = set(previous.isr), set(local.partition.isr)
        stats.isr_shrinks += int(bool(before - after))
        stats.isr_expands += int(bool(after - before))
