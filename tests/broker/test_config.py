"""Broker configuration: YAML and flags, validated with messages that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.cli import apply_flags, broker
from broker.cluster.flusher import FlushPolicy
from broker.config import BrokerConfig, load_config
from contracts.fields import ConfigError, HostPort


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broker.yaml"
    path.write_text(text)
    return path


def test_a_full_config_file_is_loaded(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
data_dir: /var/lib/tw
listen: 0.0.0.0:9192
advertised: kafka.example:9192
http: 127.0.0.1:9999
node_id: 3
cluster: prod-eu
flush: {policy: durable, interval_ms: 50}
auto_create_topics: false
default_partitions: 6
topic_defaults: {retention.ms: 3600000, segment.bytes: 1048576}
metrics: {compat: true}
offsets_topic: {partitions: 50}
""",
        )
    )
    assert config.offsets_topic_partitions == 50
    assert config.data_dir == Path("/var/lib/tw")
    assert config.listen == HostPort("0.0.0.0", 9192)
    assert config.advertised_address(9192) == HostPort("kafka.example", 9192)
    assert config.flush_policy is FlushPolicy.DURABLE
    assert config.topic_defaults.retention_ms == 3_600_000
    assert config.topic_defaults.segment_bytes == 1_048_576
    assert config.metrics_compat
    assert not config.auto_create_topics


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == BrokerConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "listne: 1.2.3.4:5",
            'listne: unknown field "listne" (did you mean "listen"?); allowed: advertised,',
            id="a misspelt key suggests the right one and lists the allowed ones",
        ),
        pytest.param(
            "listen: nonsense",
            "listen: 'nonsense' is not HOST:PORT (for example 127.0.0.1:9092)",
            id="a bad address says the expected shape",
        ),
        pytest.param(
            "listen: off", "listen: must be HOST:PORT, not false", id="the listener cannot be off"
        ),
        pytest.param(
            "node_id: -1",
            "node_id: must be at least 0, not -1",
            id="a negative node id names the minimum",
        ),
        pytest.param(
            "flush: {policy: sometimes}",
            'flush.policy: "sometimes" is not allowed; allowed: interval, durable',
            id="an unknown flush policy lists the allowed ones",
        ),
        pytest.param(
            "flush: {intervl_ms: 5}",
            'flush.intervl_ms: unknown field "intervl_ms" (did you mean "interval_ms"?)',
            id="a misspelt nested key suggests the right one",
        ),
        pytest.param(
            "default_partitions: many",
            "default_partitions: must be a whole number, not 'many'",
            id="a non-integer count is named",
        ),
        pytest.param(
            "offsets_topic: {partitions: 0}",
            "offsets_topic.partitions: must be at least 1, not 0",
            id="an offsets topic without partitions is refused",
        ),
        pytest.param(
            "offsets_topic: {partitions: 1001}",
            "offsets_topic.partitions: must be at most 1000, not 1001",
            id="an offsets topic with too many partitions names the maximum",
        ),
        pytest.param(
            "topic_defaults: {retention.ms: soon}",
            "topic_defaults: retention.ms='soon' is not an integer",
            id="a bad topic default names the topic config",
        ),
        pytest.param(
            "auto_create_topics: yes please",
            "auto_create_topics: must be true or false, not 'yes please'",
            id="a non-boolean is named",
        ),
        pytest.param(
            "tracing: {exporter: zipkin}",
            'tracing.exporter: "zipkin" is not allowed; allowed: jsonl, otlp, console',
            id="an unknown trace exporter lists the allowed ones",
        ),
        pytest.param(
            "- a\n- b",
            "<document>: must be a mapping, not a list",
            id="a list at the top level is refused",
        ),
        pytest.param("key: [unclosed", "line 1: not valid YAML", id="broken YAML is reported"),
    ],
)
def test_invalid_configs_name_the_file_field_and_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: {message}")


def test_flags_override_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "listen: 127.0.0.1:1000\nnode_id: 1"))
    changed = apply_flags(config, listen="127.0.0.1:2000", node_id=None, flush_policy="durable")
    assert changed.listen.port == 2000
    assert changed.node_id == 1
    assert changed.flush_policy is FlushPolicy.DURABLE


def test_the_cli_exits_non_zero_with_a_one_line_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(broker, ["--config", str(write(tmp_path, "bogus: 1"))])
    assert result.exit_code != 0
    assert 'bogus: unknown field "bogus"' in result.output
    missing = CliRunner().invoke(broker, ["--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0
    assert "nope.yaml: <document>: cannot read" in missing.output
