"""Topic config overrides as the controller validates them before writing records.

Two tables: the log configs of ``broker.storage.log_config.TOPIC_CONFIGS`` (segment and
retention sizes, cleanup policy, min.insync.replicas...) and, here, the replication
configs that only the controller reads (``unclean.leader.election.enable``). Validation
is whole: the resulting set of overrides must parse, so a config change is either
entirely valid or refused with ``InvalidConfigError`` naming the key, the value and
what is allowed.

``apply_config_ops`` implements IncrementalAlterConfigs: SET, DELETE, and APPEND /
SUBTRACT for list-typed keys (starting from the default when the key is not set), as
Kafka does. Pure functions; no state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from broker.storage.log_config import TOPIC_CONFIGS, InvalidConfigError, LogConfig

__all__ = [
    "LIST_CONFIGS",
    "MIN_INSYNC_REPLICAS",
    "REPLICATION_TOPIC_CONFIGS",
    "UNCLEAN_LEADER_ELECTION",
    "ConfigOp",
    "ConfigOpType",
    "apply_config_ops",
    "min_insync_replicas",
    "normalized_overrides",
    "unclean_leader_election_enabled",
]

UNCLEAN_LEADER_ELECTION = "unclean.leader.election.enable"
MIN_INSYNC_REPLICAS = "min.insync.replicas"
# Key -> default, for configs the storage layer does not know.
REPLICATION_TOPIC_CONFIGS: dict[str, str] = {UNCLEAN_LEADER_ELECTION: "false"}
LIST_CONFIGS = frozenset({"cleanup.policy"})
_BOOLEANS = ("true", "false")


class ConfigOpType(enum.IntEnum):
    """IncrementalAlterConfigs operation types (Kafka's values)."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


@dataclass(frozen=True, slots=True)
class ConfigOp:
    key: str
    op: ConfigOpType
    value: str | None = None


def normalized_overrides(overrides: Mapping[str, str]) -> dict[str, str]:
    """The overrides as they will be stored, or InvalidConfigError. Booleans are
    accepted in any case and stored in lower case; everything else is kept as given."""
    unknown = sorted(k for k in overrides if k not in TOPIC_CONFIGS and k not in _replication())
    if unknown:
        supported = ", ".join(sorted([*TOPIC_CONFIGS, *_replication()]))
        raise InvalidConfigError(f"unknown topic config {unknown[0]!r}; supported: {supported}")
    result = dict(overrides)
    for key in _replication().keys() & overrides.keys():
        value = overrides[key].strip().lower()
        if value not in _BOOLEANS:
            raise InvalidConfigError(f"{key}={overrides[key]!r} is not a boolean (true or false)")
        result[key] = value
    LogConfig().with_overrides({k: v for k, v in result.items() if k in TOPIC_CONFIGS})
    return dict(sorted(result.items()))


def _replication() -> dict[str, str]:
    # Keys the storage table has taken over are no longer ours (one definition each).
    return {k: v for k, v in REPLICATION_TOPIC_CONFIGS.items() if k not in TOPIC_CONFIGS}


def apply_config_ops(current: Mapping[str, str], ops: Sequence[ConfigOp]) -> dict[str, str]:
    """The overrides after ``ops`` (not yet validated: call ``normalized_overrides``)."""
    result = dict(current)
    for op in ops:
        if op.op is ConfigOpType.DELETE:
            result.pop(op.key, None)
            continue
        if op.value is None:
            raise InvalidConfigError(f"{op.op.name} of {op.key} needs a value")
        if op.op is ConfigOpType.SET:
            result[op.key] = op.value
            continue
        if op.key not in LIST_CONFIGS:
            raise InvalidConfigError(f"cannot {op.op.name} to {op.key}: it is not a list config")
        items = [v for v in result.get(op.key, _default(op.key)).split(",") if v]
        changes = [v.strip() for v in op.value.split(",") if v.strip()]
        if op.op is ConfigOpType.APPEND:
            items += [v for v in changes if v not in items]
        else:
            items = [v for v in items if v not in changes]
        result[op.key] = ",".join(items)
    return result


def _default(key: str) -> str:
    if key in TOPIC_CONFIGS:
        return LogConfig().value_of(key)
    return REPLICATION_TOPIC_CONFIGS.get(key, "")


def unclean_leader_election_enabled(configs: Mapping[str, str]) -> bool:
    """Whether a topic's overrides allow electing an out-of-sync replica."""
    return configs.get(UNCLEAN_LEADER_ELECTION, "false").lower() == "true"


def min_insync_replicas(configs: Mapping[str, str]) -> int:
    """A topic's min.insync.replicas (overrides already validated)."""
    return int(configs.get(MIN_INSYNC_REPLICAS, LogConfig().value_of(MIN_INSYNC_REPLICAS)))
