"""``LeaderElections``: partition leader elections counted and timed on the active
controller, from images it already has. Pure (time comes in as ``now_ms``).

The controller service drives it, on the event loop:

- ``activate(committed, now_ms)`` when this node becomes the active controller: every
  partition found without an eligible leader counts as gone from now;
- ``on_decision(before, after, now_ms)`` after each controller operation that produced
  records (``before``/``after``: its view around them): a partition whose leader changed
  while the old leader can no longer lead (fenced, shutting down, unregistered), or
  that lost its leader, is *noticed gone* at ``now_ms`` (the first notice counts until
  a leader is committed). A preferred-leader move, whose old leader stays eligible, is
  no loss;
- ``on_commit(committed, now_ms)`` for every committed image: a partition whose leader
  epoch moved to a real leader since the previous committed image had an *election*,
  *clean* when the new leader was in the previous ISR, *unclean* otherwise (records
  acknowledged by the old ISR may be lost); if it was noticed gone, the time since then
  is observed in ``duration``;
- ``deactivate()`` when leadership is lost (what was noticed is forgotten: the next
  controller notices for itself).

Counters and the histogram only grow, across activations (Prometheus counters of the
node). Unchanged topics cost nothing: the image builder keeps their ``TopicImage``
objects, compared by identity. Elections that start and finish between two committed
images the node applies at once count as one.
"""

from __future__ import annotations

import uuid

from broker.metadata.image import MetadataImage, PartitionImage
from broker.metadata.records import NO_LEADER
from broker.metrics.stats import LatencyHistogram

__all__ = ["LeaderElections"]

_Key = tuple[uuid.UUID, int]


class LeaderElections:
    """See the module docstring."""

    def __init__(self) -> None:
        self.clean = 0
        self.unclean = 0
        self.duration = LatencyHistogram()
        self._committed: MetadataImage | None = None
        self._gone_since_ms: dict[_Key, int] = {}

    @property
    def noticed_gone(self) -> int:
        """Partitions noticed without a leader and not re-elected yet (for tests)."""
        return len(self._gone_since_ms)

    def activate(self, committed: MetadataImage, now_ms: int) -> None:
        self._committed = committed
        self._gone_since_ms = {}
        for topic, partition in committed.iter_partitions():
            if not _leader_eligible(committed, partition):
                self._gone_since_ms[(topic.topic_id, partition.partition_index)] = now_ms

    def deactivate(self) -> None:
        self._committed = None
        self._gone_since_ms = {}

    def on_decision(self, before: MetadataImage, after: MetadataImage, now_ms: int) -> None:
        for key, old, new in _changed_partitions(before, after):
            moved = new.leader != old.leader or new.leader_epoch != old.leader_epoch
            if not moved:
                continue
            if old.leader != NO_LEADER and _leader_eligible(after, old):
                continue  # a move away from a leader that can still lead
            self._gone_since_ms.setdefault(key, now_ms)

    def on_commit(self, committed: MetadataImage, now_ms: int) -> None:
        previous, self._committed = self._committed, committed
        if previous is None:
            return
        for key, old, new in _changed_partitions(previous, committed):
            if new.leader == NO_LEADER or new.leader_epoch == old.leader_epoch:
                continue
            if new.leader in old.isr:
                self.clean += 1
            else:
                self.unclean += 1
            since = self._gone_since_ms.pop(key, None)
            if since is not None:
                self.duration.observe(max(0, now_ms - since) / 1000)
        for key in [k for k in self._gone_since_ms if k[0] not in committed.topics]:
            del self._gone_since_ms[key]


def _leader_eligible(image: MetadataImage, partition: PartitionImage) -> bool:
    broker = image.broker(partition.leader)
    return broker is not None and broker.eligible


def _changed_partitions(
    old: MetadataImage, new: MetadataImage
) -> list[tuple[_Key, PartitionImage, PartitionImage]]:
    """(key, old state, new state) of the partitions of topics present in both images
    whose state differs."""
    changed = []
    for topic_id, topic in new.topics.items():
        before = old.topics.get(topic_id)
        if before is None or before is topic:
            continue
        for p_old, p_new in zip(before.partitions, topic.partitions, strict=False):
            if p_old != p_new:
                changed.append(((topic_id, p_new.partition_index), p_old, p_new))
    return changed
