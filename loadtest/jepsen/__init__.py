"""A Jepsen-style checker for a three-broker cluster.

A run drives idempotent acks=all producers and consumers in a group against a cluster
while a seeded, bounded fault schedule kills, pauses, partitions and restarts brokers;
it records what every client was told (the history), heals every fault, reads the
whole topic back and every broker's own replica, and checks the history for anomalies.

Modules, from the pure core to the edge: :mod:`~loadtest.jepsen.history` (what was
observed), :mod:`~loadtest.jepsen.checker` (history in, anomalies out),
:mod:`~loadtest.jepsen.schedule` (seed in, fault schedule out), then the edge:
:mod:`~loadtest.jepsen.network` (fault proxies on every link of one broker),
:mod:`~loadtest.jepsen.clients` (producers, consumers and the committed-offset poller
that record the history), :mod:`~loadtest.jepsen.replica_files` (each broker's replica
read from its data dir), :mod:`~loadtest.jepsen.runner` (one run, start to verdict),
:mod:`~loadtest.jepsen.report` (terminal table and JSON) and
:mod:`~loadtest.jepsen.cli` (``tidewatch gameday jepsen``).
"""
