"""Errors of the metadata layer. (The Kafka error codes the controller answers with are
``broker.error_codes.KafkaError``.)"""

from __future__ import annotations

__all__ = ["ControllerStateError", "MetadataRecordError", "RpcError"]


class MetadataRecordError(ValueError):
    """A metadata record (or snapshot) is malformed, or refused by the image.

    The message is one line saying why, for example ``partition_change for t-0: stale
    partition epoch 3, current 5``. Refusal is deterministic: every node refuses the same
    record in the same state, and a refused record changes nothing.
    """


class RpcError(MetadataRecordError):
    """A broker-to-controller RPC (``broker.metadata.rpc``) is malformed: not canonical
    JSON, an unknown kind or version, a missing, unexpected or mistyped field, a value
    out of range. The message is one line naming the kind and the field, for example
    ``broker_heartbeat: node_id: -1 is outside 0..2147483647``."""


class ControllerStateError(RuntimeError):
    """The controller was driven against its contract (a programming error in the app):
    called while inactive, or asked for more work while the records of its previous
    result were never marked proposed."""
