"""The alert catalog: every infrastructure alert's name, the thresholds the rules fire
at, and the dashboards the alerts point at.

The alert pack (``alerts/``) writes the rules, the dashboards (``dashboards/``) draw the
same thresholds on the panels the alerts point at (so the line on the graph is the line
that pages) and name the alerts in panel descriptions, and game days (``loadtest/``)
expect alerts by name. All of them import the names from here; none retypes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ACTIVE_CONTROLLER_COUNT",
    "AUTH_FAILURES",
    "BROKER_DISK_NEARLY_FULL",
    "BROKER_FENCED",
    "BROKER_FLUSH_SLOW",
    "BROKER_RECOVERY_TRUNCATED",
    "BROKER_STORAGE_ERRORS",
    "BROKER_UNREACHABLE",
    "CONSUMER_LAG_BEYOND_SLA",
    "CONSUMER_LAG_STATUS",
    "DASHBOARD_DEBUG",
    "DASHBOARD_EXECUTIVE",
    "DASHBOARD_ONCALL",
    "DASHBOARD_SLOS",
    "FOLLOWER_LAG_HIGH",
    "INFRASTRUCTURE_ALERTS",
    "ISR_FLAPPING",
    "OFFLINE_PARTITIONS",
    "PARTITION_HOT_SPOT",
    "PROBE_DUPLICATES",
    "PROBE_RECORDS_LOST",
    "REPLICATION_ALERTS",
    "REQUEST_ERRORS_HIGH",
    "RETENTION_HEADROOM_LOW",
    "UNCLEAN_LEADER_ELECTION",
    "UNDER_MIN_ISR",
    "UNDER_REPLICATED_PARTITIONS",
    "AlertThresholds",
]

# --- alert names (alerts/infrastructure.py and alerts/probe_alerts.py) -------------------
BROKER_UNREACHABLE: Final = "TidewatchBrokerUnreachable"
BROKER_STORAGE_ERRORS: Final = "TidewatchBrokerStorageErrors"
BROKER_FLUSH_SLOW: Final = "TidewatchBrokerFlushSlow"
BROKER_RECOVERY_TRUNCATED: Final = "TidewatchBrokerRecoveryTruncated"
BROKER_DISK_NEARLY_FULL: Final = "TidewatchBrokerDiskNearlyFull"
CONSUMER_LAG_BEYOND_SLA: Final = "TidewatchConsumerLagBeyondSLA"
CONSUMER_LAG_STATUS: Final = "TidewatchConsumerLagStatus"
RETENTION_HEADROOM_LOW: Final = "TidewatchRetentionHeadroomLow"
PARTITION_HOT_SPOT: Final = "TidewatchPartitionHotSpot"
REQUEST_ERRORS_HIGH: Final = "TidewatchRequestErrorsHigh"
AUTH_FAILURES: Final = "TidewatchAuthFailures"
PROBE_RECORDS_LOST: Final = "TidewatchProbeRecordsLost"
PROBE_DUPLICATES: Final = "TidewatchProbeDuplicates"

# --- replication alerts (issue 13; the alert pack's replication group writes them) ------
OFFLINE_PARTITIONS: Final = "TidewatchOfflinePartitions"  # page
UNDER_MIN_ISR: Final = "TidewatchUnderMinISR"  # page
ACTIVE_CONTROLLER_COUNT: Final = "TidewatchActiveControllerCount"  # page: none, or > 1
UNCLEAN_LEADER_ELECTION: Final = "TidewatchUncleanLeaderElection"  # page
UNDER_REPLICATED_PARTITIONS: Final = "TidewatchUnderReplicatedPartitions"  # ticket
FOLLOWER_LAG_HIGH: Final = "TidewatchFollowerLagHigh"  # ticket
ISR_FLAPPING: Final = "TidewatchISRFlapping"  # ticket
BROKER_FENCED: Final = "TidewatchBrokerFenced"  # ticket

REPLICATION_ALERTS: Final = (
    OFFLINE_PARTITIONS,
    UNDER_MIN_ISR,
    ACTIVE_CONTROLLER_COUNT,
    UNCLEAN_LEADER_ELECTION,
    UNDER_REPLICATED_PARTITIONS,
    FOLLOWER_LAG_HIGH,
    ISR_FLAPPING,
    BROKER_FENCED,
)

INFRASTRUCTURE_ALERTS: Final = (
    BROKER_UNREACHABLE,
    BROKER_STORAGE_ERRORS,
    BROKER_FLUSH_SLOW,
    BROKER_RECOVERY_TRUNCATED,
    BROKER_DISK_NEARLY_FULL,
    CONSUMER_LAG_BEYOND_SLA,
    CONSUMER_LAG_STATUS,
    RETENTION_HEADROOM_LOW,
    PARTITION_HOT_SPOT,
    REQUEST_ERRORS_HIGH,
    AUTH_FAILURES,
    PROBE_RECORDS_LOST,
    PROBE_DUPLICATES,
)

# --- dashboards the alerts point at ("Title / Panel"; a test checks the panels exist) ---
DASHBOARD_ONCALL: Final = "Tidewatch On-call"
DASHBOARD_DEBUG: Final = "Tidewatch Debug"
DASHBOARD_EXECUTIVE: Final = "Tidewatch Executive"
DASHBOARD_SLOS: Final = "Tidewatch SLOs"


# --- thresholds ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Defaults suit a platform whose consumers promise to be at most 5 minutes behind.

    Durations are Prometheus durations (``for:`` clauses); sizes are in base units.
    """

    # Broker scrape target down for this long: page.
    broker_unreachable_for: str = "1m"
    # A group's oldest unconsumed record older than this (the lag SLA), sustained: page.
    lag_sla_seconds: float = 300.0
    lag_sla_for: str = "5m"
    # Burrow-style STALL or STOP on any partition of a group, sustained: ticket.
    lag_status_for: str = "10m"
    # Hottest partition of a topic carries at least this multiple of the topic's average
    # per-partition byte rate (2 = twice its fair share), on topics busier than the floor.
    hot_partition_skew_ratio: float = 2.0
    hot_partition_min_bytes_per_second: float = 10_240.0
    hot_partition_for: str = "30m"
    # Unconsumed data deleted by retention within this time: page below the first,
    # ticket below the second; only for groups beyond the lag SLA (a group within it is
    # consuming, however short the topic's retention).
    retention_headroom_page_seconds: float = 3_600.0
    retention_headroom_ticket_seconds: float = 6 * 3_600.0
    retention_headroom_for: str = "5m"
    # Share of one API's requests failing with unexpected errors, above a rate floor.
    request_error_ratio: float = 0.05
    request_error_min_per_second: float = 0.1
    request_error_for: str = "10m"
    # Authentication/authorization denials over 10 minutes.
    auth_failures_per_10m: float = 10.0
    auth_failures_for: str = "5m"
    # Storage errors (the disk refused an append or a flush): page.
    storage_errors_for: str = "1m"
    # Share of the data directory's file system still free: ticket below the first for
    # its duration, page below the second for its (shorter) duration.
    disk_free_ticket_ratio: float = 0.15
    disk_free_ticket_for: str = "10m"
    disk_free_page_ratio: float = 0.05
    disk_free_page_for: str = "5m"
    # 99th percentile of fsync rounds above this for a while: ticket (disk degraded).
    flush_p99_seconds: float = 0.5
    flush_slow_for: str = "15m"
    # Probe records acknowledged and never read back: page at the first one.
    probe_lost_window: str = "10m"
    probe_duplicates_window: str = "30m"
    # -- replication (issue 13) --
    # A partition without a leader, or with its ISR below min.insync.replicas: page.
    offline_partitions_for: str = "1m"
    under_min_isr_for: str = "1m"
    # Active controllers summed over the cluster's brokers other than 1: page.
    active_controller_count_for: str = "1m"
    # Any unclean leader election within this window: page (acknowledged data may be gone).
    unclean_election_window: str = "15m"
    # Under-replicated partitions for this long: ticket (a broker restart takes less).
    under_replicated_for: str = "5m"
    # A follower missing records older than this, sustained: ticket.
    follower_lag_seconds: float = 30.0
    follower_lag_for: str = "5m"
    # ISR shrinks plus expands of one broker's partitions within the window: ticket.
    isr_flapping_changes: float = 6.0
    isr_flapping_window: str = "15m"
    isr_flapping_for: str = "5m"
    # A registered broker fenced by the controller for this long: ticket.
    broker_fenced_for: str = "5m"
