"""Workload files: a valid file becomes the frozen model; every mistake is reported as
FILE: FIELD: REASON with what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.fields import ConfigError
from loadtest.payload import HEADER_BYTES
from loadtest.workload import (
    RATE_PER_PROCESS,
    load_workload,
    parse_embedded_workload,
    parse_workload,
)

VALID: dict[str, Any] = {
    "version": "tidewatch/load/v1",
    "name": "orders",
    "bootstrap": "127.0.0.1:9092",
    "topic": {"name": "orders", "partitions": 3, "configs": {"retention.ms": 60000}},
    "producers": {
        "rate": 1000,
        "ramp": "10s",
        "duration": "1m",
        "acks": "all",
        "compression": "lz4",
        "message": {"size": {"distribution": "uniform", "min": 100, "max": 2000}},
        "keys": {"distribution": "zipf", "count": 500, "exponent": 1.3},
        "client_config": {"enable.idempotence": True},
    },
    "consumers": [{"group": "billing", "members": 2, "processing_ms": 1.5}],
    "drain": 15,
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is _DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return doc


_DELETE = object()


def test_a_valid_workload_becomes_the_model() -> None:
    w = parse_workload("w.yaml", VALID)
    assert w.name == "orders"
    assert w.topic.configs == (("retention.ms", "60000"),)
    assert [(p.duration_seconds, p.rate_from, p.rate_to) for p in w.producer.phases] == [
        (10.0, 0.0, 1000.0),
        (50.0, 1000.0, 1000.0),
    ]
    assert w.duration_seconds == 60.0
    assert w.producer.acks == "all"
    assert w.producer.sizes.kind == "uniform"
    assert w.producer.sizes.minimum_bytes == HEADER_BYTES
    assert w.producer.keys.exponent == 1.3
    assert w.producer.client_config == (("enable.idempotence", "true"),)
    assert w.groups[0].members == 2
    assert w.drain_seconds == 15.0


def test_phases_describe_any_rate_profile() -> None:
    doc = with_change(
        "producers",
        {
            "phases": [
                {"duration": "5s", "rate": 10},
                {"duration": 5, "rate": {"from": 10, "to": 0}},
            ]
        },
    )
    w = parse_workload("w.yaml", doc)
    assert w.producer.schedule.total == 75


def test_auto_processes_grow_with_the_peak_rate_up_to_the_cores() -> None:
    w = parse_workload("w.yaml", with_change("producers.rate", 3 * RATE_PER_PROCESS))
    assert w.producer.resolved_processes(cpus=8) == 3
    assert w.producer.resolved_processes(cpus=2) == 2
    explicit = parse_workload("w.yaml", with_change("producers.processes", 5))
    assert explicit.producer.resolved_processes(cpus=2) == 5


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            "version",
            "tidewatch/load/v9",
            'w.yaml: version: "tidewatch/load/v9" is not supported; allowed: tidewatch/load/v1',
            id="an unknown version",
        ),
        pytest.param(
            "producers.acks",
            2,
            'w.yaml: producers.acks: "2" is not allowed; allowed: 0, 1, all',
            id="acks outside 0 1 all",
        ),
        pytest.param(
            "producers.compression",
            "brotli",
            'producers.compression: "brotli" is not allowed; allowed: none, gzip, snappy, lz4, zstd',
            id="an unknown compression",
        ),
        pytest.param(
            "producers.rate", -5, "producers.rate: must be a positive number", id="a negative rate"
        ),
        pytest.param(
            "producers.ramp",
            "2m",
            "producers.ramp: must be shorter than the duration",
            id="a ramp longer than the run",
        ),
        pytest.param(
            "producers.duration",
            "soon",
            "producers.duration: 'soon' is not a duration",
            id="a duration that is not one",
        ),
        pytest.param(
            "producers.keys.distribution",
            "zipff",
            'producers.keys.distribution: "zipff" is not allowed (did you mean "zipf"?); '
            "allowed: none, uniform, zipf, hot",
            id="a misspelled key distribution",
        ),
        pytest.param(
            "producers.keys.hot_share",
            1.5,
            "producers.keys.hot_share: must be a ratio between 0 and 1",
            id="a hot share above one",
        ),
        pytest.param(
            "producers.message.size",
            {"distribution": "uniform", "min": 500, "max": 100},
            "producers.message.size.max: must not be below min (500)",
            id="sizes with max below min",
        ),
        pytest.param(
            "producers.message.size",
            10,
            f"producers.message.size: must be at least {HEADER_BYTES}",
            id="a size smaller than the header",
        ),
        pytest.param(
            "topic.partitions",
            0,
            "topic.partitions: must be at least 1, not 0",
            id="zero partitions",
        ),
        pytest.param("topic.name", _DELETE, "topic.name: is required", id="a topic without a name"),
        pytest.param(
            "consumers.0.members",
            "two",
            "consumers[0].members: must be a whole number, not 'two'",
            id="members that are not a number",
        ),
        pytest.param(
            "consumers.0.offset_reset",
            "middle",
            'consumers[0].offset_reset: "middle" is not allowed; allowed: earliest, latest',
            id="an unknown offset reset",
        ),
        pytest.param(
            "producers.rat",
            5,
            'producers.rat: unknown field "rat" (did you mean "rate"?)',
            id="a misspelled field with a suggestion",
        ),
    ],
)
def test_mistakes_name_the_file_the_field_and_what_is_allowed(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_workload("w.yaml", with_change(path, value))
    assert message in str(info.value)
    assert str(info.value).startswith("w.yaml: ")


def test_duplicate_groups_are_refused() -> None:
    doc = with_change("consumers", [{"group": "a"}, {"group": "a"}])
    with pytest.raises(ConfigError, match=r'consumers\[1\].group: duplicate group "a"'):
        parse_workload("w.yaml", doc)


def test_phases_and_a_rate_cannot_both_be_given() -> None:
    doc = with_change("producers.phases", [{"duration": 1, "rate": 1}])
    with pytest.raises(ConfigError, match="give either phases or rate/ramp/duration"):
        parse_workload("w.yaml", doc)


def test_an_embedded_workload_takes_its_duration_from_the_scenario() -> None:
    body = {k: v for k, v in VALID.items() if k in ("topic", "consumers")}
    body["producers"] = {"rate": 100, "ramp": 5}
    w = parse_embedded_workload("s.yaml", "workload", body, "lag", 30.0)
    assert w.duration_seconds == 30.0
    body["producers"]["duration"] = 10
    with pytest.raises(
        ConfigError, match=r"s\.yaml: workload\.producers\.duration: is set by the scenario"
    ):
        parse_embedded_workload("s.yaml", "workload", body, "lag", 30.0)


def test_files_are_read_and_bad_yaml_is_reported(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(VALID))
    assert load_workload(good).source == str(good)
    bad = tmp_path / "bad.yaml"
    bad.write_text("producers: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line 1: not valid YAML"):
        load_workload(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_workload(tmp_path / "missing.yaml")
