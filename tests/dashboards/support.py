"""Processes for the live Prometheus test: a real ``tidewatch probe`` and one ``/metrics``
endpoint that serves the broker's and the probe's metrics together, the way ``tidewatch
up`` does (one process, one registry, one endpoint scraped as job ``tidewatch-broker``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

_METRICS_URL = re.compile(r"metrics\s+(http://\S+)/metrics")
_TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


class ProbeProcess:
    """``python -m tidewatch probe`` on a config file, with its HTTP server on port 0."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> ProbeProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tidewatch",
                    "probe",
                    "--config",
                    str(self.config),
                    "--http",
                    "127.0.0.1:0",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _METRICS_URL.search(self.log.read_text())
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the probe did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def fetch_text(url: str) -> str:
    request = urllib.request.Request(url, headers={"Accept": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def merge_expositions(texts: Sequence[str]) -> str:
    """Concatenate Prometheus text expositions of disjoint metric families (what one
    registry holding all their collectors would serve). Overlapping families are refused:
    one registry would not allow them either."""
    seen: set[str] = set()
    for text in texts:
        families = {f.name for f in text_string_to_metric_families(text)}
        overlap = seen & families
        assert not overlap, f"metric families exported twice: {sorted(overlap)}"
        seen |= families
    return "".join(t if t.endswith("\n") else t + "\n" for t in texts)


class MergedEndpoint:
    """A ``/metrics`` on 127.0.0.1 (port 0) answering with the merged expositions of
    ``sources`` (each returns one exposition; called at every scrape)."""

    def __init__(self, sources: Sequence[Callable[[], str]]) -> None:
        self.sources = tuple(sources)
        merge = self._merged

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                try:
                    body = merge().encode()
                except (OSError, AssertionError) as exc:
                    self.send_error(503, str(exc))
                    return
                self.send_response(200)
                self.send_header("Content-Type", _TEXT_FORMAT)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _merged(self) -> str:
        return merge_expositions([source() for source in self.sources])

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> MergedEndpoint:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
