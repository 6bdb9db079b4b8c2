"""The leader's side of replication: one partition of a Fetch sent by a follower
(replica id >= 0), as Kafka serves it.

The leader's ``LeaderReplicaState`` decides (``ReplicaManager.on_follower_fetch``:
epoch check, replica check, divergence, offset range; it records the follower's
position, may advance the high watermark and asks the controller to add the follower to
the ISR). Then, as Kafka:

- refused (stale or unknown epoch, a broker that is not a replica of the partition):
  the error alone; the reason is logged and counted by the replica manager;
- OFFSET_OUT_OF_RANGE: with the high watermark and log start, so the follower can
  decide where to restart;
- a diverging epoch: no records, the epoch and where it ends here (the follower
  truncates there);
- otherwise records from the fetch offset up to the log end (not the high watermark:
  followers copy what is not committed yet), with the high watermark and log start.
"""

from __future__ import annotations

from broker.cluster.replica_manager import ReplicaManager
from broker.error_codes import KafkaError
from broker.protocol.fetch_codec import FetchPartitionData
from broker.server.errors import wire_error
from broker.server.handlers.fetch_request import Wanted
from broker.storage.errors import OffsetOutOfRangeError

__all__ = ["read_for_follower"]


def read_for_follower(
    replicas: ReplicaManager,
    topic: str,
    want: Wanted,
    replica_id: int,
    max_bytes: int,
    first: bool,
) -> FetchPartitionData:
    """One partition of follower ``replica_id``'s fetch (see the module docstring).
    ``first``: nothing was read for this response yet (a batch larger than
    ``max_bytes`` is still returned whole)."""
    partition, missing = replicas.leader_of(topic, want.index)
    decision = None
    if partition is not None:
        decision = replicas.on_follower_fetch(
            partition,
            replica_id,
            want.offset,
            want.current_leader_epoch,
            want.last_fetched_epoch,
        )
    if partition is None or decision is None:
        return FetchPartitionData(want.index, wire_error(missing).value)
    hw = partition.high_watermark
    log_start = partition.log_start_offset
    if decision.error is KafkaError.OFFSET_OUT_OF_RANGE:
        return FetchPartitionData(want.index, int(decision.error), hw, hw, log_start)
    if decision.error is not KafkaError.NONE:
        return FetchPartitionData(want.index, int(decision.error))
    diverging = decision.diverging_epoch
    if diverging is not None:
        return FetchPartitionData(
            want.index,
            0,
            hw,
            hw,
            log_start,
            diverging_epoch=(diverging.leader_epoch, diverging.end_offset),
        )
    log = partition.log
    try:
        info = log.read(want.offset, max_bytes, log.log_end_offset, min_one=first)
    except OffsetOutOfRangeError:  # checked by the decision; kept for safety
        return FetchPartitionData(
            want.index, int(KafkaError.OFFSET_OUT_OF_RANGE), hw, hw, log_start
        )
    return FetchPartitionData(want.index, 0, hw, hw, log_start, info.data)
