"""What machine the figures were measured on (read from /proc and the tools themselves)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["LIBRARIES", "describe_machine", "filesystem_of"]

LIBRARIES = ("tidewatch", "confluent-kafka", "redis", "hiredis", "kio", "uvloop", "numpy", "rich")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def filesystem_of(path: Path) -> str:
    """The mount point and type holding ``path`` (from /proc/mounts), e.g. '/ ext4'."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best = ("", "unknown")
    for fields in mounts:
        if len(fields) < 3:
            continue
        mount_point, fs_type = fields[1], fields[2]
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best[0]):
            best = (mount_point, fs_type)
    return f"{best[0]} {best[1]}".strip()


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _librdkafka_version() -> str | None:
    try:
        import confluent_kafka
    except ImportError:
        return None
    return str(confluent_kafka.libversion()[0])


def describe_machine(work_dir: Path, *, kcat: str | None, redis: str | None) -> dict[str, Any]:
    """CPU, cores, memory, kernel, Python, library and tool versions, and where data lives."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "memory_bytes": _memory_bytes(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": _library_versions(),
        "librdkafka": _librdkafka_version(),
        "kcat": kcat,
        "redis_server": redis,
        "data_filesystem": filesystem_of(work_dir),
    }
