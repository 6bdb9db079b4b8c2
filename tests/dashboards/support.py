"""Processes for the live Prometheus tests: a real ``tidewatch probe``, one ``/metrics``
endpoint that serves the broker's and the probe's metrics together, the way ``tidewatch
up`` does (one process, one registry, one endpoint scraped as job ``tidewatch-broker``),
a real Prometheus, and the queries the tests ask it (dashboard queries with Grafana's
variables expanded)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
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


# --- a real Prometheus and the queries the live tests ask it ------------------------------

# Grafana's variables and macros, as Grafana would expand them for "All" and a 1s scrape.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$cluster": ".*",
    "$topic": ".*",
    "$group": ".*",
    "$service": ".*",
    "$slo": ".*",
}


def expand(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced as Grafana would."""
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


def get_json(url: str, path: str, **params: str | list[str]) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(f"{url}{path}?{query}", timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 400/422: bad PromQL, the body says why
        if exc.code == 503:  # still starting (TSDB not open): no answer yet, an OSError
            raise
        return json.loads(exc.read())


def query(url: str, expr: str) -> Any:
    return get_json(url, "/api/v1/query", query=expr)


def answers(url: str, expr: str) -> bool:
    """Whether ``expr`` returns at least one series now."""
    try:
        return bool(query(url, expr)["data"]["result"])
    except (OSError, ValueError, KeyError):
        # Not listening yet, or 503 "Service Unavailable" while it starts.
        return False


def poll(what: str, check: Callable[[], object], timeout: float = 120.0) -> None:
    """Wait for ``check``; the timeout only bounds a hang (busy machines are slow)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


class PrometheusServer:
    """The real ``prometheus`` binary on 127.0.0.1 (a free port) with ``config`` written
    to ``directory``; :meth:`start` returns once it answers queries."""

    def __init__(self, binary: str, directory: Path, config: Mapping[str, Any]) -> None:
        self.binary = binary
        self.directory = directory
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "prometheus.log"
        self.url = ""

    def start(self) -> str:
        from contracts.launcher import free_port

        (self.directory / "prometheus.yml").write_text(yaml.safe_dump(dict(self.config)))
        (self.directory / "tsdb").mkdir(exist_ok=True)
        port = free_port()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.directory / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.url = f"http://127.0.0.1:{port}"
        poll(f"Prometheus to be ready (log: {self.log})", self._ready, timeout=60)
        return self.url

    def _ready(self) -> bool:
        """Prometheus answers queries (before, it refuses them with 503)."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=10) as response:
                return bool(response.status == 200)
        except OSError:  # not listening yet, or HTTPError 503 while it starts
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def row_panels(document: Mapping[str, Any], row: str) -> list[str]:
    """Titles of the panels under the row titled ``row`` (up to the next row)."""
    titles: list[str] = []
    current = None
    for panel in document["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
        elif current == row:
            titles.append(panel["title"])
    return titles


def replication_panels(dashboards: Mapping[str, Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(dashboard title, panel title) of every replication panel (dashboards/replication.py):
    the on-call dashboard's replication row, the executive brokers and controller panel
    and the debug replica detail table and replication internals."""
    from dashboards import replication as r

    singles = (r.BROKERS_AND_CONTROLLER, r.REPLICA_DETAIL, *r.REPLICATION_INTERNALS)
    panels = set()
    for document in dashboards.values():
        title = document["title"]
        panels |= {(title, panel) for panel in row_panels(document, r.ROW)}
        for panel in document["panels"]:
            if panel["title"] in singles:
                panels.add((title, panel["title"]))
    return panels
