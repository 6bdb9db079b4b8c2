"""Helpers shared by the game-day tests."""

from __future__ import annotations

import copy
from typing import Any

SCENARIO: dict[str, Any] = {
    "version": "tidewatch/gameday/v1",
    "name": "lag",
    "time_scale": 60,
    "duration": "40s",
    "broker": {"flush_policy": "durable", "proxy": True},
    "workload": {
        "topic": {"name": "orders", "partitions": 3},
        "producers": {"rate": 100, "acks": "all"},
        "consumers": [{"group": "billing"}],
    },
    "timeline": [
        {"id": "stop", "at": "5s", "fault": "consumer-stop", "group": "billing", "for": "10s"},
        {"at": 20, "fault": "network-latency", "latency_ms": 50},
    ],
    "expect": {
        "alerts": [
            {
                "alert": "Lag",
                "labels": {"group": "billing"},
                "after": "stop",
                "fires_within": "10s",
                "resolves_within": 5,
            }
        ],
        "silent": ["BrokerDown"],
        "slos": [{"slo": "e2e", "burns": True}],
        "data_loss": {"lost": 0, "deleted_by_retention": {"min": 1}},
        "recovery": {"lag_zero_within": "10s", "alerts_resolved_within": "20s"},
    },
}


def scenario_with(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SCENARIO)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return doc
