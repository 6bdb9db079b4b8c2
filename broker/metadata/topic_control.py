"""Topic administration for the controller: create, delete, grow, configure.

``TopicControl`` turns CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs and
IncrementalAlterConfigs into records added to a ``RecordBatch`` and one reply per item.
Each item is validated completely before its first record, so a refused item adds
nothing; items of one request are independent (as in Kafka), except that duplicates in
a request are all refused with INVALID_REQUEST.

Checks, with Kafka's error names:

- names: legal (INVALID_TOPIC_EXCEPTION), not taken (TOPIC_ALREADY_EXISTS), not
  colliding with an existing name that differs only by '.' versus '_'
  (INVALID_TOPIC_EXCEPTION, as Kafka: metric names would clash);
- counts: 1..MAX_PARTITIONS partitions (INVALID_PARTITIONS); replication factor at least
  1 and at most the number of eligible brokers (INVALID_REPLICATION_FACTOR);
- explicit assignments: partitions numbered 0..n-1, no empty or duplicate replica
  lists, registered brokers only, the same replication factor everywhere, at least one
  eligible broker per partition (INVALID_REPLICA_ASSIGNMENT); counts and assignments
  together are INVALID_REQUEST;
- configs: every key known and every value valid (INVALID_CONFIG; see
  ``broker.metadata.topic_configs``). A min.insync.replicas above the replication factor
  is accepted, as Kafka does, with a warning in the reply: producing with acks=all then
  fails with NOT_ENOUGH_REPLICAS, which says exactly what is wrong.

Placement: ``broker.metadata.placement`` over the eligible brokers, continuing a
rotation kept here (only the active controller places replicas, so this state need not
be in the log). A new partition's ISR is its eligible replicas; its leader the first of
them. Topic ids come from the injected factory; an id that is zero or taken is drawn
again.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from broker.error_codes import KafkaError
from broker.metadata.controller_config import ControllerConfig
from broker.metadata.elections import RecordBatch
from broker.metadata.image_builder import ImageBuilder
from broker.metadata.offsets_topic import OFFSETS_TOPIC
from broker.metadata.placement import assign_replicas
from broker.metadata.records import NO_LEADER, Config, Partition, RemoveTopic, Topic
from broker.metadata.replies import (
    AlterConfigsReply,
    CreatePartitionsReply,
    CreateTopicReply,
    DeleteTopicReply,
    NewPartitions,
    NewTopic,
)
from broker.metadata.topic_configs import (
    ConfigOp,
    apply_config_ops,
    min_insync_replicas,
    normalized_overrides,
)
from broker.storage.errors import InvalidTopicError
from broker.storage.log_config import InvalidConfigError
from broker.storage.topic_names import MAX_PARTITIONS, validate_topic_name

__all__ = ["TopicControl"]

_MAX_ID_DRAWS = 100
_UNKNOWN_ID = KafkaError.UNKNOWN_TOPIC_ID


class _Refusal(Exception):
    def __init__(self, error: KafkaError, message: str) -> None:
        super().__init__(message)
        self.error = error


def _duplicates(items: Sequence[object]) -> set[object]:
    return {item for item, count in Counter(items).items() if count > 1}


class TopicControl:
    """Topic operations of the active controller (see the module docstring)."""

    def __init__(self, config: ControllerConfig, new_topic_id: Callable[[], uuid.UUID]) -> None:
        self._config = config
        self._new_topic_id = new_topic_id
        self._placement_start = 0

    # -- create -----------------------------------------------------------------------

    def create_topics(
        self, batch: RecordBatch, topics: Sequence[NewTopic], *, internal: bool = False
    ) -> tuple[CreateTopicReply, ...]:
        duplicates = _duplicates([t.name for t in topics])
        replies = []
        for topic in topics:
            if topic.name in duplicates:
                replies.append(
                    CreateTopicReply(
                        topic.name, KafkaError.INVALID_REQUEST, "topic named twice in a request"
                    )
                )
                continue
            try:
                replies.append(self._create_topic(batch, topic, internal))
            except _Refusal as refusal:
                replies.append(CreateTopicReply(topic.name, refusal.error, str(refusal)))
        return tuple(replies)

    def _create_topic(
        self, batch: RecordBatch, topic: NewTopic, internal: bool
    ) -> CreateTopicReply:
        work = batch.work
        _check_new_name(work, topic.name, internal)
        configs = _checked_configs(topic.configs)
        if topic.assignments is not None:
            if topic.num_partitions != -1 or topic.replication_factor != -1:
                raise _Refusal(
                    KafkaError.INVALID_REQUEST,
                    "give either replica assignments or partition count and replication "
                    "factor, not both",
                )
            placement = _checked_assignments(work, _ordered(topic.assignments), None)
        else:
            placement = self._place(work, topic.num_partitions, topic.replication_factor, 0)
        replication_factor = len(placement[0])
        topic_id = self._fresh_topic_id(work)
        batch.add(Topic(name=topic.name, topic_id=topic_id, configs=configs))
        _add_partitions(batch, topic_id, placement, first_index=0)
        return CreateTopicReply(
            name=topic.name,
            error=KafkaError.NONE,
            message=None,
            topic_id=topic_id,
            num_partitions=len(placement),
            replication_factor=replication_factor,
            configs=configs,
            warnings=_warnings(configs, replication_factor),
        )

    def _place(
        self, work: ImageBuilder, partitions: int, replication_factor: int, first_index: int
    ) -> tuple[tuple[int, ...], ...]:
        if partitions == -1:
            partitions = self._config.default_partitions
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise _Refusal(
                KafkaError.INVALID_PARTITIONS,
                f"{partitions} partitions is not allowed; use 1-{MAX_PARTITIONS}",
            )
        if replication_factor == -1:
            replication_factor = self._config.default_replication_factor
        eligible = work.eligible_brokers()
        _check_replication_factor(replication_factor, len(eligible))
        placement = assign_replicas(
            eligible, partitions, replication_factor, self._placement_start, first_index
        )
        self._placement_start += partitions
        return placement

    def _fresh_topic_id(self, work: ImageBuilder) -> uuid.UUID:
        for _ in range(_MAX_ID_DRAWS):
            topic_id = self._new_topic_id()
            if topic_id.int != 0 and work.topic_name(topic_id) is None:
                return topic_id
        raise _Refusal(KafkaError.UNKNOWN_SERVER_ERROR, "could not draw an unused topic id")

    # -- delete -----------------------------------------------------------------------

    def delete_topics(
        self, batch: RecordBatch, targets: Sequence[str | uuid.UUID]
    ) -> tuple[DeleteTopicReply, ...]:
        """Delete topics named by name or by id, in request order."""
        duplicates = _duplicates(list(targets))
        replies = []
        for target in targets:
            by_id = isinstance(target, uuid.UUID)
            name = batch.work.topic_name(target) if isinstance(target, uuid.UUID) else target
            topic_id = target if isinstance(target, uuid.UUID) else batch.work.topic_id(target)
            if target in duplicates:
                error, message = KafkaError.INVALID_REQUEST, "topic named twice in a request"
            elif name is None or topic_id is None:
                error = _UNKNOWN_ID if by_id else KafkaError.UNKNOWN_TOPIC_OR_PARTITION
                what = f"no topic has id {target}" if by_id else f"topic {target!r} does not exist"
                message = what
            else:
                batch.add(RemoveTopic(topic_id=topic_id))
                error, message = KafkaError.NONE, None
            replies.append(DeleteTopicReply(name, topic_id, error, message))
        return tuple(replies)

    # -- partitions -------------------------------------------------------------------

    def create_partitions(
        self, batch: RecordBatch, requests: Sequence[NewPartitions]
    ) -> tuple[CreatePartitionsReply, ...]:
        duplicates = _duplicates([r.topic for r in requests])
        replies = []
        for request in requests:
            try:
                if request.topic in duplicates:
                    raise _Refusal(KafkaError.INVALID_REQUEST, "topic named twice in a request")
                self._create_partitions(batch, request)
                replies.append(CreatePartitionsReply(request.topic, KafkaError.NONE, None))
            except _Refusal as refusal:
                replies.append(CreatePartitionsReply(request.topic, refusal.error, str(refusal)))
        return tuple(replies)

    def _create_partitions(self, batch: RecordBatch, request: NewPartitions) -> None:
        work = batch.work
        topic_id = _known_topic(work, request.topic)
        existing = work.partitions(topic_id)
        current = len(existing)
        if request.count <= current:
            raise _Refusal(
                KafkaError.INVALID_PARTITIONS,
                f"topic {request.topic!r} has {current} partitions; the new count "
                f"{request.count} must be larger",
            )
        if request.count > MAX_PARTITIONS:
            raise _Refusal(
                KafkaError.INVALID_PARTITIONS,
                f"partition count {request.count} exceeds {MAX_PARTITIONS}",
            )
        replication_factor = len(existing[0].replicas)
        if request.assignments is not None:
            if len(request.assignments) != request.count - current:
                raise _Refusal(
                    KafkaError.INVALID_REPLICA_ASSIGNMENT,
                    f"{len(request.assignments)} assignments for "
                    f"{request.count - current} new partitions",
                )
            placement = _checked_assignments(work, request.assignments, replication_factor)
        else:
            placement = self._place(work, request.count - current, replication_factor, current)
        _add_partitions(batch, topic_id, placement, first_index=current)

    # -- configs ----------------------------------------------------------------------

    def alter_configs(
        self, batch: RecordBatch, resources: Mapping[str, Mapping[str, str | None]]
    ) -> tuple[AlterConfigsReply, ...]:
        """Replace each topic's overrides by the given set (null values: not set)."""
        return self._configure(
            batch, {topic: partial(_replaced, configs) for topic, configs in resources.items()}
        )

    def incremental_alter_configs(
        self, batch: RecordBatch, resources: Mapping[str, Sequence[ConfigOp]]
    ) -> tuple[AlterConfigsReply, ...]:
        """Apply SET/DELETE/APPEND/SUBTRACT operations to each topic's overrides."""
        return self._configure(
            batch, {topic: partial(_ops_result, ops) for topic, ops in resources.items()}
        )

    def _configure(
        self,
        batch: RecordBatch,
        changes: Mapping[str, Callable[[Mapping[str, str]], dict[str, str]]],
    ) -> tuple[AlterConfigsReply, ...]:
        replies = []
        for topic, change in changes.items():
            try:
                topic_id = _known_topic(batch.work, topic)
                current = batch.work.configs(topic_id)
                try:
                    wanted = normalized_overrides(change(current))
                except InvalidConfigError as exc:
                    raise _Refusal(KafkaError.INVALID_CONFIG, str(exc)) from None
                for key in sorted(current.keys() | wanted.keys()):
                    if current.get(key) != wanted.get(key):
                        batch.add(Config("topic", topic, key, wanted.get(key)))
                replies.append(AlterConfigsReply(topic, KafkaError.NONE, None))
            except _Refusal as refusal:
                replies.append(AlterConfigsReply(topic, refusal.error, str(refusal)))
        return tuple(replies)


