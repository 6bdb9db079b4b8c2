"""LocalCluster's checks before anything starts (no processes, no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from contracts.fields import ConfigError, HostPort
from tidewatch.local_cluster import LocalCluster


def no_routes(_: web.Application) -> None:
    pass


def test_a_data_dir_holding_a_cluster_of_another_size_is_refused_with_both_counts(
    tmp_path: Path,
) -> None:
    for node in (1, 2, 3):
        (tmp_path / "brokers" / f"b{node}").mkdir(parents=True)

    with pytest.raises(
        ConfigError, match=r"holds a cluster of 3 brokers, not 2: start it with --brokers 3"
    ):
        LocalCluster(
            2,
            tmp_path,
            http=HostPort("127.0.0.1", 0),
            cluster="local",
            registry=CollectorRegistry(),
            routes=no_routes,
        )
