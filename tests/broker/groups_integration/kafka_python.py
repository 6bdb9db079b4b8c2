"""kafka-python's names the tests use, imported with its known deprecation silenced.

kafka-python 3.0 loads its protocol schemas through importlib.resources' legacy
``read_text``/``open_text``, deprecated since Python 3.11; with warnings as errors that
breaks collection when this package is imported before our conftest's filter applies
(a run from the repository root). The filter is scoped to the import.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.admin import MemberToRemove
    from kafka.structs import OffsetAndMetadata

__all__ = [
    "KafkaAdminClient",
    "KafkaConsumer",
    "MemberToRemove",
    "OffsetAndMetadata",
    "TopicPartition",
]
