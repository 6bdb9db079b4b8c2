"""How to reach a Kafka cluster: bootstrap servers, TLS and SASL, shared by the probe and
the lag monitor.

YAML (every key but ``bootstrap_servers`` optional)::

    bootstrap_servers: [kafka-1:9093, kafka-2:9093]   # or "kafka-1:9093,kafka-2:9093"
    client_id: tidewatch-probe
    request_timeout: 30s
    security:
      protocol: SASL_SSL          # PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
      sasl:                       # required with SASL_*; not allowed otherwise
        mechanism: SCRAM-SHA-512  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
        username: probe           # or username_env / username_file
        password_env: PROBE_KAFKA_PASSWORD   # or password_file: /run/secrets/kafka
      tls:                        # only with SSL / SASL_SSL; all keys optional
        ca_file: /etc/kafka/ca.pem          # default: the system trust store
        cert_file: /etc/kafka/client.pem    # client certificate (mutual TLS)
        key_file: /etc/kafka/client.key
        key_password_env: PROBE_KEY_PASSWORD  # or key_password_file
        check_hostname: true

Secrets are never written in the config itself and never passed on the command line:
they come from an environment variable (``*_env``) or a file (``*_file``, trailing
newline stripped), read when the config is loaded, and are held in :class:`Secret`,
whose ``repr`` hides the value. Files named by the TLS options must exist at load time.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from contracts.fields import ConfigError, Fields, parse_host_port

__all__ = [
    "MECHANISMS",
    "PROTOCOLS",
    "ConnectionConfig",
    "SaslConfig",
    "Secret",
    "SecurityConfig",
    "TlsConfig",
    "client_options",
    "parse_connection",
]

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
CONNECTION_KEYS: Final = frozenset(
    {"bootstrap_servers", "client_id", "request_timeout", "security"}
)
_SECURITY: Final = frozenset({"protocol", "sasl", "tls"})
# "password" and "key_password" are known only to be refused with a helpful message.
_SASL: Final = frozenset(
    {
        "mechanism",
        "username",
        "username_env",
        "username_file",
        "password",
        "password_env",
        "password_file",
    }
)
_TLS: Final = frozenset(
    {
        "ca_file",
        "cert_file",
        "key_file",
        "key_password",
        "key_password_env",
        "key_password_file",
        "check_hostname",
    }
)


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value and where it came from; printing it shows only the source."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return f"<secret from {self.source}>"


@dataclass(frozen=True, slots=True)
class SaslConfig:
    mechanism: str
    username: str
    password: Secret


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret | None = None
    check_hostname: bool = True


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    protocol: str = "PLAINTEXT"
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    bootstrap_servers: tuple[str, ...]
    client_id: str = "tidewatch"
    request_timeout_seconds: float = 30.0
    security: SecurityConfig = SecurityConfig()


def parse_connection(
    f: Fields, environ: Mapping[str, str], default_client_id: str
) -> ConnectionConfig:
    """Read the connection keys of ``f`` (the caller allows them in its key set)."""
    servers = f.strings("bootstrap_servers")
    if not servers:
        raise f.error("bootstrap_servers", "is required (HOST:PORT, or a list of them)")
    for server in servers:
        try:
            parse_host_port(server)
        except ValueError as exc:
            raise f.error("bootstrap_servers", str(exc)) from None
    return ConnectionConfig(
        bootstrap_servers=servers,
        client_id=f.text("client_id", default_client_id),
        request_timeout_seconds=f.duration("request_timeout", 30.0),
        security=_security(f.mapping("security", _SECURITY, required=False), environ),
    )


def _security(f: Fields, environ: Mapping[str, str]) -> SecurityConfig:
    protocol = f.choice("protocol", PROTOCOLS, "PLAINTEXT")
    sasl = None
    if protocol.startswith("SASL_"):
        if not f.has("sasl"):
            raise f.error("sasl", f"is required with protocol {protocol}")
        sasl = _sasl(f.mapping("sasl", _SASL), environ)
    elif f.has("sasl"):
        raise f.error("sasl", f"needs protocol SASL_PLAINTEXT or SASL_SSL (protocol is {protocol})")
    tls = None
    if protocol in ("SSL", "SASL_SSL"):
        tls = _tls(f.mapping("tls", _TLS, required=False), environ)
    elif f.has("tls"):
        raise f.error("tls", f"needs protocol SSL or SASL_SSL (protocol is {protocol})")
    return SecurityConfig(protocol, sasl, tls)


def _refuse_inline(f: Fields, key: str) -> None:
    if key in f.data:
        raise f.error(key, f"secrets are not written in the config: use {key}_env or {key}_file")


def _sasl(f: Fields, environ: Mapping[str, str]) -> SaslConfig:
    _refuse_inline(f, "password")
    mechanism = f.choice("mechanism", MECHANISMS, "PLAIN")
    if f.has("username"):
        if f.has("username_env") or f.has("username_file"):
            raise f.error("username", "give one of username, username_env, username_file")
        username = f.text("username")
    else:
        username = _required_secret(f, "username", environ).value
    return SaslConfig(mechanism, username, _required_secret(f, "password", environ))


def _tls(f: Fields, environ: Mapping[str, str]) -> TlsConfig:
    _refuse_inline(f, "key_password")
    paths: dict[str, Path | None] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        value = f.optional_text(key)
        paths[key] = None if value is None else Path(value)
        if value is not None and not Path(value).is_file():
            raise f.error(key, f"file {value} does not exist or is not a file")
    if paths["key_file"] is not None and paths["cert_file"] is None:
        raise f.error("key_file", "needs cert_file (the client certificate) as well")
    return TlsConfig(
        ca_file=paths["ca_file"],
        cert_file=paths["cert_file"],
        key_file=paths["key_file"],
        key_password=_secret(f, "key_password", environ, required=False),
        check_hostname=f.flag("check_hostname", True),
    )


def _required_secret(f: Fields, name: str, environ: Mapping[str, str]) -> Secret:
    secret = _secret(f, name, environ, required=True)
    assert secret is not None
    return secret


def _secret(f: Fields, name: str, environ: Mapping[str, str], required: bool) -> Secret | None:
    env_key, file_key = f"{name}_env", f"{name}_file"
    if f.has(env_key) and f.has(file_key):
        raise f.error(env_key, f"give either {env_key} or {file_key}, not both")
    if f.has(env_key):
        var = f.text(env_key, pattern=r"[A-Za-z_][A-Za-z0-9_]*")
        if var not in environ:
            raise f.error(env_key, f"environment variable {var} is not set")
        return Secret(environ[var], f"environment variable {var}")
    if f.has(file_key):
        path = Path(f.text(file_key))
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise f.error(file_key, f"cannot read {path}: {exc.strerror or exc}") from None
        return Secret(value, f"file {path}")
    if required:
        raise ConfigError(f.file, f.at(env_key), f"is required (or {file_key})")
    return None


def client_options(config: ConnectionConfig) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producer, consumer, admin client and connections."""
    security = config.security
    options: dict[str, Any] = {
        "bootstrap_servers": list(config.bootstrap_servers),
        "client_id": config.client_id,
        "request_timeout_ms": int(config.request_timeout_seconds * 1000),
        "security_protocol": security.protocol,
    }
    if security.uses_tls:
        options["ssl_context"] = ssl_context(security.tls or TlsConfig())
    if security.sasl is not None:
        options["sasl_mechanism"] = security.sasl.mechanism
        options["sasl_plain_username"] = security.sasl.username
        options["sasl_plain_password"] = security.sasl.password.value
    return options


def ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """A client TLS context: the CA file (or the system store), an optional client
    certificate, and hostname checking unless switched off."""
    context = ssl.create_default_context(
        cafile=str(tls.ca_file) if tls.ca_file is not None else None
    )
    context.check_hostname = tls.check_hostname
    if not tls.check_hostname:
        context.verify_mode = ssl.CERT_REQUIRED
    if tls.cert_file is not None:
        password = tls.key_password.value if tls.key_password is not None else None
        context.load_cert_chain(
            str(tls.cert_file),
            str(tls.key_file) if tls.key_file is not None else None,
            password=password,
        )
    return context
