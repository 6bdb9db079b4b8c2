"""The cluster workloads: replicated produce throughput, and leader failover time.

``replication``: a single broker and a three-broker cluster run side by side; each
round produces ``replication_messages`` records with acks=all to a fresh topic on
each (replication factor 1 on the single broker, 3 with ``min.insync.replicas=2`` on
the cluster), the order alternating from round to round so drift on the machine
touches both alike. A round's sample is the cluster's rate over the single broker's:
its own peer, measured minutes apart at most.

``failover``: a fresh three-broker cluster with a replicated topic of three partitions,
one led by each broker. Each kill SIGKILLs the leader of one of them (every third kill
the one the active controller leads, see ``CONTROLLER_EVERY``) and times, from the
signal, the first produce with acks=all to that partition that a surviving broker
acknowledges (every survivor is asked in turn, as a client refreshing its metadata
would). The killed broker is then restarted and every ISR waited for until it is full
again, so every kill starts from the same state.

Both start their own brokers in ``work_dir`` and register their stop on ``stack``, so
they are stopped by PID whatever happens.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from contracts.broker_cluster import BrokerCluster
from contracts.launcher import BrokerProcess
from loadtest.benchmark import raw_clients, tidewatch_side
from loadtest.benchmark.figures import Results, rate
from loadtest.benchmark.settings import Advance, BenchSettings, ProgressSink
from loadtest.benchmark.tidewatch_side import WorkloadError

__all__ = [
    "CLUSTER_SIZE",
    "CLUSTER_TIMINGS",
    "failover_bounds",
    "measure_failover",
    "measure_replication",
]

CLUSTER_SIZE = 3
# Every third kill takes the partition led by the active controller (its failover also
# waits for a Raft election), the others one led by another broker: the share of
# controller kills that random placement over three brokers gives on average.
CONTROLLER_EVERY = 3
REPLICATED_TOPIC_CONFIGS = {"min.insync.replicas": "2"}
ACKS_ALL: dict[str, Any] = {"acks": "all"}
# What bounds a failover, set explicitly so the report can state it: the broker's
# documented defaults (broker/config.py; a test keeps the two equal).
CLUSTER_TIMINGS: dict[str, dict[str, Any]] = {
    "brokers": {"session_timeout_ms": 4000, "heartbeat_interval_ms": 500},
    "controller": {"fence_on_disconnect": True, "tick_ms": 100},
    "replication": {"replica_fetch_backoff_ms": 1000},
}


def _cluster(settings: BenchSettings, base_dir: Path, stack: ExitStack) -> BrokerCluster:
    """Three brokers with ``CLUSTER_TIMINGS`` and the run's flush policy."""
    cluster = BrokerCluster(
        CLUSTER_SIZE,
        base_dir,
        {"flush": {"policy": settings.flush_policy}, **CLUSTER_TIMINGS},
        cluster_id="tidewatch-bench",
    )
    stack.callback(cluster.stop)
    return cluster


def _replicated_topic(cluster: BrokerCluster, topic: str, partitions: int) -> None:
    """Create a replicated topic and wait until every partition has its full ISR."""
    tidewatch_side.create_topic(
        cluster.bootstrap,
        topic,
        partitions,
        replication_factor=CLUSTER_SIZE,
        configs=REPLICATED_TOPIC_CONFIGS,
    )
    for partition in range(partitions):
        cluster.wait_for_isr(topic, partition, cluster.brokers)


# -- replication -------------------------------------------------------------------------


def measure_replication(
    settings: BenchSettings,
    work_dir: Path,
    value: bytes,
    progress: ProgressSink,
    results: Results,
    stack: ExitStack,
) -> None:
    """Samples of ``replication.*``: see the module docstring."""
    s = settings
    single = BrokerProcess(
        work_dir / "replication-single" / "data",
        *("--flush-policy", s.flush_policy, "--log-level", "warning"),
        log_path=work_dir / "replication-single" / "broker.log",
    )
    stack.callback(single.stop)
    cluster = _cluster(s, work_dir / "replication-cluster", stack)
    with progress.step("starting a broker and a three-broker cluster"):
        single.start()
        cluster.start()
    rounds: list[dict[str, float]] = []
    for run in range(s.repeats):
        label = f"(round {run + 1}/{s.repeats})"
        topic = f"bench-replication-{run}"
        order = ("single", "cluster") if run % 2 == 0 else ("cluster", "single")
        rates: dict[str, float] = {}
        for system in order:
            if system == "single":
                tidewatch_side.create_topic(single.bootstrap, topic, s.partitions)
                bootstrap, what = single.bootstrap, "1 broker, RF1"
            else:
                _replicated_topic(cluster, topic, s.partitions)
                bootstrap, what = cluster.bootstrap, f"{CLUSTER_SIZE} brokers, RF3"
            with progress.step(
                f"produce {s.replication_messages:,} × {len(value)} B acks=all → {what} {label}"
            ) as advance:
                rates[system] = _produce_acks_all(s, bootstrap, topic, value, advance)
            tidewatch_side.delete_topic(bootstrap, topic)
        results.add("replication.single_messages_per_second", "tidewatch", rates["single"])
        results.add("replication.cluster_messages_per_second", "tidewatch", rates["cluster"])
        results.add("replication.ratio", "tidewatch", rates["cluster"] / rates["single"])
        rounds.append({f"{k}_messages_per_second": v for k, v in rates.items()})
    results.details["replication"].update(
        brokers=CLUSTER_SIZE,
        replication_factor=CLUSTER_SIZE,
        topic_configs=REPLICATED_TOPIC_CONFIGS,
        messages_per_round=s.replication_messages,
        rounds=rounds,
    )


