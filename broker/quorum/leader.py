"""The leader's half of Raft: replication, the commit rule, check-quorum and transfer.

A ``Leadership`` lives exactly as long as one term's leadership of one node; the node
drops it when it steps down. It reads and extends the node's ``RaftLog`` and sends
through the node's outbox; it never touches the term or the vote.

Commit rule (Raft §5.4.2): the commit index moves to N only if a majority of voters
(the leader counting itself only for entries it has made durable) hold N *and* the entry
at N has the leader's own term. Entries of older terms are committed indirectly, by the
no-op the leader appends when it takes office.
"""

from __future__ import annotations

from collections.abc import Callable

from broker.quorum.config import RaftConfig
from broker.quorum.log import RaftLog
from broker.quorum.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    TimeoutNow,
)
from broker.quorum.progress import Progress, ReplicationState

__all__ = ["Leadership"]


class Leadership:
    """Leader-only state for one term. See the module docstring."""

    def __init__(
        self,
        config: RaftConfig,
        term: int,
        log: RaftLog,
        send: Callable[[Message], None],
        observers: frozenset[int] = frozenset(),
    ) -> None:
        """``observers``: every observer the node knows now (configured or added)."""
        self._config = config
        self._term = term
        self._log = log
        self._send = send
        self._voters = sorted(config.voters - {config.node_id})
        peers = (config.voters | observers) - {config.node_id}
        self.progress = {peer: Progress(next_index=log.last_index + 1) for peer in sorted(peers)}
        self.transferee: int | None = None

    # -- observers joining and leaving -----------------------------------------------

    def add_observer(self, peer: int) -> None:
        """Start replicating to observer ``peer`` (a probe at our log end, sent now)."""
        if peer not in self.progress:
            self.progress[peer] = Progress(next_index=self._log.last_index + 1)
            self.send_append(peer, heartbeat=True)

    def remove_observer(self, peer: int) -> None:
        """Stop replicating to observer ``peer``; its late answers are ignored."""
        if peer not in self._config.voters:
            self.progress.pop(peer, None)

    def voter_match_indexes(self) -> dict[int, int]:
        """The log index up to which each other voter is known to hold the log."""
        voters = self._config.voters
        return {peer: p.match_index for peer, p in self.progress.items() if peer in voters}

    # -- replication ---------------------------------------------------------------

    def propose(self, payload: bytes) -> Entry:
        entry = Entry(self._term, self._log.last_index + 1, payload)
        self._log.append(entry)
        for peer in self.progress:
            self.send_append(peer)
        return entry

    def broadcast(self) -> None:
        """An AppendEntries to every peer, even without entries (heartbeat, new commit)."""
        for peer in self.progress:
            self.send_append(peer, heartbeat=True)

    def send_append(self, peer: int, *, heartbeat: bool = False) -> None:
        """Send ``peer`` what it needs next, if its replication state allows it."""
        progress = self.progress[peer]
        if progress.state is ReplicationState.SNAPSHOT:
            return
        if progress.state is ReplicationState.PROBE and progress.probe_sent and not heartbeat:
            return
        prev_index = progress.next_index - 1
        prev_term = self._log.term_at(prev_index)
        if prev_term is None:
            self._send_snapshot(peer, progress)
            return
        entries = self._log.entries(
            progress.next_index, progress.next_index + self._config.max_entries_per_append
        )
        if not entries and not heartbeat:
            return
        if progress.state is ReplicationState.REPLICATE and entries:
            progress.next_index = entries[-1].index + 1
        elif progress.state is ReplicationState.PROBE:
            progress.probe_sent = True
        self._send(
            AppendEntries(
                self._config.cluster_id,
                self._config.node_id,
                peer,
                self._term,
                prev_index,
                prev_term,
                entries,
                self._log.commit_index,
            )
        )

    def _send_snapshot(self, peer: int, progress: Progress) -> None:
        snapshot = self._log.snapshot
        progress.become_snapshot(snapshot.index)
        self._send(
            InstallSnapshot(
                self._config.cluster_id,
                self._config.node_id,
                peer,
                self._term,
                snapshot.index,
                snapshot.term,
                snapshot.data,
            )
        )

    def on_append_response(self, message: AppendEntriesResponse) -> None:
        progress = self.progress.get(message.sender)
        if progress is None:
            return
        progress.recent_active = True
        if not message.success:
            if progress.refused(message.rejected_index, self._next_from_hint(message)):
                self.send_append(message.sender)
            return
        self._on_acknowledged(message.sender, progress, message.match_index)

    def on_snapshot_response(self, message: InstallSnapshotResponse) -> None:
        progress = self.progress.get(message.sender)
        if progress is None:
            return
        progress.recent_active = True
        if progress.state is ReplicationState.SNAPSHOT:
            progress.become_probe()
        self._on_acknowledged(message.sender, progress, message.match_index)

    def _on_acknowledged(self, peer: int, progress: Progress, match_index: int) -> None:
        match_index = min(match_index, self._log.last_index)
        news = progress.update_match(match_index)
        if progress.state is ReplicationState.PROBE:
            progress.become_replicate()
        if news and self.maybe_commit():
            self.broadcast()
        else:
            self.send_append(peer)
        if peer == self.transferee and progress.match_index == self._log.last_index:
            self._send_timeout_now(peer)

    def _next_from_hint(self, message: AppendEntriesResponse) -> int:
        """Where to probe next: past our last entry of the follower's conflicting term if
        we have that term, else the first index the follower holds with it."""
        if message.conflict_term > 0:
            last = self._log.last_index_of_term(message.conflict_term, message.rejected_index)
            if last is not None:
                return last + 1
        return message.conflict_index

    def maybe_commit(self) -> bool:
        """Apply the commit rule; True if the commit index moved."""
        matches = sorted(
            [self._log.stable_index] + [self.progress[v].match_index for v in self._voters],
            reverse=True,
        )
        candidate = matches[self._config.quorum_size - 1]
        if candidate > self._log.commit_index and self._log.term_at(candidate) == self._term:
            return self._log.commit_to(candidate)
        return False

    # -- liveness of the leadership ------------------------------------------------

    def heartbeat(self) -> None:
        """Called every heartbeat interval: resend probes and stuck snapshots, heartbeat."""
        for progress in self.progress.values():
            if progress.state is ReplicationState.SNAPSHOT:
                progress.snapshot_wait_ticks += self._config.heartbeat_interval_ticks
                if progress.snapshot_wait_ticks >= self._config.election_timeout_min_ticks:
                    progress.become_probe()
        self.broadcast()

    def quorum_active(self) -> bool:
        """Check-quorum: did a majority (counting us) answer since the last call?"""
        active = 1 + sum(self.progress[v].recent_active for v in self._voters)
        for progress in self.progress.values():
            progress.recent_active = False
        return active >= self._config.quorum_size

    # -- leadership transfer -------------------------------------------------------

    def transfer_to(self, peer: int) -> None:
        """Start handing leadership to ``peer`` (a voter): catch it up, then TimeoutNow."""
        self.transferee = peer
        progress = self.progress[peer]
        if progress.match_index == self._log.last_index:
            self._send_timeout_now(peer)
        else:
            self.send_append(peer, heartbeat=True)

    def _send_timeout_now(self, peer: int) -> None:
        self._send(TimeoutNow(self._config.cluster_id, self._config.node_id, peer, self._term))
