"""A deterministic simulator for the metadata quorum: N RaftNodes, a network, disks and a
clock, all driven by one seed, with Raft's safety properties checked after every step.

Time is an integer; a tick is ``TICK`` time units. Everything random (the fault plan,
message delays, which node crashes) comes from ``random.Random(seed)``, and each node's
election jitter from its own seeded generator, so a seed replays exactly.

Fault model (phase one, ``fault_ticks`` long):
- the network loses, duplicates and delays (so reorders) messages, per seed;
- partitions: random two-way splits and one-node isolation, and healing;
- crashes: a node stops; what its current Ready wrote but had not synced is lost,
  kept, or torn (hard state kept, a prefix of the entries kept); it restarts later from
  its disk with a fresh state machine restored from its persisted snapshot;
- pauses: a node neither ticks nor receives (messages wait, like a full socket buffer);
- disks take time to sync; a node's messages leave only once its Ready is synced;
- clients propose throughout, the leader is asked to transfer leadership now and then,
  and each node's state machine compacts its log every ``compact_every`` entries;
- an observer is either in every node's config, or (``observer_joins``) in none but its
  own, as brokers that are not controller voters: each voter is told ``add_observer``
  when the observer or the voter (re)starts (its connection's Hello) and
  ``remove_observer`` when the observer crashes (its connections close).

Phase two checks liveness: faults stop, the network heals and stops losing messages,
crashed nodes restart, paused ones resume; within ``liveness_ticks`` a leader must exist
and a new proposal must be applied by every node.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.quorum import (
    Message,
    NotLeader,
    PersistedState,
    ProposeAccepted,
    RaftConfig,
    RaftNode,
    Ready,
    Role,
)
from tests.broker.quorum.invariants import DigestMachine, SafetyChecker, SafetyViolation

TICK = 10
CLUSTER_ID = "tidewatch-sim"
REPLAY = (
    "TIDEWATCH_SIM_SEED={seed} .venv/bin/pytest tests/broker/quorum/test_simulation.py -k replay"
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """What one seed simulates."""

    seed: int
    voters: int
    observer: bool
    fault_ticks: int
    liveness_ticks: int
    loss_ratio: float
    duplicate_ratio: float
    max_delay: int
    max_sync_delay: int
    fault_ratio: float
    propose_ratio: float
    compact_every: int
    max_entries_per_append: int
    election_timeout_min_ticks: int
    heartbeat_interval_ticks: int
    observer_joins: bool

    @classmethod
    def from_seed(cls, seed: int) -> Scenario:
        rng = random.Random(f"scenario-{seed}")
        return cls(
            seed=seed,
            voters=rng.choice((3, 5)),
            observer=rng.random() < 0.3,
            fault_ticks=rng.randint(100, 180),
            liveness_ticks=300,
            loss_ratio=rng.choice((0.0, 0.02, 0.1, 0.25)),
            duplicate_ratio=rng.choice((0.0, 0.02, 0.1)),
            max_delay=rng.choice((2, 10, 25)),
            max_sync_delay=rng.choice((1, 5, 15)),
            fault_ratio=rng.choice((0.02, 0.05, 0.1)),
            propose_ratio=rng.choice((0.1, 0.3, 0.7)),
            compact_every=rng.choice((4, 16, 10**9)),
            max_entries_per_append=rng.choice((1, 4, 64)),
            election_timeout_min_ticks=rng.choice((6, 10)),
            heartbeat_interval_ticks=rng.choice((1, 2, 3)),
            observer_joins=rng.random() < 0.5,
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


@dataclass(slots=True)
class SimNode:
    """One node's process, disk and state machine as the simulator sees them."""

    node_id: int
    config: RaftConfig
    disk: PersistedState = field(default_factory=PersistedState)
    raft: RaftNode | None = None
    pending: Ready | None = None  # written, not yet synced
    incarnation: int = 0
    paused: bool = False
    parked: list[Message] = field(default_factory=list)
    machine: DigestMachine = field(default_factory=DigestMachine)


