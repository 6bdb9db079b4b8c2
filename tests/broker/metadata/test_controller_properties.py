"""Property: whatever the sequence of controller operations, the controller only emits
records its own image accepts, and the cluster's invariants hold after every step.

Operations: register (new incarnations too), heartbeat (caught up or not, asking for
fencing or shutdown), time passing and ticks, disconnects, topic creation (counts or
explicit assignments, unclean election on or off), ISR changes with current or stale
epochs, controlled shutdown, partition growth, topic deletion, config changes, producer
ids, commits delayed by any number of operations, and controller failover.

Invariants: every record commits (the image refuses none; nothing pending is dropped);
image invariants hold for the committed image and the controller's view; per partition,
epochs never go back, any change bumps the partition epoch and any leader change the
leader epoch, and a leader from outside the previous ISR only comes with a counted
unclean election; and right after a tick every leader is eligible and every partition that
could have a leader (an eligible ISR member, or an eligible replica with unclean election
on) has one.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from broker.metadata.controller_config import ControllerConfig
from broker.metadata.image import MetadataImage, invariant_violations
from broker.metadata.replies import IsrChange, NewPartitions, NewTopic
from broker.metadata.topic_configs import unclean_leader_election_enabled
from tests.broker.metadata.harness import (
    CLUSTER_ID,
    ControllerHarness,
    incarnation,
    listeners_for,
)

NODES = st.integers(1, 4)
SESSION_MS = 4000


class ControllerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = ControllerHarness(
            ControllerConfig(
                broker_session_timeout_ms=SESSION_MS,
                leader_imbalance_check_interval_ms=5000,
                offsets_topic_partitions=3,
            )
        )
        self.generation: dict[int, int] = {}
        self.epochs_seen: dict[tuple[uuid.UUID, int], tuple[int, int, int, tuple[int, ...]]] = {}
        self.topic_count = 0
        self.unclean_counted = 0
        self.checked_offset = -1
        self.ever_unclean: set[uuid.UUID] = set()

    @property
    def view(self) -> MetadataImage:
        return self.h.controller.view

    def _finish(self, commit: bool) -> None:
        if commit:
            self.h.commit()

    def _epoch(self, node: int) -> int:
        broker = self.view.broker(node)
        return broker.broker_epoch if broker is not None else 0

    @initialize(brokers=st.integers(1, 4), unclean=st.booleans())
    def start(self, brokers: int, unclean: bool) -> None:
        """Most runs start from a live cluster with a replicated topic."""
        nodes = range(1, brokers + 1)
        for node in nodes:
            self.generation[node] = 0
        self.h.start_brokers(*nodes)
        configs = {"unclean.leader.election.enable": str(unclean).lower()}
        self.h.run(self.h.controller.create_topics([NewTopic("t0", 4, brokers, configs=configs)]))

    # -- brokers ------------------------------------------------------------------------

    @rule(node=NODES, new_incarnation=st.booleans(), commit=st.booleans())
    def register(self, node: int, new_incarnation: bool, commit: bool) -> None:
        if new_incarnation or node not in self.generation:
            self.generation[node] = self.generation.get(node, -1) + 1
        result = self.h.controller.register_broker(
            node,
            incarnation(node, self.generation[node]),
            listeners_for(node),
            self.h.now_ms,
            cluster_id=CLUSTER_ID,
        )
        self.h.submit(result)
        self._finish(commit)

    @rule(
        node=NODES,
        caught_up=st.sampled_from([True, True, True, False]),
        ask=st.sampled_from(["nothing"] * 6 + ["fence", "shutdown"]),
        stale=st.sampled_from([False] * 5 + [True]),
        commit=st.booleans(),
    )
    def heartbeat(self, node: int, caught_up: bool, ask: str, stale: bool, commit: bool) -> None:
        result = self.h.controller.broker_heartbeat(
            node,
            self._epoch(node) - int(stale),
            self.h.now_ms,
            metadata_offset=self.h.image.last_offset if caught_up else -1,
            want_fence=ask == "fence",
            want_shutdown=ask == "shutdown",
        )
        self.h.submit(result)
        self._finish(commit)

    @rule(commit=st.booleans())
    def every_broker_heartbeats(self, commit: bool) -> None:
        """What live brokers do twice a second."""
        for node in sorted(self.view.brokers):
            self.h.submit(
                self.h.controller.broker_heartbeat(
                    node, self._epoch(node), self.h.now_ms, metadata_offset=self.h.image.last_offset
                )
            )
        self._finish(commit)

    @rule(node=NODES, commit=st.booleans())
    def disconnect(self, node: int, commit: bool) -> None:
        self.h.submit(self.h.controller.broker_disconnected(node))
        self._finish(commit)

    @rule(node=NODES, commit=st.booleans())
    def controlled_shutdown(self, node: int, commit: bool) -> None:
        self.h.submit(self.h.controller.controlled_shutdown(node, self._epoch(node), self.h.now_ms))
        self._finish(commit)

    @rule(node=NODES, commit=st.booleans())
    def producer_ids(self, node: int, commit: bool) -> None:
        self.h.submit(self.h.controller.allocate_producer_ids(node, self._epoch(node)))
        self._finish(commit)

    # -- time ---------------------------------------------------------------------------

    @rule(
        ms=st.sampled_from([0, 500, 1000, SESSION_MS - 1, SESSION_MS, 2 * SESSION_MS]),
        commit=st.booleans(),
    )
    def tick(self, ms: int, commit: bool) -> None:
        self.h.advance(ms)
        self.h.submit(self.h.controller.tick(self.h.now_ms))
        self._check_after_tick()
        self._finish(commit)

    @rule(commit=st.booleans())
    def tick_soon(self, commit: bool) -> None:
        """Ticks come several times a second: most find little to do."""
        self.tick(500, commit)

    @rule()
    def commit(self) -> None:
        self.h.commit()

    @rule()
    def failover(self) -> None:
        """A new controller takes over once everything written is committed."""
        self.h.commit()
        self.h.controller.deactivate()
        self.h.controller.activate(self.h.image, self.h.now_ms)

    # -- topics -------------------------------------------------------------------------

    @rule(
        partitions=st.integers(1, 4),
        replication_factor=st.integers(1, 4),
        unclean=st.booleans(),
        explicit=st.none()
        | st.lists(st.lists(NODES, min_size=1, max_size=3), min_size=1, max_size=3),
        commit=st.booleans(),
    )
    def create_topic(
        self,
        partitions: int,
        replication_factor: int,
        unclean: bool,
        explicit: list[list[int]] | None,
        commit: bool,
    ) -> None:
        self.topic_count += 1
        configs = {"unclean.leader.election.enable": str(unclean).lower()}
        if explicit is None:
            topic = NewTopic(
                f"t{self.topic_count}", partitions, replication_factor, configs=configs
            )
        else:
            assignments = {i: tuple(r) for i, r in enumerate(explicit)}
            topic = NewTopic(f"t{self.topic_count}", assignments=assignments, configs=configs)
        self.h.submit(self.h.controller.create_topics([topic]))
        self._finish(commit)

    @rule(commit=st.booleans())
    def create_offsets_topic(self, commit: bool) -> None:
        self.h.submit(self.h.controller.create_offsets_topic())
        self._finish(commit)

    @precondition(lambda self: bool(self.view.topic_ids))
    @rule(data=st.data(), commit=st.booleans())
    def grow_topic(self, data: st.DataObject, commit: bool) -> None:
        name = data.draw(st.sampled_from(self.view.topic_names()))
        count = len(self.view.partitions_of(name)) + data.draw(st.integers(0, 2))
        self.h.submit(self.h.controller.create_partitions([NewPartitions(name, count)]))
        self._finish(commit)

    @precondition(lambda self: bool(self.view.topic_ids))
    @rule(data=st.data(), commit=st.booleans())
    def delete_topic(self, data: st.DataObject, commit: bool) -> None:
        name = data.draw(st.sampled_from(self.view.topic_names()))
        self.h.submit(self.h.controller.delete_topics([name]))
        self._finish(commit)

    @precondition(lambda self: bool(self.view.topic_ids))
    @rule(data=st.data(), unclean=st.booleans(), commit=st.booleans())
    def toggle_unclean(self, data: st.DataObject, unclean: bool, commit: bool) -> None:
        name = data.draw(st.sampled_from(self.view.topic_names()))
        change = {"unclean.leader.election.enable": str(unclean).lower()}
        self.h.submit(self.h.controller.alter_configs({name: change}))
        self._finish(commit)

    @precondition(lambda self: any(True for _ in self.view.iter_partitions()))
    @rule(
        data=st.data(),
        stale_leader_epoch=st.booleans(),
        stale_partition_epoch=st.booleans(),
        commit=st.booleans(),
    )
    def alter_isr(
        self,
        data: st.DataObject,
        stale_leader_epoch: bool,
        stale_partition_epoch: bool,
        commit: bool,
    ) -> None:
        topic, state = data.draw(st.sampled_from(list(self.view.iter_partitions())))
        sender = state.leader if state.leader >= 0 else data.draw(NODES)
        new_isr = data.draw(st.lists(st.sampled_from(state.replicas), unique=True))
        if data.draw(st.booleans()) and sender in state.replicas and sender not in new_isr:
            new_isr.insert(0, sender)
        change = IsrChange(
            topic.topic_id,
            state.partition_index,
            state.leader_epoch - int(stale_leader_epoch),
            state.partition_epoch - int(stale_partition_epoch),
            tuple(new_isr),
        )
        self.h.submit(self.h.controller.alter_partition(sender, self._epoch(sender), [change]))
        self._finish(commit)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def nothing_pending_was_ever_refused(self) -> None:
        assert self.h.controller.stats.refused_pending_records == 0

    @invariant()
    def images_are_sound(self) -> None:
        assert invariant_violations(self.h.image) == []
        view = self.view
        assert all(not (set(p.replicas) - set(view.brokers)) for _, p in view.iter_partitions())

    @invariant()
    def epochs_never_go_back(self) -> None:
        seen: dict[tuple[uuid.UUID, int], tuple[int, int, int, tuple[int, ...]]] = {}
        unclean = self.h.controller.stats.unclean_leader_elections
        self.ever_unclean |= {
            t.topic_id
            for t in self.view.topics.values()
            if unclean_leader_election_enabled(t.configs)
        }
        for topic, state in self.h.image.iter_partitions():
            key = (topic.topic_id, state.partition_index)
            now = (state.leader_epoch, state.partition_epoch, state.leader, state.isr)
            before = self.epochs_seen.get(key)
            if before is not None:
                leader_epoch, partition_epoch, leader, isr = before
                assert state.leader_epoch >= leader_epoch
                assert state.partition_epoch >= partition_epoch
                if (leader, isr) != (state.leader, state.isr):
                    assert state.partition_epoch > partition_epoch
                if leader != state.leader:
                    assert state.leader_epoch > leader_epoch
                if state.leader not in (-1, *isr):
                    assert unclean > self.unclean_counted, f"uncounted unclean election: {state}"
                    assert topic.topic_id in self.ever_unclean, f"unclean election: {state}"
            seen[key] = now
        self.epochs_seen = seen
        if self.h.image.last_offset != self.checked_offset:
            # Every commit commits all records so far: the next commit's unclean
            # elections were produced after this point.
            self.checked_offset = self.h.image.last_offset
            self.unclean_counted = unclean

    def _check_after_tick(self) -> None:
        view = self.view

        def eligible(node: int) -> bool:
            broker = view.broker(node)
            return broker is not None and broker.eligible

        for topic, state in view.iter_partitions():
            label = f"{topic.name}-{state.partition_index} {state}"
            if state.leader >= 0:
                assert eligible(state.leader), label
                continue
            assert not any(eligible(r) for r in state.isr), label
            if unclean_leader_election_enabled(topic.configs):
                assert not any(eligible(r) for r in state.replicas), label


ControllerMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_controller_operations_keep_the_metadata_consistent = ControllerMachine.TestCase
