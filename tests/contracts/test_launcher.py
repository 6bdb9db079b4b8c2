"""The launcher: children that announce readiness with a ready file, real brokers on
port 0, side by side, restarted, killed, paused and stopped by their own PID."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from contracts.fields import HostPort
from contracts.launcher import (
    BrokerProcess,
    ProcessStartError,
    ReadyFileProcess,
    start_all,
    stop_all,
)
from contracts.ready_file import BrokerReady, write_ready_file

WAIT_SECONDS = 60.0  # bounds a hang only


class ScriptProcess(ReadyFileProcess[BrokerReady]):
    """A child running a short Python script (argv[1] is the ready file's path)."""

    label = "script"

    def __init__(self, directory: Path, script: str) -> None:
        super().__init__(log_path=directory / "script.log", ready_path=directory / "ready.json")
        self.script = script

    @property
    def kind(self) -> str:
        return "broker"

    def parse_ready(self, document: Mapping[str, Any]) -> BrokerReady:
        return BrokerReady.from_json(document)

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script, str(self.ready_path)]


def ready_for(pid: int) -> BrokerReady:
    address = HostPort("127.0.0.1", 1)
    return BrokerReady(pid, 0, "local", Path("data"), address, address, None)


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def process_state(pid: int) -> str:
    """The one-letter state from /proc (T: stopped by a signal)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def listening(address: HostPort) -> bool:
    try:
        socket.create_connection((address.host, address.port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


@pytest.fixture
def brokers() -> Iterator[list[BrokerProcess]]:
    """Brokers a test registers here are stopped after it, whatever happened."""
    started: list[BrokerProcess] = []
    yield started
    stop_all(started)


# --- the generic process, with scripts for children ------------------------------------


def test_a_child_that_exits_before_ready_fails_at_once_with_its_output(tmp_path: Path) -> None:
    child = ScriptProcess(
        tmp_path, "import sys; print('cannot start: the disk is on fire'); sys.exit(3)"
    )
    with pytest.raises(ProcessStartError) as failed:
        child.start(timeout_seconds=WAIT_SECONDS)
    assert "script exited with code 3 before it was ready" in str(failed.value)
    assert "the disk is on fire" in str(failed.value)
    assert not child.running


def test_a_ready_file_of_another_process_is_not_taken_for_the_childs(tmp_path: Path) -> None:
    script = (
        "import json, sys, time\n"
        "doc = {'format': 1, 'kind': 'broker', 'pid': 1}\n"
        "open(sys.argv[1], 'w').write(json.dumps(doc))\n"
        "print('wrote a file that is not mine', flush=True)\n"
        "time.sleep(600)\n"
    )
    child = ScriptProcess(tmp_path, script)
    child.spawn()
    pid = child.pid
    eventually(lambda: "not mine" in child.output(), "the script wrote its file")
    with pytest.raises(ProcessStartError, match="script not ready after"):
        child.wait_ready(timeout_seconds=0.2)
    assert not child.running
    eventually(lambda: not Path(f"/proc/{pid}").exists(), "the child was killed")


def test_a_stale_ready_file_is_removed_before_the_child_starts(tmp_path: Path) -> None:
    child = ScriptProcess(tmp_path, "import time; time.sleep(600)")
    write_ready_file(child.ready_path, ready_for(1))
    child.spawn()
    try:
        assert not child.ready_path.exists()
    finally:
        child.kill()


def test_output_is_what_the_child_printed_since_its_last_start(tmp_path: Path) -> None:
    script = "import sys, os\nprint('run of', os.getpid(), flush=True)\nsys.exit(1)\n"
    child = ScriptProcess(tmp_path, script)
    for _ in range(2):
        with pytest.raises(ProcessStartError):
            child.start()
    assert child.output().count("run of") == 1
    assert child.log_path.read_text().count("run of") == 2


# --- real brokers --------------------------------------------------------------------


def test_port_zero_gives_the_ports_actually_bound(
    tmp_path: Path, brokers: list[BrokerProcess]
) -> None:
    broker = BrokerProcess(tmp_path / "data", "--node-id", "7", "--cluster", "east")
    brokers.append(broker.start())
    ready = broker.ready
    assert ready.kafka.port != 0
    assert ready.http is not None and ready.http.port != 0
    assert listening(ready.kafka)
    with urllib.request.urlopen(f"{broker.http_url}/readyz", timeout=10) as response:
        assert response.status == 200
    assert (ready.pid, ready.node_id, ready.cluster) == (broker.pid, 7, "east")
    assert ready.data_dir == (tmp_path / "data").resolve()
    assert broker.bootstrap == str(ready.kafka) == f"{broker.host}:{broker.port}"


def test_two_brokers_run_side_by_side_under_one_parent(
    tmp_path: Path, brokers: list[BrokerProcess]
) -> None:
    pair = [BrokerProcess(tmp_path / f"broker-{n}", "--node-id", str(n)) for n in range(2)]
    brokers.extend(start_all(pair))
    assert {b.node_id for b in pair} == {0, 1}
    assert len({b.listen_address for b in pair}) == 2
    assert len({b.ready_path for b in pair} | {b.log_path for b in pair}) == 4
    for broker in pair:
        assert listening(broker.listen_address)
        assert "tidewatch broker ready" in broker.output()
    stop_all(pair)
    for broker in pair:
        assert not broker.ready_path.exists()
        assert not listening(broker.listen_address)


def test_a_broker_that_cannot_bind_fails_with_its_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = BrokerProcess(tmp_path / "data", listen_port=port)
        with pytest.raises(ProcessStartError) as failed:
            broker.start()
    message = str(failed.value)
    assert "broker exited with code 1 before it was ready" in message
    assert f"127.0.0.1:{port}" in message
    assert "in use" in message


def test_a_clean_stop_exits_zero_and_removes_the_ready_file(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data").start()
    assert broker.ready_path.exists()
    assert broker.stop() == 0
    assert not broker.ready_path.exists()
    assert broker.stop() is None  # nothing left to stop


def test_a_restart_binds_the_same_ports_again(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    broker = BrokerProcess(tmp_path / "data")
    brokers.append(broker.start())
    before = broker.ready
    broker.restart()
    assert (broker.ready.kafka, broker.ready.http) == (before.kafka, before.http)
    assert broker.pid != before.pid


def test_a_killed_broker_leaves_its_file_and_the_next_start_replaces_it(
    tmp_path: Path, brokers: list[BrokerProcess]
) -> None:
    broker = BrokerProcess(tmp_path / "data")
    brokers.append(broker.start())
    killed = broker.pid
    broker.kill()
    assert not broker.running
    assert f'"pid": {killed}' in broker.ready_path.read_text()
    broker.start()
    assert broker.ready.pid == broker.pid != killed
    assert broker.listen_address.port == broker.ready.kafka.port


def test_a_paused_broker_is_stopped_until_resumed_and_still_stops_cleanly(
    tmp_path: Path,
) -> None:
    broker = BrokerProcess(tmp_path / "data").start()
    pid = broker.pid
    broker.pause()
    eventually(lambda: process_state(pid) == "T", "the broker is stopped by SIGSTOP")
    broker.resume()
    eventually(lambda: process_state(pid) != "T", "the broker runs again")
    broker.pause()
    assert broker.stop() == 0


def test_a_broker_without_http_says_so(tmp_path: Path, brokers: list[BrokerProcess]) -> None:
    broker = BrokerProcess(tmp_path / "data", http_port=None)
    brokers.append(broker.start())
    assert broker.ready.http is None
    with pytest.raises(RuntimeError, match="without HTTP"):
        _ = broker.http_url


def test_an_advertised_address_is_the_bootstrap_and_the_listener_stays_known(
    tmp_path: Path, brokers: list[BrokerProcess]
) -> None:
    broker = BrokerProcess(tmp_path / "data", advertised="proxy.example:9092")
    brokers.append(broker.start())
    assert broker.bootstrap == "proxy.example:9092"
    assert broker.listen_address.port != 9092
    assert listening(broker.listen_address)
