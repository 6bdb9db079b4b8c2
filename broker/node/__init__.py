"""This broker's membership of the cluster: the metadata log over Raft
(``metadata_log``), the controller while this node leads the quorum
(``controller_service``), the way to reach whichever node does (``controller_channel``),
registration and heartbeats (``broker_lifecycle``), and the glue (``cluster_node``).
The I/O edge of ``broker.quorum`` and ``broker.metadata``; above the network layer."""
