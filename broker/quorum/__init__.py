"""The metadata quorum: Raft consensus for Tidewatch's replicated metadata log.

Topics, partitions, leaders, ISR and broker registrations become records in one log
that a static set of controller *voters* agree on with Raft (like Kafka's KRaft). This
package is the consensus core only: it decides what is committed and in which order.
The metadata state machine, the TCP transport and the broker integration sit on top and
talk to it through the API below. It imports nothing but the standard library.

Layers
------
``messages``  frozen message values (validated on construction)
``codec``     the versioned, checksummed wire format (bytes in, messages out)
``config``    ``RaftConfig``: voters, observers, timeouts in ticks
``state``     what goes in and out: ``Ready``, ``PersistedState``, ``HardState``,
              ``Snapshot``, ``NodeStatus``, ``ProposeResult``
``log``, ``progress``, ``leader``, ``raft``
              the pure core: ``RaftNode`` and its parts (no I/O, no clock, no globals)
``storage``   the one I/O module: ``RaftStorage``, a node's durable state in a directory
              (import it from ``broker.quorum.storage``; the rest is pure)

Roles
-----
FOLLOWER (a voter that follows a leader, or waits for one), PRE_CANDIDATE (polling
whether it could win, without changing its term), CANDIDATE, LEADER, and OBSERVER: a
non-voting member (a broker that is not a controller) that receives and applies the
log like a follower but never votes, never campaigns and never counts towards a
majority. ``Ready.status`` reports (term, leader_id, role) when it changes: the metrics
and the brokers' "who is the controller" answer come from there.

Driving a node (the Ready/advance contract)
-------------------------------------------
The caller owns the node, one thread at a time, and loops::

    storage = RaftStorage.open(directory)        # recovers a torn tail, if any
    node = RaftNode(config, random.Random(seed), storage.load())   # also at restart
    every tick_ms:           node.tick()
    on a message:            node.step(codec.decode_message(frame))
    on a client record:      node.propose(payload) -> ProposeAccepted | NotLeader
    whenever node.has_ready():
        ready = node.ready()
        storage.save(ready)          # 1. hard state, snapshot, entries -- durably
        send(ready.messages)         # 2. only now: never promise what is not on disk
        apply(ready)                 # 3. restore the snapshot if asked, then apply
                                     #    committed_entries in order (skip no-ops)
        node.advance(ready)          # 4.

Persist-before-send is what makes a vote or an acknowledgement a promise: a node that
crashes before its Ready is durable has sent nothing about it. ``advance`` tells the
node what is now durable; the leader counts its own copy towards a majority only then,
so every committed entry is on the disk of a majority. The state machine compacts the
log by calling ``node.compact(up_to_index, snapshot_bytes)`` for an applied index; the
snapshot comes back in the next Ready to be persisted, and the leader sends it
(``InstallSnapshot``) to followers that need entries it no longer holds.

Why pre-vote and check-quorum
-----------------------------
Without pre-vote, a node cut off from the others times out, increments its term again
and again, and when it comes back its high term forces the healthy leader to step down:
one flaky link disrupts the whole controller quorum. With pre-vote it first asks "would
you vote for me?" without changing any term, and nobody says yes while a leader is
alive (the *leader lease*: a voter that heard from a leader within the minimum election
timeout ignores vote requests). Check-quorum is the other side: a leader that has not
heard from a majority within an election timeout steps down, so a controller cut off
from the others stops acting as leader (and stops telling brokers it is one) instead of
serving stale metadata until the partition heals. The lease is safe only because of it.
Leadership transfer (``transfer_leadership``) catches the target up and sends it
``TimeoutNow``; its election bypasses the lease.

Invariants, and how they are checked
------------------------------------
Raft's five: election safety (at most one leader per term), leader append-only, log
matching (same index and term, same prefix), leader completeness (a committed entry is
in the log of every later leader) and state-machine safety (every node applies the same
sequence). ``tests/broker/quorum/simulation.py`` drives voters and an observer through
message loss, duplication, reordering, partitions, crashes that lose or tear unsynced
writes, restarts and pauses, from one seed, and checks these after every step, plus
liveness once the faults stop; a failing seed prints the command that replays it.

Supported, and not
------------------
Supported: elections with pre-vote, check-quorum and lease, log replication with
O(terms) conflict resolution, the §5.4.2 commit rule with a no-op per term, snapshots
and InstallSnapshot, leadership transfer, observers (configured, or added and removed
while running: ``RaftNode.add_observer``), restart from persisted state
(including torn writes), refusing messages from other clusters.

Not supported: dynamic voter membership (the voter set is static configuration;
changing it means a coordinated restart), linearizable reads (ReadIndex / lease reads: read from
the leader's applied state and accept it may be one election stale), chunked snapshot
transfer (one frame, bounded by ``codec.MAX_FRAME_BYTES``), flow control beyond
``max_entries_per_append``, batching of proposals (each ``propose`` is one entry; batch
records in the payload), and proposal forwarding (``NotLeader`` gives the hint, the
caller retries there).

What the caller must provide
----------------------------
A seeded ``random.Random`` per node (election jitter), a fixed tick cadence, a transport
that delivers ``codec`` frames to the receiver named in each message (it may lose,
duplicate and reorder them), durable storage honouring the Ready rules (``RaftStorage``
does), a state machine that applies entries in order and can snapshot and restore its
state, and unique node ids with one ``cluster_id`` shared by every member.
"""

from __future__ import annotations

from broker.quorum.config import RaftConfig
from broker.quorum.errors import (
    QuorumError,
    QuorumMessageError,
    QuorumSafetyError,
    QuorumStorageError,
)
from broker.quorum.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    PreVoteRequest,
    PreVoteResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from broker.quorum.raft import RaftNode
from broker.quorum.state import (
    HardState,
    NodeStatus,
    NotLeader,
    PersistedState,
    ProposeAccepted,
    ProposeResult,
    Ready,
    Role,
    Snapshot,
)

__all__ = [
    "AppendEntries",
    "AppendEntriesResponse",
    "Entry",
    "HardState",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Message",
    "NodeStatus",
    "NotLeader",
    "PersistedState",
    "PreVoteRequest",
    "PreVoteResponse",
    "ProposeAccepted",
    "ProposeResult",
    "QuorumError",
    "QuorumMessageError",
    "QuorumSafetyError",
    "QuorumStorageError",
    "RaftConfig",
    "RaftNode",
    "Ready",
    "Role",
    "Snapshot",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
]