class Simulation:
    """Runs one ``Scenario``; ``run()`` raises ``SimulationFailure`` or returns stats."""

    def __init__(self, scenario: Scenario, node_factory: type[RaftNode] = RaftNode) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.node_factory = node_factory
        self.checker = SafetyChecker()
        self.now = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._sequence = 0
        self._events: deque[tuple[int, str, object]] = deque(maxlen=30)
        self.group: dict[int, int] = {}  # partition side of each node; absent: side None
        self.one_way_cuts: set[tuple[int, int]] = set()  # (sender, receiver) links down
        self.faulty = True
        voters = frozenset(range(1, scenario.voters + 1))
        observers = frozenset({scenario.voters + 1}) if scenario.observer else frozenset()
        self.joining_observers = observers if scenario.observer_joins else frozenset()
        self.nodes = {
            node_id: SimNode(
                node_id, self._config(node_id, voters, self._known(node_id, observers))
            )
            for node_id in sorted(voters | observers)
        }
        self.stats = {"proposed": 0, "crashes": 0, "partitions": 0, "pauses": 0, "messages": 0}
        self._liveness = _LivenessProbe(self)

    def _known(self, node_id: int, observers: frozenset[int]) -> frozenset[int]:
        """The observers ``node_id``'s config lists: a joining one lists only itself."""
        if node_id in self.joining_observers:
            return frozenset({node_id})
        return observers - self.joining_observers

    def _config(
        self, node_id: int, voters: frozenset[int], observers: frozenset[int]
    ) -> RaftConfig:
        return RaftConfig(
            CLUSTER_ID,
            node_id,
            voters,
            observers,
            max_entries_per_append=self.scenario.max_entries_per_append,
            election_timeout_min_ticks=self.scenario.election_timeout_min_ticks,
            election_timeout_max_ticks=2 * self.scenario.election_timeout_min_ticks,
            heartbeat_interval_ticks=self.scenario.heartbeat_interval_ticks,
        )

    # -- the event loop ------------------------------------------------------------

    def run(self) -> dict[str, int]:
        try:
            for node in self.nodes.values():
                self._start(node)
            self._at(TICK, self._tick)
            self._at(self.scenario.fault_ticks * TICK, self._end_faults)
            deadline = (self.scenario.fault_ticks + self.scenario.liveness_ticks) * TICK
            while self._queue and not self._liveness.done:
                when, _, action = heapq.heappop(self._queue)
                if when > deadline:
                    break
                self.now = when
                action()
            if not self._liveness.done:
                raise SafetyViolation("liveness", self._liveness.describe())
        except SafetyViolation as violation:
            raise self._failure(violation.prop, violation.detail) from None
        except Exception as error:  # anything else still needs the seed and the events
            raise self._failure("node raised", f"{type(error).__name__}: {error}") from error
        return self.stats

    def _failure(self, prop: str, detail: str) -> SimulationFailure:
        events = [f"t={t / TICK:.1f} {kind} {what}" for t, kind, what in self._events]
        return SimulationFailure(self.scenario, prop, detail, events, self._describe_nodes())

    def _describe_nodes(self) -> str:
        parts = []
        for node_id, node in self.nodes.items():
            raft = node.raft
            if raft is None:
                parts.append(f"{node_id}: down")
                continue
            log = raft.log
            parts.append(
                f"{node_id}: {raft.role.value} term {raft.term} leader {raft.leader_id} "
                f"commit {log.commit_index} last {log.last_index}/{log.last_term}"
                + (" paused" if node.paused else "")
            )
        return "; ".join(parts)

    def _at(self, when: int, action: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (when, self._sequence, action))

    def _log(self, kind: str, what: object) -> None:
        self._events.append((self.now, kind, what))

    # -- nodes and their I/O edge --------------------------------------------------

    def _start(self, node: SimNode) -> None:
        rng = random.Random(f"{self.scenario.seed}-{node.node_id}-{node.incarnation}")
        node.raft = self.node_factory(node.config, rng, node.disk)
        node.machine = DigestMachine.restore(node.disk.snapshot)
        self.checker.check_applied(node.node_id, node.machine, None)
        self._connect_observers(node)
        self._after_input(node)

    def _connect_observers(self, started: SimNode) -> None:
        """The Hellos of joining observers' connections, once both ends run."""
        for observer in self.joining_observers:
            if started.node_id == observer:
                for voter in self._running_voters():
                    self._tell_voter(voter, observer, joined=True)
            elif started.raft is not None and self.nodes[observer].raft is not None:
                started.raft.add_observer(observer)

    def _running_voters(self) -> list[SimNode]:
        return [
            node for node in self.nodes.values() if node.config.is_voter and node.raft is not None
        ]

    def _tell_voter(self, voter: SimNode, observer: int, *, joined: bool) -> None:
        assert voter.raft is not None
        self._log("observer", f"{observer} {'joined' if joined else 'left'} at {voter.node_id}")
        if joined:
            voter.raft.add_observer(observer)
        else:
            voter.raft.remove_observer(observer)
        if not voter.paused:
            self._after_input(voter)

    def _after_input(self, node: SimNode) -> None:
        """Check the node, then start on its next Ready if its disk is free."""
        raft = node.raft
        assert raft is not None
        self.checker.check_node(node.node_id, raft)
        if node.pending is not None or not raft.has_ready():
            return
        ready = raft.ready()
        if not ready.needs_sync:
            self._complete(node, ready)
            return
        node.pending = ready
        incarnation = node.incarnation
        delay = self.rng.randint(1, self.scenario.max_sync_delay)
        self._at(self.now + delay, lambda: self._synced(node, incarnation))

    def _synced(self, node: SimNode, incarnation: int) -> None:
        if node.incarnation != incarnation or node.pending is None:
            return  # crashed since
        if node.paused:  # the write is done, but the process cannot act on it yet
            self._at(self.now + TICK, lambda: self._synced(node, incarnation))
            return
        ready, node.pending = node.pending, None
        node.disk = node.disk.after(ready)
        self._complete(node, ready)

    def _complete(self, node: SimNode, ready: Ready) -> None:
        """The Ready is durable: send, apply, advance, maybe compact."""
        raft = node.raft
        assert raft is not None
        for message in ready.messages:
            self._send(message)
        if ready.restore_snapshot and ready.snapshot is not None:
            node.machine = DigestMachine.restore(ready.snapshot)
            self.checker.check_applied(node.node_id, node.machine, None)
        for entry in ready.committed_entries:
            node.machine.apply(entry)
            self.checker.check_applied(node.node_id, node.machine, entry)
        raft.advance(ready)
        applied = raft.log.applied_index
        if applied - raft.log.snapshot.index >= self.scenario.compact_every:
            raft.compact(applied, node.machine.snapshot())
        self._after_input(node)

    def _crash(self, node: SimNode) -> None:
        mode = self.rng.choice(("lose", "keep", "torn"))
        self._log("crash", f"node {node.node_id}, unsynced writes: {mode}")
        if node.pending is not None and mode != "lose":
            ready = node.pending
            if mode == "torn" and ready.entries:
                # The store truncates, then appends: it may stop anywhere after that.
                first = ready.entries[0].index
                disk = node.disk.after(Ready(ready.hard_state, ready.snapshot))
                kept = tuple(e for e in disk.entries if e.index < first)
                torn = ready.entries[: self.rng.randint(0, len(ready.entries))]
                ready = Ready(entries=torn)
                node.disk = PersistedState(disk.hard_state, disk.snapshot, kept)
            node.disk = node.disk.after(ready)
        node.raft, node.pending, node.paused = None, None, False
        if node.node_id in self.joining_observers:
            for voter in self._running_voters():
                self._tell_voter(voter, node.node_id, joined=False)
        node.incarnation += 1
        node.parked.clear()
        self.checker.forget(node.node_id)
        self.stats["crashes"] += 1

    def _restart(self, node: SimNode) -> None:
        if node.raft is None:
            self._log("restart", f"node {node.node_id} from {node.disk.hard_state}")
            self._start(node)

    # -- the network ---------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self.stats["messages"] += 1
        if self.faulty and self.rng.random() < self.scenario.loss_ratio:
            return
        copies = 2 if self.faulty and self.rng.random() < self.scenario.duplicate_ratio else 1
        for _ in range(copies):
            delay = self.rng.randint(1, self.scenario.max_delay)
            self._at(self.now + delay, lambda: self._deliver(message))

    def _deliver(self, message: Message) -> None:
        node = self.nodes[message.receiver]
        if node.raft is None or self.group.get(message.sender) != self.group.get(node.node_id):
            return
        if (message.sender, node.node_id) in self.one_way_cuts:
            return
        if node.paused:
            node.parked.append(message)
            return
        self._log("deliver", message)
        node.raft.step(message)
        self._after_input(node)

    # -- time, clients and faults --------------------------------------------------

    def _tick(self) -> None:
        for node in self.nodes.values():
            if node.raft is not None and not node.paused:
                node.raft.tick()
                self._after_input(node)
        if self.faulty:
            if self.rng.random() < self.scenario.propose_ratio:
                self._propose_somewhere()
            if self.rng.random() < self.scenario.fault_ratio:
                self._inject_fault()
        else:
            self._liveness.tick()
        self._at(self.now + TICK, self._tick)

    def propose(self, node: SimNode, payload: bytes) -> ProposeAccepted | None:
        if node.raft is None or node.paused:
            return None
        result = node.raft.propose(payload)
        self._log("propose", f"{payload!r} at node {node.node_id}: {result}")
        self._after_input(node)
        return result if isinstance(result, ProposeAccepted) else None

    def _propose_somewhere(self) -> None:
        self.stats["proposed"] += 1
        node = self.rng.choice(list(self.nodes.values()))
        payload = b"p%d" % self.stats["proposed"]
        if node.raft is not None and not node.paused:
            result = node.raft.propose(payload)
            self._after_input(node)
            if isinstance(result, NotLeader) and result.leader_hint in self.nodes:
                self.propose(self.nodes[result.leader_hint], payload)

    def _inject_fault(self) -> None:
        kind = self.rng.choice(
            ("split", "isolate", "one-way", "heal", "crash", "bounce", "pause", "transfer")
        )
        node = self.rng.choice(list(self.nodes.values()))
        later = self.now + TICK * self.rng.randint(2, 60)
        if kind == "bounce":  # a quick process restart, as a supervisor would do
            kind, later = "crash", self.now + self.rng.randint(1, 3 * TICK)
        if kind == "split":
            ids = list(self.nodes)
            self.rng.shuffle(ids)
            cut = self.rng.randint(1, len(ids) - 1)
            self.group = {n: int(i >= cut) for i, n in enumerate(ids)}
            self.stats["partitions"] += 1
        elif kind == "isolate":
            self.group = {n: int(n == node.node_id) for n in self.nodes}
            self.stats["partitions"] += 1
        elif kind == "one-way":
            other = self.rng.choice([n for n in self.nodes if n != node.node_id])
            self.one_way_cuts.add((node.node_id, other))
            self.stats["partitions"] += 1
        elif kind == "heal":
            self.group, self.one_way_cuts = {}, set()
        elif kind == "crash" and node.raft is not None:
            self._crash(node)
            self._at(later, lambda: self._restart(node))
        elif kind == "pause" and node.raft is not None and not node.paused:
            node.paused = True
            self.stats["pauses"] += 1
            incarnation = node.incarnation
            self._at(later, lambda: self._resume(node, incarnation))
        elif kind == "transfer" and node.raft is not None and node.raft.is_leader:
            node.raft.transfer_leadership(self.rng.randint(1, self.scenario.voters))
            self._after_input(node)
        self._log(
            "fault", f"{kind} node {node.node_id}, groups {self.group}, cut {self.one_way_cuts}"
        )

    def _resume(self, node: SimNode, incarnation: int) -> None:
        if node.incarnation != incarnation or not node.paused:
            return
        node.paused = False
        parked, node.parked = node.parked, []
        self._log("resume", f"node {node.node_id} with {len(parked)} parked messages")
        for message in parked:
            self._deliver(message)

    def _end_faults(self) -> None:
        self._log("heal", "faults stop; the network heals")
        self.faulty = False
        self.group, self.one_way_cuts = {}, set()
        for node in self.nodes.values():
            self._restart(node)
            self._resume(node, node.incarnation)


