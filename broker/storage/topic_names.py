"""Topic naming and partition-count rules, kept apart from ``LogManager`` so that layers
which validate topics without owning a data directory (the metadata controller) can use
them without importing the log stack."""

from __future__ import annotations

import re

from broker.storage.errors import InvalidTopicError

__all__ = ["MAX_PARTITIONS", "validate_topic_name"]

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
MAX_PARTITIONS = 10_000


def validate_topic_name(name: str) -> None:
    """Raise InvalidTopicError unless ``name`` is a legal Kafka topic name."""
    if name in (".", "..") or not _TOPIC_NAME.match(name):
        raise InvalidTopicError(
            f"topic name {name!r} is not legal: use 1-249 characters from [a-zA-Z0-9._-], "
            f"not '.' or '..'"
        )
