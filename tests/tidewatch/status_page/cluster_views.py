"""Fixed ``/status/cluster`` views of a three-broker cluster (``cluster_views.json``):
broker 1 a step behind, broker 2 the controller with the latest view, in which broker 3
is fenced, orders-1 under-replicated and payments-0 offline; broker 3 not answering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from broker.metrics.cluster_status import ClusterStatus

__all__ = ["fixed_views"]

VIEWS = Path(__file__).with_name("cluster_views.json")


def fixed_views() -> dict[int, ClusterStatus | None]:
    documents: dict[str, Any] = json.loads(VIEWS.read_text())
    return {
        int(node): None if document is None else ClusterStatus.from_json(document)
        for node, document in documents.items()
    }
