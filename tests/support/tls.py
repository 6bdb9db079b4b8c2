"""A throwaway self-signed certificate for TLS tests (``openssl`` on PATH)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["self_signed_certificate"]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (CN localhost, valid for 127.0.0.1 and localhost,
    one day) into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
