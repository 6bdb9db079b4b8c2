"""Replica placement for new partitions: Kafka's rack-unaware round robin.

For ``brokers`` b[0..n-1] (sorted node ids), partition p (counting from
``first_partition``) gets as first replica (its preferred leader)
``b[(start + p) % n]``, and its other replicas follow at a shift that grows by one every
time p wraps around n, so followers spread as well as leaders::

    shift(p) = start + p // n           (Kafka: nextReplicaShift, here seeded with start)
    replica j (j >= 1) = b[(first + 1 + (shift + j - 1) % (n - 1)) % n]

The caller (the controller) advances ``start`` by the number of partitions it placed,
so consecutive topics continue the rotation: with one-partition topics each new topic is
led by the next broker. Deterministic: no randomness, same inputs, same placement.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["assign_replicas"]


def assign_replicas(
    brokers: Sequence[int],
    partitions: int,
    replication_factor: int,
    start: int,
    first_partition: int = 0,
) -> tuple[tuple[int, ...], ...]:
    """Replica lists for ``partitions`` new partitions; 1 <= replication_factor <= n."""
    n = len(brokers)
    if not 1 <= replication_factor <= n:
        raise ValueError(f"replication factor {replication_factor} with {n} brokers")
    result = []
    for offset in range(partitions):
        p = first_partition + offset
        first = (start + p) % n
        shift = start + p // n
        replicas = [brokers[first]]
        for j in range(replication_factor - 1):
            replicas.append(brokers[(first + 1 + (shift + j) % (n - 1)) % n])
        result.append(tuple(replicas))
    return tuple(result)
