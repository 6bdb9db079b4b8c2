"""A deterministic simulator of one partition replicated on three brokers: real
``broker.storage.Log`` files, the replication core driven by a reference I/O edge
(``sim_node``), the real ``QuorumController`` deciding leaders and ISRs (elections from
the ISR only, unclean election off), a simulated network and clock, all from one seed.
The properties of ``invariants`` are checked after every step.

Time moves in ticks of ``TICK_MS``. Fault model (phase one, ``fault_ticks`` long), one
fault now and then (``fault_ratio`` per tick):

- a broker crashes and restarts later; the controller notices at once when its link is
  up (the kernel closes the socket), else by session timeout. A crash may also lose
  the log's unflushed tail (a power loss, with a torn last batch sometimes), but only
  when the controller notices at once and another replica is in the ISR: Kafka's
  guarantee assumes an in-sync replica keeps the data;
- a broker pauses (no ticks, heartbeats or metadata; messages to it wait) and resumes;
- a link between two brokers, or between a broker and the controller, is cut and healed;
- the leader moves away: a controlled shutdown, then a restart (and the controller's
  preferred-leader rebalancing moves it back later);
- the network loses and delays messages, so it reorders them; brokers apply metadata
  late (each tick with ``metadata_ratio``); logs flush and HWs are checkpointed now and
  then, so a restart finds an older HW.

Producers send acks=all batches to the leader the controller names (sometimes to a
stale one) throughout phase one. Phase two checks liveness: faults stop, everything
heals, restarts and resumes; within ``liveness_ticks`` all three replicas must be in the
ISR with identical logs and the HW at the log end.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from broker.metadata.controller_config import ControllerConfig
from broker.metadata.replies import NewTopic
from broker.replication import (
    FollowerReplicaState,
    LeaderConfig,
    LeaderReplicaState,
)
from broker.storage.log_config import LogConfig
from tests.broker.metadata.harness import ControllerHarness
from tests.broker.replication.invariants import ReplicationChecker, Violation
from tests.broker.replication.sim_network import CONTROLLER, Network
from tests.broker.replication.sim_node import TOPIC, NodeSettings, SimNode
from tests.broker.replication.sim_wiring import TICK_MS, ClusterWiring

# Logs live in memory where the system offers it (tmpfs): the simulated power loss
# decides what survives, so real fsyncs would only cost time.
_SHM = Path("/dev/shm")
_MEMORY_DISK = str(_SHM) if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None
NODES = (1, 2, 3)
REPLICA_LAG_TIME_MAX_MS = 200
SESSION_TIMEOUT_MS = 300
REPLAY = (
    "TIDEWATCH_REPLICATION_SEED={seed} .venv/bin/pytest "
    "tests/broker/replication/test_simulation.py -k replay"
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """What one seed simulates."""

    seed: int
    min_insync_replicas: int
    durable: bool
    fault_ticks: int
    liveness_ticks: int
    loss_ratio: float
    max_delay_ms: int
    fault_ratio: float
    produce_ratio: float
    metadata_ratio: float
    flush_ratio: float
    lossy_crash_ratio: float
    max_fetch_bytes: int
    segment_bytes: int
    truncate_on_fetch: bool

    @classmethod
    def from_seed(cls, seed: int) -> Scenario:
        rng = random.Random(f"replication-scenario-{seed}")
        return cls(
            seed=seed,
            min_insync_replicas=rng.choice((1, 2, 2)),
            durable=rng.random() < 0.3,
            fault_ticks=rng.randint(150, 300),
            liveness_ticks=500,
            loss_ratio=rng.choice((0.0, 0.02, 0.1)),
            max_delay_ms=rng.choice((10, 30, 60)),
            fault_ratio=rng.choice((0.02, 0.05, 0.1)),
            produce_ratio=rng.choice((0.2, 0.5, 0.9)),
            metadata_ratio=rng.choice((0.2, 0.5, 1.0)),
            flush_ratio=rng.choice((0.05, 0.3, 1.0)),
            lossy_crash_ratio=rng.choice((0.0, 0.5, 1.0)),
            max_fetch_bytes=rng.choice((1_000, 1 << 20)),
            segment_bytes=rng.choice((600, 4096, 1 << 20)),
            truncate_on_fetch=rng.random() < 0.5,
        )


class SimulationFailure(AssertionError):
    """A seed broke a property. The message has everything needed to replay it."""

    def __init__(
        self, scenario: Scenario, prop: str, detail: str, events: list[str], nodes: str
    ) -> None:
        lines = [
            f"simulation seed {scenario.seed} failed -- {prop}: {detail}",
            f"scenario: {scenario}",
            f"last {len(events)} events:",
            *(f"  {event}" for event in events),
            f"nodes at the end: {nodes}",
            f"replay: {REPLAY.format(seed=scenario.seed)}",
        ]
        super().__init__("\n".join(lines))
        self.prop = prop


class Simulation(ClusterWiring):
    """One seed's cluster. ``run`` returns a summary that equal seeds reproduce."""

    def __init__(
        self,
        scenario: Scenario,
        base_dir: Path,
        leader_class: type[LeaderReplicaState] = LeaderReplicaState,
        follower_class: type[FollowerReplicaState] = FollowerReplicaState,
    ) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.now_ms = 0
        self.network = Network(self.rng, scenario.loss_ratio, scenario.max_delay_ms, TICK_MS)
        self.harness = ControllerHarness(
            ControllerConfig(
                broker_session_timeout_ms=SESSION_TIMEOUT_MS,
                default_replication_factor=3,
                leader_imbalance_check_interval_ms=2_000,
            ),
            seed=scenario.seed,
        )
        settings = NodeSettings(
            log_config=LogConfig(segment_bytes=scenario.segment_bytes, index_interval_bytes=256),
            leader_config=LeaderConfig(
                min_insync_replicas=scenario.min_insync_replicas,
                replica_lag_time_max_ms=REPLICA_LAG_TIME_MAX_MS,
                durable=scenario.durable,
                isr_retry_backoff_ms=50,
            ),
            fetch_backoff_ms=30,
            produce_timeout_ms=600,
            truncate_on_fetch=scenario.truncate_on_fetch,
            leader_class=leader_class,
            follower_class=follower_class,
        )
        self.nodes = [
            SimNode(
                n, base_dir / f"node-{n}" / f"{TOPIC}-0", settings, self.harness.image.cluster_id
            )
            for n in NODES
        ]
        for node in self.nodes:
            node.directory.mkdir(parents=True)
        self.checker = ReplicationChecker(scenario.min_insync_replicas)
        self.events = deque(maxlen=30)
        self.answered = set()
        self.sends = 0
        self.max_fetch_bytes = scenario.max_fetch_bytes
        self.produced = 0
        self.acked = 0

    # -- running ----------------------------------------------------------------------

    def run(self) -> tuple[int, int, int]:
        """Bootstrap, faults, then liveness; (records produced, batches acknowledged,
        final log end offset)."""
        try:
            self._bootstrap()
            for _ in range(self.scenario.fault_ticks):
                self._step(faults=True)
            self._heal_everything()
            for _ in range(self.scenario.liveness_ticks):
                self._step(faults=False)
                if self._converged():
                    break
            else:
                raise Violation("liveness", self._why_not_converged())
        except Violation as violation:
            raise self._failure(violation.prop, violation.detail) from None
        except SimulationFailure:
            raise
        except Exception as exc:
            raise self._failure("node raised", f"{type(exc).__name__}: {exc}") from exc
        finally:
            for node in self.nodes:
                if node.up:
                    node.the_log.close()
        leader_end = self.nodes[self.partition.leader - 1].the_log.log_end_offset
        return self.produced, self.acked, leader_end

    def _bootstrap(self) -> None:
        for node in self.nodes:
            node.start(self.now_ms)
        while any(self.harness.image.broker(n) is None for n in NODES) or any(
            b.fenced for b in self.harness.image.brokers.values()
        ):
            self._step(faults=False)
        self.harness.run(
            self.harness.controller.create_topics(
                [
                    NewTopic(
                        TOPIC,
                        1,
                        3,
                        configs={"min.insync.replicas": str(self.scenario.min_insync_replicas)},
                    )
                ]
            )
        )
        self.topic_id = self.harness.image.topic_ids[TOPIC]
        self._log("topic created")

    def _step(self, *, faults: bool) -> None:
        self.now_ms += TICK_MS
        self.network.now_ms = self.now_ms
        self.network.run_due()
        self._controller_step()
        for node in self.nodes:
            if node.up and not node.paused:
                self._node_step(node, eager=not faults)
        if faults:
            self._maybe_produce()
            if self.rng.random() < self.scenario.fault_ratio:
                self._inject_fault()
        if self.harness.image.topic_ids:
            self.checker.check(self.nodes, self.partition)

    # -- brokers ----------------------------------------------------------------------

    def _node_step(self, node: SimNode, *, eager: bool) -> None:
        image = self.harness.image
        connected = self.network.connected(node.node_id, CONTROLLER)
        apply = eager or self.rng.random() < self.scenario.metadata_ratio
        if connected and node.image is not image and apply:
            roles = self._roles(node)
            self._record(node.apply_metadata(image, self.now_ms))
            if roles != self._roles(node):
                self._log(f"node {node.node_id}: {roles} -> {self._roles(node)}")
        change, acked = node.leader_timers(self.now_ms)
        self._record(acked)
        if change is not None:
            self._log(f"node {node.node_id} asks {change.kind.value} to {list(change.new_isr)}")
            self._send_isr_change(node, change)
        follower = node.follower()
        if follower is not None:
            request = follower.next_request(node.the_log, self.now_ms)
            if request is not None:
                self._send_request(node, follower, request)
        if self.rng.random() < self.scenario.flush_ratio:
            self._record(node.flush(self.now_ms))
        if self.rng.random() < 0.2:
            node.checkpoint_high_watermark()

    # -- clients and faults -----------------------------------------------------------

    def _maybe_produce(self) -> None:
        if self.rng.random() >= self.scenario.produce_ratio:
            return
        target = self.partition.leader
        if target < 0 or self.rng.random() < 0.2:
            target = self.rng.choice(NODES)
        node = self.nodes[target - 1]
        if not node.up or node.paused:
            return
        count = self.rng.randint(1, 3)
        values = [b"r%06d" % (self.produced + i) for i in range(count)]
        self.produced += count
        _, acked = node.produce(values, self.now_ms)
        self._record(acked)

    def _inject_fault(self) -> None:
        kind = self.rng.choice(
            ("crash", "crash", "pause", "cut", "cut", "move leader", "delete records")
        )
        up = [n for n in self.nodes if n.up]
        if kind == "crash" and up:
            self._crash(self.rng.choice(up))
        elif kind == "pause" and up:
            self._pause(self.rng.choice(up))
        elif kind == "cut":
            self._cut()
        elif kind == "move leader":
            self._move_leader()
        elif kind == "delete records":
            self._delete_records()

    def _delete_records(self) -> None:
        """DeleteRecords on the leader: its log start moves up, at most to its HW."""
        leader = self.partition.leader
        node = self.nodes[leader - 1] if leader > 0 else None
        state = None if node is None else node.leader()
        if node is None or state is None or node.paused:
            return
        log = node.the_log
        if state.high_watermark > log.log_start_offset:
            offset = self.rng.randint(log.log_start_offset + 1, state.high_watermark)
            log.advance_log_start(offset)
            self._log(f"node {leader} deleted records below {offset}")

    def _crash(self, node: SimNode) -> None:
        connected = self.network.connected(node.node_id, CONTROLLER)
        others_in_sync = any(r != node.node_id for r in self.partition.isr)
        lossy = (
            connected
            and node.broker_epoch is not None
            and others_in_sync
            and self.rng.random() < self.scenario.lossy_crash_ratio
        )
        broker_epoch = node.broker_epoch
        lost = node.crash(lossy, self.rng)
        self._log(
            f"node {node.node_id} crashed" + (f", lost {lost} unflushed bytes" if lossy else "")
        )
        if connected and broker_epoch is not None:
            self.harness.run(
                self.harness.controller.broker_disconnected(node.node_id, broker_epoch)
            )
        self.network.at(
            self.now_ms + self.rng.randint(5, 40) * TICK_MS, lambda: self._restart(node)
        )

    def _restart(self, node: SimNode) -> None:
        if not node.up:
            node.start(self.now_ms)
            self._log(f"node {node.node_id} restarted (log end {node.the_log.log_end_offset})")

    def _pause(self, node: SimNode) -> None:
        if node.paused:
            return
        node.paused = True
        self._log(f"node {node.node_id} paused")
        generation = node.generation
        self.network.at(
            self.now_ms + self.rng.randint(5, 60) * TICK_MS, lambda: self._resume(node, generation)
        )

    def _resume(self, node: SimNode, generation: int) -> None:
        if node.up and node.paused and node.generation == generation:
            node.paused = False
            self._log(f"node {node.node_id} resumed")
            inbox, node.inbox = node.inbox, []
            for handler in inbox:
                handler()

    def _cut(self) -> None:
        a = self.rng.choice(NODES)
        b = self.rng.choice([CONTROLLER, *(n for n in NODES if n != a)])
        link = frozenset((a, b))
        self.network.cut.add(link)
        self._log(f"link {a}-{b} cut" if b else f"node {a} cut off from the controller")
        self.network.at(
            self.now_ms + self.rng.randint(5, 60) * TICK_MS, lambda: self.network.cut.discard(link)
        )

    def _move_leader(self) -> None:
        leader = self.partition.leader
        node = self.nodes[leader - 1] if leader > 0 else None
        if node is None or not node.up or node.broker_epoch is None:
            return
        if not self.network.connected(leader, CONTROLLER):
            return
        self.harness.run(
            self.harness.controller.controlled_shutdown(leader, node.broker_epoch, self.now_ms)
        )
        self._log(f"node {leader} shuts down under control: {self._describe()}")
        self.network.at(self.now_ms + self.rng.randint(2, 10) * TICK_MS, lambda: self._stop(node))

    def _stop(self, node: SimNode) -> None:
        if node.up:
            self._crash_cleanly(node)

    def _crash_cleanly(self, node: SimNode) -> None:
        broker_epoch = node.broker_epoch
        node.crash(False, self.rng)
        self._log(f"node {node.node_id} stopped")
        if broker_epoch is not None and self.network.connected(node.node_id, CONTROLLER):
            self.harness.run(
                self.harness.controller.broker_disconnected(node.node_id, broker_epoch)
            )
        self.network.at(
            self.now_ms + self.rng.randint(2, 20) * TICK_MS, lambda: self._restart(node)
        )

    # -- liveness and reports ---------------------------------------------------------

    def _heal_everything(self) -> None:
        self.network.cut.clear()
        self.network.loss_ratio = 0.0
        for node in self.nodes:
            if not node.up:
                node.start(self.now_ms)
            elif node.paused:
                self._resume(node, node.generation)
        self._log("faults stop; everything heals")

    def _converged(self) -> bool:
        partition = self.partition
        if partition.leader < 0 or set(partition.isr) != set(NODES):
            return False
        image = self.harness.image
        if any(not n.up or n.paused or n.image is not image for n in self.nodes):
            return False
        node = self.nodes[partition.leader - 1]
        leader = node.leader()
        end = node.the_log.log_end_offset
        if leader is None or leader.high_watermark != end or node.waiting:
            return False
        start = max(n.the_log.log_start_offset for n in self.nodes)
        kept = [[b for b in n.mirror.batches if b.next_offset > start] for n in self.nodes]
        return all(n.the_log.log_end_offset == end for n in self.nodes) and all(
            batches == kept[0] for batches in kept
        )

    def _why_not_converged(self) -> str:
        return (
            f"not converged after {self.scenario.liveness_ticks} ticks without faults: "
            f"{self._describe()}"
        )

    def _node_states(self) -> str:
        states = []
        for node in self.nodes:
            if not node.up:
                states.append(f"{node.node_id}: down")
                continue
            follower = node.follower()
            phase = f" {follower.phase.value}" if follower is not None else ""
            states.append(
                f"{node.node_id}: {self._roles(node)}{phase}, log end "
                f"{node.the_log.log_end_offset}, HW {node.high_watermark()}"
                + (", paused" if node.paused else "")
            )
        return f"{self._describe()}; " + "; ".join(states)

    def _failure(self, prop: str, detail: str) -> SimulationFailure:
        try:
            nodes = self._node_states()
        except Exception as exc:  # a broken node may not even describe itself
            nodes = f"(unavailable: {exc})"
        return SimulationFailure(self.scenario, prop, detail, list(self.events), nodes)


def simulate(
    seed: int,
    leader_class: type[LeaderReplicaState] = LeaderReplicaState,
    follower_class: type[FollowerReplicaState] = FollowerReplicaState,
) -> tuple[int, int, int]:
    """Run one seed in a temporary directory; raises SimulationFailure."""
    with tempfile.TemporaryDirectory(prefix=f"replication-sim-{seed}-", dir=_MEMORY_DISK) as base:
        simulation = Simulation(Scenario.from_seed(seed), Path(base), leader_class, follower_class)
        return simulation.run()
