"""FindCoordinator (v0-4) while the broker has no group or transaction coordinator:
every key is answered COORDINATOR_NOT_AVAILABLE (retriable) with a message saying so.

Why advertise it at all: librdkafka (kcat's 2.0.2 and confluent-kafka's 2.16) enables
its LZ4 feature only when the broker's FindCoordinator range includes v0, and without
it silently produces LZ4 batches uncompressed. Clients that use consumer groups keep
retrying and never reach a group API the broker does not advertise. The consumer-group
issue replaces this module with the real coordinator lookup.
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import ApiKey, response_class
from broker.server.context import BrokerServices, RequestContext, make, nested_if_any

__all__ = ["handle"]

_ZERO = datetime.timedelta(0)
_MESSAGE = "this broker has no group or transaction coordinator yet"


def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.FIND_COORDINATOR, ctx.version)
    unavailable = {
        "error_code": ErrorCode.coordinator_not_available,
        "error_message": _MESSAGE,
        "node_id": -1,
        "host": "",
        "port": -1,
    }
    coordinator_cls = nested_if_any(cls, "Coordinator")
    if coordinator_cls is None:  # v0-3: one key per request
        return make(cls, throttle_time=_ZERO, **unavailable)
    coordinators = tuple(
        make(coordinator_cls, key=key, **unavailable) for key in request.coordinator_keys
    )
    return make(cls, throttle_time=_ZERO, coordinators=coordinators)
