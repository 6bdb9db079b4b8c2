"""Which requests pass through the fault proxy in front of the broker: the API key and
version of each, to see which versions each client actually negotiates.

Clients learn broker addresses from Metadata, so the broker must advertise the proxy
(``--advertised``): start the proxy with ``on_request=log.record``, start the broker
advertising ``proxy.address``, then point the proxy at the port the broker's ready file
says it bound.
"""

from __future__ import annotations

import threading

__all__ = ["RequestLog"]


class RequestLog:
    """(api key, version) of every request, in order of arrival; ``record`` may be called
    from the proxy's thread while the test calls ``take``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[tuple[int, int]] = []

    def record(self, api_key: int, version: int) -> None:
        with self._lock:
            self._seen.append((api_key, version))

    def take(self) -> list[tuple[int, int]]:
        """Every request since the last call."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen
