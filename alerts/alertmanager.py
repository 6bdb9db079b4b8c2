"""The Alertmanager configuration: routing by severity, grouping, inhibition.

- Routing: ``severity="page"`` goes to the ``page`` receiver (wake someone up),
  ``severity="ticket"`` to ``ticket`` (a queue worked in office hours). An alert
  without a severity is a bug in a rule; it lands in ``ticket`` so someone sees it.
- Grouping: one notification per alert name and service/SLO, cluster, topic and group,
  so a lagging group on one topic is one page however many partitions lag.
- Inhibition: a page silences the ticket of the same alert for the same SLO (or the same
  cluster/group/topic); an unreachable broker silences the alerts that are its
  consequences (lag, retention, hot spots, probes) and the replication *tickets* it
  causes (under-replicated partitions, follower lag, ISR flapping, the broker fenced:
  the rule matches ``severity="ticket"`` only, so a replication page is never silenced);
  storage errors silence request-error and slow-flush tickets of the same cluster.

The receivers are webhooks whose URLs are parameters: point them at the paging and
ticketing integrations (or replace the receivers) when deploying.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from alerts.rule import SERVICE_LABEL
from contracts.promql import regex_union
from slo import conventions as c

__all__ = [
    "GROUP_BY",
    "RECEIVER_PAGE",
    "RECEIVER_TICKET",
    "alertmanager_config",
]

RECEIVER_PAGE: Final = "page"
RECEIVER_TICKET: Final = "ticket"
GROUP_BY: Final = (
    "alertname",
    SERVICE_LABEL,
    c.LABEL_SERVICE,
    c.LABEL_SLO,
    "cluster",
    "topic",
    "group",
)
# Labels that must be equal for a page to silence a ticket of the same alert (a label
# neither alert has counts as equal).
_SAME_SUBJECT: Final = ("alertname", c.LABEL_ID, "cluster", "broker", "group", "topic")


def _webhook(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}


def _inhibit(source: str, targets: Iterable[str], *only: str) -> dict[str, Any]:
    """``source`` silences ``targets`` of the same cluster (``only``: further target
    matchers, such as a severity)."""
    return {
        "source_matchers": [f'alertname="{source}"'],
        "target_matchers": [f'alertname=~"{regex_union(targets)}"', *only],
        "equal": ["cluster"],
    }


def alertmanager_config(
    *,
    page_url: str,
    ticket_url: str,
    unreachable_silences: Iterable[str],
    unreachable_ticket_silences: Iterable[str],
    storage_silences: Iterable[str],
    unreachable_alert: str,
    storage_alert: str,
) -> dict[str, Any]:
    return {
        "route": {
            "receiver": RECEIVER_TICKET,
            "group_by": list(GROUP_BY),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {
                    "receiver": RECEIVER_PAGE,
                    "matchers": [f'severity="{c.SEVERITY_PAGE}"'],
                    "group_wait": "10s",
                    "repeat_interval": "1h",
                },
                {
                    "receiver": RECEIVER_TICKET,
                    "matchers": [f'severity="{c.SEVERITY_TICKET}"'],
                    "repeat_interval": "24h",
                },
            ],
        },
        "receivers": [
            _webhook(RECEIVER_PAGE, page_url),
            _webhook(RECEIVER_TICKET, ticket_url),
        ],
        "inhibit_rules": [
            {
                "source_matchers": [f'severity="{c.SEVERITY_PAGE}"'],
                "target_matchers": [f'severity="{c.SEVERITY_TICKET}"'],
                "equal": list(_SAME_SUBJECT),
            },
            _inhibit(unreachable_alert, unreachable_silences),
            _inhibit(
                unreachable_alert,
                unreachable_ticket_silences,
                f'severity="{c.SEVERITY_TICKET}"',
            ),
            _inhibit(storage_alert, storage_silences),
        ],
    }