def _produce_acks_all(
    s: BenchSettings, bootstrap: str, topic: str, value: bytes, advance: Advance
) -> float:
    """Messages/s of one acks=all produce run; every record must have been stored."""
    produced = tidewatch_side.produce_confluent(
        bootstrap,
        topic,
        count=s.replication_messages,
        value=value,
        partitions=s.partitions,
        deadline=time.perf_counter() + s.workload_timeout_s,
        progress=advance,
        extra_config=ACKS_ALL,
    )
    stored = tidewatch_side.end_offsets(bootstrap, topic, s.partitions)
    if stored != s.replication_messages:
        raise WorkloadError(
            f"{stored} records stored on {bootstrap}, {s.replication_messages} acknowledged"
        )
    return rate(produced.messages, produced.seconds)


# -- failover ----------------------------------------------------------------------------


def measure_failover(
    settings: BenchSettings,
    work_dir: Path,
    progress: ProgressSink,
    results: Results,
    stack: ExitStack,
) -> None:
    """Samples of ``failover.seconds_to_produce``: see the module docstring."""
    s = settings
    cluster = _cluster(s, work_dir / "failover-cluster", stack)
    with progress.step("starting a three-broker cluster"):
        cluster.start()
    topic = "bench-failover"
    _replicated_topic(cluster, topic, CLUSTER_SIZE)  # one partition led by each broker
    kills: list[dict[str, Any]] = []
    for kill in range(s.failover_kills):
        with progress.step(
            f"kill -9 the leader, produce on the new one (kill {kill + 1}/{s.failover_kills})"
        ):
            partition, leader, controller = _victim(cluster, topic, kill % CONTROLLER_EVERY == 0)
            kills.append(_one_failover(cluster, topic, partition, leader, s.workload_timeout_s))
            kills[-1]["killed_was_controller"] = leader == controller
        results.add("failover.seconds_to_produce", "tidewatch", kills[-1]["seconds_to_produce"])
    results.details["failover"].update(
        brokers=CLUSTER_SIZE,
        topic_configs=REPLICATED_TOPIC_CONFIGS,
        kills=kills,
        max_seconds=max(k["seconds_to_produce"] for k in kills),
        bounds=failover_bounds(),
    )


def _victim(cluster: BrokerCluster, topic: str, controller_wanted: bool) -> tuple[int, int, int]:
    """A partition whose leader is the active controller (or is not, as wanted; else
    any): (partition, its leader, the controller)."""

    def active_controller() -> int | None:
        controller = cluster.controller_id()
        return controller if controller in cluster.brokers else None

    controller = cluster.wait_for(active_controller, "an active controller")
    leaders = {p: cluster.wait_for_leader(topic, p) for p in range(CLUSTER_SIZE)}
    fitting = [p for p, leader in leaders.items() if (leader == controller) == controller_wanted]
    partition = fitting[0] if fitting else 0
    return partition, leaders[partition], controller


def _one_failover(
    cluster: BrokerCluster, topic: str, partition: int, leader: int, timeout_s: float
) -> dict[str, Any]:
    """Kill ``leader``, time the first acknowledged produce to ``partition`` on another
    broker, bring the leader back and wait until every ISR is full again."""
    survivors = {n: b.listen_address.port for n, b in cluster.brokers.items() if n != leader}
    cluster.kill(leader)
    started = time.perf_counter()
    seconds, port = raw_clients.wait_for_produce_on_any(
        list(survivors.values()), topic, started, started + timeout_s, acks=-1, partition=partition
    )
    new_leader = next(n for n, p in survivors.items() if p == port)
    cluster.restart(leader, timeout_s)
    for index in range(CLUSTER_SIZE):
        cluster.wait_for_isr(topic, index, cluster.brokers)
    return {
        "partition": partition,
        "killed": leader,
        "new_leader": new_leader,
        "seconds_to_produce": seconds,
    }


def failover_bounds() -> dict[str, Any]:
    """The settings that bound a failover (``CLUSTER_TIMINGS``), and what each bounds."""
    session_ms = CLUSTER_TIMINGS["brokers"]["session_timeout_ms"]
    tick_ms = CLUSTER_TIMINGS["controller"]["tick_ms"]
    backoff_ms = CLUSTER_TIMINGS["replication"]["replica_fetch_backoff_ms"]
    settings = {
        f"{section}.{key}": value
        for section, keys in CLUSTER_TIMINGS.items()
        for key, value in keys.items()
    }
    return {
        **settings,
        "controller.election_timeout_ms": [10 * tick_ms, 20 * tick_ms],
        "controller.activation_grace_ms": session_ms,
        "explanation": (
            "kill -9 closes the leader's controller connection: with fence_on_disconnect "
            "the controller fences it and elects a leader from the ISR at once. An acks=all "
            "produce then waits for the surviving follower to fetch from the new leader; "
            "when its fetch from the dead one failed first, it waits "
            f"replica_fetch_backoff_ms ({backoff_ms} ms) before that. When the killed "
            "broker was also the active controller, a Raft election comes first (10-20 "
            f"ticks: {10 * tick_ms}-{20 * tick_ms} ms) and the new controller fences the "
            f"dead broker only after its activation grace of one session_timeout_ms "
            f"({session_ms} ms). A hung or cut-off leader is fenced after "
            "session_timeout_ms."
        ),
    }
