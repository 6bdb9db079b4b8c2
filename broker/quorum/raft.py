"""``RaftNode``: one member of the metadata quorum, as a pure deterministic state machine.

No sockets, no clock, no disk, no global randomness: the caller feeds it ``tick()`` at a
fixed cadence, ``step(message)`` for every message received and ``propose(payload)`` for
new records, and drains its output with ``ready()`` / ``advance(ready)``. Given the same
config, the same seeded ``random.Random`` and the same inputs in the same order it
produces the same outputs, which is what makes the simulator's seeds replayable.

Contract with the caller (the I/O edge):

- Call ``tick()`` at a fixed cadence (say every 100 ms); every timeout in
  ``RaftConfig`` is counted in ticks.
- ``step()`` any message, any time, in any order; duplicates, reordering, loss and
  messages from other clusters (refused and counted) are all expected.
- When ``has_ready()``, take ``ready()``, do what ``Ready`` says in its order -- persist,
  *then* send, then apply -- and call ``advance(ready)``. Until then ``has_ready()`` is
  False and ``ready()`` raises; ``step``, ``tick`` and ``propose`` keep working and their
  output waits for the next Ready.
- On restart build the node from what was persisted (``PersistedState``) and restore the
  state machine from the persisted snapshot yourself; entries after it are delivered
  again in ``committed_entries`` once the node learns they are committed.
- Observers need not be configured: tell every voter ``add_observer(node)`` when a
  non-voter shows up and ``remove_observer(node)`` when it is gone (not persisted: tell a
  restarted voter again). Observers never vote nor count for a majority, so this only
  changes who gets the log, never safety.

Protocol choices: pre-vote (Raft thesis §9.6) so a node coming back from a partition
cannot bump everyone's term; check-quorum, so a leader that has not heard from a
majority within an election timeout steps down, and its companion, the leader lease:
a voter that heard from a leader within the minimum election timeout ignores vote
requests (unless the leader itself asked for the election through TimeoutNow). A new
leader appends a no-op so entries of older terms get committed (§5.4.2).
"""

from __future__ import annotations

import random

from broker.quorum.config import RaftConfig
from broker.quorum.errors import QuorumSafetyError
from broker.quorum.leader import Leadership
from broker.quorum.log import RaftLog
from broker.quorum.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    PreVoteRequest,
    PreVoteResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
    append_reply,
    older_term_reply,
)
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

__all__ = ["RaftNode"]

# Only a voter may lead, campaign or vote; from anyone else these are refused.
_LEADER_MESSAGES = (AppendEntries, InstallSnapshot, TimeoutNow)
_ELECTION_MESSAGES = (PreVoteRequest, PreVoteResponse, VoteRequest, VoteResponse)
_FROM_VOTERS_ONLY = _LEADER_MESSAGES + _ELECTION_MESSAGES


