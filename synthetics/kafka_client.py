"""Thin helpers over aiokafka shared by the probe and the lag monitor.

Everything here speaks to the cluster through aiokafka's public client objects and its
connection class (the same code its producer and consumer use), never through broker
internals, so it works against any Kafka-compatible cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, LeaderNotAvailableError, NotLeaderForPartitionError
from aiokafka.protocol.metadata import MetadataRequest

from contracts.clock import Clock
from synthetics.coverage import BrokerCheck, cluster_view

__all__ = ["check_broker", "describe_error", "is_not_leader"]

_CONN_KEYS = (
    "client_id",
    "request_timeout_ms",
    "security_protocol",
    "ssl_context",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
)


def describe_error(exc: BaseException) -> str:
    """One line for logs and the status page."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip()
    name = type(exc).__name__
    if isinstance(exc, KafkaError) and not text:
        return name
    return f"{name}: {text}" if text and name not in text else (text or name)


def is_not_leader(exc: BaseException | None) -> bool:
    """The client's error says the partition's leader moved or is being elected."""
    return isinstance(exc, NotLeaderForPartitionError | LeaderNotAvailableError)


async def check_broker(
    host: str, port: int, topic: str, options: dict[str, Any], clock: Clock
) -> BrokerCheck:
    """Connect to ``host:port`` afresh (TCP, TLS, ApiVersions, SASL), ask for the
    metadata of ``topic`` without creating it, close. Never raises for cluster errors."""
    address = f"{host}:{port}"
    timeout = options.get("request_timeout_ms", 30_000) / 1000
    conn_options = {k: options[k] for k in _CONN_KEYS if k in options}
    started = clock.monotonic()
    try:
        conn = await asyncio.wait_for(create_conn(host, port, **conn_options), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        return BrokerCheck(address, False, error=f"connect: {describe_error(exc)}")
    connected = clock.monotonic()
    try:
        response = await asyncio.wait_for(
            conn.send(MetadataRequest([topic], allow_auto_topic_creation=False)), timeout
        )
        view = cluster_view(response.to_object(), topic)
    except (KafkaError, OSError, TimeoutError) as exc:
        return BrokerCheck(
            address, False, connected - started, error=f"metadata: {describe_error(exc)}"
        )
    finally:
        conn.close()
    return BrokerCheck(address, True, connected - started, clock.monotonic() - connected, view)
