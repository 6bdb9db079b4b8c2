"""ApiVersions: the version table every client reads first.

The response header is always v0 (no tagged fields) so that any client can parse it.
A request for a version above ours is answered in the v0 layout with
UNSUPPORTED_VERSION and the full table; clients then retry with our highest version.
"""

from __future__ import annotations

import datetime
import struct
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import SUPPORTED, ApiKey, response_class
from broker.server.context import BrokerServices, RawBody, RequestContext, make, nested

__all__ = ["handle", "unsupported_version_body"]

_ZERO = datetime.timedelta(0)


def handle(services: BrokerServices, ctx: RequestContext, request: Any) -> Any:
    cls = response_class(ApiKey.API_VERSIONS, ctx.version)
    api_version = nested(cls, "ApiVersion")
    keys = tuple(
        make(api_version, api_key=r.key, min_version=r.min_version, max_version=r.max_version)
        for r in sorted(SUPPORTED.values(), key=lambda r: r.key)
    )
    return make(cls, error_code=ErrorCode.none, api_keys=keys, throttle_time=_ZERO)


def unsupported_version_body() -> RawBody:
    """ApiVersions v0 layout: error_code, [api_key, min, max]."""
    ranges = sorted(SUPPORTED.values(), key=lambda r: r.key)
    body = struct.pack(">hi", ErrorCode.unsupported_version.value, len(ranges))
    body += b"".join(struct.pack(">hhh", r.key, r.min_version, r.max_version) for r in ranges)
    return RawBody([body])
