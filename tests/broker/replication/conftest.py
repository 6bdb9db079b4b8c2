from __future__ import annotations

from pathlib import Path

import pytest

from tests.broker.replication.fakes import FakeLogs


@pytest.fixture
def make_log(tmp_path: Path) -> FakeLogs:
    return FakeLogs(tmp_path)
