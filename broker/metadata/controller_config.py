"""``ControllerConfig``: the settings the quorum controller runs with.

The app builds it from ``broker/config.py`` (where the keys are documented for users);
defaults follow the replication design, and Kafka where the design is silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.storage.topic_names import MAX_PARTITIONS

__all__ = ["ControllerConfig"]


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Controller settings; units in the names. Raises ValueError on impossible values.

    ``activation_grace_ms``: after this node becomes the active controller, a broker that
    has not heartbeated within this long is fenced (None: one session timeout), so a
    broker that died while there was no controller is still noticed.
    ``leader_imbalance_check_interval_ms``: how often preferred leaders are restored when
    ``auto_leader_rebalance`` is on (Kafka's default, 5 minutes).
    """

    broker_session_timeout_ms: int = 4000
    activation_grace_ms: int | None = None
    default_partitions: int = 1
    default_replication_factor: int = 1
    auto_leader_rebalance: bool = True
    leader_imbalance_check_interval_ms: int = 300_000
    offsets_topic_partitions: int = 10
    offsets_topic_replication_factor: int = 3
    producer_id_block_size: int = 1000

    def __post_init__(self) -> None:
        positive = {
            "broker_session_timeout_ms": self.broker_session_timeout_ms,
            "default_replication_factor": self.default_replication_factor,
            "leader_imbalance_check_interval_ms": self.leader_imbalance_check_interval_ms,
            "offsets_topic_replication_factor": self.offsets_topic_replication_factor,
            "producer_id_block_size": self.producer_id_block_size,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        for name, value in (
            ("default_partitions", self.default_partitions),
            ("offsets_topic_partitions", self.offsets_topic_partitions),
        ):
            if not 1 <= value <= MAX_PARTITIONS:
                raise ValueError(f"{name} must be within 1..{MAX_PARTITIONS}, not {value}")
        if self.activation_grace_ms is not None and self.activation_grace_ms < 0:
            raise ValueError(f"activation_grace_ms {self.activation_grace_ms} is negative")

    @property
    def grace_ms(self) -> int:
        if self.activation_grace_ms is None:
            return self.broker_session_timeout_ms
        return self.activation_grace_ms
