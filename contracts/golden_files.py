"""Writing generated files, or checking them for drift: the only file I/O of the
generators (``tidewatch generate``, ``tidewatch alerts build``, ``tidewatch dashboards
build``), which return file name -> text and never touch the disk themselves."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["drifted", "write_files"]


def drifted(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Names of ``files`` whose committed copy in ``directory`` is missing or differs."""
    out = []
    for name, text in sorted(files.items()):
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def write_files(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` into ``directory`` (created if needed); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
