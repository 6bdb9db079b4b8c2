"""DescribeCluster (v0-1): the live brokers of the metadata image and the node leading
the metadata quorum (any live broker when none is known, as Metadata does)."""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import ApiKey, response_class
from broker.server.context import BrokerServices, RequestContext, make, nested

__all__ = ["handle"]


def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.DESCRIBE_CLUSTER, ctx.version)
    broker_cls = nested(cls, "DescribeClusterBroker")
    image = services.replicas.image
    live = sorted((n, reg) for n, reg in image.brokers.items() if not reg.fenced)
    controller = services.cluster.controller_id
    if controller not in {n for n, _ in live}:
        controller = live[0][0] if live else services.node_id
    return make(
        cls,
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        error_message=None,
        endpoint_type=1,
        cluster_id=services.cluster_id,
        controller_id=controller,
        brokers=tuple(
            make(broker_cls, broker_id=node, host=ln.host, port=ln.port, rack=reg.rack)
            for node, reg in live
            for ln in reg.listeners[:1]
        ),
        cluster_authorized_operations=-2147483648,
    )
