"""Errors the metadata quorum raises on purpose.

Every error carries a one-line human reason: the transport logs it and drops the
connection (``QuorumMessageError``), the controller logs it and stops the node
(``QuorumStorageError``, ``QuorumSafetyError``).
"""

from __future__ import annotations

__all__ = ["QuorumError", "QuorumMessageError", "QuorumSafetyError", "QuorumStorageError"]


class QuorumError(Exception):
    """Base of every error the quorum package raises on purpose."""


class QuorumMessageError(QuorumError):
    """Bytes that are not a valid quorum message (truncated, corrupt, out of range)."""


class QuorumStorageError(QuorumError):
    """The disk refused an operation or holds data that fails its checks.

    After this error the store accepts no more writes; reopen the directory (which runs
    recovery) before going on. Nothing is ever silently half-written.
    """


class QuorumSafetyError(QuorumError):
    """A peer asked for something Raft's invariants forbid (for example to overwrite a
    committed entry). The cluster's safety is broken; stop the node rather than diverge."""
