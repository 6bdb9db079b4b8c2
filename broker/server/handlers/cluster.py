"""DescribeCluster (v0-1): this node is the whole cluster and its controller."""

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
    node = services.node_id
    return make(
        cls,
        throttle_time=datetime.timedelta(0),
        error_code=ErrorCode.none,
        error_message=None,
        endpoint_type=1,
        cluster_id=services.cluster_id,
        controller_id=node,
        brokers=(
            make(
                broker_cls,
                broker_id=node,
                host=services.advertised.host,
                port=services.advertised.port,
                rack=None,
            ),
        ),
        cluster_authorized_operations=-2147483648,
    )
