"""Routing a request frame to its handler and encoding the reply.

For every frame: parse the header, check the API and version against the advertised
table, decode the body (kio, or a hand-written decoder on the hot path), call the
handler, and frame the response with the right header version. Anything that makes
the byte stream untrustworthy raises ProtocolViolation; the connection then closes
with the reason logged and counted. A malformed request never reaches storage.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from broker.protocol.apis import SUPPORTED, ApiKey, request_is_flexible
from broker.protocol.header import (
    HeaderError,
    RequestHeader,
    parse_header_prefix,
    skip_tagged_fields,
)
from broker.protocol.kio_adapter import DecodeError, decode_request, encode_entity, response_header
from broker.protocol.produce_codec import ProduceDecodeError, decode_produce
from broker.server.context import (
    NO_RESPONSE,
    BrokerServices,
    MaybeAsyncReply,
    RawBody,
    Reply,
    RequestContext,
    _NoResponse,
)
from broker.server.handlers import (
    api_versions,
    cluster,
    configs,
    fetch,
    groups,
    leader_epochs,
    list_offsets,
    metadata,
    offsets,
    produce,
    producer_ids,
    topics,
)

__all__ = ["Dispatched", "Dispatcher", "ProtocolViolation", "is_pending"]

_SIZE = struct.Struct(">i")

Handler = Callable[[BrokerServices, RequestContext, Any], MaybeAsyncReply]
Decoder = Callable[[bytes | bytearray, int, int], Any]


class ProtocolViolation(Exception):
    """The request cannot be answered; close the connection. ``reason`` is a metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Route:
    handle: Handler
    decode: Decoder | None = None


def _decode_produce(frame: bytes | bytearray, offset: int, version: int) -> Any:
    try:
        return decode_produce(frame, offset, version)
    except (ProduceDecodeError, ValueError, IndexError) as exc:  # ValueError: bad varint, UTF-8
        raise DecodeError(f"cannot decode ProduceRequest v{version}: {exc}") from exc


ROUTES: dict[int, Route] = {
    ApiKey.API_VERSIONS: Route(api_versions.handle),
    ApiKey.METADATA: Route(metadata.handle),
    ApiKey.PRODUCE: Route(produce.handle, _decode_produce),
    ApiKey.FETCH: Route(fetch.handle),
    ApiKey.LIST_OFFSETS: Route(list_offsets.handle),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: Route(leader_epochs.handle),
    ApiKey.CREATE_TOPICS: Route(topics.handle_create),
    ApiKey.DELETE_TOPICS: Route(topics.handle_delete),
    ApiKey.CREATE_PARTITIONS: Route(topics.handle_create_partitions),
    ApiKey.DESCRIBE_CONFIGS: Route(configs.handle_describe),
    ApiKey.ALTER_CONFIGS: Route(configs.handle_alter),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: Route(configs.handle_incremental_alter),
    ApiKey.INIT_PRODUCER_ID: Route(producer_ids.handle),
    ApiKey.DESCRIBE_CLUSTER: Route(cluster.handle),
    ApiKey.FIND_COORDINATOR: Route(groups.handle_find_coordinator),
    ApiKey.JOIN_GROUP: Route(groups.handle_join),
    ApiKey.SYNC_GROUP: Route(groups.handle_sync),
    ApiKey.HEARTBEAT: Route(groups.handle_heartbeat),
    ApiKey.LEAVE_GROUP: Route(groups.handle_leave),
    ApiKey.LIST_GROUPS: Route(groups.handle_list_groups),
    ApiKey.DESCRIBE_GROUPS: Route(groups.handle_describe_groups),
    ApiKey.DELETE_GROUPS: Route(groups.handle_delete_groups),
    ApiKey.OFFSET_COMMIT: Route(offsets.handle_commit),
    ApiKey.OFFSET_FETCH: Route(offsets.handle_fetch),
}

_API_NAMES = {int(k): k.name.lower() for k in ApiKey}


@dataclass(slots=True)
class Dispatched:
    """A request that was accepted; ``reply`` may still be pending (awaitable)."""

    ctx: RequestContext
    api: str
    reply: MaybeAsyncReply


