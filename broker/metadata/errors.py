"""Errors of the metadata layer. (The Kafka error codes the controller answers with are
``broker.error_codes.KafkaError``.)"""

from __future__ import annotations

__all__ = ["ControllerStateError", "MetadataRecordError"]


class MetadataRecordError(ValueError):
    """A metadata record (or snapshot) is malformed, or refused by the image.

    The message is one line saying why, for example ``partition_change for t-0: stale
    partition epoch 3, current 5``. Refusal is deterministic: every node refuses the same
    record in the same state, and a refused record changes nothing.
    """


class ControllerStateError(RuntimeError):
    """The controller was driven against its contract (a programming error in the app):
    called while inactive, or asked for more work while the records of its previous
    result were never marked proposed."""
