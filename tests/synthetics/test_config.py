"""Probe and lag-monitor configs: defaults, validation errors that name the file, the
field and what is allowed, and SASL/TLS options with secrets from env vars or files."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.fields import ConfigError
from synthetics.config import ProbeConfig, load_probe_config, parse_probe_config
from synthetics.connection import Secret, client_options
from synthetics.lagmon.config import parse_lag_config
from tests.support.tls import self_signed_certificate

FILE = "probe.yaml"


def probe(target: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {
        "targets": [{"name": "local", "bootstrap_servers": "127.0.0.1:9092", **(target or {})}],
        **top,
    }


def parse(data: object, environ: dict[str, str] | None = None) -> ProbeConfig:
    return parse_probe_config(data, FILE, environ or {})


def test_a_minimal_target_gets_the_documented_defaults() -> None:
    config = parse(probe())
    (t,) = config.targets
    assert config.http == ("127.0.0.1", 9465)
    assert (t.name, t.cluster, t.consumer_group) == ("local", "local", "tidewatch-probe-local")
    assert t.connection.bootstrap_servers == ("127.0.0.1:9092",)
    assert t.connection.security.protocol == "PLAINTEXT"
    assert (t.topic.name, t.topic.partitions, t.topic.replication_factor) == (
        "tidewatch-probe",
        None,
        None,
    )
    assert t.topic.config == {"retention.ms": "3600000"}
    assert (t.interval_seconds, t.broker_check_interval_seconds) == (1.0, 10.0)
    assert (t.sla.ack_seconds, t.sla.end_to_end_seconds, t.sla.lost_after_seconds) == (
        1.0,
        1.0,
        30.0,
    )
    assert t.idempotent is True


def test_every_option_is_read() -> None:
    config = parse(
        probe(
            {
                "cluster": "prod-eu",
                "bootstrap_servers": ["a:9092", "b:9092"],
                "client_id": "probe-1",
                "request_timeout": "10s",
                "topic": {
                    "name": "probe.t",
                    "partitions": 6,
                    "replication_factor": 3,
                    "create": False,
                    "config": {"min.insync.replicas": 2},
                },
                "consumer_group": "g",
                "interval": "250ms",
                "broker_check_interval": "1m",
                "payload_bytes": 512,
                "idempotent": False,
                "sla": {"ack": "200ms", "end_to_end": 0.5, "lost_after": "1m30s"},
            },
            http="off",
        )
    )
    (t,) = config.targets
    assert config.http is None
    assert t.cluster == "prod-eu"
    assert t.connection.bootstrap_servers == ("a:9092", "b:9092")
    assert (t.connection.client_id, t.connection.request_timeout_seconds) == ("probe-1", 10.0)
    assert (t.topic.name, t.topic.partitions, t.topic.replication_factor, t.topic.create) == (
        "probe.t",
        6,
        3,
        False,
    )
    assert t.topic.config == {"retention.ms": "3600000", "min.insync.replicas": "2"}
    assert (t.interval_seconds, t.broker_check_interval_seconds, t.payload_bytes) == (
        0.25,
        60.0,
        512,
    )
    assert (t.sla.ack_seconds, t.sla.end_to_end_seconds, t.sla.lost_after_seconds) == (
        0.2,
        0.5,
        90.0,
    )
    assert t.idempotent is False


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param({}, "targets", "non-empty list", id="no targets"),
        pytest.param(probe(http=5), "http", "HOST:PORT or off", id="http not an address"),
        pytest.param(
            {"targets": [{"bootstrap_servers": "a:1"}]},
            "targets[0].name",
            "is required",
            id="a target without a name",
        ),
        pytest.param(
            probe({"name": "bad name"}), "targets[0].name", "must match", id="a name with a space"
        ),
        pytest.param(
            probe({"bootstrap_servers": None}),
            "targets[0].bootstrap_servers",
            "is required",
            id="no bootstrap servers",
        ),
        pytest.param(
            probe({"bootstrap_servers": "kafka"}),
            "targets[0].bootstrap_servers",
            "HOST:PORT",
            id="a server without a port",
        ),
        pytest.param(
            probe({"intervall": "1s"}),
            "targets[0].intervall",
            'did you mean "interval"',
            id="a misspelt key",
        ),
        pytest.param(
            probe({"interval": "soon"}),
            "targets[0].interval",
            "duration like 250ms",
            id="an interval that is not a duration",
        ),
        pytest.param(
            probe({"interval": 0}), "targets[0].interval", "longer than zero", id="a zero interval"
        ),
        pytest.param(
            probe({"sla": {"end_to_end": "5s", "lost_after": "5s"}}),
            "targets[0].sla.lost_after",
            "longer than end_to_end",
            id="lost_after not above the SLA",
        ),
        pytest.param(
            probe({"topic": {"partitions": 0}}),
            "targets[0].topic.partitions",
            "auto or a whole number",
            id="zero partitions",
        ),
        pytest.param(
            probe({"topic": {"name": "a/b"}}),
            "targets[0].topic.name",
            "must match",
            id="an illegal topic name",
        ),
        pytest.param(
            probe({"payload_bytes": -1}),
            "targets[0].payload_bytes",
            "at least 0",
            id="negative padding",
        ),
        pytest.param(
            probe({"idempotent": "yes"}),
            "targets[0].idempotent",
            "true or false",
            id="a flag that is not a boolean",
        ),
        pytest.param(
            {"targets": [probe()["targets"][0], probe()["targets"][0]]},
            "targets[1].name",
            "duplicate",
            id="two targets with one name",
        ),
    ],
)
def test_invalid_probe_configs_name_the_file_the_field_and_what_is_allowed(
    data: object, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(data)
    assert caught.value.file == FILE
    assert caught.value.field == field
    assert message in caught.value.reason
    assert str(caught.value).startswith(f"{FILE}: {field}: ")


def test_loading_a_file_reports_yaml_syntax_errors_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text("targets: [\n  - name: x\n")
    with pytest.raises(ConfigError, match=r"probe\.yaml: .*not valid YAML"):
        load_probe_config(path)


def test_loading_a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_probe_config(tmp_path / "nope.yaml")


# -- security ----------------------------------------------------------------------------
def secured(security: dict[str, Any]) -> dict[str, Any]:
    return probe({"security": security})


def test_sasl_scram_reads_the_password_from_an_environment_variable() -> None:
    config = parse(
        secured(
            {
                "protocol": "SASL_PLAINTEXT",
                "sasl": {
                    "mechanism": "SCRAM-SHA-512",
                    "username": "probe",
                    "password_env": "PROBE_PW",
                },
            }
        ),
        {"PROBE_PW": "s3cret"},
    )
    sasl = config.targets[0].connection.security.sasl
    assert sasl is not None
    assert (sasl.mechanism, sasl.username, sasl.password.value) == (
        "SCRAM-SHA-512",
        "probe",
        "s3cret",
    )
    options = client_options(config.targets[0].connection)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert (
        options["sasl_mechanism"],
        options["sasl_plain_username"],
        options["sasl_plain_password"],
    ) == ("SCRAM-SHA-512", "probe", "s3cret")


def test_sasl_reads_username_and_password_from_files_without_the_trailing_newline(
    tmp_path: Path,
) -> None:
    (tmp_path / "user").write_text("svc-probe\n")
    (tmp_path / "pw").write_text("pa ss\n")
    config = parse(
        secured(
            {
                "protocol": "SASL_PLAINTEXT",
                "sasl": {
                    "username_file": str(tmp_path / "user"),
                    "password_file": str(tmp_path / "pw"),
                },
            }
        )
    )
    sasl = config.targets[0].connection.security.sasl
    assert sasl is not None
    assert (sasl.mechanism, sasl.username, sasl.password.value) == ("PLAIN", "svc-probe", "pa ss")


def test_secrets_never_show_in_reprs_or_strings() -> None:
    config = parse(
        secured({"protocol": "SASL_PLAINTEXT", "sasl": {"username": "u", "password_env": "PW"}}),
        {"PW": "hunter2"},
    )
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(Secret("hunter2", "environment variable PW"))


@pytest.mark.parametrize(
    ("security", "environ", "field", "message"),
    [
        pytest.param(
            {"protocol": "SASL"},
            {},
            "security.protocol",
            "allowed: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
            id="an unknown protocol",
        ),
        pytest.param(
            {"protocol": "SASL_SSL"},
            {},
            "security.sasl",
            "is required with protocol SASL_SSL",
            id="SASL without its settings",
        ),
        pytest.param(
            {"sasl": {"username": "u", "password_env": "X"}},
            {"X": "p"},
            "security.sasl",
            "needs protocol SASL_",
            id="SASL settings on a plaintext connection",
        ),
        pytest.param(
            {"protocol": "SASL_PLAINTEXT", "sasl": {"username": "u", "password": "p"}},
            {},
            "security.sasl.password",
            "not written in the config",
            id="a password written inline",
        ),
        pytest.param(
            {"protocol": "SASL_PLAINTEXT", "sasl": {"username": "u", "password_env": "MISSING"}},
            {},
            "security.sasl.password_env",
            "MISSING is not set",
            id="a password variable that is not set",
        ),
        pytest.param(
            {"protocol": "SASL_PLAINTEXT", "sasl": {"username": "u"}},
            {},
            "security.sasl.password_env",
            "is required",
            id="no password at all",
        ),
        pytest.param(
            {
                "protocol": "SASL_PLAINTEXT",
                "sasl": {"username": "u", "password_env": "X", "password_file": "/f"},
            },
            {"X": "p"},
            "security.sasl.password_env",
            "not both",
            id="a password from two places",
        ),
        pytest.param(
            {
                "protocol": "SASL_PLAINTEXT",
                "sasl": {"username": "u", "password_file": "/nonexistent/pw"},
            },
            {},
            "security.sasl.password_file",
            "cannot read",
            id="an unreadable password file",
        ),
        pytest.param(
            {
                "protocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "GSSAPI", "username": "u", "password_env": "X"},
            },
            {"X": "p"},
            "security.sasl.mechanism",
            "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            id="an unsupported mechanism",
        ),
        pytest.param(
            {"tls": {}},
            {},
            "security.tls",
            "needs protocol SSL or SASL_SSL",
            id="TLS settings on a plaintext connection",
        ),
        pytest.param(
            {"protocol": "SSL", "tls": {"ca_file": "/nonexistent/ca.pem"}},
            {},
            "security.tls.ca_file",
            "does not exist",
            id="a CA file that does not exist",
        ),
        pytest.param(
            {"protocol": "SSL", "tls": {"sni": "x"}},
            {},
            "security.tls.sni",
            "unknown field",
            id="an unknown TLS key",
        ),
    ],
)
def test_invalid_security_settings_are_refused_with_the_field(
    security: dict[str, Any], environ: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(secured(security), environ)
    assert caught.value.field == f"targets[0].{field}"
    assert message in caught.value.reason


def test_tls_options_build_a_verifying_client_context_with_a_client_certificate(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    config = parse(
        secured(
            {
                "protocol": "SSL",
                "tls": {"ca_file": str(cert), "cert_file": str(cert), "key_file": str(key)},
            }
        )
    )
    options = client_options(config.targets[0].connection)
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert options["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert any(
        c.get("subject") == ((("commonName", "localhost"),),) for c in context.get_ca_certs()
    )


def test_tls_hostname_checking_can_be_switched_off_but_certificates_are_still_verified(
    tmp_path: Path,
) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    config = parse(
        secured(
            {
                "protocol": "SASL_SSL",
                "tls": {"ca_file": str(cert), "check_hostname": False},
                "sasl": {"username": "u", "password_env": "P"},
            }
        ),
        {"P": "x"},
    )
    context = client_options(config.targets[0].connection)["ssl_context"]
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_an_example_config_in_the_readme_parses(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "synthetics" / "README.md").read_text()
    blocks = readme.split("```yaml\n")[1:]
    probe_block = next(b.split("```")[0] for b in blocks if b.lstrip().startswith("# probe.yaml"))
    lag_block = next(b.split("```")[0] for b in blocks if b.lstrip().startswith("# lag.yaml"))
    environ = {"PROBE_KAFKA_PASSWORD": "x", "LAG_KAFKA_PASSWORD": "y"}
    assert parse_probe_config(yaml.safe_load(probe_block), "README", environ).targets
    assert parse_lag_config(yaml.safe_load(lag_block), "README", environ).clusters


# -- lag monitor -------------------------------------------------------------------------
def test_lag_config_defaults_and_group_filters() -> None:
    config = parse_lag_config(
        {
            "clusters": [
                {
                    "name": "prod",
                    "bootstrap_servers": "k:9092",
                    "groups": {"include": ["orders-.*", "billing"], "exclude": [".*-test"]},
                }
            ]
        },
        "lag.yaml",
        {},
    )
    (cluster,) = config.clusters
    assert (config.interval_seconds, config.status.window, config.status.min_stop_seconds) == (
        15.0,
        10,
        60.0,
    )
    assert config.http == ("127.0.0.1", 9466)
    assert [
        g
        for g in ("orders-eu", "billing", "orders-x-test", "billing2", "shipping")
        if cluster.groups.matches(g)
    ] == ["orders-eu", "billing"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param({"clusters": []}, "clusters", "non-empty list", id="no clusters"),
        pytest.param(
            {"clusters": [{"name": "a", "bootstrap_servers": "k:1", "groups": {"include": ["("]}}]},
            "clusters[0].groups.include",
            "not a regular expression",
            id="a bad group pattern",
        ),
        pytest.param(
            {
                "status": {"window_commits": 0},
                "clusters": [{"name": "a", "bootstrap_servers": "k:1"}],
            },
            "status.window_commits",
            "at least 1",
            id="an empty status window",
        ),
        pytest.param(
            {
                "clusters": [
                    {"name": "a", "bootstrap_servers": "k:1"},
                    {"name": "a", "bootstrap_servers": "k:2"},
                ]
            },
            "clusters[1].name",
            "duplicate",
            id="two clusters with one name",
        ),
    ],
)
def test_invalid_lag_configs_name_the_field(data: object, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_lag_config(data, "lag.yaml", {})
    assert (caught.value.file, caught.value.field) == ("lag.yaml", field)
    assert message in caught.value.reason
