"""Pieces shared by the spec loaders: alert notifications and default alert names."""

from __future__ import annotations

import re
from typing import Final

from contracts.fields import Fields
from slo.model import Notification

__all__ = ["NOTIFICATION_FIELDS", "alert_name_for", "notification", "period"]

NOTIFICATION_FIELDS: Final = frozenset({"disable", "labels", "annotations"})


def notification(parent: Fields, key: str) -> Notification:
    """Sloth's ``page_alert``/``ticket_alert`` shape (ours uses the same fields)."""
    if not parent.has(key):
        return Notification()
    fields = parent.mapping(key, NOTIFICATION_FIELDS)
    return Notification(
        enabled=not fields.flag("disable", False),
        labels=fields.labels("labels"),
        annotations=fields.labels("annotations"),
    )


def alert_name_for(service: str, name: str) -> str:
    """``broker`` + ``produce-availability`` -> ``BrokerProduceAvailabilityBurnRate``."""
    words = re.split(r"[^a-zA-Z0-9]+", f"{service} {name}")
    camel = "".join(w[:1].upper() + w[1:] for w in words if w)
    if not camel or camel[0].isdigit():
        camel = "Slo" + camel
    return camel + "BurnRate"


def period(fields: Fields, key: str) -> int:
    return fields.whole_seconds(key)
