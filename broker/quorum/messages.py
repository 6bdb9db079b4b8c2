"""The messages Raft voters and observers exchange, as frozen values.

Every message carries an envelope: the ``cluster_id`` (a node refuses messages from
another cluster), the ``sender`` and ``receiver`` node ids and the sender's ``term``. A
message is validated when it is built, so a decoded message and one built in process
obey the same rules: ids fit in int32 and are >= 0, terms and indexes fit in int64 and
are >= 0, entries of an AppendEntries are contiguous from ``prev_log_index + 1`` with
non-decreasing terms no newer than the message term. A rule broken raises ``ValueError``
with a one-line reason (the codec turns it into ``QuorumMessageError``).

Term 0 is the empty initial state: no entry has term 0, the first election is for term 1.
The leader's no-op entry at the start of each term has an empty payload.

PreVote terms: a ``PreVoteRequest`` carries the term the candidate *would* campaign in
(its own term + 1) without the candidate having moved to it; a ``PreVoteResponse`` echoes
that term when granted and carries the voter's own term when refused.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_INDEX",
    "MAX_NODE_ID",
    "AppendEntries",
    "AppendEntriesResponse",
    "Entry",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Message",
    "PreVoteRequest",
    "PreVoteResponse",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
    "append_reply",
    "older_term_reply",
]

MAX_NODE_ID = 2**31 - 1
MAX_INDEX = 2**63 - 1
MAX_CLUSTER_ID_BYTES = 255


def _check_index(name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if value > MAX_INDEX:
        raise ValueError(f"{name} must fit in int64, got {value}")


def _check_node_id(name: str, value: int) -> None:
    if not 0 <= value <= MAX_NODE_ID:
        raise ValueError(f"{name} must be in 0..{MAX_NODE_ID}, got {value}")


def check_cluster_id(cluster_id: str) -> None:
    """Raise ``ValueError`` unless ``cluster_id`` is 1..255 bytes of UTF-8."""
    try:
        size = len(cluster_id.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("cluster id is not encodable as UTF-8") from None
    if not 1 <= size <= MAX_CLUSTER_ID_BYTES:
        raise ValueError(f"cluster id must be 1..{MAX_CLUSTER_ID_BYTES} bytes, got {size}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. An empty payload is the leader's no-op at the start of a term."""

    term: int
    index: int
    payload: bytes

    def __post_init__(self) -> None:
        _check_index("entry term", self.term)
        _check_index("entry index", self.index)
        if self.term == 0 or self.index == 0:
            raise ValueError(f"entry term and index must be >= 1, got {self.term}/{self.index}")

    @property
    def is_noop(self) -> bool:
        return not self.payload


@dataclass(frozen=True, slots=True)
class _Envelope:
    cluster_id: str
    sender: int
    receiver: int
    term: int

    def __post_init__(self) -> None:
        check_cluster_id(self.cluster_id)
        _check_node_id("sender", self.sender)
        _check_node_id("receiver", self.receiver)
        _check_index("term", self.term)


@dataclass(frozen=True, slots=True)
class PreVoteRequest(_Envelope):
    """Would you vote for me in ``term``? Changes no state on the receiver."""

    last_log_index: int
    last_log_term: int

    def __post_init__(self) -> None:
        _Envelope.__post_init__(self)
        _check_log_position(self.last_log_index, self.last_log_term, self.term)


@dataclass(frozen=True, slots=True)
class PreVoteResponse(_Envelope):
    granted: bool


@dataclass(frozen=True, slots=True)
class VoteRequest(_Envelope):
    """RequestVote. ``leadership_transfer`` is set when the leader asked for this election
    (TimeoutNow): voters then grant even while they still hear from that leader."""

    last_log_index: int
    last_log_term: int
    leadership_transfer: bool

    def __post_init__(self) -> None:
        _Envelope.__post_init__(self)
        _check_log_position(self.last_log_index, self.last_log_term, self.term)


@dataclass(frozen=True, slots=True)
class VoteResponse(_Envelope):
    granted: bool