class Dispatcher:
    def __init__(self, services: BrokerServices) -> None:
        self.services = services
        missing = set(SUPPORTED) - set(ROUTES)
        if missing:  # pragma: no cover - a programming error caught at start
            raise RuntimeError(f"advertised APIs without a handler: {sorted(missing)}")
        # One lookup per request: (api key, version) -> what dispatch needs to know.
        self._table: dict[tuple[int, int], tuple[str, bool, Route, bool]] = {
            (key, version): (
                _API_NAMES[key],
                request_is_flexible(key, version),
                ROUTES[key],
                api.decodable(version),
            )
            for key, api in SUPPORTED.items()
            for version in range(api.min_version, api.max_version + 1)
        }

    def dispatch(self, frame: bytes | bytearray, principal: str, client_address: str) -> Dispatched:
        try:
            header = parse_header_prefix(frame)
        except HeaderError as exc:
            raise ProtocolViolation("header", str(exc)) from exc
        key, version = header.api_key, header.api_version
        entry = self._table.get((key, version))
        if entry is None:
            return self._unsupported(header, principal, client_address)
        name, flexible, route, decodable = entry
        ctx = RequestContext(header, principal, client_address)
        offset = header.size
        if flexible:
            try:
                offset = skip_tagged_fields(frame, offset)
            except HeaderError as exc:
                raise ProtocolViolation("header", str(exc)) from exc
        try:
            if route.decode is not None:
                request = route.decode(frame, offset, version)
            elif decodable:
                request, trailing = decode_request(key, version, frame, offset)
                if trailing:
                    self.services.stats.count_trailing(name)
            else:  # pragma: no cover - every undecodable version has a custom decoder
                raise DecodeError(f"{name} v{version} has no decoder")
        except DecodeError as exc:
            raise ProtocolViolation("decode", str(exc)) from exc
        return Dispatched(ctx, name, route.handle(self.services, ctx, request))

    def _unsupported(
        self, header: RequestHeader, principal: str, client_address: str
    ) -> Dispatched:
        key, version = header.api_key, header.api_version
        api = SUPPORTED.get(key)
        if api is None:
            raise ProtocolViolation("unknown_api", f"unknown or unsupported API key {key}")
        name = _API_NAMES[key]
        if key == ApiKey.API_VERSIONS:
            ctx = RequestContext(header, principal, client_address)
            ctx.error = ErrorCode.unsupported_version.name
            return Dispatched(ctx, name, api_versions.unsupported_version_body())
        raise ProtocolViolation(
            "unsupported_version",
            f"{name} v{version} is not supported (v{api.min_version}-v{api.max_version})",
        )

    def encode(self, dispatched: Dispatched, reply: Reply) -> list[bytes | memoryview] | None:
        """Frame a reply (size prefix, header, body); None when no response is due."""
        if reply is NO_RESPONSE:
            return None
        header = dispatched.ctx.header
        head = response_header(header.api_key, header.api_version, header.correlation_id)
        if isinstance(reply, RawBody):
            body = reply.parts
        else:
            assert not isinstance(reply, _NoResponse)
            if dispatched.ctx.error == "none":
                error = first_error(reply)
                if error is not None:
                    dispatched.ctx.error = error.name
            body = [encode_entity(reply)]
        if len(body) == 1:
            return [_SIZE.pack(len(head) + len(body[0])) + head, body[0]]
        size = len(head) + sum(len(p) for p in body)
        return [_SIZE.pack(size) + head, *body]


def is_pending(reply: MaybeAsyncReply) -> bool:
    if type(reply) is RawBody or reply is NO_RESPONSE:  # the hot path: answered at once
        return False
    return inspect.isawaitable(reply)


def first_error(entity: object, depth: int = 0) -> ErrorCode | None:
    """The first error code other than NONE in a (control-plane) response, looking into
    nested results (per topic, per group, per partition), for request metrics."""
    error = getattr(entity, "error_code", None)
    if isinstance(error, ErrorCode) and error is not ErrorCode.none:
        return error
    if depth > 3 or not hasattr(entity, "__dataclass_fields__"):
        return None
    for name in entity.__dataclass_fields__:
        value = getattr(entity, name)
        if isinstance(value, tuple):
            for item in value:
                found = first_error(item, depth + 1)
                if found is not None:
                    return found
    return None
