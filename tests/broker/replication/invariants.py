"""The properties every step of the replication simulation must keep.

- acknowledged records survive: every batch acknowledged to an acks=all producer while
  the ISR had at least min.insync.replicas members is in the log of the partition's
  current leader (the one the controller names, once it acts as leader), byte for byte
  at the same offset; no offset is acknowledged twice with different bytes;
- replicas agree below the high watermark: any two live replicas hold identical batches
  below the smaller of their high watermarks (each node's HW is a claim that
  everything below it is committed);
- a leader's HW never moves backwards within its leader epoch, and no HW passes its log
  end;
- epoch caches describe their logs: each log's cache, below its log end, is exactly
  where the batches' partition leader epochs change (so caches agree wherever logs do).

``check`` raises ``Violation`` naming the property. Logs are read through ``LogMirror``,
that is through ``Log.read``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from broker.metadata.image import PartitionImage
from tests.broker.replication.sim_node import Acked, SimNode


class Violation(AssertionError):
    def __init__(self, prop: str, detail: str) -> None:
        super().__init__(f"{prop}: {detail}")
        self.prop = prop
        self.detail = detail


@dataclass(slots=True)
class ReplicationChecker:
    min_insync_replicas: int
    acks: dict[int, bytes] = field(default_factory=dict)
    unprotected_acks: int = 0
    leader_hw: dict[tuple[int, int], int] = field(default_factory=dict)

    def acknowledged(self, ack: Acked) -> None:
        if ack.isr_size < self.min_insync_replicas:
            self.unprotected_acks += 1
            return
        previous = self.acks.get(ack.base_offset)
        if previous is not None and previous != ack.data:
            raise Violation(
                "acknowledged records survive",
                f"offset {ack.base_offset} acknowledged twice with different batches "
                f"(now by node {ack.node_id} in epoch {ack.leader_epoch})",
            )
        self.acks[ack.base_offset] = ack.data

    def check(self, nodes: Sequence[SimNode], partition: PartitionImage) -> None:
        live = [n for n in nodes if n.up]
        for node in live:
            node.mirror.sync(node.the_log)
        self._check_acks(nodes, partition)
        hws = {n.node_id: n.high_watermark() for n in live}
        for node in live:
            self._check_high_watermark(node, hws[node.node_id])
            self._check_epoch_cache(node)
        for a, b in combinations(live, 2):
            self._check_agreement(a, b, min(hws[a.node_id], hws[b.node_id]))

    def _check_acks(self, nodes: Sequence[SimNode], partition: PartitionImage) -> None:
        if partition.leader < 0:
            return
        node = nodes[partition.leader - 1]
        leader = node.leader()
        if leader is None or leader.leader_epoch != partition.leader_epoch:
            return
        stored = node.mirror.by_base
        deleted_below = node.the_log.log_start_offset
        for base_offset, data in self.acks.items():
            if stored.get(base_offset) != data and base_offset >= deleted_below:
                found = "missing" if base_offset not in stored else "different bytes"
                raise Violation(
                    "acknowledged records survive",
                    f"the batch acknowledged at offset {base_offset} is {found} on leader "
                    f"{node.node_id} (epoch {leader.leader_epoch}, log end "
                    f"{node.the_log.log_end_offset})",
                )

    def _check_high_watermark(self, node: SimNode, hw: int) -> None:
        end = node.the_log.log_end_offset
        if hw > end:
            raise Violation("HW within the log", f"node {node.node_id}: HW {hw} > log end {end}")
        leader = node.leader()
        if leader is None:
            return
        key = (node.node_id, leader.leader_epoch)
        before = self.leader_hw.get(key, -1)
        if hw < before:
            raise Violation(
                "HW never moves backwards",
                f"leader {node.node_id} in epoch {leader.leader_epoch}: HW {before} -> {hw}",
            )
        self.leader_hw[key] = hw

    def _check_epoch_cache(self, node: SimNode) -> None:
        log = node.the_log
        end = log.log_end_offset
        cached = [e for e in log.epoch_cache.entries if e.start_offset < end]
        derived = node.mirror.epochs_below(log.log_start_offset, end)
        if cached != derived:
            raise Violation(
                "epoch caches describe their logs",
                f"node {node.node_id}: cache {cached}, batches say {derived}",
            )

    def _check_agreement(self, a: SimNode, b: SimNode, bound: int) -> None:
        start = max(a.the_log.log_start_offset, b.the_log.log_start_offset)
        if start >= bound:
            return
        theirs = b.mirror.by_base
        for batch in a.mirror.batches:
            if batch.base_offset >= bound:
                return
            if batch.next_offset <= start:
                continue
            if theirs.get(batch.base_offset) != batch.data:
                raise Violation(
                    "replicas agree below the high watermark",
                    f"nodes {a.node_id} and {b.node_id} differ at offset {batch.base_offset} "
                    f"below HW {bound}",
                )
