"""InitProducerId (v0-4) for idempotent producers (transactions are not supported).

A new producer gets a fresh id (unique in the cluster: blocks from the controller,
``broker.server.producer_ids``) at epoch 0. A
producer that passes its current id and epoch (v3+, after a fatal sequence error) gets
the same id with the epoch bumped, which resets its sequences on every partition.
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import ApiKey, response_class
from broker.server.context import BrokerServices, RequestContext, make
from broker.server.errors import wire_error
from broker.server.producer_ids import ProducerIdUnavailable

__all__ = ["handle"]

_ZERO = datetime.timedelta(0)
_MAX_EPOCH = 32767


async def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.INIT_PRODUCER_ID, ctx.version)
    if request.transactional_id is not None:
        return make(
            cls,
            throttle_time=_ZERO,
            error_code=ErrorCode.transactional_id_authorization_failed,
            producer_id=-1,
            producer_epoch=-1,
        )
    producer_id = getattr(request, "producer_id", -1)
    epoch = getattr(request, "producer_epoch", -1)
    if producer_id >= 0 and 0 <= epoch < _MAX_EPOCH - 1:
        new_id, new_epoch = producer_id, epoch + 1
    else:
        try:
            new_id, new_epoch = await services.producer_ids.allocate(), 0
        except ProducerIdUnavailable as exc:
            ctx.error = ErrorCode.coordinator_not_available.name
            return make(
                cls,
                throttle_time=_ZERO,
                error_code=wire_error(exc.error),
                producer_id=-1,
                producer_epoch=-1,
            )
    return make(
        cls,
        throttle_time=_ZERO,
        error_code=ErrorCode.none,
        producer_id=new_id,
        producer_epoch=new_epoch,
    )
