"""Spec loaders: our ``tidewatch/v1``, Sloth ``prometheus/v1`` and OpenSLO ``openslo/v1``.

:func:`load_text` parses YAML text (one or many documents) and maps every document onto
the frozen model; :func:`load_files` reads files (the only I/O here). Each error is a
:class:`~contracts.fields.ConfigError` naming the file, the field and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from contracts.fields import ConfigError, Fields, parse_yaml_documents, read_text
from slo.model import SLO
from slo.spec import openslo, sloth, tidewatch

__all__ = ["DEFAULT_SLOTH_PERIOD_SECONDS", "load_files", "load_text"]

DEFAULT_SLOTH_PERIOD_SECONDS: Final = 30 * 86_400
_VERSIONS: Final = (tidewatch.VERSION, sloth.VERSION, openslo.API_VERSION)


def load_text(
    text: str, file: str = "<string>", sloth_period_seconds: int = DEFAULT_SLOTH_PERIOD_SECONDS
) -> list[SLO]:
    return _load([(file, text)], sloth_period_seconds)


def load_files(
    paths: Iterable[str | Path], sloth_period_seconds: int = DEFAULT_SLOTH_PERIOD_SECONDS
) -> list[SLO]:
    """Load several files together (OpenSLO references may cross files)."""
    sources = [(str(path), read_text(Path(path))) for path in paths]
    return _load(sources, sloth_period_seconds)


def _load(sources: list[tuple[str, str]], sloth_period_seconds: int) -> list[SLO]:
    slos: list[SLO] = []
    openslo_docs: list[openslo.Document] = []
    for file, text in sources:
        documents = parse_yaml_documents(text, file)
        if not documents:
            raise ConfigError(file, "", "no YAML document found")
        for index, data in enumerate(documents):
            path = f"document[{index}]" if len(documents) > 1 else ""
            fields = Fields(file, path, data)
            version = fields.raw("apiVersion") or fields.raw("version")
            if version == tidewatch.VERSION:
                _no_path(file, path)
                slos.extend(tidewatch.load_document(file, data))
            elif version == sloth.VERSION:
                _no_path(file, path)
                slos.extend(sloth.load_document(file, data, sloth_period_seconds))
            elif version == openslo.API_VERSION:
                openslo_docs.append(openslo.parse_document(file, path, data))
            else:
                allowed = ", ".join(_VERSIONS)
                raise ConfigError(
                    file,
                    fields.at("version"),
                    f"unknown spec version {version!r}; one of {allowed}",
                )
    slos.extend(openslo.resolve(openslo_docs))
    _check_unique_ids(slos)
    return slos


def _no_path(file: str, path: str) -> None:
    if path:
        raise ConfigError(file, path, "Sloth and tidewatch specs must be one document per file")


def _check_unique_ids(slos: list[SLO]) -> None:
    seen: dict[str, str] = {}
    for slo in slos:
        if slo.id in seen:
            raise ConfigError(
                slo.source, "", f'SLO id "{slo.id}" is also defined in {seen[slo.id]}'
            )
        seen[slo.id] = slo.source
