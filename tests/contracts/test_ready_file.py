"""The ready file: what a ready broker or ``tidewatch up`` publishes, written whole and
read back strictly (no processes, no sockets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.fields import HostPort
from contracts.ready_file import (
    READY_FILE_FORMAT,
    BrokerReady,
    ReadyFileError,
    UpReady,
    read_ready_file,
    remove_ready_file,
    write_ready_file,
)

BROKER = BrokerReady(
    pid=4242,
    node_id=3,
    cluster="east",
    data_dir=Path("/data/broker-3"),
    kafka=HostPort("127.0.0.1", 40123),
    advertised=HostPort("kafka.example", 9092),
    http=HostPort("127.0.0.1", 40124),
)


def test_a_broker_document_reads_back_equal_to_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "ready.json"
    write_ready_file(path, BROKER)
    document = read_ready_file(path, "broker")
    assert document is not None
    assert BrokerReady.from_json(document) == BROKER


def test_the_file_holds_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "ready.json"
    write_ready_file(path, BROKER)
    assert json.loads(path.read_text()) == {
        "format": READY_FILE_FORMAT,
        "kind": "broker",
        "pid": 4242,
        "node_id": 3,
        "cluster": "east",
        "data_dir": "/data/broker-3",
        "kafka": {"host": "127.0.0.1", "port": 40123},
        "advertised": {"host": "kafka.example", "port": 9092},
        "http": {"host": "127.0.0.1", "port": 40124},
    }


def test_a_broker_without_http_publishes_null_and_has_no_http_url(tmp_path: Path) -> None:
    path = tmp_path / "ready.json"
    no_http = BrokerReady(1, 0, "local", Path("d"), HostPort("h", 1), HostPort("h", 1), None)
    write_ready_file(path, no_http)
    assert json.loads(path.read_text())["http"] is None
    document = read_ready_file(path, "broker")
    assert document is not None
    assert BrokerReady.from_json(document).http_url is None


def test_clients_connect_to_the_advertised_address_not_the_listener() -> None:
    assert BROKER.bootstrap == "kafka.example:9092"
    assert BROKER.http_url == "http://127.0.0.1:40124"


def test_an_up_document_carries_the_broker_fields_and_its_urls(tmp_path: Path) -> None:
    path = tmp_path / "up.json"
    up = UpReady(BROKER, "http://127.0.0.1:40124/", "http://127.0.0.1:9090", None)
    write_ready_file(path, up)
    document = read_ready_file(path, "up")
    assert document is not None
    assert document["status_page"] == "http://127.0.0.1:40124/"
    assert document["alertmanager"] is None
    assert UpReady.from_json(document) == up
    assert up.pid == BROKER.pid
    assert up.bootstrap == BROKER.bootstrap


def test_an_up_document_of_a_cluster_lists_every_broker_and_bootstraps_from_all(
    tmp_path: Path,
) -> None:
    path = tmp_path / "up.json"
    address = HostPort("127.0.0.1", 40200)
    second = BrokerReady(4343, 2, "east", Path("/b2"), address, address, None)
    up = UpReady(BROKER, "http://127.0.0.1:40124/", brokers=(BROKER, second))
    write_ready_file(path, up)
    document = read_ready_file(path, "up")
    assert document is not None
    assert [b["pid"] for b in document["brokers"]] == [4242, 4343]
    assert UpReady.from_json(document) == up
    assert up.bootstrap == "kafka.example:9092,127.0.0.1:40200"


def test_an_up_document_without_brokers_reads_as_a_single_node() -> None:
    document = UpReady(BROKER, "http://x/").to_json()
    del document["brokers"]
    assert UpReady.from_json(document).brokers == ()


def test_a_rewrite_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "ready.json"
    write_ready_file(path, BROKER)
    write_ready_file(path, UpReady(BROKER, "http://x/"))
    assert [p.name for p in tmp_path.iterdir()] == ["ready.json"]
    assert json.loads(path.read_text())["kind"] == "up"


def test_a_missing_file_means_not_ready_yet(tmp_path: Path) -> None:
    assert read_ready_file(tmp_path / "ready.json", "broker") is None


def test_removing_a_file_that_is_already_gone_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ready.json"
    write_ready_file(path, BROKER)
    remove_ready_file(path)
    remove_ready_file(path)
    assert not path.exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format": 2, "kind": "broker"}', "format 2"),
        ('{"format": 1, "kind": "up"}', "kind 'up', expected 'broker'"),
    ],
    ids=[
        "text that is not JSON is refused",
        "JSON that is not an object is refused",
        "another format version is refused",
        "another kind of document is refused",
    ],
)
def test_a_bad_file_is_refused_naming_it(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "ready.json"
    path.write_text(text)
    with pytest.raises(ReadyFileError, match=reason) as refused:
        read_ready_file(path, "broker")
    assert str(path) in str(refused.value)


@pytest.mark.parametrize(
    "change",
    [{"pid": "4242"}, {"kafka": {"host": "h"}}, {"node_id": True}],
    ids=["a pid that is text", "an address without a port", "a node id that is a boolean"],
)
def test_a_document_with_a_wrong_field_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ReadyFileError, match="not a ready document"):
        BrokerReady.from_json({**BROKER.to_json(), **change})


def test_an_up_document_without_its_urls_is_refused() -> None:
    with pytest.raises(ReadyFileError, match="not an up document"):
        UpReady.from_json({**BROKER.to_json(), "kind": "up"})
