"""Network layer: the Kafka listener and per-connection protocol (framing, ordering,
back-pressure), and the quorum transport between controller voters and brokers
(``quorum_transport``). Everything below it is sans-I/O."""