def _replaced(configs: Mapping[str, str | None], current: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in configs.items() if v is not None}


def _ops_result(ops: Sequence[ConfigOp], current: Mapping[str, str]) -> dict[str, str]:
    duplicated = _duplicates([op.key for op in ops])
    if duplicated:
        key = sorted(map(str, duplicated))[0]
        raise _Refusal(KafkaError.INVALID_REQUEST, f"config key {key!r} given twice")
    return apply_config_ops(current, ops)


def _known_topic(work: ImageBuilder, name: str) -> uuid.UUID:
    topic_id = work.topic_id(name)
    if topic_id is None:
        raise _Refusal(KafkaError.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist")
    return topic_id


def _check_new_name(work: ImageBuilder, name: str, internal: bool) -> None:
    try:
        validate_topic_name(name)
    except InvalidTopicError as exc:
        raise _Refusal(KafkaError.INVALID_TOPIC_EXCEPTION, str(exc)) from None
    if name == OFFSETS_TOPIC and not internal:
        raise _Refusal(
            KafkaError.INVALID_REQUEST,
            f"{OFFSETS_TOPIC} is an internal topic; the controller creates it",
        )
    if work.topic_id(name) is not None:
        raise _Refusal(KafkaError.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists")
    folded = name.replace(".", "_")
    for existing in work.topic_names():
        if existing.replace(".", "_") == folded:
            raise _Refusal(
                KafkaError.INVALID_TOPIC_EXCEPTION,
                f"topic {name!r} collides with existing topic {existing!r} "
                f"('.' and '_' are the same in metric names)",
            )


def _checked_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    nulls = sorted(k for k, v in configs.items() if v is None)
    if nulls:
        raise _Refusal(KafkaError.INVALID_CONFIG, f"null value for topic config {nulls[0]!r}")
    try:
        return normalized_overrides({k: v for k, v in configs.items() if v is not None})
    except InvalidConfigError as exc:
        raise _Refusal(KafkaError.INVALID_CONFIG, str(exc)) from None


def _check_replication_factor(replication_factor: int, eligible: int) -> None:
    if replication_factor < 1:
        raise _Refusal(
            KafkaError.INVALID_REPLICATION_FACTOR,
            f"replication factor {replication_factor} is not allowed; use 1 or more",
        )
    if replication_factor > eligible:
        raise _Refusal(
            KafkaError.INVALID_REPLICATION_FACTOR,
            f"replication factor {replication_factor} is larger than the {eligible} "
            f"available (unfenced) brokers",
        )


def _ordered(assignments: Mapping[int, tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    if sorted(assignments) != list(range(len(assignments))):
        raise _Refusal(
            KafkaError.INVALID_REPLICA_ASSIGNMENT,
            f"assigned partitions {sorted(assignments)} are not numbered 0..n-1",
        )
    return tuple(tuple(assignments[i]) for i in range(len(assignments)))


def _checked_assignments(
    work: ImageBuilder, assignments: Sequence[Sequence[int]], replication_factor: int | None
) -> tuple[tuple[int, ...], ...]:
    """Explicit replica lists, checked (see the module docstring)."""
    refuse = KafkaError.INVALID_REPLICA_ASSIGNMENT
    if not assignments:
        raise _Refusal(refuse, "no partitions assigned")
    expected = replication_factor if replication_factor is not None else len(assignments[0])
    for index, replicas in enumerate(assignments):
        if not replicas:
            raise _Refusal(refuse, f"partition {index} has no replicas")
        if len(set(replicas)) != len(replicas):
            raise _Refusal(refuse, f"partition {index} lists a broker twice: {list(replicas)}")
        unknown = [b for b in replicas if work.broker(b) is None]
        if unknown:
            raise _Refusal(
                refuse, f"partition {index} names broker {unknown[0]}, which is not registered"
            )
        if len(replicas) != expected:
            raise _Refusal(
                refuse,
                f"partition {index} has {len(replicas)} replicas where the others have {expected}",
            )
        if not any(work.is_eligible(b) for b in replicas):
            raise _Refusal(refuse, f"every broker of partition {index} is fenced or shutting down")
    return tuple(tuple(r) for r in assignments)


def _add_partitions(
    batch: RecordBatch,
    topic_id: uuid.UUID,
    placement: Sequence[tuple[int, ...]],
    first_index: int,
) -> None:
    for offset, replicas in enumerate(placement):
        isr = tuple(b for b in replicas if batch.work.is_eligible(b))
        batch.add(
            Partition(
                topic_id=topic_id,
                partition_index=first_index + offset,
                replicas=replicas,
                isr=isr,
                leader=isr[0] if isr else NO_LEADER,
                leader_epoch=0,
                partition_epoch=0,
            )
        )


def _warnings(configs: Mapping[str, str], replication_factor: int) -> tuple[str, ...]:
    wanted = min_insync_replicas(configs)
    if wanted > replication_factor:
        return (
            f"min.insync.replicas={wanted} is above the replication factor "
            f"{replication_factor}: acks=all produce will fail with NOT_ENOUGH_REPLICAS",
        )
    return ()
