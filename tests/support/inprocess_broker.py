"""A broker in the test's own process, on its own event loop in a thread, with an
injected clock.

For tests that drive the broker's time by hand (lag in seconds, STOP after a quiet
spell, session expiry) instead of sleeping: it is the same :class:`~broker.app.BrokerApp`
that ``tidewatch broker`` runs, listening on 127.0.0.1 with port 0 for Kafka and HTTP,
and real clients talk to it over TCP. Start and stop from the test's thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

from broker.app import BrokerApp
from broker.config import BrokerConfig
from contracts.clock import Clock
from contracts.fields import HostPort

__all__ = ["InProcessBroker"]


class InProcessBroker:
    def __init__(self, config: BrokerConfig, clock: Clock, timeout_seconds: float = 30.0) -> None:
        loopback = HostPort("127.0.0.1", 0)
        self.app = BrokerApp(replace(config, listen=loopback, http=loopback), clock=clock)
        self._timeout_seconds = timeout_seconds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="in-process-broker", daemon=True
        )

    @property
    def bootstrap(self) -> str:
        assert self.app.bootstrap is not None, "not started"
        return str(self.app.bootstrap)

    @property
    def http_url(self) -> str:
        assert self.app.http_address is not None, "not started"
        return f"http://{self.app.http_address}"

    def start(self) -> InProcessBroker:
        self._thread.start()
        try:
            self._run(self.app.start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._run(self.app.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout_seconds)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> InProcessBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self._timeout_seconds)
