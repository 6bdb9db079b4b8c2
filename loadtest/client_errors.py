"""Clients' errors, retriable or not, as Kafka classifies them (pure).

The load workers count every error their clients report by librdkafka's name: a record's
delivery failure (``NOT_ENOUGH_REPLICAS``, ``_MSG_TIMED_OUT``...), a consumer's message
error (prefixed ``consumer:``) and an error the client reports outside any record, such
as a lost broker connection (prefixed ``client:``). A *retriable* error is one the client
retries by itself (Kafka's ``RetriableException`` family: leadership moving, a
coordinator loading, too few replicas for a while, a connection lost); a non-retriable
one reaches the application as a failure. ``_MSG_TIMED_OUT`` is a record given up after
its delivery timeout: the application sees it fail, so it is non-retriable whatever
caused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["RETRIABLE_ERRORS", "classify", "error_name", "is_retriable"]

RETRIABLE_ERRORS: Final = frozenset(
    {
        # broker errors (Kafka's RetriableException subclasses)
        "CORRUPT_MESSAGE",
        "UNKNOWN_TOPIC_OR_PART",
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_FOR_PARTITION",  # librdkafka's older name of NOT_LEADER_OR_FOLLOWER
        "NOT_LEADER_OR_FOLLOWER",
        "REQUEST_TIMED_OUT",
        "NETWORK_EXCEPTION",
        "COORDINATOR_LOAD_IN_PROGRESS",
        "COORDINATOR_NOT_AVAILABLE",
        "NOT_COORDINATOR",
        "NOT_ENOUGH_REPLICAS",
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "REBALANCE_IN_PROGRESS",
        "KAFKA_STORAGE_ERROR",
        "FETCH_SESSION_ID_NOT_FOUND",
        "INVALID_FETCH_SESSION_EPOCH",
        "FENCED_LEADER_EPOCH",
        "UNKNOWN_LEADER_EPOCH",
        "OFFSET_NOT_AVAILABLE",
        "PREFERRED_LEADER_NOT_AVAILABLE",
        "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        "THROTTLING_QUOTA_EXCEEDED",
        "CONCURRENT_TRANSACTIONS",
        "UNSTABLE_OFFSET_COMMIT",
        # librdkafka's local errors for transient conditions it recovers from
        "_TRANSPORT",
        "_ALL_BROKERS_DOWN",
        "_TIMED_OUT",
        "_RESOLVE",
        "_WAIT_COORD",
        "_PARTITION_EOF",
    }
)
_PREFIXES: Final = ("consumer:", "client:")


def error_name(counted_as: str) -> str:
    """The error's own name, without the worker's ``consumer:``/``client:`` prefixes."""
    name = counted_as
    for prefix in _PREFIXES:
        name = name.removeprefix(prefix)
    return name


def is_retriable(counted_as: str) -> bool:
    return error_name(counted_as) in RETRIABLE_ERRORS


def classify(errors: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``{"retriable": {name: count}, "non_retriable": {name: count}}``, names as counted."""
    out: dict[str, dict[str, int]] = {"retriable": {}, "non_retriable": {}}
    for name, count in sorted(errors.items()):
        out["retriable" if is_retriable(name) else "non_retriable"][name] = count
    return out
