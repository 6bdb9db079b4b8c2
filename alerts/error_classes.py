"""Classes of Kafka error codes, as the ``error`` label of the broker's request counter
spells them (the lower-case names of kio's ``ErrorCode``; ``none`` is success).

Taken from the enum, never typed by hand, so a typo fails at import.
"""

from __future__ import annotations

from typing import Final

from kio.schema.errors import ErrorCode

__all__ = ["AUTH_ERRORS", "EXPECTED_ERRORS", "NO_ERROR", "SERVER_ERRORS"]

NO_ERROR: Final = ErrorCode.none.name

# The broker failed the request: the client did nothing wrong and a retry may not help.
SERVER_ERRORS: Final = tuple(
    sorted(
        e.name
        for e in (
            ErrorCode.unknown_server_error,
            ErrorCode.kafka_storage_error,
            ErrorCode.log_dir_not_found,
            ErrorCode.request_timed_out,
            ErrorCode.not_enough_replicas,
            ErrorCode.not_enough_replicas_after_append,
            ErrorCode.leader_not_available,
            ErrorCode.not_leader_or_follower,
            ErrorCode.broker_not_available,
            ErrorCode.coordinator_not_available,
            ErrorCode.coordinator_load_in_progress,
        )
    )
)

# Authentication and authorization denials (SASL and ACLs).
AUTH_ERRORS: Final = tuple(
    sorted(
        e.name
        for e in ErrorCode
        if e.name.endswith("_authorization_failed") or e is ErrorCode.sasl_authentication_failed
    )
)

# Answers that are part of normal operation: group membership churn during rebalances,
# a consumer asking past the end of a log, a fetch session to re-establish.
EXPECTED_ERRORS: Final = tuple(
    sorted(
        e.name
        for e in (
            ErrorCode.rebalance_in_progress,
            ErrorCode.unknown_member_id,
            ErrorCode.illegal_generation,
            ErrorCode.member_id_required,
            ErrorCode.not_coordinator,
            ErrorCode.offset_out_of_range,
            ErrorCode.fetch_session_id_not_found,
            ErrorCode.invalid_fetch_session_epoch,
            ErrorCode.topic_already_exists,
        )
    )
)
