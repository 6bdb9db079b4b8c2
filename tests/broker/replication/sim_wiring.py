"""How messages move in the replication simulation: follower requests to leaders and
their answers, ISR changes to the controller and its answers, each through the
simulated network, with the timeouts a real edge would have. A message to or from a
process that restarted since it was sent is dropped (its connection died); a paused
receiver keeps it until it resumes.
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import Any

from broker.error_codes import KafkaError
from broker.metadata.image import PartitionImage
from broker.metadata.replies import IsrChange
from broker.replication import (
    EpochRequest,
    FetchRequest,
    FollowerReplicaState,
    FollowerRequest,
    IsrChangeRequest,
)
from tests.broker.metadata.harness import ControllerHarness, incarnation, listeners_for
from tests.broker.replication.invariants import ReplicationChecker
from tests.broker.replication.sim_network import CONTROLLER, Handler, Network
from tests.broker.replication.sim_node import TOPIC, Acked, SimNode

REQUEST_TIMEOUT_MS = 150
HEARTBEAT_EVERY_TICKS = 5
TICK_MS = 10


class ClusterWiring:
    """The simulation's messaging half; ``Simulation`` sets these attributes."""

    now_ms: int
    nodes: list[SimNode]
    network: Network
    harness: ControllerHarness
    checker: ReplicationChecker
    events: deque[str]
    max_fetch_bytes: int
    topic_id: uuid.UUID
    answered: set[int]
    sends: int
    acked: int

    @property
    def partition(self) -> PartitionImage:
        found = self.harness.image.partition(TOPIC, 0)
        assert found is not None
        return found

    def _record(self, acked: list[Acked]) -> None:
        for ack in acked:
            self.checker.acknowledged(ack)
            self.acked += 1

    def _log(self, event: str) -> None:
        self.events.append(f"t={self.now_ms} {event}")

    @staticmethod
    def _roles(node: SimNode) -> str:
        leader, follower = node.leader(), node.follower()
        if leader is not None:
            return f"leader e{leader.leader_epoch}"
        if follower is not None:
            return f"follower of {follower.leader_id} e{follower.leader_epoch}"
        return "no role"

    def _deliver(self, src: SimNode | None, dst: SimNode | None, handler: Handler) -> bool:
        """Send from ``src`` to ``dst`` (None: the controller); the handler runs on
        arrival unless either process restarted (its connection died) or ``dst`` is
        down; a paused ``dst`` keeps it until it resumes."""
        generations = (src and src.generation, dst and dst.generation)

        def arrive() -> None:
            if (src and src.generation, dst and dst.generation) != generations:
                return
            if (src is not None and not src.up) or (dst is not None and not dst.up):
                return
            if dst is not None and dst.paused:
                dst.inbox.append(arrive)
                return
            handler()

        a = CONTROLLER if src is None else src.node_id
        b = CONTROLLER if dst is None else dst.node_id
        return self.network.send(a, b, arrive)

    def _send_request(
        self, node: SimNode, follower: FollowerReplicaState, request: FollowerRequest
    ) -> None:
        leader = self.nodes[request.leader_id - 1]
        self._deliver(node, leader, lambda: self._serve(leader, node, request))
        generation = node.generation

        def time_out() -> None:
            if node.generation == generation and node.follower() is follower:
                follower.on_request_failed(request, self.now_ms)

        self.network.at(self.now_ms + REQUEST_TIMEOUT_MS, time_out)

    def _serve(self, leader: SimNode, follower: SimNode, request: FollowerRequest) -> None:
        answer: Any
        if isinstance(request, FetchRequest):
            response, change, acked = leader.serve_fetch(
                follower.node_id, request, self.now_ms, self.max_fetch_bytes
            )
            self._record(acked)
            if change is not None:
                self._log(
                    f"node {leader.node_id} asks {change.kind.value} to {list(change.new_isr)}"
                )
                self._send_isr_change(leader, change)
            answer = response
        elif isinstance(request, EpochRequest):
            answer = leader.serve_epoch(request)
        else:
            answer = leader.serve_offsets(request)
        self._deliver(leader, follower, lambda: self._answer(follower, request, answer))

    def _answer(self, node: SimNode, request: FollowerRequest, answer: Any) -> None:
        follower = node.follower()
        if follower is None:
            return
        log = node.the_log
        if isinstance(request, FetchRequest):
            actions = follower.on_fetch_response(request, answer, log, self.now_ms)
        elif isinstance(request, EpochRequest):
            error, end = answer
            actions = follower.on_epoch_response(request, error, end, log, self.now_ms)
        else:
            error, start, log_end = answer
            actions = follower.on_offsets_response(request, error, start, log_end, log, self.now_ms)
        before = log.log_end_offset
        problem = node.execute(actions)
        if problem is not None:
            names = [type(action).__name__ for action in actions]
            self._log(f"node {node.node_id} could not apply {names}: {problem}")
        if log.log_end_offset < before:
            self._log(f"node {node.node_id} truncated {before} -> {log.log_end_offset}")

    def _send_isr_change(self, node: SimNode, change: IsrChangeRequest) -> None:
        self.sends += 1
        send_id = self.sends
        self._deliver(node, None, lambda: self._alter_partition(node, change, send_id))
        generation = node.generation

        def time_out() -> None:
            leader = node.leader()
            if node.generation != generation or leader is None or send_id in self.answered:
                return
            again = leader.on_isr_change_answer(change, None, self.now_ms)
            if again is not None:
                self._send_isr_change(node, again)

        self.network.at(self.now_ms + REQUEST_TIMEOUT_MS, time_out)

    def _alter_partition(self, node: SimNode, change: IsrChangeRequest, send_id: int) -> None:
        if node.broker_epoch is None:
            return
        isr_change = IsrChange(
            self.topic_id, 0, change.leader_epoch, change.partition_epoch, change.new_isr
        )
        reply = self.harness.run(
            self.harness.controller.alter_partition(node.node_id, node.broker_epoch, [isr_change])
        )
        code = int(reply.partitions[0].error if reply.partitions else reply.error)
        error = KafkaError(code) if code in KafkaError._value2member_map_ else None
        name = error.name if error is not None else f"code {code}"
        self._log(f"controller answers node {node.node_id} {change.kind.value}: {name}")
        self._deliver(None, node, lambda: self._isr_answer(node, change, error, send_id))

    def _isr_answer(
        self,
        node: SimNode,
        change: IsrChangeRequest,
        error: KafkaError | None,
        send_id: int,
    ) -> None:
        self.answered.add(send_id)
        leader = node.leader()
        if leader is not None:
            again = leader.on_isr_change_answer(change, error, self.now_ms)
            if again is not None:
                self._send_isr_change(node, again)

    # -- controller -------------------------------------------------------------------

    def _controller_step(self) -> None:
        if (self.now_ms // TICK_MS) % HEARTBEAT_EVERY_TICKS:
            return
        controller = self.harness.controller
        for node in self.nodes:
            if not node.up or node.paused or not self.network.connected(node.node_id, CONTROLLER):
                continue
            if node.broker_epoch is None:
                reply = self.harness.run(
                    controller.register_broker(
                        node.node_id,
                        incarnation(node.node_id, node.generation),
                        listeners_for(node.node_id),
                        self.now_ms,
                        cluster_id=self.harness.image.cluster_id,
                    )
                )
                if reply.broker_epoch > 0:
                    node.broker_epoch = reply.broker_epoch
                    self._log(f"node {node.node_id} registered, broker epoch {reply.broker_epoch}")
                continue
            assert node.image is not None
            self.harness.run(
                controller.broker_heartbeat(
                    node.node_id,
                    node.broker_epoch,
                    self.now_ms,
                    metadata_offset=node.image.last_offset,
                )
            )
        report = self.harness.run(controller.tick(self.now_ms))
        if report.fenced or report.leaders_elected:
            self._log(f"controller: fenced {list(report.fenced)}, partition {self._describe()}")

    def _describe(self) -> str:
        if not self.harness.image.topic_ids:
            return "none"
        p = self.partition
        return f"leader {p.leader} epoch {p.leader_epoch}/{p.partition_epoch} isr {list(p.isr)}"