class RaftNode:
    """One voter or observer of the quorum. See the module docstring for the contract."""

    def __init__(
        self, config: RaftConfig, rng: random.Random, persisted: PersistedState | None = None
    ) -> None:
        persisted = persisted if persisted is not None else PersistedState()
        self.config = config
        self._rng = rng
        self._log = RaftLog(persisted.snapshot, persisted.entries)
        # A torn write can leave entries newer than the stored term; they were never
        # acknowledged (nothing is sent before its Ready is durable), so moving to their
        # term without a vote is safe.
        stored = persisted.hard_state
        self.term = max(stored.term, self._log.last_term)
        self.voted_for = stored.voted_for if self.term == stored.term else None
        self.leader_id: int | None = None
        self.role = Role.FOLLOWER if config.is_voter else Role.OBSERVER
        self.refused_messages = 0
        self._observers = set(config.observers)
        self._votes: dict[int, bool] = {}
        self._leadership: Leadership | None = None
        self._heartbeat_elapsed = 0
        self._reset_election_timer()
        self._outbox: list[Message] = []
        self._outstanding: Ready | None = None
        # What the last Ready reported, as tuples: has_ready() runs after every input.
        self._emitted_hard_state: tuple[int, int | None] = (stored.term, stored.voted_for)
        self._emitted_status: tuple[int, int | None, Role] | None = None
        self._pending_snapshot: Snapshot | None = None
        self._restore_pending = False

    # -- read-only views -----------------------------------------------------------

    @property
    def id(self) -> int:
        return self.config.node_id

    @property
    def log(self) -> RaftLog:
        """The node's log, for metrics and tests. Change it only through the node."""
        return self._log

    @property
    def status(self) -> NodeStatus:
        return NodeStatus(self.term, self.leader_id, self.role)

    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    @property
    def observers(self) -> frozenset[int]:
        """The observers this node knows: configured, or added and not removed since."""
        return frozenset(self._observers)

    @property
    def transferee(self) -> int | None:
        """The voter a leadership transfer is handing over to, if one is in progress."""
        return self._leadership.transferee if self._leadership is not None else None

    def voter_match_indexes(self) -> dict[int, int]:
        """Each other voter's match index while leading (for metrics); else empty."""
        return {} if self._leadership is None else self._leadership.voter_match_indexes()

    # -- inputs --------------------------------------------------------------------

    def tick(self) -> None:
        """One unit of logical time passed."""
        if self._leadership is not None:
            self._tick_leader(self._leadership)
            return
        self._election_elapsed += 1
        if self.config.is_voter and self._election_elapsed >= self._election_timeout:
            self._campaign(transfer=False)

    def step(self, message: Message) -> None:
        """Handle one received message (any order, duplicates and strangers included)."""
        if not self._accepts(message):
            self.refused_messages += 1
            return
        if message.term > self.term and not self._on_newer_term(message):
            return
        if message.term < self.term:
            self._on_older_term(message)
            return
        match message:
            case PreVoteRequest():
                self._on_pre_vote_request(message)
            case VoteRequest():
                self._on_vote_request(message)
            case PreVoteResponse():
                self._on_pre_vote_response(message)
            case VoteResponse():
                self._on_vote_response(message)
            case AppendEntries():
                self._on_append_entries(message)
            case InstallSnapshot():
                self._on_install_snapshot(message)
            case TimeoutNow():
                if self.config.is_voter and self.role is not Role.LEADER:
                    self._campaign(transfer=True)
            case AppendEntriesResponse():
                if self._leadership is not None:
                    self._leadership.on_append_response(message)
            case InstallSnapshotResponse():
                if self._leadership is not None:
                    self._leadership.on_snapshot_response(message)

    def propose(self, payload: bytes) -> ProposeResult:
        """Append ``payload`` to the log if this node leads; see ``ProposeAccepted``."""
        if not payload:
            raise ValueError("an empty payload is reserved for the leader's no-op")
        leadership = self._leadership
        if leadership is None:
            return NotLeader(self.leader_id, f"node {self.id} is a {self.role.value}")
        if leadership.transferee is not None:
            reason = f"leadership is moving to node {leadership.transferee}"
            return NotLeader(leadership.transferee, reason)
        entry = leadership.propose(payload)
        return ProposeAccepted(entry.index, entry.term)

    def transfer_leadership(self, to: int) -> bool:
        """Hand leadership to voter ``to``: catch it up, then tell it to campaign now.
        Proposals are refused while the transfer runs; it is abandoned if ``to`` has not
        taken over within an election timeout. Returns False if this node does not lead."""
        if to not in self.config.voters:
            raise ValueError(f"node {to} is not a voter")
        leadership = self._leadership
        if leadership is None:
            return False
        if to != self.id and leadership.transferee != to:
            self._election_elapsed = 0
            leadership.transfer_to(to)
        return True

    def add_observer(self, node_id: int) -> None:
        """Non-voter ``node_id`` follows the log: a leader replicates to it from now on
        (which tells it who leads) and its messages are accepted. Idempotent; a voter or
        this node's own id raises ``ValueError``."""
        if node_id in self.config.voters or node_id == self.id:
            raise ValueError(f"node {node_id} cannot be added as an observer of node {self.id}")
        self._observers.add(node_id)
        if self._leadership is not None:
            self._leadership.add_observer(node_id)

    def remove_observer(self, node_id: int) -> None:
        """Observer ``node_id`` is gone: no more replication to it, its messages are
        refused until it is added again. Unknown ids are ignored."""
        if node_id != self.id:
            self._observers.discard(node_id)
            if self._leadership is not None:
                self._leadership.remove_observer(node_id)

    def compact(self, up_to_index: int, snapshot_bytes: bytes) -> None:
        """The state machine saved its state through ``up_to_index`` (which must be
        applied, i.e. returned by an advanced Ready) as ``snapshot_bytes``: drop the log up
        to there. The snapshot comes back in the next Ready to be persisted."""
        if up_to_index > self._log.applied_index:
            raise ValueError(
                f"cannot compact to {up_to_index}: only {self._log.applied_index} is applied"
            )
        term = self._log.term_at(up_to_index)
        if up_to_index <= self._log.snapshot.index or term is None:
            return
        snapshot = Snapshot(up_to_index, term, bytes(snapshot_bytes))
        self._log.compact(snapshot)
        self._pending_snapshot = snapshot

    # -- output --------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._outstanding is not None:
            return False
        log = self._log
        return bool(
            self._outbox
            or self._pending_snapshot is not None
            or log.stable_index < log.last_index
            or log.commit_index > log.applied_index
            or (self.term, self.voted_for) != self._emitted_hard_state
            or (self.term, self.leader_id, self.role) != self._emitted_status
        )

    def ready(self) -> Ready:
        """The next batch of work; see ``Ready`` for what to do with it."""
        if self._outstanding is not None:
            raise RuntimeError("advance() the previous Ready before taking another")
        hard_state = (self.term, self.voted_for)
        status = (self.term, self.leader_id, self.role)
        snapshot, restore = self._pending_snapshot, self._restore_pending
        applied = snapshot.index if restore and snapshot is not None else self._log.applied_index
        ready = Ready(
            hard_state=HardState(*hard_state) if hard_state != self._emitted_hard_state else None,
            snapshot=snapshot,
            restore_snapshot=restore,
            entries=self._log.unstable_entries(),
            messages=tuple(self._outbox),
            committed_entries=self._log.entries(applied + 1, self._log.commit_index + 1),
            status=NodeStatus(*status) if status != self._emitted_status else None,
        )
        self._outbox.clear()
        self._pending_snapshot, self._restore_pending = None, False
        self._emitted_hard_state, self._emitted_status = hard_state, status
        self._outstanding = ready
        return ready

    def advance(self, ready: Ready) -> None:
        """``ready`` was fully handled: persisted, sent, applied."""
        if ready is not self._outstanding:
            raise ValueError("advance() takes the Ready that ready() returned last")
        self._outstanding = None
        if ready.entries:
            last = ready.entries[-1]
            self._log.stable_to(last.index, last.term)
        if ready.restore_snapshot and ready.snapshot is not None:
            self._log.applied_index = max(self._log.applied_index, ready.snapshot.index)
        if ready.committed_entries:
            self._log.applied_to(ready.committed_entries[-1].index)
        if self._leadership is not None and self._leadership.maybe_commit():
            self._leadership.broadcast()

    # -- roles ---------------------------------------------------------------------

    def _become_follower(self, term: int, leader_id: int | None) -> None:
        if term > self.term:
            self.term, self.voted_for = term, None
        self.role = Role.FOLLOWER if self.config.is_voter else Role.OBSERVER
        self.leader_id = leader_id
        self._leadership = None
        self._votes = {}
        self._reset_election_timer()

    def _campaign(self, *, transfer: bool) -> None:
        if self.config.pre_vote and not transfer:
            self.role, self.leader_id, self._leadership = Role.PRE_CANDIDATE, None, None
            self._start_poll(self.term + 1, transfer=False)
        else:
            self._become_candidate(transfer=transfer)

    def _become_candidate(self, *, transfer: bool) -> None:
        self.term += 1
        self.voted_for = self.id
        self.role, self.leader_id, self._leadership = Role.CANDIDATE, None, None
        self._start_poll(self.term, transfer=transfer)

    def _start_poll(self, term: int, *, transfer: bool) -> None:
        """Vote for ourselves and ask every other voter (a pre-vote when pre-candidate)."""
        self._reset_election_timer()
        self._votes = {}
        self._record_vote(self.id, granted=True)
        if self.role not in (Role.PRE_CANDIDATE, Role.CANDIDATE):
            return  # a single voter wins at once
        cluster, me = self.config.cluster_id, self.id
        last_index, last_term = self._log.last_index, self._log.last_term
        for voter in sorted(self.config.voters - {me}):
            if self.role is Role.PRE_CANDIDATE:
                self._send(PreVoteRequest(cluster, me, voter, term, last_index, last_term))
            else:
                self._send(VoteRequest(cluster, me, voter, term, last_index, last_term, transfer))

    def _record_vote(self, voter: int, *, granted: bool) -> None:
        self._votes.setdefault(voter, granted)
        granted_count = sum(self._votes.values())
        refused_count = len(self._votes) - granted_count
        if granted_count >= self.config.quorum_size:
            if self.role is Role.PRE_CANDIDATE:
                self._become_candidate(transfer=False)
            else:
                self._become_leader()
        elif refused_count > len(self.config.voters) - self.config.quorum_size:
            self._become_follower(self.term, None)

    def _become_leader(self) -> None:
        self.role, self.leader_id = Role.LEADER, self.id
        self._votes = {}
        self._reset_election_timer()
        self._heartbeat_elapsed = 0
        self._leadership = Leadership(
            self.config, self.term, self._log, self._send, frozenset(self._observers)
        )
        self._leadership.propose(b"")  # the no-op that commits older terms' entries

    def _tick_leader(self, leadership: Leadership) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_timeout_min_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum and not leadership.quorum_active():
                self._become_follower(self.term, None)
                return
            leadership.transferee = None  # a transfer gets one election timeout
        if self._heartbeat_elapsed >= self.config.heartbeat_interval_ticks:
            self._heartbeat_elapsed = 0
            leadership.heartbeat()

    # -- term rules ----------------------------------------------------------------

    def _accepts(self, message: Message) -> bool:
        """For us, and from a member of our cluster (a voter, for leader and vote traffic)?"""
        config = self.config
        voters_only = isinstance(message, _FROM_VOTERS_ONLY)
        senders = config.voters if voters_only else config.voters | self._observers
        return (
            message.cluster_id == config.cluster_id
            and message.receiver == config.node_id
            and message.sender != config.node_id
            and message.sender in senders
        )

    def _on_newer_term(self, message: Message) -> bool:
        """A message from a later term. Returns False if it is to be ignored."""
        if isinstance(message, PreVoteRequest | VoteRequest):
            forced = isinstance(message, VoteRequest) and message.leadership_transfer
            if not forced and self._in_lease():
                return False  # a leader is alive: do not let a stray candidate disrupt it
        if isinstance(message, PreVoteRequest) or (
            isinstance(message, PreVoteResponse) and message.granted
        ):
            return True  # a poll for a future term changes no term
        leader = message.sender if isinstance(message, AppendEntries | InstallSnapshot) else None
        self._become_follower(message.term, leader)
        return True

    def _on_older_term(self, message: Message) -> None:
        if (reply := older_term_reply(message, self.term)) is not None:
            self._send(reply)

    def _in_lease(self) -> bool:
        return (
            self.config.check_quorum
            and self.leader_id is not None
            and self._election_elapsed < self.config.election_timeout_min_ticks
        )

    # -- elections -----------------------------------------------------------------

    def _on_pre_vote_request(self, message: PreVoteRequest) -> None:
        granted = self._can_vote_for(message, message.term > self.term)
        term = message.term if granted else self.term
        self._send(PreVoteResponse(self.config.cluster_id, self.id, message.sender, term, granted))

    def _on_vote_request(self, message: VoteRequest) -> None:
        granted = self._can_vote_for(message, False)
        if granted:
            self.voted_for = message.sender
            self._election_elapsed = 0
        reply = VoteResponse(self.config.cluster_id, self.id, message.sender, self.term, granted)
        self._send(reply)

    def _can_vote_for(self, request: PreVoteRequest | VoteRequest, future_term: bool) -> bool:
        """Raft §5.2/§5.4.1: one vote per term, only for a log at least as up to date."""
        if not self.config.is_voter:
            return False
        free = (
            self.voted_for == request.sender
            or (self.voted_for is None and self.leader_id is None)
            or future_term
        )
        return free and self._candidate_log_is_up_to_date(
            request.last_log_index, request.last_log_term
        )

    def _candidate_log_is_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        return self._log.is_up_to_date(last_log_index, last_log_term)

    def _on_pre_vote_response(self, message: PreVoteResponse) -> None:
        expected_term = self.term + 1 if message.granted else self.term
        if self.role is Role.PRE_CANDIDATE and message.term == expected_term:
            self._record_vote(message.sender, granted=message.granted)

    def _on_vote_response(self, message: VoteResponse) -> None:
        if self.role is Role.CANDIDATE:
            self._record_vote(message.sender, granted=message.granted)

    # -- following -----------------------------------------------------------------

    def _follow(self, leader_id: int) -> None:
        if self.role is Role.LEADER:
            raise QuorumSafetyError(f"two leaders in term {self.term}: {self.id} and {leader_id}")
        if self.role in (Role.PRE_CANDIDATE, Role.CANDIDATE):
            self._become_follower(self.term, leader_id)
        self.leader_id = leader_id
        self._election_elapsed = 0

    def _on_append_entries(self, message: AppendEntries) -> None:
        self._follow(message.sender)
        log = self._log
        if message.prev_log_index < log.commit_index:
            self._send(append_reply(message, self.term, log.commit_index))
        elif log.matches(message.prev_log_index, message.prev_log_term):
            log.append_from_leader(message.entries)
            last_new = message.prev_log_index + len(message.entries)
            log.commit_to(min(message.leader_commit, last_new))
            self._send(append_reply(message, self.term, last_new))
        else:
            hint = log.conflict_hint(message.prev_log_index)
            self._send(append_reply(message, self.term, 0, hint))

    def _on_install_snapshot(self, message: InstallSnapshot) -> None:
        self._follow(message.sender)
        match_index = self._log.commit_index
        if message.snapshot_index > match_index:
            snapshot = Snapshot(message.snapshot_index, message.snapshot_term, message.data)
            self._log.install(snapshot)
            self._pending_snapshot, self._restore_pending = snapshot, True
            match_index = snapshot.index
        self._send(
            InstallSnapshotResponse(
                self.config.cluster_id, self.id, message.sender, self.term, match_index
            )
        )

    # -- plumbing ------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._outbox.append(message)

    def _reset_election_timer(self) -> None:
        """Restart the election clock with a fresh randomized timeout."""
        self._election_elapsed = 0
        self._election_timeout = self._rng.randint(
            self.config.election_timeout_min_ticks, self.config.election_timeout_max_ticks
        )
