"""``promtool check metrics`` finds nothing to complain about in the broker's
exposition, with and without the compatibility names, after traffic that makes every
family carry samples."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from tests.broker.metrics_integration.conftest import Scraped
from tests.broker.metrics_integration.prometheus import PROMTOOL
from tests.support import tools

pytestmark = [
    pytest.mark.interop,
    tools.requires(tools.PROMTOOL),
]


LINT_PROBLEMS_EXIT_CODE = 3  # promtool: the exposition parsed, lint found problems
# kafka_exporter's own names, kept as they are so its dashboards work unchanged.
INHERITED_FROM_KAFKA_EXPORTER = {
    f'{name} non-histogram and non-summary metrics should not have "_sum" suffix'
    for name in ("kafka_consumergroup_current_offset_sum", "kafka_consumergroup_lag_sum")
}


def check_metrics(exposition: bytes) -> tuple[int, set[str]]:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    report = (checked.stdout + checked.stderr).decode()
    return checked.returncode, {line.strip() for line in report.splitlines() if line.strip()}


def exposition(http_url: str) -> bytes:
    with urllib.request.urlopen(f"{http_url}/metrics", timeout=10) as response:
        body: bytes = response.read()
    return body


def test_promtool_check_metrics_passes_on_the_default_exposition(scraped: Scraped) -> None:
    body = exposition(scraped.default.http_url)
    assert b"tidewatch_group_lag_seconds{" in body
    assert b"tidewatch_broker_request_duration_seconds_bucket{" in body
    assert check_metrics(body) == (0, set())


def test_promtool_finds_only_kafka_exporters_own_sum_names_with_compatibility_on(
    scraped: Scraped,
) -> None:
    body = exposition(scraped.compat.http_url)
    assert b"kafka_consumergroup_lag_sum{" in body
    assert b"kafka_consumergroup_current_offset_sum{" in body
    code, problems = check_metrics(body)
    assert (code, problems) == (LINT_PROBLEMS_EXIT_CODE, INHERITED_FROM_KAFKA_EXPORTER)
    # Without those two families, promtool has nothing to say.
    kept = b"\n".join(
        line
        for line in body.split(b"\n")
        if not any(
            name.encode() in line
            for name in ("kafka_consumergroup_current_offset_sum", "kafka_consumergroup_lag_sum")
        )
    )
    assert check_metrics(kept) == (0, set())
