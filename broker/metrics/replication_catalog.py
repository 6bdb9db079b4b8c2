"""The broker's replication, controller and quorum metrics (issue 13), defined once.

Who reports what, so a sum over brokers never counts a partition twice:

* **Partition state** (``tidewatch_partition_leader`` ... ``_leader_is_preferred``): one
  series per partition in the cluster, reported by the *active controller* from its
  committed metadata image (the cluster-wide view; a dead peer never blocks it). The
  ``broker`` label names the reporting controller, so queries aggregate it away
  (``max without (broker)``).
* **Per-broker counts** (``tidewatch_broker_*``): each broker about itself: partitions it
  leads, and of those the ones under-replicated, under / at ``min.insync.replicas``
  (Kafka's leader-side UnderReplicatedPartitions and friends).
* **Follower lag** (``tidewatch_replica_lag_*``): reported by each partition's leader, one
  series per follower replica (``replica`` = the follower's node id), from the leader's
  own log: records and bytes between the follower's fetch position and the leader's log
  end, and seconds = age of the oldest record the follower does not have, from stored
  record timestamps, exactly as consumer lag seconds are computed; 0 when caught up,
  never negative.
* **Controller** (``tidewatch_controller_*``): the active controller's view: offline
  partitions, registered and fenced brokers, partition leader elections. ``active`` is
  reported by every node (1 on exactly one of them in a healthy cluster).
* **Quorum** (``tidewatch_quorum_*``): each node's Raft view of the metadata quorum;
  voter lag is reported by the quorum leader, per voter.

A single broker without a quorum reports itself as the active controller of a cluster of
one, so dashboards and alerts read the same series in both deployments.
"""

from __future__ import annotations

from broker.metrics.spec import broker_spec as _spec
from contracts.metrics import MetricSpec, MetricType

__all__ = ["REPLICATION_CATALOG"]

_P = ("topic", "partition")
_R = ("topic", "partition", "replica")

# -- partition state: the active controller's view, one series per partition ------------
PARTITION_LEADER = _spec(
    "tidewatch_partition_leader",
    MetricType.GAUGE,
    "node",
    "Node id of the partition's leader; -1 while it has none (offline).",
    _P,
)
PARTITION_REPLICAS = _spec(
    "tidewatch_partition_replicas",
    MetricType.GAUGE,
    "replicas",
    "Replicas assigned to the partition (its replication factor).",
    _P,
)
PARTITION_IN_SYNC_REPLICAS = _spec(
    "tidewatch_partition_in_sync_replicas",
    MetricType.GAUGE,
    "replicas",
    "Replicas in the partition's in-sync replica set (ISR).",
    _P,
)
PARTITION_MIN_IN_SYNC_REPLICAS = _spec(
    "tidewatch_partition_min_in_sync_replicas",
    MetricType.GAUGE,
    "replicas",
    "The partition's min.insync.replicas (acks=all produce fails below it).",
    _P,
)
PARTITION_UNDER_REPLICATED = _spec(
    "tidewatch_partition_under_replicated",
    MetricType.GAUGE,
    "bool",
    "1 while the ISR is smaller than the replica set.",
    _P,
)
PARTITION_UNDER_MIN_ISR = _spec(
    "tidewatch_partition_under_min_isr",
    MetricType.GAUGE,
    "bool",
    "1 while the ISR is smaller than min.insync.replicas (acks=all produce is refused).",
    _P,
)
PARTITION_AT_MIN_ISR = _spec(
    "tidewatch_partition_at_min_isr",
    MetricType.GAUGE,
    "bool",
    "1 while the ISR equals min.insync.replicas (one more loss refuses acks=all produce).",
    _P,
)
PARTITION_OFFLINE = _spec(
    "tidewatch_partition_offline",
    MetricType.GAUGE,
    "bool",
    "1 while the partition has no leader (neither produce nor fetch is served).",
    _P,
)
PARTITION_LEADER_EPOCH = _spec(
    "tidewatch_partition_leader_epoch",
    MetricType.GAUGE,
    "epoch",
    "The partition's leader epoch (grows by one at every leader change).",
    _P,
)
PARTITION_LEADER_IS_PREFERRED = _spec(
    "tidewatch_partition_leader_is_preferred",
    MetricType.GAUGE,
    "bool",
    "1 when the leader is the first replica of the assignment (the preferred one).",
    _P,
)

