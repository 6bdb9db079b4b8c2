"""Which requests pass through the fault proxy in front of the broker: the API key and
version of each, to see which versions each client actually negotiates.

Clients learn broker addresses from Metadata, so the broker must advertise the proxy
(``--advertised``): start the proxy with ``on_request=log.record``, start the broker
advertising ``proxy.address``, then point the proxy at the broker's port.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["RequestLog", "listening_ports"]


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


def listening_ports(pid: int) -> set[int]:
    """TCP ports process ``pid`` listens on (Linux /proc). A broker advertising the
    proxy prints the proxy's address in its banner, so its real port is found here."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports
