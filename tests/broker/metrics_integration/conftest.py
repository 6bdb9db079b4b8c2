"""Fixtures of the broker metrics integration tests (shared with the group tests)."""

from __future__ import annotations

from tests.broker.groups_integration.conftest import (  # noqa: F401 - fixtures
    configured_broker,
    pytest_configure,
    start_member,
)
