"""The I/O edge's half of the replication core: executing its actions on a real
``broker.storage.log.Log``. The only module of the package that writes to disk (through
the Log); everything it does is spelled out by the action types it takes.

Storage errors propagate (LogStorageError, CorruptBatchError, UnexpectedAppendOffsetError
...): the caller logs them; the follower's answer is already settled, so its next
request fetches again from the log end as it is (unchanged or partly advanced).
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.replication.follower import (
    AdvanceLogStart,
    AppendReplicated,
    FollowerAction,
    TruncateFullyAndStartAt,
    TruncateTo,
)
from broker.replication.replica_set import AssignLeaderEpoch, DeleteLog, RoleLogAction
from broker.storage.log import Log

__all__ = ["apply_follower_actions", "apply_role_actions"]


def apply_follower_actions(log: Log, actions: Iterable[FollowerAction]) -> None:
    """Execute a follower's actions in order (see each action's docstring)."""
    for action in actions:
        if isinstance(action, AppendReplicated):
            log.append_replicated(action.records)
        elif isinstance(action, TruncateTo):
            if action.offset < log.log_start_offset:
                log.truncate_fully_and_start_at(action.offset)
            else:
                log.truncate_to(action.offset)
        elif isinstance(action, TruncateFullyAndStartAt):
            log.truncate_fully_and_start_at(action.offset)
        elif isinstance(action, AdvanceLogStart):
            target = min(action.offset, log.log_end_offset)
            if target > log.log_start_offset:
                log.advance_log_start(target)


def apply_role_actions(log: Log, actions: Iterable[RoleLogAction]) -> None:
    """Execute a role transition's log actions. ``DeleteLog`` is left to the caller
    (the LogManager owns deletion); it is skipped here."""
    for action in actions:
        if isinstance(action, AssignLeaderEpoch):
            log.assign_leader_epoch(action.leader_epoch)
        elif isinstance(action, DeleteLog):
            continue
