"""The APIs and versions the broker advertises, and their kio message classes.

``SUPPORTED`` is the single table behind ApiVersions, request validation and the tests
that exercise every advertised version. Ranges follow what real clients need (see
KAFKA_NOTES.md): Produce starts at 0 because older librdkafka only compresses when v0
is advertised; v0-2 are answered with UNSUPPORTED_VERSION by a hand-written codec since
kio has no classes for them. Do not advertise an API before it is implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cache

from kio.index import load_request_schema, load_response_schema
from kio.static.protocol import RequestPayload, ResponsePayload

__all__ = ["SUPPORTED", "ApiKey", "ApiRange", "request_class", "response_class"]


class ApiKey(IntEnum):
    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    SASL_AUTHENTICATE = 36
    CREATE_PARTITIONS = 37
    DELETE_GROUPS = 42
    INCREMENTAL_ALTER_CONFIGS = 44
    DESCRIBE_CLUSTER = 60


@dataclass(frozen=True, slots=True)
class ApiRange:
    key: ApiKey
    min_version: int
    max_version: int
    # Lowest version kio can decode; versions below it get a hand-written answer.
    min_decodable: int | None = None

    def decodable(self, version: int) -> bool:
        low = self.min_version if self.min_decodable is None else self.min_decodable
        return low <= version <= self.max_version


SUPPORTED: dict[int, ApiRange] = {
    r.key: r
    for r in (
        ApiRange(ApiKey.PRODUCE, 0, 9, min_decodable=3),
        ApiRange(ApiKey.FETCH, 4, 16),
        ApiRange(ApiKey.LIST_OFFSETS, 1, 7),
        ApiRange(ApiKey.OFFSET_FOR_LEADER_EPOCH, 2, 4),
        ApiRange(ApiKey.METADATA, 1, 12),
        ApiRange(ApiKey.API_VERSIONS, 0, 4),
        ApiRange(ApiKey.CREATE_TOPICS, 2, 7),
        ApiRange(ApiKey.DELETE_TOPICS, 1, 6),
        ApiRange(ApiKey.INIT_PRODUCER_ID, 0, 4),
        ApiRange(ApiKey.DESCRIBE_CONFIGS, 1, 4),
        ApiRange(ApiKey.ALTER_CONFIGS, 0, 2),
        ApiRange(ApiKey.CREATE_PARTITIONS, 0, 3),
        ApiRange(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1),
        ApiRange(ApiKey.DESCRIBE_CLUSTER, 0, 1),
        ApiRange(ApiKey.FIND_COORDINATOR, 0, 4),
        ApiRange(ApiKey.JOIN_GROUP, 0, 7),
        ApiRange(ApiKey.SYNC_GROUP, 0, 5),
        ApiRange(ApiKey.HEARTBEAT, 0, 4),
        ApiRange(ApiKey.LEAVE_GROUP, 0, 4),
        ApiRange(ApiKey.OFFSET_COMMIT, 2, 8),
        ApiRange(ApiKey.OFFSET_FETCH, 1, 8),
        ApiRange(ApiKey.LIST_GROUPS, 0, 4),
        ApiRange(ApiKey.DESCRIBE_GROUPS, 0, 5),
        ApiRange(ApiKey.DELETE_GROUPS, 0, 2),
    )
}


@cache
def request_class(api_key: int, version: int) -> type[RequestPayload]:
    return load_request_schema(api_key, version)


@cache
def response_class(api_key: int, version: int) -> type[ResponsePayload]:
    return load_response_schema(api_key, version)


@cache
def request_is_flexible(api_key: int, version: int) -> bool:
    """Whether the request uses header v2 (tagged fields). Known for kio versions only;
    the hand-answered old Produce versions are not flexible."""
    api = SUPPORTED.get(api_key)
    if api is not None and not api.decodable(version):
        return False
    return bool(request_class(api_key, version).__flexible__)


@cache
def response_header_flexible(api_key: int, version: int) -> bool:
    """Response header v1 (with tags) for flexible versions, except ApiVersions, whose
    response header is always v0 so that any client can read the version list."""
    if api_key == ApiKey.API_VERSIONS:
        return False
    api = SUPPORTED.get(api_key)
    if api is not None and not api.decodable(version):
        return False
    return bool(response_class(api_key, version).__flexible__)