# -- per broker: each broker about the partitions it leads ----------------------------
BROKER_PARTITIONS_LED = _spec(
    "tidewatch_broker_partitions_led",
    MetricType.GAUGE,
    "partitions",
    "Partitions this broker leads.",
)
BROKER_UNDER_REPLICATED_PARTITIONS = _spec(
    "tidewatch_broker_under_replicated_partitions",
    MetricType.GAUGE,
    "partitions",
    "Partitions this broker leads whose ISR is smaller than their replica set.",
)
BROKER_UNDER_MIN_ISR_PARTITIONS = _spec(
    "tidewatch_broker_under_min_isr_partitions",
    MetricType.GAUGE,
    "partitions",
    "Partitions this broker leads whose ISR is below min.insync.replicas.",
)
BROKER_AT_MIN_ISR_PARTITIONS = _spec(
    "tidewatch_broker_at_min_isr_partitions",
    MetricType.GAUGE,
    "partitions",
    "Partitions this broker leads whose ISR equals min.insync.replicas.",
)
BROKER_ISR_SHRINKS = _spec(
    "tidewatch_broker_isr_shrinks_total",
    MetricType.COUNTER,
    "changes",
    "ISR shrinks committed for partitions this broker leads (a follower fell behind).",
)
BROKER_ISR_EXPANDS = _spec(
    "tidewatch_broker_isr_expands_total",
    MetricType.COUNTER,
    "changes",
    "ISR expansions committed for partitions this broker leads (a follower caught up).",
)
BROKER_ISR_UPDATE_FAILURES = _spec(
    "tidewatch_broker_isr_update_failures_total",
    MetricType.COUNTER,
    "requests",
    "ISR changes this broker asked the controller for and did not get (refused or lost).",
)
BROKER_REPLICATION_BYTES_IN = _spec(
    "tidewatch_broker_replication_bytes_in_total",
    MetricType.COUNTER,
    "bytes",
    "Record-batch bytes this broker fetched from leaders as a follower.",
)
BROKER_REPLICATION_BYTES_OUT = _spec(
    "tidewatch_broker_replication_bytes_out_total",
    MetricType.COUNTER,
    "bytes",
    "Record-batch bytes this broker served to followers as a leader.",
)
BROKER_FOLLOWER_FETCH_DURATION = _spec(
    "tidewatch_broker_follower_fetch_duration_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "Round trip of this broker's replica fetches to leaders, including the leader's wait "
    "for new data (long poll).",
)

# -- follower lag: the leader's view of each follower ---------------------------------
REPLICA_LAG_RECORDS = _spec(
    "tidewatch_replica_lag_records",
    MetricType.GAUGE,
    "records",
    "Records the follower replica does not have yet (leader log end minus its fetch offset).",
    _R,
)
REPLICA_LAG_BYTES = _spec(
    "tidewatch_replica_lag_bytes",
    MetricType.GAUGE,
    "bytes",
    "Bytes of record batches the follower replica does not have yet.",
    _R,
)
REPLICA_LAG_SECONDS = _spec(
    "tidewatch_replica_lag_seconds",
    MetricType.GAUGE,
    "seconds",
    "Age of the oldest record the follower replica does not have (from stored record "
    "timestamps); 0 when caught up.",
    _R,
)

# -- controller: the active controller's view ---------------------------------------
CONTROLLER_ACTIVE = _spec(
    "tidewatch_controller_active",
    MetricType.GAUGE,
    "bool",
    "1 on the node that is the active controller, 0 on every other node.",
)
CONTROLLER_OFFLINE_PARTITIONS = _spec(
    "tidewatch_controller_offline_partitions",
    MetricType.GAUGE,
    "partitions",
    "Partitions without a leader (reported by the active controller).",
)
CONTROLLER_REGISTERED_BROKERS = _spec(
    "tidewatch_controller_registered_brokers",
    MetricType.GAUGE,
    "brokers",
    "Brokers registered with the controller (fenced or not).",
)
CONTROLLER_FENCED_BROKERS = _spec(
    "tidewatch_controller_fenced_brokers",
    MetricType.GAUGE,
    "brokers",
    "Registered brokers the controller has fenced (missed heartbeats or shutting down).",
)
CONTROLLER_BROKER_FENCED = _spec(
    "tidewatch_controller_broker_fenced",
    MetricType.GAUGE,
    "bool",
    "Per registered broker (``node``): 1 while the controller has it fenced.",
    ("node",),
)
CONTROLLER_LEADER_ELECTIONS = _spec(
    "tidewatch_controller_leader_elections_total",
    MetricType.COUNTER,
    "elections",
    "Partition leader elections the controller committed, by ``kind``: clean (the new "
    "leader was in the ISR) or unclean (it was not: acknowledged records may be lost).",
    ("kind",),
)
CONTROLLER_LEADER_ELECTION_DURATION = _spec(
    "tidewatch_controller_leader_election_duration_seconds",
    MetricType.HISTOGRAM,
    "seconds",
    "From the controller noticing a partition's leader was gone (fenced or shut down) to "
    "the new leader being committed.",
)

# -- quorum: each node's Raft view ---------------------------------------------------
QUORUM_TERM = _spec(
    "tidewatch_quorum_term",
    MetricType.GAUGE,
    "term",
    "The metadata quorum's current term (epoch) as this node knows it.",
)
QUORUM_COMMITTED_OFFSET = _spec(
    "tidewatch_quorum_committed_offset",
    MetricType.GAUGE,
    "offset",
    "Metadata log offset this node knows to be committed (its high watermark).",
)
QUORUM_VOTER_LAG_RECORDS = _spec(
    "tidewatch_quorum_voter_lag_records",
    MetricType.GAUGE,
    "records",
    "Reported by the quorum leader per ``voter``: committed metadata records the voter "
    "has not acknowledged yet.",
    ("voter",),
)

REPLICATION_CATALOG: tuple[MetricSpec, ...] = tuple(
    value for _, value in sorted(globals().items()) if isinstance(value, MetricSpec)
)
