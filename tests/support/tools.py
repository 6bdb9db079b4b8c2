"""The real components some tests run, and what happens when one is missing.

A test that needs a program (kcat, redis-server, prometheus, promtool, Alertmanager,
amtool, chromium) or a facility (mounting a tmpfs) asks for it here, in one of three ways:

- ``require_tool(KCAT)`` in the test or a fixture returns the program's path;
- the mark ``@requires(PROMTOOL)`` (on a test, a class, or as ``pytestmark``) checks
  before the test's fixtures are set up (see ``tests/conftest.py``);
- ``missing_component(reason, hint)`` for anything else found missing at run time.

When it is missing the test is skipped with the install hint, for people without the
packages; with ``TIDEWATCH_REQUIRE_TOOLS=1`` in the environment (CI sets it) it fails
with the same hint instead, so a green CI run has really run every test.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import NoReturn

import pytest

__all__ = [
    "ALERTMANAGER",
    "AMTOOL",
    "CHROMIUM",
    "KCAT",
    "PROMETHEUS",
    "PROMTOOL",
    "REDIS_SERVER",
    "REQUIRE_TOOLS_ENV",
    "TMPFS_HINT",
    "Tool",
    "find_tool",
    "missing_component",
    "require_tool",
    "requires",
    "tools_required",
]

REQUIRE_TOOLS_ENV = "TIDEWATCH_REQUIRE_TOOLS"
_INSTALL = "scripts/install-system-deps.sh installs it"


@dataclass(frozen=True, slots=True)
class Tool:
    """A program looked up on PATH under any of ``commands`` (first found wins)."""

    name: str
    commands: tuple[str, ...]
    package: str  # the Debian package that ships it

    @property
    def hint(self) -> str:
        return f"apt-get install --no-install-recommends {self.package}; {_INSTALL}"


KCAT = Tool("kcat", ("kcat",), "kcat")
REDIS_SERVER = Tool("redis-server", ("redis-server",), "redis-server")
PROMETHEUS = Tool("prometheus", ("prometheus",), "prometheus")
PROMTOOL = Tool("promtool", ("promtool",), "prometheus")
ALERTMANAGER = Tool(
    "prometheus-alertmanager",
    ("prometheus-alertmanager", "alertmanager"),
    "prometheus-alertmanager",
)
AMTOOL = Tool("amtool", ("amtool",), "prometheus-alertmanager")
CHROMIUM = Tool("chromium", ("chromium", "chromium-browser"), "chromium")
# The full-disk tests and game days mount a small tmpfs (``mount -t tmpfs``).
TMPFS_HINT = "run the tests as root: mounting a tmpfs needs CAP_SYS_ADMIN"


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS_ENV, "") not in ("", "0")


def find_tool(tool: Tool) -> str | None:
    """The path of the tool, or None (no skip, no failure: for optional uses)."""
    for command in tool.commands:
        path = shutil.which(command)
        if path is not None:
            return path
    return None


def missing_component(reason: str, hint: str) -> NoReturn:
    """Skip the running test for want of a real component, or fail it when
    ``TIDEWATCH_REQUIRE_TOOLS`` is set."""
    if tools_required():
        pytest.fail(f"{reason} ({hint}); {REQUIRE_TOOLS_ENV} is set, so this fails", pytrace=False)
    pytest.skip(f"{reason} ({hint})")


def require_tool(tool: Tool) -> str:
    """The tool's path; skips or fails the running test when it is not installed."""
    path = find_tool(tool)
    if path is None:
        missing_component(f"{tool.name} is not installed", tool.hint)
    return path


def requires(*tools: Tool) -> pytest.MarkDecorator:
    """Mark a test as needing ``tools``, checked before its fixtures are set up."""
    return pytest.mark.requires_tools(*tools)
