"""The ready file: how a Tidewatch process says it serves, and where.

``tidewatch broker --ready-file PATH`` and ``tidewatch up --ready-file PATH`` write one
JSON document once they serve (listeners bound, log recovered), and remove it when they
stop cleanly. The document is written to a temporary file in the same directory and
renamed into place, so a reader sees either no file or a whole document. After a crash
the file stays behind; its ``pid`` tells it from the next run's. Format version 1::

    {
      "format": 1,
      "kind": "broker",                                    # or "up"
      "pid": 4242,
      "node_id": 0,
      "cluster": "local",
      "data_dir": "/abs/path/to/data",
      "kafka": {"host": "127.0.0.1", "port": 40123},       # listener as bound
      "advertised": {"host": "127.0.0.1", "port": 40123},  # what clients are told
      "http": {"host": "127.0.0.1", "port": 40124}         # or null when HTTP is off
    }

``kind: "up"`` adds ``status_page``, ``prometheus`` and ``alertmanager`` (URLs, the last
two null unless running) and ``brokers``: with ``--brokers N`` (N > 1) every broker
process's own broker document (its pid, node id, addresses), otherwise empty; the
top-level fields then describe the ``up`` process itself (its pid, data dir and HTTP
server) with the first broker's Kafka addresses. A document without ``brokers``
(written before it existed) reads as empty. Ports are the ones actually bound, so port
0 is the way to start any number of processes side by side without racing for ports.
Readers: ``contracts.launcher``. This module imports no feature package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contracts.fields import HostPort

__all__ = [
    "READY_FILE_FORMAT",
    "BrokerReady",
    "ReadyFileError",
    "UpReady",
    "read_ready_file",
    "remove_ready_file",
    "write_ready_file",
]

READY_FILE_FORMAT = 1


class ReadyFileError(ValueError):
    """A ready file that is not a version-1 document of the expected kind."""


@dataclass(frozen=True, slots=True)
class BrokerReady:
    """What a ready broker publishes (``kind: "broker"``)."""

    pid: int
    node_id: int
    cluster: str
    data_dir: Path
    kafka: HostPort  # the Kafka listener as bound (port 0 resolved)
    advertised: HostPort  # where clients are told to connect (``kafka`` unless set)
    http: HostPort | None  # metrics, health and status; None when HTTP is off

    KIND = "broker"

    @property
    def bootstrap(self) -> str:
        return str(self.advertised)

    @property
    def http_url(self) -> str | None:
        return None if self.http is None else f"http://{self.http}"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": READY_FILE_FORMAT,
            "kind": self.KIND,
            "pid": self.pid,
            "node_id": self.node_id,
            "cluster": self.cluster,
            "data_dir": str(self.data_dir),
            "kafka": _address_json(self.kafka),
            "advertised": _address_json(self.advertised),
            "http": None if self.http is None else _address_json(self.http),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> BrokerReady:
        """Read the broker fields of a broker or up document (``ReadyFileError`` if bad)."""
        try:
            http = document["http"]
            return cls(
                pid=_integer(document["pid"]),
                node_id=_integer(document["node_id"]),
                cluster=str(document["cluster"]),
                data_dir=Path(str(document["data_dir"])),
                kafka=_address(document["kafka"]),
                advertised=_address(document["advertised"]),
                http=None if http is None else _address(http),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReadyFileError(f"not a ready document: {exc!r} in {dict(document)}") from None


@dataclass(frozen=True, slots=True)
class UpReady:
    """What a ready ``tidewatch up`` publishes (``kind: "up"``): its broker's fields,
    the URLs it serves and, when its brokers run as separate processes, each of them."""

    broker: BrokerReady
    status_page_url: str
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    brokers: tuple[BrokerReady, ...] = ()

    KIND = "up"

    @property
    def pid(self) -> int:
        return self.broker.pid

    @property
    def bootstrap(self) -> str:
        """Every broker's address, comma-separated (Kafka clients take the list)."""
        if self.brokers:
            return ",".join(b.bootstrap for b in self.brokers)
        return self.broker.bootstrap

    def to_json(self) -> dict[str, Any]:
        return {
            **self.broker.to_json(),
            "kind": self.KIND,
            "status_page": self.status_page_url,
            "prometheus": self.prometheus_url,
            "alertmanager": self.alertmanager_url,
            "brokers": [b.to_json() for b in self.brokers],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> UpReady:
        try:
            return cls(
                BrokerReady.from_json(document),
                str(document["status_page"]),
                _optional_text(document["prometheus"]),
                _optional_text(document["alertmanager"]),
                tuple(BrokerReady.from_json(b) for b in document.get("brokers") or ()),
            )
        except (KeyError, TypeError) as exc:
            raise ReadyFileError(f"not an up document: {exc!r} in {dict(document)}") from None


def _address_json(address: HostPort) -> dict[str, Any]:
    return {"host": address.host, "port": address.port}


def _address(value: Any) -> HostPort:
    return HostPort(str(value["host"]), _integer(value["port"]))


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


class ReadyDocument(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def write_ready_file(path: Path, document: ReadyDocument) -> None:
    """Write ``document`` atomically: a temporary file in the same directory, renamed
    over ``path``. Readers never see a partial document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(document.to_json(), indent=2, sort_keys=True) + "\n"
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def remove_ready_file(path: Path) -> None:
    """Remove the ready file (the process is stopping); a missing file is fine."""
    path.unlink(missing_ok=True)


def read_ready_file(path: Path, kind: str) -> dict[str, Any] | None:
    """The document at ``path``, or None when there is none yet. A document of another
    format version or kind raises ``ReadyFileError`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadyFileError(f"{path}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ReadyFileError(f"{path}: expected a JSON object")
    if document.get("format") != READY_FILE_FORMAT:
        raise ReadyFileError(
            f"{path}: format {document.get('format')!r}, this reader knows {READY_FILE_FORMAT}"
        )
    if document.get("kind") != kind:
        raise ReadyFileError(f"{path}: kind {document.get('kind')!r}, expected {kind!r}")
    return document