@dataclass(frozen=True, slots=True)
class AppendEntries(_Envelope):
    """Replicate ``entries`` after (prev_log_index, prev_log_term); empty is a heartbeat.

    The sender is the leader of ``term``.
    """

    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int

    def __post_init__(self) -> None:
        _Envelope.__post_init__(self)
        _check_log_position(self.prev_log_index, self.prev_log_term, self.term)
        _check_index("leader commit", self.leader_commit)
        expected, last_term = self.prev_log_index + 1, self.prev_log_term
        for entry in self.entries:
            if entry.index != expected:
                raise ValueError(f"entry index {entry.index} breaks the run, expected {expected}")
            if not last_term <= entry.term <= self.term:
                raise ValueError(
                    f"entry {entry.index} has term {entry.term}, "
                    f"must be in {last_term}..{self.term}"
                )
            expected, last_term = expected + 1, entry.term

    @property
    def leader_id(self) -> int:
        return self.sender


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse(_Envelope):
    """The answer to AppendEntries.

    On success ``match_index`` is the last index known to match the leader's log. On
    refusal ``rejected_index`` is the refused ``prev_log_index`` (so the leader can tell a
    stale refusal from a fresh one) and the conflict hint lets the leader skip a whole
    term per round trip: ``conflict_term`` is the follower's term at ``rejected_index``
    (0 when its log is shorter than that) and ``conflict_index`` the first index the
    follower holds with that term (its last index + 1 when the log is shorter).
    """

    success: bool
    match_index: int
    rejected_index: int
    conflict_index: int
    conflict_term: int

    def __post_init__(self) -> None:
        _Envelope.__post_init__(self)
        _check_index("match index", self.match_index)
        _check_index("rejected index", self.rejected_index)
        _check_index("conflict index", self.conflict_index)
        _check_index("conflict term", self.conflict_term)


@dataclass(frozen=True, slots=True)
class InstallSnapshot(_Envelope):
    """The leader's whole snapshot, sent when the entries a follower needs are compacted
    away. The sender is the leader of ``term``."""

    snapshot_index: int
    snapshot_term: int
    data: bytes

    def __post_init__(self) -> None:
        _Envelope.__post_init__(self)
        _check_log_position(self.snapshot_index, self.snapshot_term, self.term)
        if self.snapshot_index == 0:
            raise ValueError("snapshot index must be >= 1")

    @property
    def leader_id(self) -> int:
        return self.sender


@dataclass(frozen=True, slots=True)
class InstallSnapshotResponse(_Envelope):
    """``match_index``: the last index the receiver now holds (the snapshot's, or its
    commit index when that was already further)."""

    match_index: int

    def __post_init__(self) -> None:
        _Envelope.__post_init__(self)
        _check_index("match index", self.match_index)


@dataclass(frozen=True, slots=True)
class TimeoutNow(_Envelope):
    """Leadership transfer: the leader tells a caught-up voter to campaign at once."""


def _check_log_position(index: int, term: int, message_term: int) -> None:
    _check_index("log index", index)
    _check_index("log term", term)
    if term > message_term:
        raise ValueError(f"log term {term} is newer than the message term {message_term}")
    if (index == 0) != (term == 0):
        raise ValueError(f"log index {index} and term {term} must both be 0 or both >= 1")


Message = (
    PreVoteRequest
    | PreVoteResponse
    | VoteRequest
    | VoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | TimeoutNow
)


def append_reply(
    request: AppendEntries, term: int, match_index: int, refusal: tuple[int, int] | None = None
) -> AppendEntriesResponse:
    """The receiver's answer to ``request``: success with ``match_index``, or a refusal
    with its (conflict index, conflict term) hint."""
    conflict_index, conflict_term = refusal or (0, 0)
    rejected_index = request.prev_log_index if refusal else 0
    return AppendEntriesResponse(
        request.cluster_id,
        request.receiver,
        request.sender,
        term,
        refusal is None,
        match_index,
        rejected_index,
        conflict_index,
        conflict_term,
    )


def older_term_reply(message: Message, term: int) -> Message | None:
    """What a node in ``term`` answers a request of an older term, so that a stale leader
    steps down and a stale candidate catches up; None for responses (dropped)."""
    cluster, me, to = message.cluster_id, message.receiver, message.sender
    match message:
        case AppendEntries():
            return AppendEntriesResponse(
                cluster, me, to, term, False, 0, message.prev_log_index, 0, 0
            )
        case InstallSnapshot():
            return InstallSnapshotResponse(cluster, me, to, term, 0)
        case PreVoteRequest():
            return PreVoteResponse(cluster, me, to, term, False)
        case VoteRequest():
            return VoteResponse(cluster, me, to, term, False)
        case _:
            return None