class _LivenessProbe:
    """Phase two: a leader must appear and a fresh proposal must reach every node."""

    def __init__(self, simulation: Simulation) -> None:
        self.sim = simulation
        self.done = False
        self.target: tuple[int, ProposeAccepted] | None = None
        self.attempts = 0

    def tick(self) -> None:
        if self.target is not None and self._everyone_applied(self.target[1]):
            self.done = True
            return
        if self.target is not None and self._still_leading(*self.target):
            return
        for node in self.sim.nodes.values():
            if node.raft is not None and node.raft.is_leader:
                self.attempts += 1
                accepted = self.sim.propose(node, b"liveness-%d" % self.attempts)
                self.target = (node.node_id, accepted) if accepted is not None else None
                return

    def _still_leading(self, node_id: int, accepted: ProposeAccepted) -> bool:
        raft = self.sim.nodes[node_id].raft
        return raft is not None and raft.role is Role.LEADER and raft.term == accepted.term

    def _everyone_applied(self, accepted: ProposeAccepted) -> bool:
        committed = self.sim.checker.committed.get(accepted.index)
        if committed is None or committed.term != accepted.term:
            return False
        return all(node.machine.index >= accepted.index for node in self.sim.nodes.values())

    def describe(self) -> str:
        states = {
            n: (node.raft.status if node.raft else "down", node.machine.index)
            for n, node in self.sim.nodes.items()
        }
        return (
            f"after {self.sim.scenario.liveness_ticks} quiet ticks no proposal reached every "
            f"node ({self.attempts} attempts, target {self.target}); nodes: {states}"
        )


def simulate(seed: int, node_factory: type[RaftNode] = RaftNode) -> dict[str, int]:
    """Run the scenario of ``seed``; raises ``SimulationFailure`` on a broken property."""
    return Simulation(Scenario.from_seed(seed), node_factory).run()
